package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestDeadLettersAndRedrive: an async invocation that fails every attempt
// ends in the dead letters with its attempts and last error; once the cause
// is fixed, a redrive runs it again as the same invocation, to success.
func TestDeadLettersAndRedrive(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "dlq"))
	marker := filepath.Join(proctest.SharedDir(t), "fixed")
	r := c.do("POST", "/v1/functions", map[string]any{"name": "picky", "env": map[string]string{"MARKER": marker},
		"command":    []string{"sh", "-c", `test -f "$MARKER" || { echo "not fixed yet" >&2; exit 1; }; tr a-z A-Z`},
		"invocation": map[string]any{"retry": map[string]any{"maxAttempts": 2, "initialDelay": "100ms"}}})
	if r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "picky", "Ready")
	r = c.do("POST", "/v1/functions/picky:invoke?async=true", "payload")
	var acc struct{ ID string }
	r.json(t, &acc)
	var inv struct {
		Status, Error, Output string
		Attempts              int
	}
	testkit.Eventually(t, 20*time.Second, "dead-lettered", func() (bool, string) {
		r := c.do("GET", "/v1/invocations/"+acc.ID, nil)
		r.json(t, &inv)
		return inv.Status == "dead_lettered", string(r.Body)
	})
	if inv.Attempts != 2 || !strings.Contains(inv.Error, "not fixed yet") {
		t.Fatalf("dead-lettered record %+v", inv)
	}
	var list struct {
		Items []struct {
			ID, Error    string
			Attempts     int
			PayloadBytes int
		}
	}
	c.do("GET", "/v1/functions/picky/dead-letters", nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != acc.ID || list.Items[0].Attempts != 2 || list.Items[0].PayloadBytes != len("payload") {
		t.Fatalf("dead letters %+v", list)
	}
	if r := c.do("POST", "/v1/functions/picky/dead-letters/redrive", map[string]any{"ids": []string{"0123456789abcdef0123456789abcdef"}}); r.Status != 404 {
		t.Fatalf("redrive of an unknown id: %d %s", r.Status, r.Body)
	}

	if err := os.WriteFile(marker, nil, 0o644); err != nil { // the cause is fixed
		t.Fatal(err)
	}
	r = c.do("POST", "/v1/functions/picky/dead-letters/redrive", map[string]any{"ids": []string{acc.ID}})
	if r.Status != 202 || !strings.Contains(string(r.Body), acc.ID) {
		t.Fatalf("redrive: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 20*time.Second, "redriven invocation succeeded", func() (bool, string) {
		r := c.do("GET", "/v1/invocations/"+acc.ID, nil)
		r.json(t, &inv)
		return inv.Status == "succeeded", string(r.Body)
	})
	if inv.Output != "PAYLOAD" || inv.Attempts != 3 {
		t.Fatalf("after redrive: %+v (want output PAYLOAD, attempt 3)", inv)
	}
	c.do("GET", "/v1/functions/picky/dead-letters", nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("dead letters after redrive: %+v", list)
	}
}
