package events_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
)

const testID = "01a24e6700000000000000000000aaaa"

func fullInvocation() events.Invocation {
	return events.Invocation{ID: testID, Tenant: "acme", Function: "upper", Payload: []byte("hello\x00world"),
		ContentType: "application/json", CallbackURL: "https://hooks.example.com/done?x=1",
		AcceptedAt: time.Date(2026, 12, 7, 4, 5, 6, 789000000, time.UTC), PriorAttempts: 3}
}

// TestInvocationRoundTrip: what Msg writes, ParseInvocation reads back
// unchanged, with the headers documented in docs/EVENTS.md.
func TestInvocationRoundTrip(t *testing.T) {
	for _, inv := range []events.Invocation{fullInvocation(), {ID: testID, Tenant: "t", Function: "f"}} {
		m := inv.Msg()
		if m.Subject != events.InvocationSubject(inv.Tenant, inv.Function) || m.Header.Get(nats.MsgIdHdr) != inv.ID || m.Header.Get(events.HeaderInvocationID) != inv.ID {
			t.Fatalf("message %s %v", m.Subject, m.Header)
		}
		got, err := events.InvocationFromMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Payload == nil {
			inv.Payload = got.Payload // nil and empty bodies are the same message
		}
		if !reflect.DeepEqual(got, inv) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, inv)
		}
	}
	// The wire format, header by header (external producers write it).
	m := fullInvocation().Msg()
	want := map[string]string{
		"Eventflow-Invocation-Id":  testID,
		"Nats-Msg-Id":              testID,
		"Content-Type":             "application/json",
		"Eventflow-Callback-Url":   "https://hooks.example.com/done?x=1",
		"Eventflow-Accepted-At":    "2026-12-07T04:05:06.789Z",
		"Eventflow-Prior-Attempts": "3",
	}
	if len(m.Header) != len(want) {
		t.Fatalf("headers %v, want %v", m.Header, want)
	}
	for k, v := range want {
		if m.Header.Get(k) != v {
			t.Fatalf("%s = %q, want %q", k, m.Header.Get(k), v)
		}
	}
	// A producer's minimal message (docs/EVENTS.md) is read.
	p := nats.NewMsg("eventflow.invoke.demo.upper")
	p.Header.Set("Eventflow-Invocation-Id", testID)
	p.Data = []byte("hi")
	if got, err := events.InvocationFromMsg(p); err != nil || got.Tenant != "demo" || got.Function != "upper" || string(got.Payload) != "hi" || got.PriorAttempts != 0 || !got.AcceptedAt.IsZero() {
		t.Fatalf("producer's message: %+v %v", got, err)
	}
}

func TestDeadLetterRoundTrip(t *testing.T) {
	inv := fullInvocation()
	d := events.DeadLetter{Invocation: inv, Attempts: 5, Error: "exit code 1: line one\nline two"}
	m := d.Msg()
	if m.Subject != events.DeadLetterSubject("acme", "upper") || m.Header.Get(nats.MsgIdHdr) != testID+"-dlq-5" ||
		m.Header.Get(events.HeaderAttempts) != "5" || m.Header.Get(events.HeaderError) != "exit code 1: line one line two" ||
		m.Header.Get(events.HeaderPriorAttempts) != "" {
		t.Fatalf("dead letter %s %v", m.Subject, m.Header)
	}
	got, err := events.DeadLetterFromMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	d.PriorAttempts = 0 // counted in Attempts
	d.Error = "exit code 1: line one line two"
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
	}
	r := got.Redrive(42)
	if r.Subject != events.InvocationSubject("acme", "upper") || r.Header.Get(nats.MsgIdHdr) != testID+"-redrive-42" ||
		r.Header.Get(events.HeaderPriorAttempts) != "5" || !bytes.Equal(r.Data, inv.Payload) {
		t.Fatalf("redrive %s %v", r.Subject, r.Header)
	}
	again, err := events.InvocationFromMsg(r)
	if err != nil || again.PriorAttempts != 5 || again.CallbackURL != inv.CallbackURL || !again.AcceptedAt.Equal(inv.AcceptedAt) {
		t.Fatalf("redriven: %+v %v", again, err)
	}
	long := events.DeadLetter{Invocation: inv, Attempts: 1, Error: strings.Repeat("x", 5000)}
	if v := long.Msg().Header.Get(events.HeaderError); len(v) != 2048 || !strings.HasSuffix(v, "...") {
		t.Fatalf("a long error is %d bytes", len(v))
	}
}

