package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// acceptGateway is one gateway's API on a shared bus.
type acceptGateway struct {
	url string
	api *API
}

// oneGateway starts one gateway on a provisioned server and returns its
// URL, a token of tenant with every scope, the signer for other tokens,
// and the buckets.
func oneGateway(t *testing.T, tenant string) (url, tok string, signer *auth.HS256, b bus.Buckets) {
	t.Helper()
	signer = testkit.Signer(t)
	gws, _, b := startAcceptGateways(t, 1, signer)
	return gws[0].url, testkit.Token(t, signer, tenant), signer, b
}

// startAcceptGateways serves n gateway APIs, as n replicas would, on one
// real provisioned NATS server, all trusting signer.
func startAcceptGateways(t *testing.T, n int, signer *auth.HS256) ([]acceptGateway, jetstream.JetStream, bus.Buckets) {
	t.Helper()
	_, nc, js, b := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var gws []acceptGateway
	for range n {
		cache, err := catalog.NewCache(ctx, b.Functions)
		if err != nil {
			t.Fatal(err)
		}
		pub := bus.NewAsyncPublisher(js, func(error) {})
		reg := prometheus.NewRegistry()
		d := Deps{
			NC: nc, JS: js, Store: store.New(js, b), Cache: cache, Auth: signer,
			Log: slog.New(slog.DiscardHandler), Tracer: noop.NewTracerProvider().Tracer(""),
			Metrics: NewMetrics(reg, reg), Events: pub, Secrets: &secrets.Store{KV: b.Secrets},
			Ready: func(ctx context.Context) error { return bus.Ready(ctx, nc, js) },
		}
		h, a := newAPI(Config{}, d)
		srv := httptest.NewServer(h)
		t.Cleanup(func() { srv.Close(); pub.Close() })
		gws = append(gws, acceptGateway{url: srv.URL, api: a})
	}
	return gws, js, b
}

func acceptCall(t *testing.T, method, url, token, body string, hdr ...string) (int, string) {
	t.Helper()
	code, b, _ := call(t, token, method, url, body, hdr...)
	return code, b
}

// TestAcceptThenReadAtOnce: the 202 of an async invocation waits only for
// its message; its record, written after, is still what a GET sent right
// after the 202 finds, on the gateway that accepted it and on another
// replica; once written, the record is the queued one with its callback.
func TestAcceptThenReadAtOnce(t *testing.T) {
	signer := testkit.Signer(t)
	gws, js, b := startAcceptGateways(t, 2, signer)
	tok := testkit.Token(t, signer, "acme")
	if code, body := acceptCall(t, "POST", gws[0].url+"/v1/functions", tok, `{"name":"echo","command":["cat"]}`); code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, gw := range gws { // each replica's cache sees the function
		testkit.WaitFor(t, 10*time.Second, "function in the cache", func() bool {
			_, err := gw.api.Cache.Lookup(context.Background(), "acme", "echo")
			return err == nil
		})
	}
	const n = 200
	ids := make([]string, 0, n)
	for i := range n {
		code, body := acceptCall(t, "POST", gws[0].url+"/v1/functions/echo:invoke?async=true", tok, fmt.Sprint("p", i),
			"X-Callback-Url", "https://1.1.1.1/cb")
		if code != http.StatusAccepted {
			t.Fatalf("accept %d: %d %s", i, code, body)
		}
		var acc struct{ ID, Status string }
		if err := json.Unmarshal([]byte(body), &acc); err != nil || acc.Status != events.StatusQueued {
			t.Fatalf("accept %d: %s (%v)", i, body, err)
		}
		ids = append(ids, acc.ID)
		// At once, alternately on the gateway that accepted it and on the
		// other replica.
		t0 := time.Now()
		code, body = acceptCall(t, "GET", gws[i%2].url+"/v1/invocations/"+acc.ID, tok, "")
		if code != http.StatusOK {
			e, err := b.Invocations.Get(context.Background(), events.InvocationKey("acme", "echo", acc.ID))
			t.Fatalf("GET %s on gateway %d right after its 202: %d %s (after %s; the record now: %v %v)", acc.ID, i%2, code, body, time.Since(t0), e, err)
		}
		var got events.InvocationRecord
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Status != events.StatusQueued || got.Callback == nil || got.Callback.URL != "https://1.1.1.1/cb" {
			t.Fatalf("GET %s: %s (%v)", acc.ID, body, err)
		}
	}
	// A burst with no GET between, then at once the function's history on
	// the gateway that accepted them: every one is listed.
	for i := range 50 {
		code, body := acceptCall(t, "POST", gws[0].url+"/v1/functions/echo:invoke?async=true", tok, fmt.Sprint("b", i))
		if code != http.StatusAccepted {
			t.Fatalf("burst accept %d: %d %s", i, code, body)
		}
		var acc struct{ ID string }
		_ = json.Unmarshal([]byte(body), &acc)
		ids = append(ids, acc.ID)
	}
	code, body := acceptCall(t, "GET", gws[0].url+"/v1/functions/echo/invocations?limit=1000", tok, "")
	var page struct{ Items []events.InvocationRecord }
	if err := json.Unmarshal([]byte(body), &page); code != http.StatusOK || err != nil {
		t.Fatalf("history: %d %s", code, body)
	}
	listed := map[string]bool{}
	for _, it := range page.Items {
		listed[it.ID] = true
	}
	for _, id := range ids {
		if !listed[id] {
			t.Fatalf("history right after the accepts lacks %s (%d listed of %d accepted)", id, len(page.Items), len(ids))
		}
	}
	if code, body := acceptCall(t, "GET", gws[0].url+"/v1/functions/echo/invocations?status=bogus", tok, ""); code != http.StatusBadRequest {
		t.Fatalf("status=bogus: %d %s, want 400", code, body)
	}

	st := testkit.StreamState(t, js, events.StreamInvocations)
	if st.Msgs != uint64(len(ids)) {
		t.Fatalf("work queue holds %d messages, want %d", st.Msgs, len(ids))
	}
	for _, id := range ids {
		e, err := b.Invocations.Get(context.Background(), events.InvocationKey("acme", "echo", id))
		if err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
		if e.Revision() == 0 || !strings.Contains(string(e.Value()), `"status":"queued"`) {
			t.Fatalf("record %s: %s", id, e.Value())
		}
	}
	// Nothing is left waiting in either gateway.
	for i, gw := range gws {
		testkit.WaitFor(t, 10*time.Second, fmt.Sprint("gateway ", i, " settled its records"), func() bool {
			gw.api.queued.mu.Lock()
			defer gw.api.queued.mu.Unlock()
			return len(gw.api.queued.pending) == 0
		})
	}
}

