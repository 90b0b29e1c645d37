package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// versionFunction answers "<$V> <pid>".
const versionFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Println("serving version", os.Getenv("V"))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d", os.Getenv("V"), os.Getpid())
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

// TestTrafficSplit: a 90/10 split between revision 1 and the latest over
// 2,000 sync invocations lands within a few percent of 90/10, each
// record naming the revision that served it; the function's HTTP route
// splits alike, each answer naming its revision; moving the split to
// 0/100 under load (invocations and route requests) fails no request,
// and the old revision's instance is drained and stopped.
func TestTrafficSplit(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "split"))
	bin := proctest.BuildProgram(t, versionFunction)
	spec := func(v string, traffic ...map[string]any) map[string]any {
		s := map[string]any{"name": "web", "command": []string{bin}, "env": map[string]string{"V": v},
			"invocation": map[string]any{"mode": "http", "timeout": "2s"}, "scale": map[string]any{"min": 1, "max": 1}}
		if len(traffic) > 0 {
			s["traffic"] = traffic
		}
		return s
	}
	put := func(body map[string]any, gen int64) {
		t.Helper()
		if r := c.do("PUT", "/v1/functions/web", body); r.Status != http.StatusAccepted {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("generation %d ready", gen), func() (bool, string) {
			f := waitPhase(t, c, "web", "Ready")
			return f.Status.ObservedGeneration >= gen, fmt.Sprint(f.Status)
		})
	}
	if r := c.do("POST", "/v1/functions", spec("1")); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "web", "Ready")
	put(spec("2"), 2)
	// Refused: a revision that does not exist, percents not adding up.
	for _, bad := range [][]map[string]any{
		{{"revision": 9, "percent": 50}, {"tag": "latest", "percent": 50}},
		{{"revision": 1, "percent": 50}, {"tag": "latest", "percent": 40}},
	} {
		if r := c.do("PUT", "/v1/functions/web", spec("2", bad...)); r.Status != http.StatusBadRequest {
			t.Fatalf("traffic %v: %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	put(spec("2", map[string]any{"revision": 1, "percent": 90}, map[string]any{"tag": "latest", "percent": 10}), 3)
	var oldPID string
	testkit.Eventually(t, 20*time.Second, "revision 1 serving beside the latest", func() (bool, string) {
		r := c.do("POST", "/v1/functions/web:invoke", "")
		v, pid, _ := strings.Cut(string(r.Body), " ")
		if v == "1" {
			oldPID = pid
		}
		return r.Status == http.StatusOK && v == "1", fmt.Sprint(r.Status, " ", string(r.Body))
	})

	// The function's logs hold the revision's lines too.
	testkit.Eventually(t, 10*time.Second, "revision 1's line in the function's logs", func() (bool, string) {
		r := c.do("GET", "/v1/functions/web/logs?tail=50", nil)
		return r.Status == http.StatusOK && strings.Contains(string(r.Body), "web--r1") && strings.Contains(string(r.Body), "serving version 1"), string(r.Body)
	})

	// 2,000 sync invocations, 16 at a time.
	const n, workers = 2000, 16
	type served struct{ id, v string }
	results := make(chan served, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= n {
				r := c.do("POST", "/v1/functions/web:invoke", "")
				v, _, _ := strings.Cut(string(r.Body), " ")
				if r.Status != http.StatusOK {
					t.Errorf("invoke: %d %s", r.Status, r.Body)
				}
				results <- served{r.Header.Get("X-Invocation-Id"), v}
			}
		}()
	}
	wg.Wait()
	close(results)
	counts := map[string]int{}
	var all []served
	for s := range results {
		counts[s.v]++
		all = append(all, s)
	}
	if old := counts["1"]; old < 1700 || old > 1900 || counts["1"]+counts["2"] != n {
		t.Fatalf("revision 1 served %d and the latest %d of %d; want about 90/10", counts["1"], counts["2"], n)
	}
	t.Logf("90/10 split: revision 1 served %d, the latest %d of %d", counts["1"], counts["2"], n)
	// Each record names the revision that served it (1, or the latest: 3).
	want := map[string]int64{"1": 1, "2": 3}
	for _, s := range all {
		var rec struct {
			Status   string
			Revision int64
		}
		testkit.Eventually(t, 10*time.Second, "record of "+s.id, func() (bool, string) {
			r := c.do("GET", "/v1/invocations/"+s.id, nil)
			if r.Status == http.StatusOK {
				r.json(t, &rec)
			}
			return rec.Status == "succeeded", string(r.Body)
		})
		if rec.Revision != want[s.v] {
			t.Fatalf("invocation %s served by %q says revision %d, want %d", s.id, s.v, rec.Revision, want[s.v])
		}
	}

	// The HTTP route splits as the invoker does: 1,000 requests, 8 at a
	// time, each answer naming the revision that served it.
	route := "/fn/split/web/"
	testkit.Eventually(t, 20*time.Second, "the route reaching revision 1", func() (bool, string) {
		r := c.do("GET", route, nil)
		return r.Status == http.StatusOK && strings.HasPrefix(string(r.Body), "1 "), fmt.Sprint(r.Status, " ", string(r.Body))
	})
	const routed = 1000
	routeCounts := make([]map[string]int, 8)
	next.Store(0)
	for i := range routeCounts {
		routeCounts[i] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= routed {
				r := c.do("GET", route, nil)
				v, _, _ := strings.Cut(string(r.Body), " ")
				if got := r.Header.Get("X-Eventflow-Revision"); r.Status != http.StatusOK || got != strconv.FormatInt(want[v], 10) {
					t.Errorf("route: %d %q answered by revision %q, want %d", r.Status, r.Body, got, want[v])
				}
				routeCounts[i][v]++
			}
		}()
	}
	wg.Wait()
	clear(counts)
	for _, m := range routeCounts {
		for v, k := range m {
			counts[v] += k
		}
	}
	if old := counts["1"]; old < 850 || old > 950 || counts["1"]+counts["2"] != routed {
		t.Fatalf("on the route revision 1 served %d and the latest %d of %d; want about 90/10", counts["1"], counts["2"], routed)
	}
	t.Logf("90/10 split on the route: revision 1 served %d, the latest %d of %d", counts["1"], counts["2"], routed)

	// Move to 0/100 while 8 clients keep invoking, half of them through
	// the route: no request fails.
	var failed, sent atomic.Int64
	stop := keepCalling(c, 8, route, "web", func(r response) {
		sent.Add(1)
		if r.Status != http.StatusOK {
			failed.Add(1)
			t.Errorf("invoke during the move: %d %s", r.Status, r.Body)
		}
	})
	put(spec("2", map[string]any{"revision": 1, "percent": 0}, map[string]any{"tag": "latest", "percent": 100}), 4)
	pid, err := strconv.Atoi(oldPID)
	if err != nil {
		t.Fatalf("revision 1's pid %q", oldPID)
	}
	testkit.Eventually(t, 30*time.Second, "revision 1's instance stopped", func() (bool, string) {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
	stop()
	if failed.Load() != 0 || sent.Load() < 100 {
		t.Fatalf("during the move %d of %d requests failed", failed.Load(), sent.Load())
	}
	r := c.do("POST", "/v1/functions/web:invoke", "")
	if v, _, _ := strings.Cut(string(r.Body), " "); v != "2" {
		t.Fatalf("after the move: %s", r.Body)
	}
	t.Logf("moved to 0/100 under load: %d requests, none failed", sent.Load())
}

// keepCalling has clients goroutines call function name until stop is
// called (which waits for them): half through its route (routePath), half
// with POST …:invoke; each answer goes to seen, from any goroutine.
func keepCalling(c *client, clients int, routePath, name string, seen func(response)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if i%2 == 0 {
					seen(c.do("GET", routePath, nil))
				} else {
					seen(c.do("POST", "/v1/functions/"+name+":invoke", ""))
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}
