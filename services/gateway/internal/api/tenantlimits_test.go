package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// These tests play the per-tenant limits (limits.go) against the API
// served over a real NATS JetStream server: the request rate, the
// functions per tenant, the queued invocations per function (the
// invocations stream's own cap) and the open streams, each with its 429 or
// 403, Retry-After and eventflow_gateway_limited_total.

// doAs sends method path with body as the holder of token and reads the
// whole answer.
func (f *streamFixture) doAs(t *testing.T, token, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	return call(t, token, method, f.srv.URL+path, body, hdr...)
}

// call is testkit.Call answering status, body and header.
func call(t *testing.T, token, method, url, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	resp, b := testkit.Call(t, method, url, token, body, hdr...)
	return resp.StatusCode, b, resp.Header
}

// metric reads one sample of the gateway's GET /metrics, by its name and
// labels as exposed (e.g. `eventflow_gateway_limited_total{limit="rate"}`);
// -1 when it is not there.
func (f *streamFixture) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body := f.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", series, line)
			}
			return n
		}
	}
	return -1
}

func limitedSeries(limit string) string {
	return `eventflow_gateway_limited_total{limit="` + limit + `"}`
}

// wantLimited checks eventflow_gateway_limited_total for every limit.
func (f *streamFixture) wantLimited(t *testing.T, want map[string]float64) {
	t.Helper()
	for _, l := range []string{limitRate, limitFunctions, limitQueue, limitStreams} {
		if got := f.metric(t, limitedSeries(l)); got != want[l] {
			t.Errorf("%s = %v, want %v", limitedSeries(l), got, want[l])
		}
	}
}

// TestTenantRateLimit: past its burst a tenant gets 429 too_many_requests
// with Retry-After from its bucket, while another tenant, at the same
// time, is not affected; every refusal is counted.
func TestTenantRateLimit(t *testing.T) {
	f := startStreamAPIWith(t, Config{TenantRate: 1, TenantBurst: 3})
	other := f.issue("other")
	refused := 0
	for i := range 3 {
		if code, body, _ := f.doAs(t, f.token, "GET", "/v1/functions", ""); code != http.StatusOK {
			t.Fatalf("request %d of the burst: %d %s", i+1, code, body)
		}
	}
	code, body, hdr := f.doAs(t, f.token, "GET", "/v1/functions", "")
	wantError(t, "past the burst", code, body, http.StatusTooManyRequests, CodeTooManyRequests)
	refused++
	// One token a second: the next is at most a second away.
	if ra := hdr.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if !strings.Contains(body, `tenant \"acme\" may make 1 requests per second to this gateway (bursts of 3)`) {
		t.Errorf("the message does not state the limit: %s", body)
	}
	// Another tenant has a bucket of its own; a stream is a request too.
	for i := range 3 {
		if code, body, _ := f.doAs(t, other, "GET", "/v1/events?follow=false", ""); code != http.StatusOK {
			t.Fatalf("another tenant, request %d: %d %s", i+1, code, body)
		}
	}
	// A refused request spent nothing: acme is still refused only until
	// its next token.
	code, _, _ = f.doAs(t, f.token, "POST", "/v1/functions", `{"name":"f","command":["cat"]}`)
	if code != http.StatusTooManyRequests {
		t.Fatalf("acme again at once: %d, want 429", code)
	}
	refused++
	testkit.WaitFor(t, waitWithin, "acme's next token", func() bool {
		code, _, _ := f.doAs(t, f.token, "GET", "/v1/functions", "")
		if code == http.StatusTooManyRequests {
			refused++
		}
		return code == http.StatusOK
	})
	f.wantLimited(t, map[string]float64{limitRate: float64(refused)})

	// Retry-After is the bucket's wait rounded up: a token every 4 s.
	slow := startStreamAPIWith(t, Config{TenantRate: 0.25, TenantBurst: 1})
	if code, _, _ := slow.doAs(t, slow.token, "GET", "/v1/functions", ""); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	code, _, hdr = slow.doAs(t, slow.token, "GET", "/v1/functions", "")
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "4" {
		t.Errorf("second request at 1 per 4 s: %d, Retry-After %q; want 429, 4", code, hdr.Get("Retry-After"))
	}
	// Without a token no bucket is touched: 401 as before.
	req, _ := http.NewRequest("GET", slow.srv.URL+"/v1/functions", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
}

// TestTenantRatesBounded: however many tenants come, at most max buckets
// are kept; buckets idle long enough to be full again are forgotten as
// new tenants arrive, and a tenant in use keeps its (empty) bucket.
func TestTenantRatesBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := newTenantRates(10, 20, 100)
	r.now = func() time.Time { return now }

	for i := range 20 {
		if ok, _ := r.take("busy"); !ok {
			t.Fatalf("busy's request %d of its burst refused", i+1)
		}
	}
	if ok, wait := r.take("busy"); ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("busy past its burst: ok %v, wait %s; want refused, wait 100ms at most", ok, wait)
	}
	// 50 other tenants, under the cap: busy's bucket is kept, still empty.
	for i := range 50 {
		r.take(fmt.Sprintf("t%d", i))
	}
	if ok, _ := r.take("busy"); ok {
		t.Fatal("busy got a fresh bucket although the cap was not reached")
	}
	// 10,000 tenants (valid tokens of made-up tenants): never more than
	// 100 buckets.
	for i := range 10_000 {
		if ok, _ := r.take(fmt.Sprintf("many%d", i)); !ok {
			t.Fatalf("a new tenant's first request refused")
		}
		if n := r.len(); n > 100 {
			t.Fatalf("%d buckets after %d tenants, want at most 100", n, i+1)
		}
	}
	// Once every bucket is full again, a new tenant sweeps them all.
	now = now.Add(r.idle)
	r.take("late")
	if n := r.len(); n != 1 {
		t.Fatalf("%d buckets after all went idle and one tenant came, want 1", n)
	}
}