// TestMalformedInvocationsAreRefused: every header the invoker relies on
// is checked, and the error names it.
func TestMalformedInvocationsAreRefused(t *testing.T) {
	good := func() *nats.Msg { return fullInvocation().Msg() }
	cases := map[string]struct {
		edit func(m *nats.Msg)
		want string
	}{
		"no id":             {func(m *nats.Msg) { m.Header.Del(events.HeaderInvocationID) }, events.HeaderInvocationID},
		"short id":          {func(m *nats.Msg) { m.Header.Set(events.HeaderInvocationID, "abc") }, events.HeaderInvocationID},
		"id not hex":        {func(m *nats.Msg) { m.Header.Set(events.HeaderInvocationID, strings.Repeat("z", 32)) }, events.HeaderInvocationID},
		"id as a key path":  {func(m *nats.Msg) { m.Header.Set(events.HeaderInvocationID, "acme.other."+testID[:21]) }, events.HeaderInvocationID},
		"prior not a count": {func(m *nats.Msg) { m.Header.Set(events.HeaderPriorAttempts, "three") }, events.HeaderPriorAttempts},
		"prior negative":    {func(m *nats.Msg) { m.Header.Set(events.HeaderPriorAttempts, "-1") }, events.HeaderPriorAttempts},
		"prior signed":      {func(m *nats.Msg) { m.Header.Set(events.HeaderPriorAttempts, "+1") }, events.HeaderPriorAttempts},
		"prior overflow":    {func(m *nats.Msg) { m.Header.Set(events.HeaderPriorAttempts, "99999999999999999999") }, events.HeaderPriorAttempts},
		"accepted-at":       {func(m *nats.Msg) { m.Header.Set(events.HeaderAcceptedAt, "yesterday") }, events.HeaderAcceptedAt},
		"callback relative": {func(m *nats.Msg) { m.Header.Set(events.HeaderCallbackURL, "/hook") }, events.HeaderCallbackURL},
		"callback scheme":   {func(m *nats.Msg) { m.Header.Set(events.HeaderCallbackURL, "file:///etc/passwd") }, events.HeaderCallbackURL},
		"callback no host":  {func(m *nats.Msg) { m.Header.Set(events.HeaderCallbackURL, "http://") }, events.HeaderCallbackURL},
		"wildcard tenant":   {func(m *nats.Msg) { m.Subject = "eventflow.invoke.*.upper" }, "tenant and function"},
		"no function":       {func(m *nats.Msg) { m.Subject = "eventflow.invoke.acme" }, "tenant and function"},
		"extra token":       {func(m *nats.Msg) { m.Subject = "eventflow.invoke.acme.upper.x" }, "more than"},
		"other subject":     {func(m *nats.Msg) { m.Subject = "eventflow.dlq.acme.upper" }, events.SubjectInvocations},
	}
	for name, c := range cases {
		m := good()
		c.edit(m)
		_, err := events.InvocationFromMsg(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
		}
	}
	dl := func() *nats.Msg {
		return events.DeadLetter{Invocation: fullInvocation(), Attempts: 2, Error: "e"}.Msg()
	}
	for name, c := range map[string]struct {
		edit func(m *nats.Msg)
		want string
	}{
		"no attempts":        {func(m *nats.Msg) { m.Header.Del(events.HeaderAttempts) }, events.HeaderAttempts},
		"negative attempts":  {func(m *nats.Msg) { m.Header.Set(events.HeaderAttempts, "-2") }, events.HeaderAttempts},
		"no id":              {func(m *nats.Msg) { m.Header.Del(events.HeaderInvocationID) }, events.HeaderInvocationID},
		"invocation subject": {func(m *nats.Msg) { m.Subject = events.InvocationSubject("acme", "upper") }, events.SubjectDeadLetters},
	} {
		m := dl()
		c.edit(m)
		_, err := events.DeadLetterFromMsg(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dead letter, %s: error %v, want one naming %q", name, err, c.want)
		}
	}
}

// TestRecordTransitions: the state machine of invocation records.
func TestRecordTransitions(t *testing.T) {
	allowed := map[[2]string]bool{}
	for _, e := range [][2]string{
		{"queued", "running"}, {"queued", "succeeded"}, {"queued", "failed"}, {"queued", "dead_lettered"}, {"queued", "retrying"},
		{"running", "succeeded"}, {"running", "failed"}, {"running", "retrying"}, {"running", "dead_lettered"},
		{"retrying", "running"}, {"retrying", "succeeded"}, {"retrying", "failed"}, {"retrying", "dead_lettered"},
		{"dead_lettered", "queued"},
	} {
		allowed[e] = true
	}
	all := []string{events.StatusQueued, events.StatusRunning, events.StatusRetrying, events.StatusSucceeded, events.StatusFailed, events.StatusDeadLettered}
	for _, from := range all {
		for _, to := range all {
			want := from == to || allowed[[2]string{from, to}]
			if got := events.ValidTransition(from, to); got != want {
				t.Errorf("%s -> %s: %v, want %v", from, to, got, want)
			}
		}
	}
	dead := events.StoredInvocation{ID: testID, Status: events.StatusDeadLettered, Attempts: 3,
		Callback: &events.CallbackStatus{URL: "https://x.example", Status: events.CallbackFailed, Attempts: 5, LastError: "HTTP 503"}}
	r, ok := events.Redriven(dead)
	if !ok || r.Status != events.StatusQueued || r.Callback.Status != events.CallbackPending || r.Callback.Attempts != 0 || r.Callback.LastError != "" {
		t.Fatalf("redriven %+v %+v", r, r.Callback)
	}
	if dead.Callback.Status != events.CallbackFailed {
		t.Fatal("Redriven changed its argument's callback")
	}
	if _, ok := events.Redriven(r); ok {
		t.Fatal("a queued record redriven")
	}
	// A callback outcome changes the callback part of the end it is
	// about, and never a record that has moved on.
	if _, err := events.WithCallbackOutcome(r, 3, events.CallbackDelivered, 1, ""); !errors.Is(err, events.ErrInvalidTransition) {
		t.Fatalf("callback outcome on a redriven record: %v", err)
	}
	if _, err := events.WithCallbackOutcome(dead, 2, events.CallbackDelivered, 1, ""); !errors.Is(err, events.ErrInvalidTransition) {
		t.Fatalf("callback outcome of another end: %v", err)
	}
	got, err := events.WithCallbackOutcome(dead, 3, events.CallbackDelivered, 2, "")
	if err != nil || got.Status != events.StatusDeadLettered || got.Callback.Status != events.CallbackDelivered || got.Callback.Attempts != 2 {
		t.Fatalf("callback outcome: %+v %v", got, err)
	}
}
