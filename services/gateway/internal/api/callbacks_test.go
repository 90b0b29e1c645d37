package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/pkg/webhook"
)

var callbackDNS = egress.Hosts{
	"localhost":        {"127.0.0.1", "::1"},
	"hooks.example":    {"93.184.216.34"},
	"internal.example": {"10.0.0.5", "fd00::5"},
	"metadata.example": {"169.254.169.254"},
}

// TestCallbackDestinationRefusedAtAccept: with the default policy (public
// destinations only), an X-Callback-Url whose host is a non-public literal
// address, a numeric host in a non-standard form, or a name resolving only
// to non-public addresses is answered 400 bad_request, saying why, and
// nothing is queued; public ones, and names that do not resolve now, are
// accepted.
func TestCallbackDestinationRefusedAtAccept(t *testing.T) {
	f := startStreamAPIWith(t, Config{CallbackDestinations: egress.Policy{Resolver: callbackDNS}})
	f.createFunction(t, "hooked")
	invoke := func(callback string) (int, string) {
		return f.do(t, "POST", "/v1/functions/hooked:invoke?async=true", "x", "X-Callback-Url", callback)
	}
	for callback, why := range map[string]string{
		"http://127.0.0.1:9000/hook":                    "127.0.0.1 is a loopback address",
		"http://127.0.0.1.:9000/hook":                   "127.0.0.1 is a loopback address",
		"http://[::1]:9000/hook":                        "::1 is a loopback address",
		"http://[::ffff:127.0.0.1]/hook":                "127.0.0.1 is a loopback address",
		"http://169.254.169.254/latest/meta-data/":      "169.254.169.254 is a link-local address",
		"http://[fe80::1%25eth0]/":                      "fe80::1 is a link-local address",
		"https://10.1.2.3/hook":                         "10.1.2.3 is a private address",
		"http://192.168.0.10/hook":                      "192.168.0.10 is a private address",
		"http://[fd00::1]/hook":                         "fd00::1 is a private address",
		"http://100.64.0.1/hook":                        "100.64.0.1 is a shared (carrier-grade NAT) address",
		"http://0.0.0.0:8080/":                          "0.0.0.0 is an unspecified address",
		"http://[::]:8080/":                             ":: is an unspecified address",
		"http://224.0.0.1/":                             "224.0.0.1 is a multicast or broadcast address",
		"http://2130706433:8080/":                       "not one in standard form",
		"http://0177.0.0.1/":                            "not one in standard form",
		"http://0x7f.1/":                                "not one in standard form",
		"http://localhost:9000/hook":                    "localhost resolves only to addresses that may not be reached",
		"http://internal.example/hook":                  "internal.example resolves only to addresses that may not be reached",
		"http://metadata.example/latest/meta-data/iam/": "169.254.169.254 is a link-local address",
	} {
		code, body := invoke(callback)
		wantError(t, callback, code, body, http.StatusBadRequest, CodeBadRequest)
		if !strings.Contains(body, why) || !strings.Contains(body, "X-Callback-Url") {
			t.Errorf("%s: %s does not say why (%q)", callback, body, why)
		}
	}
	if n := testkit.StreamState(t, f.js, events.StreamInvocations).Msgs; n != 0 {
		t.Fatalf("%d invocations queued for refused callbacks", n)
	}
	// Public destinations, and a name that does not resolve now (the
	// invoker checks what it dials), are accepted.
	for _, callback := range []string{"https://93.184.216.34/hook", "http://hooks.example:8080/hook", "https://not-yet.example/hook"} {
		if code, body := invoke(callback); code != http.StatusAccepted {
			t.Errorf("%s: %d %s, want 202", callback, code, body)
		}
	}
	if n := testkit.StreamState(t, f.js, events.StreamInvocations).Msgs; n != 3 {
		t.Fatalf("%d invocations queued, want 3", n)
	}
}

// TestCallbackAllowList: the switch allows loopback and private
// destinations (not link-local ones), a CIDR allows what it covers, and
// nothing allows 0.0.0.0.
func TestCallbackAllowList(t *testing.T) {
	allow, err := egress.ParseAllowList("169.254.169.254/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		policy egress.Policy
		url    string
		want   int
	}{
		{egress.Policy{AllowPrivate: true}, "http://127.0.0.1:9000/hook", http.StatusAccepted},
		{egress.Policy{AllowPrivate: true}, "http://localhost:9000/hook", http.StatusAccepted},
		{egress.Policy{AllowPrivate: true}, "http://10.1.2.3/hook", http.StatusAccepted},
		{egress.Policy{AllowPrivate: true}, "http://169.254.169.254/", http.StatusBadRequest},
		{egress.Policy{AllowPrivate: true}, "http://0.0.0.0:9000/", http.StatusBadRequest},
		{egress.Policy{Allow: allow}, "http://169.254.169.254/", http.StatusAccepted},
		{egress.Policy{Allow: allow}, "http://169.254.169.253/", http.StatusBadRequest},
		{egress.Policy{Allow: allow}, "http://127.0.0.1/", http.StatusBadRequest},
	} {
		c.policy.Resolver = callbackDNS
		f := startStreamAPIWith(t, Config{CallbackDestinations: c.policy})
		f.createFunction(t, "hooked")
		if code, body := f.do(t, "POST", "/v1/functions/hooked:invoke?async=true", "x", "X-Callback-Url", c.url); code != c.want {
			t.Errorf("%+v, %s: %d %s, want %d", c.policy, c.url, code, body, c.want)
		}
	}
}

// TestCallbackKeyServesTheStandardWebhooksSecret: GET /v1/callback-key
// gives the tenant's key as a whsec_ secret too, the one webhook.Verify
// takes.
func TestCallbackKeyServesTheStandardWebhooksSecret(t *testing.T) {
	secret := []byte(strings.Repeat("c", 40))
	f := startStreamAPIWith(t, Config{CallbackSecret: secret})
	code, body := f.do(t, "GET", "/v1/callback-key", "")
	var k struct{ Secret, Key, Header string }
	if err := json.Unmarshal([]byte(body), &k); err != nil || code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	if want := webhook.EncodeSecret(events.CallbackKey(secret, "acme")); k.Secret != want {
		t.Fatalf("secret %q, want %q", k.Secret, want)
	}
	if k.Header != events.CallbackSignatureHeader || k.Key == "" {
		t.Fatalf("the deprecated fields are gone: %s", body)
	}
}
