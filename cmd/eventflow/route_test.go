package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// routeFunction is the http-mode function of the route tests: it answers
// what it received as JSON; /sse writes one event, then a second once
// /release was called (or after 30 s).
const routeFunction = `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	release := make(chan struct{})
	var once sync.Once
	http.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second):
		}
		io.WriteString(w, "data: second\n\n")
	})
	http.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(release) })
		io.WriteString(w, "released")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Fn", "route")
		if s, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil {
			w.WriteHeader(s)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "host": r.Host,
			"custom": r.Header.Get("X-Custom"), "hop": r.Header.Get("X-Hop"), "auth": r.Header.Get("Authorization"),
			"xff": r.Header.Get("X-Forwarded-For"), "xfh": r.Header.Get("X-Forwarded-Host"), "xfp": r.Header.Get("X-Forwarded-Proto"),
			"prefix": r.Header.Get("X-Forwarded-Prefix"), "bodyLen": n, "bodySHA256": hex.EncodeToString(h.Sum(nil)),
		})
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

// echoed is what routeFunction answers.
type echoed struct {
	Method, Path, Query, Host, Custom, Hop, Auth, XFF, XFH, XFP, Prefix string
	BodyLen                                                             int64
	BodySHA256                                                          string
}

// buildRouteFunction builds routeFunction where the function user (nobody
// when the test runs as root) can run it.
func buildRouteFunction(t *testing.T) string { return proctest.BuildProgram(t, routeFunction) }

// routeCall makes one request with a body and headers as given (a token
// only if the headers have one).
func routeCall(t *testing.T, method, u string, body []byte, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (r response) echoed(t *testing.T) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("not the function's answer: %d %s", r.Status, r.Body)
	}
	return e
}

// TestRoute drives the HTTP routes of http-mode functions through a real
// `eventflow dev`: NATS, the deployer and the process runtime running a
// real function program, the gateway's router, the invoker for /async-fn/.
func TestRoute(t *testing.T) {
	bin := buildRouteFunction(t)
	p := startDev(t, t.TempDir())
	acmeTok, otherTok := token(t, p.URL, "acme"), token(t, p.URL, "other")
	readOnly := token(t, p.URL, "acme", "functions:read")
	acme, other := newClient(t, p.URL, acmeTok), newClient(t, p.URL, otherTok)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	create := func(c *client, spec map[string]any) {
		t.Helper()
		if r := c.do("POST", "/v1/functions", spec); r.Status != http.StatusAccepted {
			t.Fatalf("create %v: %d %s", spec["name"], r.Status, r.Body)
		}
	}
	httpFn := func(name, auth string, replicas int) map[string]any {
		return map[string]any{"name": name, "command": []string{bin}, "replicas": replicas,
			"invocation": map[string]any{"mode": "http", "timeout": "60s"}, "http": map[string]any{"auth": auth}}
	}
	create(acme, httpFn("web", "token", 1))
	create(acme, httpFn("pub", "public", 1))
	create(acme, httpFn("zero", "token", 0))
	create(acme, map[string]any{"name": "job", "command": []string{"cat"}})
	create(other, httpFn("theirs", "token", 1))
	for _, n := range []string{"web", "pub", "zero", "job"} {
		waitPhase(t, acme, n, "Ready")
	}
	waitPhase(t, other, "theirs", "Ready")
	// The gateway learns endpoints from the status bucket's watch.
	testkit.Eventually(t, 10*time.Second, "web reachable through its route", func() (bool, string) {
		r := routeCall(t, "GET", p.URL+"/fn/acme/web/", nil, bearer(acmeTok)...)
		return r.Status == http.StatusOK, fmt.Sprintf("%d %s", r.Status, r.Body)
	})
	gw, _ := url.Parse(p.URL)
	// Where instances listen is the gateway's business: the API shows the
	// route, never the endpoints.
	for _, path := range []string{"/v1/functions/web", "/v1/functions"} {
		if r := acme.do("GET", path, nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "endpoints") ||
			strings.Contains(string(r.Body), "127.0.0.1") || !strings.Contains(string(r.Body), `"url":"/fn/acme/web/"`) {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}

	t.Run("methods, query, headers, 5 MB body", func(t *testing.T) {
		big := make([]byte, 5<<20)
		_, _ = rand.Read(big)
		sum := sha256.Sum256(big)
		for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
			r := routeCall(t, method, p.URL+"/fn/acme/web/a/b%20c?x=1&y=%20z&status=201", big, append(bearer(acmeTok),
				"X-Custom", "hello "+method, "X-Forwarded-For", "6.6.6.6", "Forwarded", "for=6.6.6.6",
				"Connection", "X-Hop", "X-Hop", "hop-secret")...)
			e := r.echoed(t)
			if r.Status != http.StatusCreated || r.Header.Get("X-Fn") != "route" || !strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("%s: status %d headers %v", method, r.Status, r.Header)
			}
			if e.Method != method || e.Path != "/a/b c" || e.Query != "x=1&y=%20z&status=201" || e.Custom != "hello "+method {
				t.Errorf("%s: request arrived as %+v", method, e)
			}
			if e.BodyLen != int64(len(big)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: body %d bytes sha256 %s", method, e.BodyLen, e.BodySHA256)
			}
			// Forwarding headers are the gateway's (a client's forged ones
			// are dropped), hop-by-hop ones and the platform token are not
			// forwarded, the Host is the instance's.
			if e.XFF != "127.0.0.1" || e.XFH != gw.Host || e.XFP != "http" || e.Prefix != "/fn/acme/web" {
				t.Errorf("%s: forwarding headers %+v", method, e)
			}
			if e.Hop != "" || e.Auth != "" || e.Host == gw.Host || !strings.HasPrefix(e.Host, "127.0.0.1:") {
				t.Errorf("%s: hop %q auth %q host %q", method, e.Hop, e.Auth, e.Host)
			}
		}
	})

	t.Run("paths stay inside the function", func(t *testing.T) {
		for raw, want := range map[string]string{
			"/fn/acme/web/":                           "/",
			"/fn/acme/web/../../v1/functions":         "/v1/functions",
			"/fn/acme/web/%2e%2e/%2e%2e/v1/functions": "/v1/functions",
			"/fn/acme/web/x/..//../y/":                "/y/",
		} {
			req, _ := http.NewRequest("GET", p.URL, nil)
			req.URL.Opaque = raw // sent as written, not cleaned by the client
			req.Header.Set("Authorization", "Bearer "+acmeTok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{Status: resp.StatusCode, Header: resp.Header, Body: body}
			if e := r.echoed(t); r.Status != http.StatusOK || e.Path != want {
				t.Errorf("%s reached %q (%d), want the function's %q", raw, e.Path, r.Status, want)
			}
		}
		// A route of another tenant cannot be reached by climbing out of
		// the prefix either: the tenant and function segments are exact.
		if r := routeCall(t, "GET", p.URL+"/fn/acme/..%2fother/theirs/", nil, bearer(acmeTok)...); r.Status != http.StatusNotFound {
			t.Errorf("encoded traversal into another tenant: %d %s", r.Status, r.Body)
		}
	})

	t.Run("server-sent events arrive as written", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/fn/acme/web/sse", nil)
		req.Header.Set("Authorization", "Bearer "+acmeTok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("sse: %d %v", resp.StatusCode, resp.Header)
		}
		lines := make(chan string, 8)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if sc.Text() != "" {
					lines <- sc.Text()
				}
			}
		}()
		next := func() string {
			select {
			case l := <-lines:
				return l
			case <-ctx.Done():
				t.Fatal("no event within 30 s")
				return ""
			}
		}
		// The function is still waiting for /release: the first event
		// came through on its own.
		if l := next(); l != "data: first" {
			t.Fatalf("first event %q", l)
		}
		if r := routeCall(t, "POST", p.URL+"/fn/acme/web/release", nil, bearer(acmeTok)...); r.Status != http.StatusOK {
			t.Fatalf("release: %d %s", r.Status, r.Body)
		}
		if l := next(); l != "data: second" {
			t.Fatalf("second event %q", l)
		}
	})

	t.Run("auth modes and tenants", func(t *testing.T) {
		// public: no token needed; an Authorization header is the
		// function's business and passed on.
		if r := routeCall(t, "GET", p.URL+"/fn/acme/pub/hi", nil); r.Status != http.StatusOK || r.echoed(t).Path != "/hi" {
			t.Errorf("public without a token: %d %s", r.Status, r.Body)
		}
		if r := routeCall(t, "GET", p.URL+"/fn/acme/pub/", nil, "Authorization", "Bearer fn-own-key"); r.Status != http.StatusOK || r.echoed(t).Auth != "Bearer fn-own-key" {
			t.Errorf("public with the function's own key: %d %s", r.Status, r.Body)
		}
		// A platform token, of any tenant, is served but never handed to
		// the function (here another tenant's code), nor is anything shaped
		// like one that did not verify, whatever the scheme's case.
		for _, auth := range []string{"Bearer " + acmeTok, "Bearer " + otherTok, "bearer " + acmeTok, "Bearer aaa.bbb.ccc"} {
			if r := routeCall(t, "GET", p.URL+"/fn/acme/pub/", nil, "Authorization", auth); r.Status != http.StatusOK || r.echoed(t).Auth != "" {
				t.Errorf("public with a platform token (%.20s): %d %s", auth, r.Status, r.Body)
			}
		}
		for _, tc := range []struct {
			name, path string
			hdr        []string
			status     int
			code       string
		}{
			{"token route without a token", "/fn/acme/web/", nil, 401, "unauthenticated"},
			{"token route with a bad token", "/fn/acme/web/", []string{"Authorization", "Bearer nope"}, 401, "unauthenticated"},
			{"token route with another tenant's token", "/fn/acme/web/", bearer(otherTok), 404, "not_found"},
			{"token route without the invoke scope", "/fn/acme/web/", bearer(readOnly), 403, "forbidden"},
			{"another tenant's function", "/fn/other/theirs/", bearer(acmeTok), 404, "not_found"},
			{"another tenant's function, async", "/async-fn/other/theirs/", bearer(acmeTok), 404, "not_found"},
			{"another tenant's function without a token", "/fn/other/theirs/", nil, 401, "unauthenticated"},
			{"a function that does not exist, without a token", "/fn/acme/nothing/", nil, 401, "unauthenticated"},
			{"a function that does not exist", "/fn/acme/nothing/", bearer(acmeTok), 404, "not_found"},
			{"a job-mode function", "/fn/acme/job/", bearer(acmeTok), 404, "not_found"},
			{"a job-mode function, async", "/async-fn/acme/job/", bearer(acmeTok), 404, "not_found"},
			{"no ready instance", "/fn/acme/zero/", bearer(acmeTok), 503, "unavailable"},
			{"no function in the path", "/fn/acme", bearer(acmeTok), 404, "not_found"},
			{"no slash after the function", "/fn/acme/web", bearer(acmeTok), 404, "not_found"},
			{"TRACE is not routed", "/fn/acme/web/", bearer(acmeTok), 405, "method_not_allowed"},
		} {
			method := "GET"
			if strings.HasPrefix(tc.name, "TRACE") {
				method = "TRACE"
			}
			r := routeCall(t, method, p.URL+tc.path, nil, tc.hdr...)
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
			}
			if strings.Contains(tc.name, "job-mode") && !strings.Contains(string(r.Body), "job mode") {
				t.Errorf("%s: %s does not say job mode", tc.name, r.Body)
			}
			if tc.status == 503 && r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: no Retry-After", tc.name)
			}
		}
		// other's own token reaches it.
		if r := routeCall(t, "GET", p.URL+"/fn/other/theirs/x", nil, bearer(otherTok)...); r.Status != http.StatusOK {
			t.Errorf("other's function with other's token: %d %s", r.Status, r.Body)
		}
	})

	t.Run("async route queues the request", func(t *testing.T) {
		for _, method := range []string{"POST", "PUT", "DELETE"} {
			r := routeCall(t, method, p.URL+"/async-fn/acme/web/hook/p?k=v", []byte("async body"),
				append(bearer(acmeTok), "X-Custom", "async "+method, "Connection", "X-Hop", "X-Hop", "x")...)
			var acc struct{ ID, Location, Status string }
			if err := json.Unmarshal(r.Body, &acc); r.Status != http.StatusAccepted || err != nil || acc.Status != "queued" || acc.Location != "/v1/invocations/"+acc.ID {
				t.Fatalf("%s: %d %s", method, r.Status, r.Body)
			}
			inv := waitInvocation(t, acme, acc.ID, 30*time.Second)
			if inv.Status != "succeeded" {
				t.Fatalf("%s: %+v", method, inv)
			}
			var e echoed
			if err := json.Unmarshal([]byte(inv.Output), &e); err != nil {
				t.Fatalf("%s: output %q", method, inv.Output)
			}
			sum := sha256.Sum256([]byte("async body"))
			if e.Method != method || e.Path != "/hook/p" || e.Query != "k=v" || e.Custom != "async "+method ||
				e.BodySHA256 != hex.EncodeToString(sum[:]) || e.Auth != "" || e.Hop != "" || e.XFF != "127.0.0.1" {
				t.Errorf("%s: the function got %+v", method, e)
			}
		}
		// Idempotency-Key as on POST …:invoke?async=true: one invocation.
		first := routeCall(t, "POST", p.URL+"/async-fn/acme/web/once", []byte("x"), append(bearer(acmeTok), "Idempotency-Key", "k-1")...)
		again := routeCall(t, "POST", p.URL+"/async-fn/acme/web/once", []byte("x"), append(bearer(acmeTok), "Idempotency-Key", "k-1")...)
		if first.Status != http.StatusAccepted || again.Status != http.StatusAccepted || first.Header.Get("X-Invocation-Id") != again.Header.Get("X-Invocation-Id") ||
			again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("idempotent replay: %d %v / %d %v", first.Status, first.Header, again.Status, again.Header)
		}
		// The body limit of async invocations (1 MiB) holds here.
		if r := routeCall(t, "POST", p.URL+"/async-fn/acme/web/", make([]byte, 2<<20), bearer(acmeTok)...); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MiB async body: %d %s", r.Status, r.Body)
		}
		if r := routeCall(t, "POST", p.URL+"/async-fn/acme/web/", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("async without a token: %d %s", r.Status, r.Body)
		}
		// Idempotency keys and callbacks are the tenant's own, also on a
		// public route.
		if r := routeCall(t, "POST", p.URL+"/async-fn/acme/pub/", nil, "Idempotency-Key", "k-1"); r.Status != http.StatusBadRequest || r.errorCode() != "bad_request" {
			t.Errorf("anonymous Idempotency-Key on a public route: %d %s", r.Status, r.Body)
		}
	})
}
