package api

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/loadreport"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// routeFixture is a gateway on a real provisioned NATS server, its
// endpoints fed by the status bucket's watch; the test writes desired
// records and statuses as the gateway and the deployer would.
type routeFixture struct {
	url        string
	nc         *nats.Conn
	b          bus.Buckets
	tok        string
	signer     *auth.HS256
	maxPayload int64 // the NATS server's max_payload
}

func startRouteGateway(t *testing.T, cfg Config) *routeFixture {
	t.Helper()
	return startRouteGatewayWith(t, cfg, routeOptions{})
}

// routeOptions tune the fixture's gateway beyond Config.
type routeOptions struct {
	// reportInterval is the load reporter's (run for the test's
	// lifetime); 0: loadreport.DefaultInterval.
	reportInterval time.Duration
	// readTimeout is the http.Server's (0: none).
	readTimeout time.Duration
}

func startRouteGatewayWith(t *testing.T, cfg Config, opts routeOptions) *routeFixture {
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
	rep := loadreport.New(nc, ReportSource, opts.reportInterval, nil)
	go rep.Run(ctx)
	h, _ := newAPI(cfg, Deps{
		NC: nc, JS: js, Store: store.New(js, b), Cache: cache, Endpoints: eps, Reporter: rep, Auth: signer,
		Log: slog.New(slog.DiscardHandler), Tracer: noop.NewTracerProvider().Tracer(""),
		Metrics: NewMetrics(reg, reg), Events: pub,
		Ready: func(ctx context.Context) error { return bus.Ready(ctx, nc, js) },
	})
	// A real net/http server: the route moves its connection's deadlines.
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 2 * time.Second // before it serves (a race otherwise)
	srv.Config.ReadTimeout = opts.readTimeout
	srv.Start()
	t.Cleanup(func() { srv.Close(); pub.Close() })
	return &routeFixture{url: srv.URL, nc: nc, b: b, tok: testkit.Token(t, signer, "acme"), signer: signer, maxPayload: nc.MaxPayload()}
}

// function stores an http-mode function of acme (timeout 1s) with its
// status listing endpoints.
func (f *routeFixture) function(t *testing.T, name string, endpoints ...string) {
	t.Helper()
	f.put(t, name, "", time.Second, endpoints...)
}

