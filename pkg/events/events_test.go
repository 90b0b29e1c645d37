package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSubjects(t *testing.T) {
	if got := InvocationSubject("acme", "upper"); got != "eventflow.invoke.acme.upper" {
		t.Fatal(got)
	}
	if got := LogSubject("acme", "upper", "upper.x*y>z 1"); got != "eventflow.logs.acme.upper.upper_x_y_z_1" {
		t.Fatalf("instance not made a single token: %s", got)
	}
	tenant, fn, err := TenantFunction(SyncSubject("acme", "upper"))
	if err != nil || tenant != "acme" || fn != "upper" {
		t.Fatalf("TenantFunction: %s %s %v", tenant, fn, err)
	}
	if _, _, err := TenantFunction("eventflow.sync"); err == nil {
		t.Fatal("short subject accepted")
	}
}

func TestEventFilters(t *testing.T) {
	for _, tc := range []struct{ fn, typ, want string }{
		{"", "", "eventflow.events.acme.*.>"},
		{"upper", "", "eventflow.events.acme.upper.>"},
		{"", TypeInvocationFailed, "eventflow.events.acme.*.invocation.failed"},
	} {
		if got := EventFilter("acme", tc.fn, tc.typ); got != tc.want {
			t.Errorf("EventFilter(%q, %q) = %q, want %q", tc.fn, tc.typ, got, tc.want)
		}
	}
	// Function and invocation events of the same short type do not collide.
	if EventSubject("a", "f", TypeFunctionFailed) == EventSubject("a", "f", TypeInvocationFailed) {
		t.Fatal("function.failed and invocation.failed share a subject")
	}
}

func TestInvocationIDs(t *testing.T) {
	a, b := NewInvocationID(), NewInvocationID()
	if a == b || !ValidInvocationID(a) || len(a) != 32 {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, bad := range []string{"", "../../etc", "0123456789abcdef0123456789abcdeX", "abc"} {
		if ValidInvocationID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCloudEventJSON(t *testing.T) {
	ev, err := NewCloudEvent(TypeFunctionReady, "/eventflow/deployer", "acme", "upper", map[string]int{"readyReplicas": 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data", "tenant"} {
		if _, ok := m[k]; !ok {
			t.Errorf("attribute %q missing from %s", k, b)
		}
	}
	if m["specversion"] != "1.0" || EventSubject("acme", "upper", ev.Type) != "eventflow.events.acme.upper.function.ready" {
		t.Fatalf("event %s", b)
	}
}

func TestInvocationIDTime(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id := NewInvocationID()
	after := time.Now()
	got, ok := InvocationIDTime(id)
	if !ok || got.Before(before) || got.After(after) {
		t.Fatalf("InvocationIDTime(%s) = %v, %v; made between %v and %v", id, got, ok, before, after)
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("g", 32), strings.Repeat("0", 31)} {
		if _, ok := InvocationIDTime(bad); ok {
			t.Errorf("InvocationIDTime(%q) ok", bad)
		}
	}
}
