package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// sleepFunction is the http-mode function of the scaling tests: it sleeps
// the milliseconds its body (or ?ms=) says, then answers with its pid.
const sleepFunction = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ms, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if q := r.URL.Query().Get("ms"); q != "" {
			ms, _ = strconv.Atoi(q)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "pid %d", os.Getpid())
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

func buildSleepFunction(t *testing.T) string { return proctest.BuildProgram(t, sleepFunction) }

// replicaWatch polls a function's status until stopped, keeping the most
// desired and ready instances seen.
type replicaWatch struct {
	maxDesired, maxReady atomic.Int32
	stop                 chan struct{}
	done                 chan struct{}
}

func watchReplicas(t *testing.T, c *client, name string) *replicaWatch {
	w := &replicaWatch{stop: make(chan struct{}), done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequest("GET", c.base+"/v1/functions/"+name, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := hc.Do(req)
			if err != nil {
				continue
			}
			var f fnView
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if jsonUnmarshal(raw, &f) == nil {
				if f.Status.Replicas > w.maxDesired.Load() {
					w.maxDesired.Store(f.Status.Replicas)
				}
				if f.Status.ReadyReplicas > w.maxReady.Load() {
					w.maxReady.Store(f.Status.ReadyReplicas)
				}
			}
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *replicaWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// waitReplicas waits until the function's status shows want desired and
// want ready instances.
func waitReplicas(t *testing.T, c *client, name string, want int32, within time.Duration) fnView {
	t.Helper()
	var f fnView
	testkit.Eventually(t, within, fmt.Sprintf("%s at %d instances", name, want), func() (bool, string) {
		r := c.do("GET", "/v1/functions/"+name, nil)
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		r.json(t, &f)
		return f.Status.Replicas == want && f.Status.ReadyReplicas == want && f.Status.Phase == "Ready", string(r.Body)
	})
	return f
}

type callResult struct {
	status int
	body   string
	err    error
}

// concurrently makes n requests at once (each its own goroutine, no
// t.Fatal off the test goroutine) and returns their results.
func concurrently(n int, call func(i int) callResult) []callResult {
	out := make([]callResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = call(i) }()
	}
	wg.Wait()
	return out
}

func rawCall(hc *http.Client, method, url, token, body string) callResult {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return callResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return callResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return callResult{status: resp.StatusCode, body: string(b), err: err}
}

// TestScaleToZeroAndBack drives scale to zero through a real `eventflow
// dev`: a function with min 0 idles to zero; 50 concurrent sync requests
// to it are all served (none refused) and scale it up, capped at max; an
// HTTP-route request wakes it too; requests in flight on instances a
// scale-down removes all finish; it idles back to zero.
func TestScaleToZeroAndBack(t *testing.T) {
	bin := buildSleepFunction(t)
	p := startDev(t, t.TempDir())
	tok := token(t, p.URL, "acme")
	c := newClient(t, p.URL, tok)
	spec := map[string]any{"name": "cold", "command": []string{bin},
		"invocation": map[string]any{"mode": "http", "timeout": "30s"},
		"scale":      map[string]any{"min": 0, "max": 4, "target": 10, "idleAfter": "1s"}}
	if r := c.do("POST", "/v1/functions", spec); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "cold", "Ready")
	f := waitReplicas(t, c, "cold", 0, 30*time.Second)
	if d := f.Status.LastScale; d == nil || d.To != 0 || !strings.Contains(d.Reason, "no work") {
		t.Fatalf("scaled to zero without its reason: %+v", d)
	}

	t.Run("50 concurrent sync requests from zero", func(t *testing.T) {
		w := watchReplicas(t, c, "cold")
		hc := &http.Client{Timeout: 60 * time.Second}
		start := time.Now()
		res := concurrently(50, func(int) callResult {
			return rawCall(hc, "POST", p.URL+"/v1/functions/cold:invoke", tok, "1500")
		})
		for i, r := range res {
			if r.err != nil || r.status != http.StatusOK || !strings.HasPrefix(r.body, "pid ") {
				t.Fatalf("request %d of 50: %d %q %v", i, r.status, r.body, r.err)
			}
		}
		t.Logf("50 requests from zero served in %s", time.Since(start).Round(time.Millisecond))
		w.end()
		if d, r := w.maxDesired.Load(), w.maxReady.Load(); d != 4 || r < 2 {
			t.Fatalf("instances peaked at %d desired, %d ready; want max 4 desired, and more than one ready", d, r)
		}
		waitReplicas(t, c, "cold", 0, 30*time.Second)
	})

	t.Run("an HTTP-route request wakes it", func(t *testing.T) {
		hc := &http.Client{Timeout: 60 * time.Second}
		start := time.Now()
		r := rawCall(hc, "GET", p.URL+"/fn/acme/cold/?ms=0", tok, "")
		if r.err != nil || r.status != http.StatusOK || !strings.HasPrefix(r.body, "pid ") {
			t.Fatalf("route request at zero: %d %q %v", r.status, r.body, r.err)
		}
		t.Logf("route request from zero answered in %s", time.Since(start).Round(time.Millisecond))
		waitReplicas(t, c, "cold", 0, 30*time.Second)
	})

	t.Run("requests in flight during a scale-down finish", func(t *testing.T) {
		// target 4: 16 requests ask for 4 instances; the 4 that follow ask
		// for one, so 3 instances are drained with a request running.
		spec["scale"] = map[string]any{"min": 0, "max": 4, "target": 4, "idleAfter": "1s"}
		if r := c.do("PUT", "/v1/functions/cold", spec); r.Status != http.StatusAccepted && r.Status != http.StatusOK {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		hc := &http.Client{Timeout: 60 * time.Second}
		warm := concurrently(16, func(int) callResult {
			return rawCall(hc, "POST", p.URL+"/v1/functions/cold:invoke", tok, "2000")
		})
		for i, r := range warm {
			if r.err != nil || r.status != http.StatusOK {
				t.Fatalf("warm-up request %d: %d %q %v", i, r.status, r.body, r.err)
			}
		}
		waitReplicas(t, c, "cold", 4, 20*time.Second)
		var sawDown atomic.Bool
		stopWatch := make(chan struct{})
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			for {
				select {
				case <-stopWatch:
					return
				case <-time.After(50 * time.Millisecond):
				}
				r := rawCall(hc, "GET", p.URL+"/v1/functions/cold", tok, "")
				var f fnView
				if r.err == nil && jsonUnmarshal([]byte(r.body), &f) == nil && f.Status.Replicas == 1 {
					sawDown.Store(true)
				}
			}
		}()
		long := concurrently(4, func(int) callResult {
			return rawCall(hc, "POST", p.URL+"/v1/functions/cold:invoke", tok, "5000")
		})
		close(stopWatch)
		<-watchDone
		pids := map[string]bool{}
		for i, r := range long {
			if r.err != nil || r.status != http.StatusOK || !strings.HasPrefix(r.body, "pid ") {
				t.Fatalf("request %d in flight during the scale-down: %d %q %v", i, r.status, r.body, r.err)
			}
			pids[r.body] = true
		}
		if !sawDown.Load() {
			t.Fatal("the scale-down to 1 was not decided while the requests ran: the test proves nothing")
		}
		if len(pids) < 2 {
			t.Fatalf("the long requests all ran on %v: none was on a drained instance", pids)
		}
		waitReplicas(t, c, "cold", 0, 30*time.Second)
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestScaleOnQueueDepth: 2,000 async invocations queued against a function
// with min 0, max 4, target 10 on its queue depth bring it to 4
// instances and back to 0 afterwards; every invocation succeeded, in one
// attempt.
func TestScaleOnQueueDepth(t *testing.T) {
	bin := buildSleepFunction(t)
	p := startDev(t, t.TempDir())
	tok := token(t, p.URL, "acme")
	c := newClient(t, p.URL, tok)
	spec := map[string]any{"name": "worker", "command": []string{bin},
		"invocation": map[string]any{"mode": "http", "timeout": "30s"},
		"scale":      map[string]any{"min": 0, "max": 4, "target": 10, "metric": "queue", "idleAfter": "1s"}}
	if r := c.do("POST", "/v1/functions", spec); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "worker", "Ready")
	waitReplicas(t, c, "worker", 0, 30*time.Second)

	w := watchReplicas(t, c, "worker")
	const n = 2000
	hc := &http.Client{Timeout: 30 * time.Second}
	ids := make([]string, n)
	var failed atomic.Int32
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := rawCall(hc, "POST", p.URL+"/v1/functions/worker:invoke?async=true", tok, "50")
			var a struct{ ID string }
			if r.err != nil || r.status != http.StatusAccepted || json.Unmarshal([]byte(r.body), &a) != nil || a.ID == "" {
				failed.Add(1)
				return
			}
			ids[i] = a.ID
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d async invocations not accepted", f, n)
	}
	// Every invocation ends, succeeded in one attempt.
	for _, id := range ids {
		inv := waitInvocation(t, c, id, 60*time.Second)
		if inv.Status != "succeeded" || inv.Attempts != 1 || !strings.HasPrefix(inv.Output, "pid ") {
			t.Fatalf("invocation %s: %+v", id, inv)
		}
	}
	waitReplicas(t, c, "worker", 0, 30*time.Second)
	w.end()
	if d, r := w.maxDesired.Load(), w.maxReady.Load(); d != 4 || r != 4 {
		t.Fatalf("instances peaked at %d desired, %d ready; want 4 and 4", d, r)
	}
}
