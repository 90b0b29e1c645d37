package main

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/loadreport"

	"github.com/eventflow/eventflow/services/gateway/service"
)

// TestTenantFlags: the flags' defaults are the service's, and 0 turns a
// limit off (service.Unlimited) instead of meaning its default.
func TestTenantFlags(t *testing.T) {
	for _, v := range []string{"EVENTFLOW_TENANT_RATE", "EVENTFLOW_TENANT_BURST", "EVENTFLOW_TENANT_MAX_FUNCTIONS", "EVENTFLOW_TENANT_MAX_STREAMS", "EVENTFLOW_TENANT_MAX_ROUTE_REQUESTS"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Skipf("%s is set: the flags' defaults are not the service's", v)
		}
	}
	for _, tc := range []struct {
		args []string
		want service.TenantLimits
	}{
		{nil, service.TenantLimits{RequestsPerSecond: service.DefaultRequestsPerSecond, MaxFunctions: service.DefaultMaxFunctions, MaxStreams: service.DefaultMaxStreams,
			MaxRouteRequests: service.DefaultMaxRouteRequests}},
		{[]string{"-tenant-rate", "500", "-tenant-burst", "50", "-tenant-max-functions", "7", "-tenant-max-streams", "3", "-tenant-max-route-requests", "9"},
			service.TenantLimits{RequestsPerSecond: 500, Burst: 50, MaxFunctions: 7, MaxStreams: 3, MaxRouteRequests: 9}},
		{[]string{"-tenant-rate", "0", "-tenant-max-functions", "0", "-tenant-max-streams", "0", "-tenant-max-route-requests", "0"},
			service.TenantLimits{RequestsPerSecond: service.Unlimited, MaxFunctions: service.Unlimited, MaxStreams: service.Unlimited, MaxRouteRequests: service.Unlimited}},
	} {
		var f tenantFlags
		fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := f.limits(); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

// TestScaleReportIntervalFlag: --scale-report-interval defaults to the
// reporter's interval, takes a duration, and is documented where the
// gateway's flags are (README.md) and in docs/API.md.
func TestScaleReportIntervalFlag(t *testing.T) {
	if _, ok := os.LookupEnv("EVENTFLOW_SCALE_REPORT_INTERVAL"); ok {
		t.Skip("EVENTFLOW_SCALE_REPORT_INTERVAL is set")
	}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, loadreport.DefaultInterval},
		{[]string{"-scale-report-interval", "250ms"}, 250 * time.Millisecond},
	} {
		fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
		d := scaleReportFlag(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if *d != tc.want {
			t.Errorf("%v: %s, want %s", tc.args, *d, tc.want)
		}
	}
	for _, doc := range []string{"../../README.md", "../../docs/API.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"--scale-report-interval", "EVENTFLOW_SCALE_REPORT_INTERVAL"} {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s does not document %s", doc, s)
			}
		}
	}
}
