package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/webhook"
)

var callbackSecret = []byte("the platform's callback secret, 40 bytes")

// hook is a loopback callback receiver that records what it gets and
// answers with the statuses given, then 204.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
}

type received struct {
	header http.Header
	body   []byte
}

func newHook(t *testing.T, statuses ...int) *hook {
	t.Helper()
	h := &hook{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got = append(h.got, received{r.Header.Clone(), body})
		status := http.StatusNoContent
		if len(h.got) <= len(h.statuses) {
			status = h.statuses[len(h.got)-1]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) requests() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

func (h *hook) port() string { return strconv.Itoa(h.Listener.Addr().(*net.TCPAddr).Port) }

// enqueueWithCallback publishes an async invocation asking for a callback,
// as a producer on the bus does (no gateway, so no accept-time check).
func (f *fixture) enqueueWithCallback(t *testing.T, tenant, name, id, callback string) {
	t.Helper()
	msg := events.Invocation{ID: id, Tenant: tenant, Function: name, CallbackURL: callback, Payload: []byte("hi")}.Msg()
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// waitCallback waits until the invocation's callback is no longer pending.
func (f *fixture) waitCallback(t *testing.T, id string) events.CallbackStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e, err := f.b.Invocations.Get(context.Background(), f.keyOf(id))
		if err == nil {
			var r events.InvocationRecord
			_ = json.Unmarshal(e.Value(), &r)
			if r.Callback != nil && r.Callback.Status != events.CallbackPending {
				return *r.Callback
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback of %s still pending after 20s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCallbackSignedAsStandardWebhooks: a callback is signed as Standard
// Webhooks are, with the tenant's key: every delivery attempt verifies with
// pkg/webhook, carries the same webhook-id (receivers de-duplicate by it)
// and the deprecated body-only signature still verifies.
func TestCallbackSignedAsStandardWebhooks(t *testing.T) {
	f := startWith(t, Config{AckWait: 3 * time.Second, CallbackSecret: callbackSecret, CallbackRetryDelay: 50 * time.Millisecond,
		CallbackDestinations: egress.Policy{AllowPrivate: true}})
	f.deploy(t, "acme", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	h := newHook(t, http.StatusServiceUnavailable)
	id := events.NewInvocationID()
	f.enqueueWithCallback(t, "acme", "upper", id, h.URL+"/hook")
	if cb := f.waitCallback(t, id); cb.Status != events.CallbackDelivered || cb.Attempts != 2 {
		t.Fatalf("callback %+v, want delivered on attempt 2", cb)
	}
	got := h.requests()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	key := events.CallbackKey(callbackSecret, "acme")
	for i, r := range got {
		if err := webhook.Verify(key, r.header, r.body); err != nil {
			t.Errorf("delivery %d does not verify: %v (headers %v)", i+1, err, r.header)
		}
		if err := webhook.Verify(events.CallbackKey(callbackSecret, "other"), r.header, r.body); !errors.Is(err, webhook.ErrNoMatchingSignature) {
			t.Errorf("delivery %d verifies with another tenant's key: %v", i+1, err)
		}
		if r.header.Get(webhook.HeaderID) != id+"-1" || r.header.Get(events.CallbackIDHeader) != id {
			t.Errorf("delivery %d: webhook-id %q, %s %q; want %s-1 and %s", i+1, r.header.Get(webhook.HeaderID),
				events.CallbackIDHeader, r.header.Get(events.CallbackIDHeader), id, id)
		}
		if r.header.Get(events.CallbackSignatureHeader) != events.SignCallback(key, r.body) {
			t.Errorf("delivery %d: the deprecated %s does not verify", i+1, events.CallbackSignatureHeader)
		}
		var rec events.InvocationRecord
		if err := json.Unmarshal(r.body, &rec); err != nil || rec.ID != id || rec.Output != "HI" {
			t.Errorf("delivery %d: body %s", i+1, r.body)
		}
	}
}

// TestCallbackToRefusedDestinationFailsAtOnce: with the default policy, a
// callback to a loopback receiver (put on the bus directly, so no gateway
// checked it) is never sent: the dial is refused, and the callback ends
// failed after that one attempt, saying why, instead of being retried.
func TestCallbackToRefusedDestinationFailsAtOnce(t *testing.T) {
	f := startWith(t, Config{AckWait: 3 * time.Second, CallbackSecret: callbackSecret, CallbackRetryDelay: 50 * time.Millisecond})
	f.deploy(t, "acme", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	h := newHook(t)
	for _, callback := range []string{h.URL + "/hook", "http://[::ffff:127.0.0.1]:" + h.port() + "/hook", "http://0.0.0.0:" + h.port() + "/hook"} {
		id := events.NewInvocationID()
		f.enqueueWithCallback(t, "acme", "upper", id, callback)
		cb := f.waitCallback(t, id)
		if cb.Status != events.CallbackFailed || cb.Attempts != 1 || !strings.Contains(cb.LastError, "callback destination not allowed") {
			t.Errorf("%s: callback %+v, want failed after 1 attempt, destination not allowed", callback, cb)
		}
	}
	time.Sleep(300 * time.Millisecond) // past the retry delays
	if n := len(h.requests()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
}

// rebindingDNS answers one address for every name: what a DNS server an
// attacker controls answers the gateway at accept time.
type rebindingDNS netip.Addr

func (r rebindingDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(r)}, nil
}

// TestCallbackDNSRebindingRefusedAtConnect: a callback host that resolved
// to a public address when the gateway checked it, and resolves to
// loopback when the invoker connects ("localhost" here), is refused by the
// connect-time check: the receiver gets nothing.
func TestCallbackDNSRebindingRefusedAtConnect(t *testing.T) {
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	h := newHook(t)
	callback := "http://localhost:" + h.port() + "/hook"
	// Accept time: the name's first answer is public.
	accept := egress.Policy{Resolver: rebindingDNS(netip.MustParseAddr("93.184.216.34"))}
	if err := accept.CheckHost(context.Background(), "localhost"); err != nil {
		t.Fatalf("accept-time check: %v", err)
	}
	// Delivery: the same policy, the real resolver: 127.0.0.1.
	f := startWith(t, Config{AckWait: 3 * time.Second, CallbackSecret: callbackSecret, CallbackRetryDelay: 50 * time.Millisecond})
	f.deploy(t, "acme", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	id := events.NewInvocationID()
	f.enqueueWithCallback(t, "acme", "upper", id, callback)
	cb := f.waitCallback(t, id)
	if cb.Status != events.CallbackFailed || cb.Attempts != 1 || !strings.Contains(cb.LastError, "loopback") {
		t.Errorf("callback %+v, want failed at once: loopback not allowed", cb)
	}
	if n := len(h.requests()); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// TestCallbackRedirectIsNotFollowed: a receiver answering a redirect does
// not get the callback sent on to where it points (an internal address,
// say); the 3xx counts as a failed delivery.
func TestCallbackRedirectIsNotFollowed(t *testing.T) {
	target := newHook(t)
	bouncer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	t.Cleanup(bouncer.Close)
	f := startWith(t, Config{AckWait: 3 * time.Second, CallbackSecret: callbackSecret, CallbackRetryDelay: 20 * time.Millisecond,
		CallbackAttempts: 2, CallbackDestinations: egress.Policy{AllowPrivate: true}})
	f.deploy(t, "acme", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	id := events.NewInvocationID()
	f.enqueueWithCallback(t, "acme", "upper", id, bouncer.URL)
	cb := f.waitCallback(t, id)
	if cb.Status != events.CallbackFailed || !strings.Contains(cb.LastError, "HTTP 302: redirects are not followed") {
		t.Errorf("callback %+v", cb)
	}
	if n := len(target.requests()); n != 0 {
		t.Fatalf("the redirect was followed: %d requests", n)
	}
}