// TestQueuedRecordNeverOverwrites: the queued record is a create, so when
// the invoker has already written its own (it took the message before the
// gateway's record landed), the later queued write changes nothing.
func TestQueuedRecordNeverOverwrites(t *testing.T) {
	signer := testkit.Signer(t)
	gws, _, b := startAcceptGateways(t, 1, signer)
	id := events.NewInvocationID()
	key := events.InvocationKey("acme", "echo", id)
	started := time.Now().UTC()
	running := events.StoredInvocation{ID: id, Tenant: "acme", Function: "echo", Async: true, Status: events.StatusRunning, Attempts: 1, CreatedAt: started, StartedAt: &started}
	raw, _ := json.Marshal(running)
	if _, err := b.Invocations.Create(context.Background(), key, raw); err != nil {
		t.Fatal(err)
	}
	q := gws[0].api.queued
	q.write(events.StoredInvocation{ID: id, Tenant: "acme", Function: "echo", Async: true, Status: events.StatusQueued, CreatedAt: started}, nil)
	if !q.wait(context.Background(), id) {
		// Settled already: fine, wait reports only an unsettled one.
		t.Log("the queued write settled before the wait")
	}
	testkit.WaitFor(t, 10*time.Second, "queued write settled", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		_, ok := q.pending[id]
		return !ok
	})
	e, err := b.Invocations.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if e.Revision() != 1 || !strings.Contains(string(e.Value()), `"status":"running"`) {
		t.Fatalf("record after the late queued write: revision %d %s", e.Revision(), e.Value())
	}
}

// TestFreshID: a GET looks again for a missing record only for an id made
// within freshID of now.
func TestFreshID(t *testing.T) {
	now := time.Now()
	if !fresh(events.NewInvocationID(), now) {
		t.Fatal("a new id is not fresh")
	}
	old := fmt.Sprintf("%012x%s", now.Add(-time.Minute).UnixMilli(), strings.Repeat("0", 20))
	future := fmt.Sprintf("%012x%s", now.Add(time.Hour).UnixMilli(), strings.Repeat("0", 20))
	for _, id := range []string{old, future, "not-an-id", strings.Repeat("f", 32)} {
		if fresh(id, now) {
			t.Errorf("%q is fresh", id)
		}
	}
}
