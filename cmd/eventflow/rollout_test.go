package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// rolloutFunction answers "<$V> <pid>", with status 500 when $FAIL is set.
const rolloutFunction = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("FAIL") != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintf(w, "%s %d", os.Getenv("V"), os.Getpid())
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

// rolloutView is what the test reads of status.rollout.
type rolloutView struct {
	Revision, From int64
	Percent        int
	Phase, Message string
}

// TestGradualRollout: with spec.rollout, an update takes a share of the
// traffic that grows each interval until it takes all, while the revision
// that served so far runs beside it; an update whose requests fail is
// rolled back to that revision by itself, which then serves every
// request; rolling back to it by hand keeps every request on it until the
// latest runs its code again. Each step is in status.rollout and an
// io.eventflow.function.rollout event.
func TestGradualRollout(t *testing.T) {
	p := startDev(t, t.TempDir())
	tok := token(t, p.URL, "ro")
	c := newClient(t, p.URL, tok)
	bin := proctest.BuildProgram(t, rolloutFunction)
	spec := func(v string, fail bool) map[string]any {
		env := map[string]string{"V": v}
		if fail {
			env["FAIL"] = "1"
		}
		return map[string]any{"name": "web", "command": []string{bin}, "env": env,
			"invocation": map[string]any{"mode": "http", "timeout": "2s"}, "scale": map[string]any{"min": 1, "max": 1},
			"rollout": map[string]any{"stepPercent": 25, "interval": "2s", "maxErrorPercent": 10, "minRequests": 5}}
	}
	if r := c.do("POST", "/v1/functions", spec("1", false)); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "web", "Ready")
	rollout := func() *rolloutView {
		var f struct {
			Status struct{ Rollout *rolloutView }
		}
		c.do("GET", "/v1/functions/web", nil).json(t, &f)
		return f.Status.Rollout
	}
	if ro := rollout(); ro != nil {
		t.Fatalf("a new function rolls nothing out: %+v", ro)
	}

	// Load all along: 4 clients, half through the route, half :invoke.
	var (
		mu     sync.Mutex
		served = map[string]int{} // by version ("failed": not 200), since the last reset
		fails  atomic.Int64
		total  atomic.Int64
	)
	stop := keepCalling(c, 4, "/fn/ro/web/", "web", func(r response) {
		v, _, _ := strings.Cut(string(r.Body), " ")
		if r.Status != http.StatusOK {
			fails.Add(1)
			v = "failed"
		}
		total.Add(1)
		mu.Lock()
		served[v]++
		mu.Unlock()
	})
	defer stop()
	reset := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := served
		served = map[string]int{}
		return out
	}

	// A healthy update: 25, 50, 75 percent, then all.
	reset()
	if r := c.do("PUT", "/v1/functions/web", spec("2", false)); r.Status != http.StatusAccepted {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if ro := rollout(); ro == nil || ro.Phase != "progressing" || ro.Revision != 2 || ro.From != 1 || ro.Percent != 25 {
		t.Fatalf("rollout started as %+v", ro)
	}
	// Until the first step the new code serves at most its share (about
	// 25%; none until revision 1 runs beside it).
	seen := map[int]bool{}
	testkit.Eventually(t, 30*time.Second, "the first step", func() (bool, string) {
		ro := rollout()
		if ro != nil {
			seen[ro.Percent] = true
		}
		return ro != nil && ro.Percent > 25, fmt.Sprintf("%+v", ro)
	})
	first := reset()
	if n := first["1"] + first["2"]; n < 50 || first["2"]*100 > 30*n {
		t.Fatalf("before the first step the new code served %d of %d requests; want at least 50 requests, at most 30%% of them", first["2"], n)
	}
	t.Logf("before the first step: revision 1 served %d, revision 2 %d", first["1"], first["2"])
	testkit.Eventually(t, 30*time.Second, "rollout of revision 2 complete", func() (bool, string) {
		ro := rollout()
		if ro != nil {
			seen[ro.Percent] = true
		}
		return ro != nil && ro.Phase == "complete" && ro.Percent == 100, fmt.Sprintf("%+v", ro)
	})
	if !seen[50] || !seen[75] {
		t.Errorf("not every step seen: %v", seen)
	}
	mid := reset()
	if mid["1"] == 0 || mid["2"] == 0 {
		t.Fatalf("during the rollout both revisions should serve: %v", mid)
	}
	if n := fails.Load(); n != 0 {
		t.Fatalf("%d requests failed during a healthy rollout", n)
	}
	// Each poll judges the requests made since the one before.
	testkit.Eventually(t, 10*time.Second, "revision 2 serving all", func() (bool, string) {
		got := reset()
		return got["2"] > 0 && len(got) == 1, fmt.Sprint(got)
	})

	// A failing update: rolled back to revision 2, which then serves all.
	if r := c.do("PUT", "/v1/functions/web", spec("3", true)); r.Status != http.StatusAccepted {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	var back *rolloutView
	testkit.Eventually(t, 30*time.Second, "revision 3 rolled back", func() (bool, string) {
		back = rollout()
		return back != nil && back.Phase == "rolled-back", fmt.Sprintf("%+v", back)
	})
	if back.Revision != 3 || back.From != 2 || back.Percent != 0 || !strings.Contains(back.Message, "failed") {
		t.Fatalf("rolled back as %+v", back)
	}
	if fails.Load() == 0 {
		t.Fatal("revision 3 failed no request: the rollback proves nothing")
	}
	testkit.Eventually(t, 10*time.Second, "revision 2 serving all again", func() (bool, string) {
		got := reset()
		return got["2"] > 0 && len(got) == 1, fmt.Sprint(got)
	})
	failedAt, sentAt := fails.Load(), total.Load()
	testkit.Eventually(t, 10*time.Second, "200 more requests", func() (bool, string) {
		return total.Load()-sentAt >= 200, fmt.Sprint(total.Load() - sentAt)
	})
	if n := fails.Load() - failedAt; n != 0 {
		t.Fatalf("%d of the 200 requests after the rollback failed", n)
	}
	if got := reset(); got["1"]+got["3"] != 0 {
		t.Fatalf("after the rollback: %v", got)
	}

	// Rolling back to revision 2's spec (no body: the revision rolled out
	// from) keeps every request on revision 2 until the latest runs its
	// code again: then the latest takes all, and no request failed.
	failedAt = fails.Load()
	if r := c.do("POST", "/v1/functions/web:rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 30*time.Second, "the latest back on revision 2's code", func() (bool, string) {
		ro := rollout()
		return ro != nil && ro.Phase == "complete" && ro.Percent == 100 && ro.Revision == 4 && ro.From == 2, fmt.Sprintf("%+v", ro)
	})
	sentAt = total.Load()
	testkit.Eventually(t, 10*time.Second, "200 more requests", func() (bool, string) {
		return total.Load()-sentAt >= 200, fmt.Sprint(total.Load() - sentAt)
	})
	if n := fails.Load() - failedAt; n != 0 {
		t.Fatalf("%d requests failed after rolling back by hand", n)
	}
	if got := reset(); got["2"] == 0 || len(got) != 1 {
		t.Fatalf("after rolling back by hand: %v", got)
	}

	// The steps are events.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var phases []string
	for ev := range sseStream(ctx, t, p.URL, tok, "/v1/events?since=0&follow=false&type=io.eventflow.function.rollout", "") {
		var ce struct{ Data rolloutView }
		if err := json.Unmarshal([]byte(ev.Data), &ce); err != nil {
			t.Fatal(err)
		}
		phases = append(phases, fmt.Sprintf("%d:%s:%d", ce.Data.Revision, ce.Data.Phase, ce.Data.Percent))
	}
	joined := strings.Join(phases, " ")
	if !strings.Contains(joined, "2:complete:100") || !strings.Contains(joined, "3:rolled-back:0") || !strings.Contains(joined, "4:complete:100") {
		t.Fatalf("rollout events: %s", joined)
	}
	t.Logf("rollout events: %s", joined)
}