// TestFunctionQuota: with a cap of 2, the third create is 403
// quota_exceeded and nothing is stored or sent to the deployer; replacing
// an existing function and another tenant's creates still work; a
// function being deleted counts until it is gone; concurrent creates on
// one gateway never pass the cap.
func TestFunctionQuota(t *testing.T) {
	f := startStreamAPIWith(t, Config{MaxFunctionsPerTenant: 2})
	create := func(token, name string, hdr ...string) (int, string) {
		t.Helper()
		code, body, _ := f.doAs(t, token, "POST", "/v1/functions", `{"name":"`+name+`","command":["cat"]}`, hdr...)
		return code, body
	}
	for _, name := range []string{"one", "two"} {
		if code, body := create(f.token, name); code != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
	}
	code, body := create(f.token, "three")
	wantError(t, "third create", code, body, http.StatusForbidden, CodeQuotaExceeded)
	if !strings.Contains(body, "has 2 functions and may have at most 2") || !strings.Contains(body, "EVENTFLOW_TENANT_MAX_FUNCTIONS") {
		t.Errorf("the message should name the limit and how to raise it: %s", body)
	}
	if code, _ := f.get(t, "/v1/functions/three"); code != http.StatusNotFound {
		t.Errorf("GET the refused function: %d, want 404", code)
	}
	if code, body := f.get(t, "/v1/functions"); code != http.StatusOK || strings.Count(body, `"name":`) != 2 {
		t.Errorf("list after the refusal: %d %s, want two functions", code, body)
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 2 {
		t.Errorf("%d commands published, want 2 (none for the refused create)", n)
	}

	// At the cap, an existing function may still be replaced, and a
	// conditional create of a taken name is still 412.
	if code, body, _ := f.doAs(t, f.token, "POST", "/v1/functions", `{"name":"one","command":["tr","a-z","A-Z"]}`); code != http.StatusAccepted {
		t.Errorf("replace at the cap: %d %s", code, body)
	}
	if code, body, _ := f.doAs(t, f.token, "PUT", "/v1/functions/two", `{"command":["rev"]}`); code != http.StatusAccepted {
		t.Errorf("PUT at the cap: %d %s", code, body)
	}
	code, body = create(f.token, "one", "If-None-Match", "*")
	wantError(t, "conditional create of a taken name at the cap", code, body, http.StatusPreconditionFailed, CodeAlreadyExists)
	// Another tenant has a cap of its own.
	if code, body := create(f.issue("other"), "three"); code != http.StatusAccepted {
		t.Errorf("another tenant's create: %d %s", code, body)
	}

	// A function being deleted counts until the deployer has removed it.
	if code, body, _ := f.doAs(t, f.token, "DELETE", "/v1/functions/two", ""); code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", code, body)
	}
	code, body = create(f.token, "three")
	wantError(t, "create while one is being deleted", code, body, http.StatusForbidden, CodeQuotaExceeded)
	kv, err := f.js.KeyValue(context.Background(), events.BucketFunctions)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), events.FunctionKey("acme", "two")); err != nil {
		t.Fatal(err)
	}
	if code, body := create(f.token, "three"); code != http.StatusAccepted {
		t.Fatalf("create once the deleted one is gone: %d %s", code, body)
	}

	// Ten concurrent creates of new names by a fresh tenant: exactly two
	// are stored.
	racer := f.issue("racer")
	codes := make([]int, 10)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", f.srv.URL+"/v1/functions", strings.NewReader(fmt.Sprintf(`{"name":"f%d","command":["cat"]}`, i)))
			req.Header.Set("Authorization", "Bearer "+racer)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	accepted, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusAccepted:
			accepted++
		case http.StatusForbidden:
			refused++
		}
	}
	if accepted != 2 || refused != 8 {
		t.Errorf("concurrent creates: %v; want 2 accepted, 8 refused", codes)
	}
	keys, err := kv.ListKeysFiltered(context.Background(), "racer.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	if n != 2 {
		t.Errorf("racer has %d functions stored, want 2", n)
	}
	f.wantLimited(t, map[string]float64{limitFunctions: 2 + 8})
}

