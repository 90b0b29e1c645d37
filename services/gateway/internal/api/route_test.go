package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// routeFixture is a gateway on a real provisioned NATS server, its
// endpoints fed by the status bucket's watch; the test writes desired
// records and statuses as the gateway and the deployer would.
type routeFixture struct {
	url string
	b   bus.Buckets
	tok string
}

func startRouteGateway(t *testing.T, cfg Config) *routeFixture {
	t.Helper()
	_, nc, js, b := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cache, err := catalog.NewCache(ctx, b.Functions)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := store.NewEndpoints(ctx, b.Status)
	if err != nil {
		t.Fatal(err)
	}
	signer := testkit.Signer(t)
	pub := bus.NewAsyncPublisher(js, func(error) {})
	reg := prometheus.NewRegistry()
	cfg.WriteTimeout = 2 * time.Second
	h, _ := newAPI(cfg, Deps{
		NC: nc, JS: js, Store: store.New(js, b), Cache: cache, Endpoints: eps, Auth: signer,
		Log: slog.New(slog.DiscardHandler), Tracer: noop.NewTracerProvider().Tracer(""),
		Metrics: NewMetrics(reg, reg), Events: pub,
		Ready: func(ctx context.Context) error { return bus.Ready(ctx, nc, js) },
	})
	// A real net/http server: the route moves its connection's deadlines.
	srv := httptest.NewServer(h)
	srv.Config.WriteTimeout = 2 * time.Second
	t.Cleanup(func() { srv.Close(); pub.Close() })
	return &routeFixture{url: srv.URL, b: b, tok: testkit.Token(t, signer, "acme")}
}

// function stores an http-mode function of acme (timeout 1s) with its
// status listing endpoints.
func (f *routeFixture) function(t *testing.T, name string, endpoints ...string) {
	t.Helper()
	spec := function.Spec{Name: name, Command: []string{"x"}, Invocation: function.Invocation{Mode: function.ModeHTTP,
		Timeout: function.Duration(time.Second)}}.WithDefaults()
	rec, _ := json.Marshal(function.Record{Spec: spec, Tenant: "acme", Generation: 1})
	if _, err := f.b.Functions.Put(context.Background(), events.FunctionKey("acme", name), rec); err != nil {
		t.Fatal(err)
	}
	f.status(t, name, endpoints...)
}

func (f *routeFixture) status(t *testing.T, name string, endpoints ...string) {
	t.Helper()
	st, _ := json.Marshal(function.Status{Phase: function.PhaseReady, ReadyReplicas: int32(len(endpoints)), ObservedGeneration: 1, Endpoints: endpoints})
	if _, err := f.b.Status.Put(context.Background(), events.FunctionKey("acme", name), st); err != nil {
		t.Fatal(err)
	}
}

func (f *routeFixture) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	resp, body := testkit.Call(t, "GET", f.url+path, f.tok, "")
	return resp.StatusCode, body, resp.Header
}

// upstream is a function instance: it answers its name and the Host it
// was sent to.
func upstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.Host+" "+r.Header.Get("X-Forwarded-Host"))
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRouteEndpointsAndFailures: the route follows the status bucket
// (round robin over the endpoints, a change seen at once), and answers in
// the gateway's error shape when the function cannot answer: 502
// unreachable, 504 past its timeout, 503 without an endpoint.
func TestRouteEndpointsAndFailures(t *testing.T) {
	f := startRouteGateway(t, Config{})
	one, two := upstream(t, "one"), upstream(t, "two")
	f.function(t, "web", one.URL, two.URL)
	gwHost := strings.TrimPrefix(f.url, "http://")

	seen := map[string]bool{}
	testkit.Eventually(t, 10*time.Second, "both endpoints answer", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/web/")
		if code == http.StatusOK {
			name, rest, _ := strings.Cut(body, " ")
			host, xfh, _ := strings.Cut(rest, " ")
			// The upstream Host is the endpoint's; the caller's goes in
			// X-Forwarded-Host.
			if want := map[string]string{"one": one.Listener.Addr().String(), "two": two.Listener.Addr().String()}[name]; host != want || xfh != gwHost {
				t.Fatalf("answer %q: host %q want %q, X-Forwarded-Host %q want %q", body, host, want, xfh, gwHost)
			}
			seen[name] = true
		}
		return len(seen) == 2, body
	})

	// The deployer writes a new status: only "two" is left.
	f.status(t, "web", two.URL)
	testkit.Eventually(t, 10*time.Second, "only two answers", func() (bool, string) {
		for range 4 {
			if _, body, _ := f.get(t, "/fn/acme/web/"); !strings.HasPrefix(body, "two ") {
				return false, body
			}
		}
		return true, ""
	})

	// Nothing listens there: 502.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	f.function(t, "gone", closed)
	testkit.Eventually(t, 10*time.Second, "502 function_failed", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/gone/")
		return code == http.StatusBadGateway && strings.Contains(body, `"code":"function_failed"`), body
	})

	// Past the function's timeout (1s): 504.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	f.function(t, "slow", hang.URL)
	testkit.Eventually(t, 10*time.Second, "504 timeout", func() (bool, string) {
		start := time.Now()
		code, body, _ := f.get(t, "/fn/acme/slow/")
		return code == http.StatusGatewayTimeout && strings.Contains(body, `"code":"timeout"`) && time.Since(start) < 5*time.Second, body
	})

	// No endpoint, or none the gateway accepts (only plain http base URLs
	// from the bus): 503 with Retry-After.
	f.function(t, "none")
	f.function(t, "odd", "file:///etc/passwd", "http://user:pw@127.0.0.1:1", "gopher://127.0.0.1:70")
	for _, name := range []string{"none", "odd"} {
		testkit.Eventually(t, 10*time.Second, name+": 503", func() (bool, string) {
			code, body, hdr := f.get(t, "/fn/acme/"+name+"/")
			return code == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "" && strings.Contains(body, "no ready instance"), body
		})
	}
}

