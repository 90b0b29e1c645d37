package service

import (
	"net/http"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/testkit"
)

func TestTenantLimitsDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want TenantLimits
	}{
		{TenantLimits{}, TenantLimits{RequestsPerSecond: 1000, Burst: 2000, MaxFunctions: 100, MaxStreams: 32, MaxRouteRequests: 256}},
		{TenantLimits{RequestsPerSecond: 50}, TenantLimits{RequestsPerSecond: 50, Burst: 100, MaxFunctions: 100, MaxStreams: 32, MaxRouteRequests: 256}},
		{TenantLimits{RequestsPerSecond: 0.5, Burst: 3, MaxRouteRequests: 7}, TenantLimits{RequestsPerSecond: 0.5, Burst: 3, MaxFunctions: 100, MaxStreams: 32, MaxRouteRequests: 7}},
		{TenantLimits{RequestsPerSecond: Unlimited, MaxFunctions: Unlimited, MaxStreams: Unlimited, MaxRouteRequests: Unlimited},
			TenantLimits{RequestsPerSecond: Unlimited, Burst: 0, MaxFunctions: Unlimited, MaxStreams: Unlimited, MaxRouteRequests: Unlimited}},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestTenantLimitsReachTheAPI: the gateway applies Config.Tenants, its
// defaults when unset, and no limit when Unlimited.
func TestTenantLimitsReachTheAPI(t *testing.T) {
	signer := testkit.Signer(t)
	tok := testkit.Token(t, signer, "acme")
	send := func(srvURL, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srvURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A route that answers without touching NATS, so requests come fast.
	const cheap = "/v1/invocations/not-an-id"

	t.Run("configured", func(t *testing.T) {
		srv, _, err := startGateway(t, Config{Tenants: TenantLimits{RequestsPerSecond: 0.1, Burst: 3, MaxFunctions: 1}}, signer)
		if err != nil {
			t.Fatal(err)
		}
		if code := send(srv.URL, "POST", "/v1/functions", `{"name":"a","command":["cat"]}`); code != http.StatusAccepted {
			t.Fatalf("first create: %d", code)
		}
		if code := send(srv.URL, "POST", "/v1/functions", `{"name":"b","command":["cat"]}`); code != http.StatusForbidden {
			t.Fatalf("second create with MaxFunctions 1: %d, want 403", code)
		}
		send(srv.URL, "GET", cheap, "")
		if code := send(srv.URL, "GET", cheap, ""); code != http.StatusTooManyRequests {
			t.Fatalf("fourth request with Burst 3: %d, want 429", code)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		srv, _, err := startGateway(t, Config{}, signer)
		if err != nil {
			t.Fatal(err)
		}
		for i := range DefaultRequestsPerSecond * 2 {
			if code := send(srv.URL, "GET", cheap, ""); code != http.StatusNotFound {
				t.Fatalf("request %d of the default burst: %d", i+1, code)
			}
		}
		// Whether more are refused depends on how fast this machine
		// sends; the configured case above proves the bucket enforces its
		// rate, TestTenantLimitsDefaults that the default is the one set.
	})
	t.Run("unlimited", func(t *testing.T) {
		srv, _, err := startGateway(t, Config{Tenants: TenantLimits{RequestsPerSecond: Unlimited}}, signer)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			if code := send(srv.URL, "GET", cheap, ""); code != http.StatusNotFound {
				t.Fatalf("request %d without a rate limit: %d", i+1, code)
			}
		}
	})
}
