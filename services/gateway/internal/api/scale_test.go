package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// The route's part in scaling from zero (the activator's job): a request
// that finds no ready instance is held, wakes the function at once on
// eventflow.scale.<tenant>.<fn> and again every report interval, and is
// proxied as soon as the deployer stores an endpoint; past the function's
// timeout it is answered 503 with Retry-After. Requests running on an
// instance are reported too, for the scaler's concurrency.

// loadReports subscribes to the function's load reports.
func (f *routeFixture) loadReports(t *testing.T, fn string) <-chan events.Load {
	t.Helper()
	ch := make(chan events.Load, 1024)
	sub, err := f.nc.Subscribe(events.ScaleSubject("acme", fn), func(m *nats.Msg) {
		l, err := events.ParseLoad(m.Data)
		if err != nil {
			t.Errorf("load report %q: %v", m.Data, err)
			return
		}
		select {
		case ch <- l:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

// nextLoad waits for a report that ok accepts, skipping others.
func nextLoad(t *testing.T, ch <-chan events.Load, within time.Duration, what string, ok func(events.Load) bool) events.Load {
	t.Helper()
	deadline := time.After(within)
	var seen []events.Load
	for {
		select {
		case l := <-ch:
			if ok(l) {
				return l
			}
			seen = append(seen, l)
		case <-deadline:
			t.Fatalf("no load report %s within %s (saw %+v)", what, within, seen)
		}
	}
}

// readyStatus stores the status the deployer writes once instances serve
// at endpoints (none: scaled to zero).
func (f *routeFixture) readyStatus(t *testing.T, name string, endpoints ...string) {
	t.Helper()
	n := int32(len(endpoints))
	st, _ := json.Marshal(function.Status{Phase: function.PhaseReady, ReadyReplicas: n, Replicas: max(n, 1), ObservedGeneration: 1,
		Endpoints: endpoints, UpdatedAt: time.Now().UTC(),
		LastScale: &function.ScaleDecision{From: 0, To: 1, Reason: "woken by a held request", At: time.Now().UTC()}})
	if _, err := f.b.Status.Put(context.Background(), events.FunctionKey("acme", name), st); err != nil {
		t.Fatal(err)
	}
}

// callAsync sends a request in the background; its "status body" (or
// the error) arrives on the channel.
func (f *routeFixture) callAsync(ctx context.Context, method, path, body string) <-chan string {
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, method, f.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	return done
}

// echoUpstream answers the request's method and body.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRouteHeldUntilReady: a request to a function without an endpoint
// (scaled to zero) is held, not refused; its wake (held 1) is published at
// once (the report interval here is an hour: no periodic report could be
// it); when the deployer stores an endpoint the request, body and all, is
// proxied. It was held longer than the server's read and write timeouts.
func TestRouteHeldUntilReady(t *testing.T) {
	f := startRouteGatewayWith(t, Config{}, routeOptions{reportInterval: time.Hour, readTimeout: 300 * time.Millisecond})
	up := echoUpstream(t)
	f.put(t, "cold", "", 30*time.Second) // no endpoint: scaled to zero
	loads := f.loadReports(t, "cold")

	start := time.Now()
	done := f.callAsync(context.Background(), "POST", "/fn/acme/cold/hello", "payload")
	wake := nextLoad(t, loads, 5*time.Second, "with held 1", func(l events.Load) bool { return l.Held == 1 })
	if !strings.HasPrefix(wake.Source, ReportSource+"-") || wake.InFlight != 0 {
		t.Errorf("wake %+v: want source %s-…, nothing in flight", wake, ReportSource)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the wake came %s after the request: want at once", d)
	}
	// Held past the server's write (2s) and read (300ms) timeouts.
	select {
	case got := <-done:
		t.Fatalf("answered without an endpoint: %s", got)
	case <-time.After(2500 * time.Millisecond):
	}
	f.readyStatus(t, "cold", up.URL)
	ready := time.Now()
	select {
	case got := <-done:
		if got != "200 POST /hello payload" {
			t.Errorf("held request: %s", got)
		}
		if d := time.Since(ready); d > 2*time.Second {
			t.Errorf("served %s after the endpoint was stored: want at once", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request was not served once an endpoint was stored")
	}
}

// TestRouteHeldWakesEveryInterval: while a request is held its wake is
// sent again every report interval; once the client leaves, the hold ends
// and a last report says nothing is held.
func TestRouteHeldWakesEveryInterval(t *testing.T) {
	f := startRouteGatewayWith(t, Config{}, routeOptions{reportInterval: 100 * time.Millisecond})
	f.put(t, "cold", "", 30*time.Second)
	loads := f.loadReports(t, "cold")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := f.callAsync(ctx, "GET", "/fn/acme/cold/", "")
	for i := range 4 {
		nextLoad(t, loads, 3*time.Second, fmt.Sprintf("#%d with held 1", i+1), func(l events.Load) bool { return l.Held == 1 })
	}
	cancel()
	<-done
	nextLoad(t, loads, 5*time.Second, "with nothing held", func(l events.Load) bool { return l.Held == 0 && l.InFlight == 0 })
}

// TestRouteHeldTimesOut: no instance within the function's timeout: 503
// unavailable with Retry-After, once the timeout has passed.
func TestRouteHeldTimesOut(t *testing.T) {
	f := startRouteGateway(t, Config{})
	f.put(t, "cold", "", 1500*time.Millisecond)
	start := time.Now()
	resp, body := testkit.Call(t, "GET", f.url+"/fn/acme/cold/", f.tok, "")
	d := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != UnavailableRetryAfter ||
		!strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "none became ready within its timeout (1.5s)") {
		t.Errorf("held past the timeout: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if d < 1500*time.Millisecond || d > 6*time.Second {
		t.Errorf("answered after %s: want the function's timeout, 1.5s", d)
	}
}

// TestRouteHeldCountsInFlight: a held request keeps its place among the
// tenant's route requests in flight (here 1): another is refused 429
// while it waits, and the place is free again once it ends.
func TestRouteHeldCountsInFlight(t *testing.T) {
	f := startRouteGatewayWith(t, Config{MaxRouteRequestsPerTenant: 1}, routeOptions{reportInterval: time.Hour})
	f.put(t, "cold", "", 30*time.Second)
	loads := f.loadReports(t, "cold")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := f.callAsync(ctx, "GET", "/fn/acme/cold/", "")
	nextLoad(t, loads, 5*time.Second, "with held 1", func(l events.Load) bool { return l.Held == 1 })
	resp, body := testkit.Call(t, "GET", f.url+"/fn/acme/cold/", f.tok, "")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"code":"too_many_requests"`) {
		t.Errorf("a second request while one is held: %d %s", resp.StatusCode, body)
	}
	cancel()
	<-done
	up := echoUpstream(t)
	f.readyStatus(t, "cold", up.URL)
	testkit.Eventually(t, 10*time.Second, "the place is free again", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/cold/x")
		return code == http.StatusOK, body
	})
}

// TestRouteInFlightReported: requests running on an instance are reported
// (inFlight) every interval while they run, and a last report with none
// once they end.
func TestRouteInFlightReported(t *testing.T) {
	f := startRouteGatewayWith(t, Config{}, routeOptions{reportInterval: 100 * time.Millisecond})
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(hold.Close)
	f.put(t, "busy", "", 30*time.Second, hold.URL)
	loads := f.loadReports(t, "busy")
	var done []<-chan string
	for range 2 {
		done = append(done, f.callAsync(context.Background(), "GET", "/fn/acme/busy/", ""))
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("the requests did not reach the function")
		}
	}
	nextLoad(t, loads, 3*time.Second, "with 2 in flight", func(l events.Load) bool { return l.InFlight == 2 && l.Held == 0 })
	close(release)
	for _, d := range done {
		if got := <-d; got != "200 ok" {
			t.Errorf("request: %s", got)
		}
	}
	nextLoad(t, loads, 3*time.Second, "with none in flight", func(l events.Load) bool { return l.InFlight == 0 && l.Held == 0 })
}

// TestSyncUnavailableRetryAfter: the invoker's "unavailable" (no instance
// became ready within the timeout) is 503 with Retry-After.
func TestSyncUnavailableRetryAfter(t *testing.T) {
	f := startRouteGateway(t, Config{})
	f.put(t, "cold", "", time.Second)
	sub, err := f.nc.QueueSubscribe(events.SyncSubject("acme", "cold"), "eventflow-invoker", func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(events.HeaderStatus, events.StatusFailed)
		reply.Header.Set(events.HeaderErrorCode, events.ErrorCodeUnavailable)
		reply.Header.Set(events.HeaderError, `function "cold" has no ready instance: none became ready within its timeout (1s)`)
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "503 with Retry-After", func() (bool, string) {
		resp, body := testkit.Call(t, "POST", f.url+"/v1/functions/cold:invoke", f.tok, "x")
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == UnavailableRetryAfter &&
			resp.Header.Get("X-Invocation-Id") != "" && strings.Contains(body, "none became ready"), fmt.Sprint(resp.StatusCode, resp.Header, body)
	})
}

// TestSyncWaitCoversTheHold: the gateway waits for a sync reply as long as
// the invoker may take: an http-mode function's hold while it wakes (up to
// its timeout) and then its run (its timeout), plus the grace; a job-mode
// function is never held.
func TestSyncWaitCoversTheHold(t *testing.T) {
	a := &API{cfg: Config{SyncTimeoutGrace: 5 * time.Second}}
	for _, tc := range []struct {
		mode string
		want time.Duration
	}{
		{function.ModeHTTP, 2*30*time.Second + 5*time.Second},
		{function.ModeJob, 30*time.Second + 5*time.Second},
	} {
		spec := function.Spec{Name: "f", Invocation: function.Invocation{Mode: tc.mode, Timeout: function.Duration(30 * time.Second)}}
		if got := a.syncWait(spec); got != tc.want {
			t.Errorf("%s: wait %s, want %s", tc.mode, got, tc.want)
		}
	}
}

// TestRouteRefusedInstanceIsSkipped: the gateway still lists an instance a
// drain has stopped (its status not yet here), so the connection is
// refused: the request, body and all, waits for the endpoints to drop it
// and goes to the instance that replaced it, instead of failing.
func TestRouteRefusedInstanceIsSkipped(t *testing.T) {
	f := startRouteGateway(t, Config{})
	up := echoUpstream(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := "http://" + l.Addr().String()
	l.Close() // nothing listens there any more: connections are refused
	f.put(t, "drained", "", 30*time.Second, stopped)
	done := f.callAsync(context.Background(), "POST", "/fn/acme/drained/x", "body")
	time.Sleep(100 * time.Millisecond) // the request meets the refusal first
	f.readyStatus(t, "drained", up.URL)
	select {
	case got := <-done:
		if got != "200 POST /x body" {
			t.Fatalf("request to a refused instance: %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}
