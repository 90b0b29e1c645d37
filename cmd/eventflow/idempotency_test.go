package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestIdempotencyKey: the same Idempotency-Key gives one invocation and one
// run, also when both requests arrive at once; a sync repeat replays the
// recorded result.
func TestIdempotencyKey(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "idem"))
	runs := filepath.Join(proctest.SharedDir(t), "runs")
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "once", "env": map[string]string{"RUNS": runs},
		"command": []string{"sh", "-c", `echo run >> "$RUNS"; tr a-z A-Z`}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "once", "Ready")

	// Two at once with the same key, then one more later.
	ids := make([]string, 3)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/v1/functions/once:invoke?async=true", "payload", "Idempotency-Key", "order-42")
			var acc struct{ ID string }
			r.json(t, &acc)
			ids[i] = acc.ID
		}()
	}
	wg.Wait()
	inv := waitInvocation(t, c, ids[0], 20*time.Second)
	r := c.do("POST", "/v1/functions/once:invoke?async=true", "payload", "Idempotency-Key", "order-42")
	r.json(t, &struct{ ID *string }{&ids[2]})
	if ids[0] != ids[1] || ids[1] != ids[2] || r.Header.Get("Idempotent-Replayed") != "true" || inv.Output != "PAYLOAD" {
		t.Fatalf("ids %v, replayed %q, invocation %+v: want one invocation", ids, r.Header.Get("Idempotent-Replayed"), inv)
	}
	// A different key is a different invocation.
	r = c.do("POST", "/v1/functions/once:invoke?async=true", "payload", "Idempotency-Key", "order-43")
	var other struct{ ID string }
	r.json(t, &other)
	if other.ID == ids[0] {
		t.Fatal("another key gave the same invocation")
	}
	waitInvocation(t, c, other.ID, 20*time.Second)

	// Sync: the repeat replays the recorded output without running again.
	first := c.do("POST", "/v1/functions/once:invoke", "sync", "Idempotency-Key", "sync-1")
	testkit.Eventually(t, 10*time.Second, "sync invocation recorded", func() (bool, string) {
		r := c.do("GET", "/v1/invocations/"+first.Header.Get("X-Invocation-Id"), nil)
		return r.Status == 200, string(r.Body)
	})
	second := c.do("POST", "/v1/functions/once:invoke", "sync", "Idempotency-Key", "sync-1")
	if first.Status != 200 || second.Status != 200 || string(second.Body) != "SYNC" || second.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("sync repeat: %d %q replayed=%q", second.Status, second.Body, second.Header.Get("Idempotent-Replayed"))
	}
	b, _ := os.ReadFile(runs)
	if n := strings.Count(string(b), "run"); n != 3 { // order-42, order-43, sync-1
		t.Fatalf("the function ran %d times, want 3", n)
	}
	if r := c.do("POST", "/v1/functions/once:invoke?async=true", "x", "Idempotency-Key", strings.Repeat("k", 256)); r.Status != 400 {
		t.Fatalf("an over-long key: %d", r.Status)
	}
}
