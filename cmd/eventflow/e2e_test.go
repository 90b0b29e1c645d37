package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/testkit"
)

type fnView struct {
	Name       string
	Generation int64
	Status     struct {
		Phase              string
		ReadyReplicas      int32
		Replicas           int32
		Message            string
		ObservedGeneration int64
		LastScale          *struct {
			From, To int32
			Reason   string
			At       time.Time
		}
	}
}

type invocationView struct {
	ID       string
	Status   string
	Output   string
	Error    string
	Attempts int
}

func waitPhase(t *testing.T, c *client, name, phase string) fnView {
	t.Helper()
	var f fnView
	testkit.Eventually(t, 20*time.Second, name+" phase "+phase, func() (bool, string) {
		r := c.do("GET", "/v1/functions/"+name, nil)
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		r.json(t, &f)
		return f.Status.Phase == phase, string(r.Body)
	})
	return f
}

func waitInvocation(t *testing.T, c *client, id string, within time.Duration) invocationView {
	t.Helper()
	var inv invocationView
	testkit.Eventually(t, within, "invocation "+id+" done", func() (bool, string) {
		r := c.do("GET", "/v1/invocations/"+id, nil)
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		r.json(t, &inv)
		return inv.Status == "succeeded" || inv.Status == "failed" || inv.Status == "dead_lettered", string(r.Body)
	})
	return inv
}

