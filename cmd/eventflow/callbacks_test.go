package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/pkg/webhook"
)

// TestCallbackSignedAndRetried: a callback receiver on loopback (allowed in
// eventflow dev) that fails at first gets the result on a retry, signed as
// Standard Webhooks are with the tenant's key (GET /v1/callback-key's
// secret), every attempt with the same webhook-id; the deprecated
// body-only signature still verifies; the record says how delivery went.
func TestCallbackSignedAndRetried(t *testing.T) {
	p := startDev(t, t.TempDir(), "EVENTFLOW_CALLBACK_RETRY_DELAY=100ms")
	c := newClient(t, p.URL, token(t, p.URL, "hooks"))
	var keyResp struct{ Secret, Key, Header string }
	c.do("GET", "/v1/callback-key", nil).json(t, &keyResp)
	key, err := hex.DecodeString(keyResp.Key)
	if err != nil || len(key) != 32 || keyResp.Header != "X-Eventflow-Signature" {
		t.Fatalf("callback key: %+v %v", keyResp, err)
	}
	secret, err := webhook.DecodeSecret(keyResp.Secret)
	if err != nil || !bytes.Equal(secret, key) {
		t.Fatalf("callback secret %q is not the key in whsec_ form: %v", keyResp.Secret, err)
	}

	var mu sync.Mutex
	var calls int
	var got []byte
	var sigOK bool
	var verifyErrs []error
	ids := map[string]bool{}
	delivered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		verifyErrs = append(verifyErrs, webhook.Verify(secret, r.Header, body))
		ids[r.Header.Get("webhook-id")] = true
		if calls < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		got, sigOK = body, r.Header.Get("X-Eventflow-Signature") == events.SignCallback(key, body)
		w.WriteHeader(http.StatusNoContent)
		close(delivered)
	}))
	defer srv.Close()

	if r := c.do("POST", "/v1/functions", map[string]any{"name": "hooked", "command": []string{"tr", "a-z", "A-Z"}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "hooked", "Ready")
	if r := c.do("POST", "/v1/functions/hooked:invoke", "x", "X-Callback-Url", srv.URL); r.Status != 400 {
		t.Fatalf("a callback on a sync invocation: %d", r.Status)
	}
	if r := c.do("POST", "/v1/functions/hooked:invoke?async=true", "x", "X-Callback-Url", "ftp://example"); r.Status != 400 {
		t.Fatalf("a non-http callback URL: %d", r.Status)
	}
	// Loopback and private destinations are allowed in dev; the metadata
	// service (link-local) and 0.0.0.0 are not.
	for _, refused := range []string{"http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:" + srv.URL[strings.LastIndexByte(srv.URL, ':')+1:] + "/hook"} {
		if r := c.do("POST", "/v1/functions/hooked:invoke?async=true", "x", "X-Callback-Url", refused); r.Status != 400 || !strings.Contains(string(r.Body), "callback destination not allowed") {
			t.Fatalf("callback to %s: %d %s, want 400", refused, r.Status, r.Body)
		}
	}
	r := c.do("POST", "/v1/functions/hooked:invoke?async=true", "call me", "X-Callback-Url", srv.URL+"/hook")
	var acc struct{ ID string }
	r.json(t, &acc)
	select {
	case <-delivered:
	case <-time.After(20 * time.Second):
		t.Fatal("callback not delivered within 20s")
	}
	mu.Lock()
	var rec events.InvocationRecord
	if err := json.Unmarshal(got, &rec); err != nil || rec.ID != acc.ID || rec.Status != "succeeded" || rec.Output != "CALL ME" || !sigOK {
		t.Fatalf("callback body %s (signature ok: %v)", got, sigOK)
	}
	for i, err := range verifyErrs {
		if err != nil {
			t.Errorf("attempt %d does not verify with pkg/webhook: %v", i+1, err)
		}
	}
	if len(ids) != 1 || !ids[acc.ID+"-1"] {
		t.Errorf("webhook-ids %v, want %s-1 on every attempt", ids, acc.ID)
	}
	mu.Unlock()
	testkit.Eventually(t, 10*time.Second, "delivery recorded", func() (bool, string) {
		var inv events.InvocationRecord
		c.do("GET", "/v1/invocations/"+acc.ID, nil).json(t, &inv)
		return inv.Callback != nil && inv.Callback.Status == "delivered" && inv.Callback.Attempts == 3, string(mustJSON(inv))
	})
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