// TestQueueFull: with the invocations stream capped at 3 per function and
// no invoker, the 4th async invocation of a function is 429 queue_full
// with Retry-After, and leaves no record and no message; another function
// still accepts. A redrive into the full queue is refused the same way and
// keeps the dead letters; with one place free it redrives one and says so.
func TestQueueFull(t *testing.T) {
	f := startStreamAPIWith(t, Config{})
	ctx := context.Background()
	o := events.DefaultOptions()
	o.MaxQueuedPerFunction = 3
	if err := bus.Provision(ctx, f.js, o); err != nil {
		t.Fatal(err)
	}
	f.createFunction(t, "busy")
	f.createFunction(t, "quiet")
	invoke := func(fn string) (int, string, http.Header) {
		t.Helper()
		return f.doAs(t, f.token, "POST", "/v1/functions/"+fn+":invoke?async=true", "payload")
	}
	kv, err := f.js.KeyValue(ctx, events.BucketInvocations)
	if err != nil {
		t.Fatal(err)
	}
	records := func(fn string) int {
		t.Helper()
		keys, err := kv.ListKeysFiltered(ctx, events.InvocationKey("acme", fn, "*"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n
	}
	stream, err := f.js.Stream(ctx, events.StreamInvocations)
	if err != nil {
		t.Fatal(err)
	}
	queued := func(fn string) uint64 {
		t.Helper()
		subject := events.InvocationSubject("acme", fn)
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subject]
	}

	for i := range 3 {
		if code, body, _ := invoke("busy"); code != http.StatusAccepted {
			t.Fatalf("async invocation %d: %d %s", i+1, code, body)
		}
	}
	code, body, hdr := invoke("busy")
	wantError(t, "4th async invocation", code, body, http.StatusTooManyRequests, CodeQueueFull)
	if ra := hdr.Get("Retry-After"); ra != strconv.Itoa(int(queueFullRetryAfter/time.Second)) {
		t.Errorf("Retry-After %q, want %d", ra, int(queueFullRetryAfter/time.Second))
	}
	if hdr.Get("X-Invocation-Id") != "" || hdr.Get("Location") != "" {
		t.Errorf("a refused invocation has an id or location: %v", hdr)
	}
	// The queued records are written after the 202 (one awaited write per
	// accept): wait for the three, then check no fourth came.
	testkit.Eventually(t, 5*time.Second, "busy's 3 queued records", func() (bool, string) {
		n := records("busy")
		return n == 3, fmt.Sprintf("%d records (want 3: none for the refused one)", n)
	})
	if n := queued("busy"); n != 3 {
		t.Errorf("busy has %d queued, want 3", n)
	}
	if code, body, _ := invoke("quiet"); code != http.StatusAccepted {
		t.Errorf("another function: %d %s", code, body)
	}
	if got := f.metric(t, `eventflow_gateway_invocations_total{mode="async",outcome="queue_full"}`); got != 1 {
		t.Errorf("invocations with outcome queue_full: %v, want 1", got)
	}

	// Two dead letters of busy; its queue is full.
	for _, id := range []string{"0123456789abcdef0123456789abcde1", "0123456789abcdef0123456789abcde2"} {
		if _, err := f.js.PublishMsg(ctx, events.DeadLetter{Invocation: events.Invocation{ID: id, Tenant: "acme", Function: "busy", Payload: []byte("dead")}, Attempts: 3}.Msg()); err != nil {
			t.Fatal(err)
		}
	}
	deadLetters := func() int {
		t.Helper()
		code, body := f.get(t, "/v1/functions/busy/dead-letters")
		if code != http.StatusOK {
			t.Fatalf("dead letters: %d %s", code, body)
		}
		return strings.Count(body, `"id":`)
	}
	code, body, hdr = f.doAs(t, f.token, "POST", "/v1/functions/busy/dead-letters/redrive", "")
	wantError(t, "redrive into a full queue", code, body, http.StatusTooManyRequests, CodeQueueFull)
	if hdr.Get("Retry-After") == "" || !strings.Contains(body, "0 of the 2 dead letters were redriven") {
		t.Errorf("redrive into a full queue: Retry-After %q, %s", hdr.Get("Retry-After"), body)
	}
	if n := deadLetters(); n != 2 {
		t.Errorf("%d dead letters after the refused redrive, want 2", n)
	}
	// The invoker finishes one of busy's invocations: one place.
	cons, err := f.js.CreateOrUpdateConsumer(ctx, events.StreamInvocations, jetstream.ConsumerConfig{
		Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.InvocationSubject("acme", "busy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(waitWithin))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	code, body, _ = f.doAs(t, f.token, "POST", "/v1/functions/busy/dead-letters/redrive", "")
	wantError(t, "redrive with one place", code, body, http.StatusTooManyRequests, CodeQueueFull)
	if !strings.Contains(body, "1 of the 2 dead letters were redriven") {
		t.Errorf("redrive with one place: %s", body)
	}
	if n := deadLetters(); n != 1 {
		t.Errorf("%d dead letters after redriving one, want 1", n)
	}
	if n := queued("busy"); n != 3 {
		t.Errorf("busy has %d queued, want 3", n)
	}
	f.wantLimited(t, map[string]float64{limitQueue: 3})
}

// TestStreamLimitConfigured: MaxStreamsPerTenant sets the bound (here 1)
// and each refusal is counted; a negative value lifts it.
func TestStreamLimitConfigured(t *testing.T) {
	f := startStreamAPIWith(t, Config{MaxStreamsPerTenant: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := f.open(t, ctx, "/v1/events")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", resp.StatusCode)
	}
	code, body, hdr := f.doAs(t, f.token, "GET", "/v1/events?follow=false", "")
	wantError(t, "second stream", code, body, http.StatusTooManyRequests, CodeTooManyRequests)
	if hdr.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", hdr.Get("Retry-After"))
	}
	f.wantLimited(t, map[string]float64{limitStreams: 1})

	l := newStreamLimiter(-1)
	for i := range 100 {
		if !l.acquire("a") {
			t.Fatalf("stream %d refused without a limit", i+1)
		}
	}
}