// TestUserJourney walks docs/API.md's curl tour against a real `eventflow dev`:
// token → create → Ready → sync invoke → async invoke → status → logs →
// delete → 404.
func TestUserJourney(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "demo"))

	r := c.do("POST", "/v1/functions", map[string]any{"name": "upper", "command": []string{"tr", "a-z", "A-Z"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var created fnView
	r.json(t, &created)
	if created.Status.Phase != "Pending" || created.Generation != 1 {
		t.Fatalf("create answered %+v; want phase Pending, generation 1", created)
	}
	// Read-your-writes: listed at once.
	r = c.do("GET", "/v1/functions", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"name":"upper"`) {
		t.Fatalf("list right after create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "upper", "Ready")

	r = c.do("POST", "/v1/functions/upper:invoke", "hello")
	if r.Status != http.StatusOK || string(r.Body) != "HELLO" {
		t.Fatalf("sync invoke: %d %q", r.Status, r.Body)
	}
	syncID := r.Header.Get("X-Invocation-Id")
	if syncID == "" {
		t.Fatal("sync invoke: no X-Invocation-Id")
	}
	if inv := waitInvocation(t, c, syncID, 10*time.Second); inv.Status != "succeeded" || inv.Output != "HELLO" {
		t.Fatalf("sync invocation record: %+v", inv)
	}

	r = c.do("POST", "/v1/functions/upper:invoke?async=true", "hello")
	if r.Status != http.StatusAccepted {
		t.Fatalf("async invoke: %d %s", r.Status, r.Body)
	}
	var acc struct{ ID, Status string }
	r.json(t, &acc)
	if acc.Status != "queued" || r.Header.Get("Location") != "/v1/invocations/"+acc.ID {
		t.Fatalf("async answer %s, Location %q", r.Body, r.Header.Get("Location"))
	}
	if inv := waitInvocation(t, c, acc.ID, 20*time.Second); inv.Status != "succeeded" || inv.Output != "HELLO" {
		t.Fatalf("async invocation: %+v", inv)
	}
	// Prefer: respond-async works too.
	r = c.do("POST", "/v1/functions/upper:invoke", "x", "Prefer", "respond-async")
	if r.Status != http.StatusAccepted {
		t.Fatalf("Prefer: respond-async: %d %s", r.Status, r.Body)
	}

	// A function that writes to stderr shows those lines in its logs.
	r = c.do("POST", "/v1/functions", map[string]any{"name": "noisy", "command": []string{"sh", "-c", "echo warming-up >&2; cat"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create noisy: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "noisy", "Ready")
	if r = c.do("POST", "/v1/functions/noisy:invoke", "payload-line"); r.Status != http.StatusOK {
		t.Fatalf("invoke noisy: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 10*time.Second, "stderr line in logs", func() (bool, string) {
		r := c.do("GET", "/v1/functions/noisy/logs?tail=10", nil)
		body := string(r.Body)
		return r.Status == 200 && strings.Contains(body, "stderr warming-up") && strings.Contains(body, "stdout payload-line"), body
	})
	// tail=1 gives only the last line.
	r = c.do("GET", "/v1/functions/noisy/logs?tail=1", nil)
	if lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n"); len(lines) != 1 {
		t.Fatalf("tail=1 gave %d lines: %q", len(lines), r.Body)
	}

	// Follow: a live line arrives on an open SSE stream.
	followLogs(t, p.URL, c.token, "noisy", func() {
		if r := c.do("POST", "/v1/functions/noisy:invoke", "live-line"); r.Status != http.StatusOK {
			t.Errorf("invoke during follow: %d %s", r.Status, r.Body)
		}
	}, "live-line")

	r = c.do("DELETE", "/v1/functions/upper", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 10*time.Second, "upper gone", func() (bool, string) {
		r := c.do("GET", "/v1/functions/upper", nil)
		return r.Status == http.StatusNotFound, fmt.Sprint(r.Status)
	})
	if r = c.do("POST", "/v1/functions/upper:invoke", "x"); r.Status != http.StatusNotFound {
		t.Fatalf("invoke after delete: %d %s", r.Status, r.Body)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("clean shutdown: %v\n%s", err, p.stderr)
	}
}

// followLogs opens an SSE log stream, runs trigger, and waits for want.
func followLogs(t *testing.T, base, tok, name string, trigger func(), want string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/functions/"+name+"/logs?tail=0", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64<<10)
		var seen strings.Builder
		for {
			n, err := resp.Body.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), want) {
				got <- seen.String()
				return
			}
			if err != nil {
				got <- seen.String()
				return
			}
		}
	}()
	trigger()
	select {
	case s := <-got:
		if !strings.Contains(s, want) || !strings.Contains(s, "event: log") {
			t.Fatalf("follow stream ended without %q: %q", want, s)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no live line %q within 10s", want)
	}
}

// TestTenantIsolationAndBadInput: another tenant sees nothing, and bad
// requests get their 4xx and change nothing.
func TestTenantIsolationAndBadInput(t *testing.T) {
	p := startDev(t, t.TempDir())
	a := newClient(t, p.URL, token(t, p.URL, "alice"))
	b := newClient(t, p.URL, token(t, p.URL, "bob"))

	if r := a.do("POST", "/v1/functions", map[string]any{"name": "secret", "command": []string{"cat"}}); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, a, "secret", "Ready")
	r := a.do("POST", "/v1/functions/secret:invoke?async=true", "x")
	var acc struct{ ID string }
	r.json(t, &acc)

	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/functions/secret"},
		{"PUT", "/v1/functions/secret"},
		{"DELETE", "/v1/functions/secret"},
		{"POST", "/v1/functions/secret:invoke"},
		{"POST", "/v1/functions/secret:invoke?async=true"},
		{"GET", "/v1/functions/secret/logs"},
		{"GET", "/v1/invocations/" + acc.ID},
	} {
		var body any
		if tc.method == "PUT" {
			body = map[string]any{"command": []string{"evil"}}
		}
		if r := b.do(tc.method, tc.path, body); r.Status != http.StatusNotFound {
			t.Errorf("bob %s %s: %d %s; want 404", tc.method, tc.path, r.Status, r.Body)
		}
	}
	if r := b.do("GET", "/v1/functions", nil); r.Status != 200 || strings.TrimSpace(string(r.Body)) != `{"items":[]}` {
		t.Errorf("bob's list: %d %s", r.Status, r.Body)
	}

	before := a.do("GET", "/v1/functions", nil).Body
	anon := newClient(t, p.URL, "")
	big := `{"name":"big","command":["cat"],"env":{"X":"` + strings.Repeat("a", 2<<20) + `"}}`
	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", a, "POST", "/v1/functions", `{"name": "x", `, 400, "invalid_json"},
		{"bad name", a, "POST", "/v1/functions", map[string]any{"name": "Bad_Name!", "command": []string{"cat"}}, 400, "validation_failed"},
		{"unknown field", a, "POST", "/v1/functions", `{"name":"u","command":["cat"],"replica":2}`, 400, "invalid_json"},
		{"no image or command", a, "POST", "/v1/functions", map[string]any{"name": "empty"}, 400, "validation_failed"},
		{"bad mode", a, "POST", "/v1/functions", map[string]any{"name": "m", "command": []string{"cat"}, "invocation": map[string]any{"mode": "batch"}}, 400, "validation_failed"},
		{"missing token", anon, "POST", "/v1/functions", map[string]any{"name": "anon", "command": []string{"cat"}}, 401, "unauthenticated"},
		{"garbage token", newClient(t, p.URL, "not.a.jwt"), "GET", "/v1/functions", nil, 401, "unauthenticated"},
		{"oversized body", a, "POST", "/v1/functions", big, 413, "payload_too_large"},
		{"oversized invoke", a, "POST", "/v1/functions/secret:invoke?async=true", strings.Repeat("z", 2<<20), 413, "payload_too_large"},
		{"put name mismatch", a, "PUT", "/v1/functions/secret", map[string]any{"name": "other", "command": []string{"cat"}}, 400, "validation_failed"},
		{"put unknown function", a, "PUT", "/v1/functions/nope", map[string]any{"command": []string{"cat"}}, 404, "not_found"},
		{"bad tail", a, "GET", "/v1/functions/secret/logs?tail=-1", nil, 400, "bad_request"},
		{"invalid name in path", a, "GET", "/v1/functions/Not*A*Name", nil, 404, "not_found"},
		{"post without :invoke", a, "POST", "/v1/functions/secret", "x", 404, "not_found"},
		{"async not a boolean", a, "POST", "/v1/functions/secret:invoke?async=maybe", "x", 400, "bad_request"},
		{"wrong method", a, "PATCH", "/v1/functions/secret", nil, 405, "method_not_allowed"},
		{"unknown invocation", a, "GET", "/v1/invocations/0123456789abcdef0123456789abcdef", nil, 404, "not_found"},
	} {
		r := tc.c.do(tc.method, tc.path, tc.body)
		if r.Status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	// A token without the write scope is refused with 403.
	ro := newClient(t, p.URL, token(t, p.URL, "alice", "functions:read"))
	if r := ro.do("POST", "/v1/functions", map[string]any{"name": "ro", "command": []string{"cat"}}); r.Status != 403 || r.errorCode() != "forbidden" {
		t.Errorf("read-only token create: %d %s", r.Status, r.Body)
	}
	after := a.do("GET", "/v1/functions", nil).Body
	if !equalIgnoringStatusTimes(before, after) {
		t.Errorf("refused requests changed state:\nbefore %s\nafter  %s", before, after)
	}
	if !strings.Contains(string(after), `"name":"secret"`) || strings.Count(string(after), `"name":`) != 1 {
		t.Errorf("alice's list should hold only secret: %s", after)
	}
}

// equalIgnoringStatusTimes compares two list bodies; status updatedAt may
// move (readiness), nothing else may.
func equalIgnoringStatusTimes(a, b []byte) bool {
	strip := func(s []byte) string {
		out := string(s)
		for {
			i := strings.Index(out, `"updatedAt":"`)
			if i < 0 {
				return out
			}
			j := strings.Index(out[i+13:], `"`)
			out = out[:i] + out[i+13+j+1:]
		}
	}
	return strip(a) == strip(b)
}

// TestCrashLosesNoAcceptedInvocation: kill -9 the platform with 200 async
// invocations accepted, restart it on the same data dir; every one of them
// completes.
func TestCrashLosesNoAcceptedInvocation(t *testing.T) {
	dir := t.TempDir()
	// A short ack wait so invocations running at the kill are redelivered
	// quickly after the restart.
	env := "EVENTFLOW_INVOKER_ACK_WAIT=3s"
	p := startDev(t, dir, env)
	tok := token(t, p.URL, "crash")
	c := newClient(t, p.URL, tok)
	r := c.do("POST", "/v1/functions", map[string]any{"name": "slow", "command": []string{"sh", "-c", "sleep 0.2; tr a-z A-Z"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "slow", "Ready")

	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/v1/functions/slow:invoke?async=true", fmt.Sprintf("payload-%d", i))
			if r.Status != http.StatusAccepted {
				errs <- fmt.Sprintf("%d: %d %s", i, r.Status, r.Body)
				return
			}
			var acc struct{ ID string }
			r.json(t, &acc)
			ids[i] = acc.ID
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("accept: %s", e)
	}
	p.kill() // kill -9, mid-flight

	p2 := startDev(t, dir, env)
	c2 := newClient(t, p2.URL, tok) // the secret persisted in the data dir
	pending := map[int]bool{}
	for i := range n {
		pending[i] = true
	}
	unfinishedAtRestart, redelivered := 0, 0
	first := true
	testkit.Eventually(t, 90*time.Second, "all 200 invocations succeeded", func() (bool, string) {
		for i := range pending {
			r := c2.do("GET", "/v1/invocations/"+ids[i], nil)
			if r.Status != http.StatusOK {
				return false, fmt.Sprintf("invocation %d: %d %s", i, r.Status, r.Body)
			}
			var inv invocationView
			r.json(t, &inv)
			if first && inv.Status != "succeeded" {
				unfinishedAtRestart++
			}
			switch inv.Status {
			case "succeeded":
				if inv.Attempts > 1 {
					redelivered++
				}
				if want := strings.ToUpper(fmt.Sprintf("payload-%d", i)); inv.Output != want {
					t.Fatalf("invocation %d output %q, want %q", i, inv.Output, want)
				}
				delete(pending, i)
			case "failed":
				t.Fatalf("invocation %d failed: %+v", i, inv)
			}
		}
		first = false
		return len(pending) == 0, fmt.Sprintf("%d still pending", len(pending))
	})
	t.Logf("%d of %d invocations were unfinished at the restart; %d ran a second attempt", unfinishedAtRestart, n, redelivered)
	// The test proves something only if the kill hit work in flight.
	if unfinishedAtRestart == 0 {
		t.Fatal("every invocation had finished before the kill; the crash test tested nothing")
	}
}

// TestHardKillLeavesNoFunctionProcesses: kill -9 of the platform takes its
// http-mode instances with it.
func TestHardKillLeavesNoFunctionProcesses(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "orphans"))
	marker := fmt.Sprintf("eventflow-orphan-marker-%d", time.Now().UnixNano())
	r := c.do("POST", "/v1/functions", map[string]any{"name": "lingering", "replicas": 2,
		"invocation": map[string]any{"mode": "http"}, "command": []string{"sleep", "600"}, "env": map[string]string{"ORPHAN_MARKER": marker}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 10*time.Second, "2 instances running", func() (bool, string) {
		n := len(processesWith(marker))
		return n == 2, fmt.Sprintf("%d running", n)
	})
	// Kill only eventflow itself (not its process group) as a crash would.
	_ = p.cmd.Process.Kill()
	<-p.exited
	testkit.Eventually(t, 5*time.Second, "instances gone with the platform", func() (bool, string) {
		pids := processesWith(marker)
		return len(pids) == 0, fmt.Sprintf("still running: %v", pids)
	})
}

// processesWith lists pids whose environment contains s.
func processesWith(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