// TestRouteStreamsAndAborts: an answer reaches the client as the function
// writes it (flushed at once, not buffered), and an answer the function
// breaks off breaks off the client's too, without a JSON error glued to
// it.
func TestRouteStreamsAndAborts(t *testing.T) {
	f := startRouteGateway(t, Config{})
	release := make(chan struct{})
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(stream.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(broken.Close)
	f.function(t, "sse", stream.URL)
	f.function(t, "broken", broken.URL)
	ok := upstream(t, "ok")
	f.function(t, "ok", ok.URL)
	testkit.Eventually(t, 10*time.Second, "endpoints known", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/ok/")
		return code == http.StatusOK, body
	})

	req, _ := http.NewRequest("GET", f.url+"/fn/acme/sse/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 4)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
	}()
	select {
	case l := <-lines:
		if l != "data: one" {
			t.Fatalf("first event %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the function waits")
	}
	close(release)
	select {
	case l := <-lines:
		if l != "data: two" {
			t.Fatalf("second event %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no second event")
	}

	req, _ = http.NewRequest("GET", f.url+"/fn/acme/broken/", nil)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err == nil || strings.Contains(string(body), `"error"`) {
		t.Fatalf("broken answer read whole: %q %v", body, err)
	}
	// The gateway is fine afterwards.
	if code, body, _ := f.get(t, "/fn/acme/ok/"); code != http.StatusOK {
		t.Fatalf("after a broken answer: %d %s", code, body)
	}
}

func TestForwardedPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/a": "/a", "/a/": "/a/", "/a//b": "/a/b",
		"/../../v1/functions": "/v1/functions", "/a/../..": "/", "/a/../../": "/",
		"/./x/.": "/x", "/%2e%2e": "/%2e%2e", // already decoded by net/http: a literal name
	} {
		if got := forwardedPath(in); got != want {
			t.Errorf("forwardedPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzForwardedPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/../..", "//x//", "/a/./b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := forwardedPath(in)
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("%q -> %q: not absolute", in, out)
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("%q -> %q: a dot segment left", in, out)
			}
		}
	})
}

// TestRouteRateLimit: route calls are limited per tenant at the API's
// rate, in a bucket of their own, so a flood of a public function's route
// does not use up the tenant's API requests.
func TestRouteRateLimit(t *testing.T) {
	f := startRouteGateway(t, Config{TenantRate: 0.01, TenantBurst: 5})
	up := upstream(t, "one")
	f.function(t, "web", up.URL)
	testkit.Eventually(t, 10*time.Second, "route answers", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/web/")
		return code == http.StatusOK, body
	})
	var code int
	var body string
	var hdr http.Header
	for range 10 { // bounded: the burst is 5
		if code, body, hdr = f.get(t, "/fn/acme/web/"); code != http.StatusOK {
			break
		}
	}
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"code":"too_many_requests"`) {
		t.Fatalf("over the rate: %d %v %s", code, hdr, body)
	}
	if code, body, _ := f.get(t, "/v1/functions/web"); code != http.StatusOK {
		t.Fatalf("the API after the route's bucket ran out: %d %s", code, body)
	}
}

// TestQueuedPathKeepsEncoding: the path a queued request carries parses
// back (as the runtimes do) to the path and query the caller sent.
func TestQueuedPathKeepsEncoding(t *testing.T) {
	for _, raw := range []string{"/fn/acme/web/a%3Fb/c%25d?x=1&y=%20z", "/fn/acme/web/a%20b/", "/fn/acme/web/../x?q"} {
		in, err := url.ParseRequestURI(raw)
		if err != nil {
			t.Fatal(err)
		}
		fwd := forwardedPath(strings.TrimPrefix(in.Path, "/fn/acme/web"))
		p := queuedPath(fwd, in.RawQuery)
		out, err := url.ParseRequestURI(p)
		if err != nil || out.Path != fwd || out.RawQuery != in.RawQuery {
			t.Errorf("%s -> %s -> %+v %v", raw, p, out, err)
		}
	}
}
