package busauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/busauth"
)

// FuzzTenantPermissions: whatever the tenant name, the permissions either
// are refused or stay inside that tenant's own subjects (no wildcard or
// extra token smuggled in through the name).
func FuzzTenantPermissions(f *testing.F) {
	for _, s := range []string{"acme", "a.b", "*", ">", "a b", "", "a\x00", strings.Repeat("x", 41), "demo-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tenant string) {
		p, err := busauth.TenantPermissions(tenant)
		if err != nil {
			return
		}
		if strings.ContainsAny(tenant, ".*> \t\r\n") || tenant == "" {
			t.Fatalf("tenant %q accepted", tenant)
		}
		for _, s := range append(p.Publish, p.Subscribe...) {
			// Pulls name a consumer, not a tenant: a tenant can pull
			// only from consumers it made (on its own events), since it
			// may not list consumers and their names are random.
			if s == "$JS.API.INFO" || s == "$JS.API.CONSUMER.MSG.NEXT.EVENTFLOW_EVENTS.*" {
				continue
			}
			if !strings.Contains(s, "."+tenant+".") && !strings.HasPrefix(s, busauth.TenantInboxPrefix(tenant)+".") {
				t.Fatalf("permission %q is not the tenant's own", s)
			}
		}
	})
}

// FuzzConnectOptions: reading a credentials file never panics, and
// anything accepted is a decodable user.
func FuzzConnectOptions(f *testing.F) {
	kit, err := busauth.Generate()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := kit.TenantCreds("acme", time.Hour, time.Now())
	f.Add(good)
	f.Add([]byte("-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, creds []byte) {
		_, _ = busauth.ConnectOptions(creds)
	})
}