// put stores an http-mode function of acme with the route auth and
// timeout given, and its status listing endpoints.
func (f *routeFixture) put(t *testing.T, name, routeAuth string, timeout time.Duration, endpoints ...string) {
	t.Helper()
	spec := function.Spec{Name: name, Command: []string{"x"}, Invocation: function.Invocation{Mode: function.ModeHTTP,
		Timeout: function.Duration(timeout)}}
	if routeAuth != "" {
		spec.HTTP = &function.HTTP{Auth: routeAuth}
	}
	spec = spec.WithDefaults()
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
// unreachable, 504 past its timeout, 503 when no endpoint appeared within
// its timeout (the request is held that long, scale_test.go).
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
	// from the bus): held for the function's timeout (1s), then 503 with
	// Retry-After.
	f.function(t, "none")
	f.function(t, "odd", "file:///etc/passwd", "http://user:pw@127.0.0.1:1", "gopher://127.0.0.1:70")
	for _, name := range []string{"none", "odd"} {
		testkit.Eventually(t, 10*time.Second, name+": 503", func() (bool, string) {
			start := time.Now()
			code, body, hdr := f.get(t, "/fn/acme/"+name+"/")
			return code == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "" && strings.Contains(body, "none became ready within its timeout") &&
				time.Since(start) >= time.Second, body
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

// expiredToken is an HS256 token of tenant, signed with testkit's key,
// that expired an hour ago: a platform token that no longer verifies.
func expiredToken(tenant string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString(fmt.Appendf(nil, `{"iss":"eventflow","aud":"eventflow","exp":%d,"tenant":%q,"scopes":["functions:invoke"]}`,
		time.Now().Add(-time.Hour).Unix(), tenant))
	mac := hmac.New(sha256.New, testkit.SignerKey)
	mac.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestRoutePlatformTokensNeverForwarded: a bearer token shaped like a
// platform token (a JWT) never reaches a function, whether it verified or
// not (expired, signed by another key, garbage) and whatever the case of
// the scheme; the function's own credentials still reach a public one.
func TestRoutePlatformTokensNeverForwarded(t *testing.T) {
	f := startRouteGateway(t, Config{})
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "auth="+r.Header.Get("Authorization"))
	}))
	t.Cleanup(echo.Close)
	f.put(t, "pub", function.HTTPAuthPublic, 5*time.Second, echo.URL)
	f.put(t, "web", "", 5*time.Second, echo.URL)
	testkit.Eventually(t, 10*time.Second, "pub answers", func() (bool, string) {
		resp, body := testkit.Call(t, "GET", f.url+"/fn/acme/pub/", "", "")
		return resp.StatusCode == http.StatusOK, body
	})
	expired := expiredToken("acme")
	if _, err := f.signer.Verify(expired); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the expired token verifies: %v", err)
	}
	otherKey, err := auth.NewHS256([]byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	forged := testkit.Token(t, otherKey, "acme")
	other := testkit.Token(t, f.signer, "other")
	for hdr, want := range map[string]string{
		"Bearer " + f.tok:     "",
		"bearer " + f.tok:     "",
		"BEARER  " + other:    "",
		"Bearer " + expired:   "",
		"Bearer " + forged:    "",
		"Bearer aaa.bbb.ccc":  "",
		"Basic dXNlcjpwdw==":  "Basic dXNlcjpwdw==",
		"Bearer fn-own-key":   "Bearer fn-own-key",
		"ApiKey k.e.y-1 more": "ApiKey k.e.y-1 more",
	} {
		resp, body := testkit.Call(t, "GET", f.url+"/fn/acme/pub/", "", "", "Authorization", hdr)
		if resp.StatusCode != http.StatusOK || body != "auth="+want {
			t.Errorf("public route, Authorization %.30q: %d %s, want the function to get %q", hdr, resp.StatusCode, body, want)
		}
	}
	// Nor with a second Authorization header behind the function's own.
	req, _ := http.NewRequest("GET", f.url+"/fn/acme/pub/", nil)
	req.Header.Add("Authorization", "Basic dXNlcjpwdw==")
	req.Header.Add("Authorization", "Bearer "+f.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "auth=" {
		t.Errorf("public route, two Authorization headers: %d %s", resp.StatusCode, b)
	}
	// A token route takes the scheme in any case, and never forwards it.
	if resp, body := testkit.Call(t, "GET", f.url+"/fn/acme/web/", "", "", "Authorization", "bearer "+f.tok); resp.StatusCode != http.StatusOK || body != "auth=" {
		t.Errorf("token route, lower-case scheme: %d %s", resp.StatusCode, body)
	}
}

// TestRouteAsyncTenantHeaders: on a public /async-fn/ route only the
// tenant (a valid token of its own with the invoke scope) may send
// Idempotency-Key or X-Callback-Url; anyone else's is refused before the
// key is taken, so the tenant's own call with it is not a replay.
func TestRouteAsyncTenantHeaders(t *testing.T) {
	f := startRouteGateway(t, Config{})
	f.put(t, "pub", function.HTTPAuthPublic, 5*time.Second)
	testkit.Eventually(t, 10*time.Second, "anonymous async call queued", func() (bool, string) {
		resp, body := testkit.Call(t, "POST", f.url+"/async-fn/acme/pub/", "", "x")
		return resp.StatusCode == http.StatusAccepted, body
	})
	readOnly := testkit.Token(t, f.signer, "acme", auth.ScopeRead)
	other := testkit.Token(t, f.signer, "other")
	for name, hdr := range map[string][]string{
		"anonymous key":            {"Idempotency-Key", "k-1"},
		"anonymous callback":       {"X-Callback-Url", "https://attacker.example/hook"},
		"another tenant's token":   {"Authorization", "Bearer " + other, "Idempotency-Key", "k-1"},
		"without the invoke scope": {"Authorization", "Bearer " + readOnly, "Idempotency-Key", "k-1"},
		"an expired token":         {"Authorization", "Bearer " + expiredToken("acme"), "X-Callback-Url", "https://attacker.example/hook"},
		"a function's own key":     {"Authorization", "Bearer fn-own-key", "Idempotency-Key", "k-1"},
	} {
		resp, body := testkit.Call(t, "POST", f.url+"/async-fn/acme/pub/", "", "x", hdr...)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"code":"bad_request"`) || !strings.Contains(body, `bearer token of tenant \"acme\"`) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	first, _ := testkit.Call(t, "POST", f.url+"/async-fn/acme/pub/", f.tok, "x", "Idempotency-Key", "k-1")
	again, _ := testkit.Call(t, "POST", f.url+"/async-fn/acme/pub/", f.tok, "x", "Idempotency-Key", "k-1")
	if first.StatusCode != http.StatusAccepted || first.Header.Get("Idempotent-Replayed") != "" ||
		again.StatusCode != http.StatusAccepted || again.Header.Get("Idempotent-Replayed") != "true" ||
		first.Header.Get("X-Invocation-Id") != again.Header.Get("X-Invocation-Id") {
		t.Errorf("the tenant's own key: %d %v / %d %v", first.StatusCode, first.Header, again.StatusCode, again.Header)
	}
}

// TestRouteQueuedTooLarge: an invocation the bus cannot carry (body and
// headers over NATS max_payload) is 413 payload_too_large, not a 503 to
// retry, on /async-fn/ and on :invoke?async=true alike.
func TestRouteQueuedTooLarge(t *testing.T) {
	f := startRouteGateway(t, Config{MaxBodyBytes: 16 << 20})
	f.put(t, "web", "", 5*time.Second)
	testkit.Eventually(t, 10*time.Second, "async call queued", func() (bool, string) {
		resp, body := testkit.Call(t, "POST", f.url+"/async-fn/acme/web/", f.tok, "x")
		return resp.StatusCode == http.StatusAccepted, body
	})
	// Under the body limit and under max_payload, but not with its
	// forwarded headers.
	body := strings.Repeat("b", int(f.maxPayload)-1024)
	resp, out := testkit.Call(t, "POST", f.url+"/async-fn/acme/web/", f.tok, body, "X-Big", strings.Repeat("h", 4096))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(out, `"code":"payload_too_large"`) {
		t.Errorf("/async-fn/ over max_payload: %d %s", resp.StatusCode, out)
	}
	resp, out = testkit.Call(t, "POST", f.url+"/v1/functions/web:invoke?async=true", f.tok, strings.Repeat("b", int(f.maxPayload)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(out, `"code":"payload_too_large"`) {
		t.Errorf(":invoke?async=true over max_payload: %d %s", resp.StatusCode, out)
	}
	if resp, out := testkit.Call(t, "POST", f.url+"/async-fn/acme/web/", f.tok, "x"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("a small call afterwards: %d %s", resp.StatusCode, out)
	}
}

// TestRouteScopesCookies: a function's cookies are kept to its own
// prefix (Path moved under it, Domain dropped), so no function sets
// cookies that the browser sends to another tenant's functions.
func TestRouteScopesCookies(t *testing.T) {
	f := startRouteGateway(t, Config{})
	set := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range []string{
			"a=1; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Lax",
			"b=2",
			"c=3; Path=/sub/x",
			"d=4; Path=relative",
			"e=5; Domain=.other.test; Path=/fn/other/theirs/",
			"f=; Max-Age=0; Path=/",
			"=nameless",
		} {
			w.Header().Add("Set-Cookie", c)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(set.Close)
	f.function(t, "ck", set.URL)
	var hdr http.Header
	testkit.Eventually(t, 10*time.Second, "ck answers", func() (bool, string) {
		code, body, h := f.get(t, "/fn/acme/ck/")
		hdr = h
		return code == http.StatusOK, body
	})
	want := map[string]string{"a": "/fn/acme/ck/", "b": "/fn/acme/ck/", "c": "/fn/acme/ck/sub/x", "d": "/fn/acme/ck/",
		"e": "/fn/acme/ck/fn/other/theirs/", "f": "/fn/acme/ck/"}
	got := hdr.Values("Set-Cookie")
	if len(got) != len(want) {
		t.Fatalf("Set-Cookie %q, want %d cookies", got, len(want))
	}
	for _, v := range got {
		c, err := http.ParseSetCookie(v)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", v, err)
		}
		if c.Path != want[c.Name] || c.Domain != "" || strings.Contains(strings.ToLower(v), "domain=") {
			t.Errorf("Set-Cookie %q: path %q domain %q, want path %q and no domain", v, c.Path, c.Domain, want[c.Name])
		}
		if c.Name == "a" && (!c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode) {
			t.Errorf("Set-Cookie %q lost its attributes", v)
		}
		if c.Name == "f" && c.MaxAge >= 0 {
			t.Errorf("Set-Cookie %q no longer deletes the cookie", v)
		}
	}
}

// TestRouteInFlightLimit: a tenant's route requests in progress are
// capped (here 2): past it /fn/ and /async-fn/ answer 429 with
// Retry-After: 1, and a slot is free again once a request ends.
func TestRouteInFlightLimit(t *testing.T) {
	f := startRouteGateway(t, Config{MaxRouteRequestsPerTenant: 2})
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(hold.Close)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before hold.Close, which waits for its handlers
	f.put(t, "web", "", 30*time.Second, hold.URL)
	testkit.Eventually(t, 10*time.Second, "web answers", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/web/")
		return code == http.StatusOK, body
	})

	done := make(chan string, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest("GET", f.url+"/fn/acme/web/hold", nil)
			req.Header.Set("Authorization", "Bearer "+f.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- fmt.Sprint(resp.StatusCode, " ", string(b))
		}()
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the held requests did not reach the function")
		}
	}
	for _, call := range [][2]string{{"GET", "/fn/acme/web/"}, {"POST", "/async-fn/acme/web/"}} {
		resp, body := testkit.Call(t, call[0], f.url+call[1], f.tok, "")
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, `"code":"too_many_requests"`) {
			t.Errorf("%s %s with 2 in flight: %d %v %s", call[0], call[1], resp.StatusCode, resp.Header, body)
		}
	}
	free()
	for range 2 {
		if got := <-done; got != "200 ok" {
			t.Errorf("a held request: %s", got)
		}
	}
	testkit.Eventually(t, 10*time.Second, "a slot is free again", func() (bool, string) {
		code, body, _ := f.get(t, "/fn/acme/web/")
		return code == http.StatusOK, body
	})
}

// TestRouteOutcome: what a proxied request says of a rolling-out
// revision. The function's own answer counts (5xx failed); no answer
// counts as failed only when the function had the whole request: a slow
// or broken upload, or a caller that left, is not the function's doing,
// and must not let anyone fail a rollout.
func TestRouteOutcome(t *testing.T) {
	whole, partial := &replayBody{eof: true}, &replayBody{n: 10}
	for _, c := range []struct {
		answered       int
		body           *replayBody
		gone           bool
		failed, judged bool
	}{
		{answered: 200, judged: true},
		{answered: 404, body: whole, judged: true},
		{answered: 500, failed: true, judged: true},
		{answered: 503, body: partial, failed: true, judged: true}, // it answered: its doing
		{answered: 0, failed: true, judged: true},                  // no body, no answer: timeout or dropped
		{answered: 0, body: whole, failed: true, judged: true},
		{answered: 0, body: partial},           // the upload never arrived whole
		{answered: 0, gone: true},              // the caller left
		{answered: 0, body: whole, gone: true}, // likewise
	} {
		failed, judged := routeOutcome(c.answered, c.body, c.gone)
		if failed != c.failed || judged != c.judged {
			t.Errorf("answered %d, body %+v, gone %v: failed %v judged %v, want %v %v", c.answered, c.body, c.gone, failed, judged, c.failed, c.judged)
		}
	}
}
