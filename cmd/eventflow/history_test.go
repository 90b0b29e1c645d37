package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestInvocationHistory: a function's invocations are listed newest first,
// filtered by status, a page at a time; another tenant sees none of them.
func TestInvocationHistory(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "hist"))
	one := map[string]any{"maxAttempts": 1}
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "maybe", "invocation": map[string]any{"retry": one},
		"command": []string{"sh", "-c", `read x; test "$x" != fail && echo ok`}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "maybe", "Ready")
	var ids []string
	for i := range 7 {
		payload := "fine"
		if i%3 == 0 {
			payload = "fail"
		}
		r := c.do("POST", "/v1/functions/maybe:invoke?async=true", payload+"\n")
		var acc struct{ ID string }
		r.json(t, &acc)
		waitInvocation(t, c, acc.ID, 20*time.Second)
		ids = append(ids, acc.ID)
	}
	type page struct {
		Items []struct{ ID, Status, Output string }
		Next  string
	}
	var all []string
	before := ""
	for range 5 {
		var pg page
		r := c.do("GET", "/v1/functions/maybe/invocations?limit=3&before="+before, nil)
		if r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		r.json(t, &pg)
		for _, it := range pg.Items {
			if it.Output != "" {
				t.Fatal("the list carries outputs")
			}
			all = append(all, it.ID)
		}
		if pg.Next == "" {
			break
		}
		before = pg.Next
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[len(ids)-1-i] = id
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("pages gave %v, want newest first %v", all, want)
	}
	var failed page
	c.do("GET", "/v1/functions/maybe/invocations?status=dead_lettered", nil).json(t, &failed)
	if len(failed.Items) != 3 || failed.Next != "" {
		t.Fatalf("dead-lettered: %+v (want invocations 6, 3, 0)", failed)
	}
	for _, it := range failed.Items {
		if it.Status != "dead_lettered" || !strings.Contains(fmt.Sprint(ids[0], ids[3], ids[6]), it.ID) {
			t.Fatalf("dead-lettered item %+v", it)
		}
	}
	if r := c.do("GET", "/v1/functions/maybe/invocations?status=exploded", nil); r.Status != 400 {
		t.Fatalf("bad status: %d", r.Status)
	}
	other := newClient(t, p.URL, token(t, p.URL, "snoop"))
	if r := other.do("GET", "/v1/functions/maybe/invocations", nil); r.Status != 404 {
		t.Fatalf("another tenant: %d %s", r.Status, r.Body)
	}
}
