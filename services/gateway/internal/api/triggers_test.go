package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// TestFunctionTriggerStatus: GET of a function and the list answer
// status.triggers, the invoker's stored state merged with the spec (next
// fire times of a cron trigger); a function without triggers has none,
// and an http-mode function has its route in status.url.
func TestFunctionTriggerStatus(t *testing.T) {
	url, tok, _, b := oneGateway(t, "acme")
	for _, body := range []string{
		`{"name":"ticker","command":["cat"],"triggers":[{"type":"cron","schedule":"@every 1m"},{"type":"nats","subject":"orders.>"}]}`,
		`{"name":"plain","command":["cat"]}`,
		`{"name":"web","command":["cat"],"invocation":{"mode":"http"},"http":{"auth":"public"}}`,
	} {
		if code, resp := acceptCall(t, "POST", url+"/v1/functions", tok, body); code != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", body, code, resp)
		}
	}
	cron := function.Trigger{Type: function.TriggerCron, Schedule: "@every 1m"}
	nats := function.Trigger{Type: function.TriggerNATS, Subject: "orders.>"}
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stored, _ := json.Marshal(function.TriggerStatus{Key: cron.Key(), Type: "cron", Fires: 7, Errors: 1, LastFire: last, LastInvocation: "inv-7", LastError: "queue full", LastErrorAt: last})
	if _, err := b.Triggers.Put(context.Background(), events.TriggerKey("acme", "ticker", cron.Key()), stored); err != nil {
		t.Fatal(err)
	}
	// Another tenant's state under the same function name is not shown.
	other, _ := json.Marshal(function.TriggerStatus{Key: nats.Key(), Type: "nats", Fires: 99})
	if _, err := b.Triggers.Put(context.Background(), events.TriggerKey("other", "ticker", nats.Key()), other); err != nil {
		t.Fatal(err)
	}

	check := func(what string, f function.Function) {
		t.Helper()
		switch f.Name {
		case "ticker":
			ts := f.Status.Triggers
			if len(ts) != 2 {
				t.Fatalf("%s: ticker triggers %+v", what, ts)
			}
			c, n := ts[0], ts[1]
			if c.Key != cron.Key() || c.Type != "cron" || c.Fires != 7 || c.Errors != 1 || !c.LastFire.Equal(last) || c.LastInvocation != "inv-7" || c.LastError != "queue full" {
				t.Errorf("%s: cron state %+v", what, c)
			}
			if len(c.NextFires) != 3 || !c.NextFires[0].After(time.Now().Add(-time.Minute)) || c.NextFires[1].Sub(c.NextFires[0]) != time.Minute {
				t.Errorf("%s: cron next fires %v", what, c.NextFires)
			}
			if n.Key != nats.Key() || n.Type != "nats" || n.Fires != 0 || len(n.NextFires) != 0 {
				t.Errorf("%s: nats state %+v (never fired in this tenant)", what, n)
			}
			if f.Status.URL != "" {
				t.Errorf("%s: job function has url %q", what, f.Status.URL)
			}
		case "plain":
			if f.Status.Triggers != nil {
				t.Errorf("%s: plain has triggers %+v", what, f.Status.Triggers)
			}
		case "web":
			if f.Status.URL != "/fn/acme/web/" || f.HTTP == nil || f.HTTP.Auth != "public" || f.Status.Triggers != nil {
				t.Errorf("%s: web %+v %+v", what, f.HTTP, f.Status)
			}
		}
	}
	for _, name := range []string{"ticker", "plain", "web"} {
		code, body := acceptCall(t, "GET", url+"/v1/functions/"+name, tok, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", name, code, body)
		}
		var f function.Function
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatal(err)
		}
		check("GET "+name, f)
		if name == "plain" && json.Valid([]byte(body)) && containsKey(t, body, "triggers") {
			t.Errorf("GET plain: answer has a triggers field: %s", body)
		}
	}
	code, body := acceptCall(t, "GET", url+"/v1/functions", tok, "")
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var list struct{ Items []function.Function }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Items) != 3 {
		t.Fatalf("list: %s (%v)", body, err)
	}
	for _, f := range list.Items {
		check("list", f)
	}
}

// containsKey reports whether the status object of a function answer has
// the field key.
func containsKey(t *testing.T, body, key string) bool {
	t.Helper()
	var f struct{ Status map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatal(err)
	}
	_, ok := f.Status[key]
	return ok
}

// TestListTriggerStatusBounded: the list reads exactly the listed
// triggers' states, more than one watch's worth of keys included; a
// function whose triggers never fired lists zero counts (no wait for
// states that are not there), and the state of a trigger no longer in the
// spec is not shown.
func TestListTriggerStatusBounded(t *testing.T) {
	url, tok, _, b := oneGateway(t, "big")
	const fns = 17 // 17*16 keys: two watches
	var last function.Trigger
	for i := range fns {
		var ts []string
		for j := range function.MaxTriggers {
			ts = append(ts, fmt.Sprintf(`{"type":"nats","subject":"s%d.t%d"}`, i, j))
			last = function.Trigger{Type: function.TriggerNATS, Subject: fmt.Sprintf("s%d.t%d", i, j)}
		}
		body := fmt.Sprintf(`{"name":"f%02d","command":["cat"],"triggers":[%s]}`, i, strings.Join(ts, ","))
		if code, resp := acceptCall(t, "POST", url+"/v1/functions", tok, body); code != http.StatusAccepted {
			t.Fatalf("create f%02d: %d %s", i, code, resp)
		}
	}
	lastFn := fmt.Sprintf("f%02d", fns-1)
	put := func(fn string, tr function.Trigger, fires int64) {
		t.Helper()
		v, _ := json.Marshal(function.TriggerStatus{Key: tr.Key(), Type: tr.Type, Fires: fires})
		if _, err := b.Triggers.Put(context.Background(), events.TriggerKey("big", fn, tr.Key()), v); err != nil {
			t.Fatal(err)
		}
	}
	put(lastFn, last, 5)
	put("f00", function.Trigger{Type: function.TriggerNATS, Subject: "removed"}, 9) // stale
	code, body := acceptCall(t, "GET", url+"/v1/functions", tok, "")
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var list struct{ Items []function.Function }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Items) != fns {
		t.Fatalf("list: %d items (%v)", len(list.Items), err)
	}
	for _, f := range list.Items {
		if len(f.Status.Triggers) != function.MaxTriggers {
			t.Fatalf("%s: %d trigger states", f.Name, len(f.Status.Triggers))
		}
		for i, st := range f.Status.Triggers {
			want := int64(0)
			if f.Name == lastFn && i == function.MaxTriggers-1 {
				want = 5
			}
			if st.Fires != want || st.Key != f.Triggers[i].Key() {
				t.Errorf("%s trigger %d: %+v, want %d fires", f.Name, i, st, want)
			}
		}
	}
}
