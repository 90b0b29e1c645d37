package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func withTriggers(ts ...Trigger) Spec {
	return Spec{Name: "a", Command: []string{"x"}, Triggers: ts}
}

func cronT(schedule string) Trigger { return Trigger{Type: TriggerCron, Schedule: schedule} }
func natsT(subject string) Trigger  { return Trigger{Type: TriggerNATS, Subject: subject} }
func eventT(f EventFilter) Trigger  { return Trigger{Type: TriggerEvent, Filter: &f} }

func TestTriggerValidation(t *testing.T) {
	valid := []Trigger{
		cronT("*/5 * * * *"), cronT("@hourly"), cronT("@every 1s"), cronT("@every 1h30m"),
		{Type: TriggerCron, Schedule: "0 9 * * 1-5", Timezone: "Europe/Paris", Body: "tick", Missed: MissedOnce},
		{Type: TriggerCron, Schedule: "0 0 1 * *", Timezone: "UTC", Missed: MissedSkip},
		natsT("orders"), natsT("orders.>"), natsT("orders.*.created"), natsT("*"), natsT(">"), natsT("ü.ñ-_:"),
		natsT(strings.Repeat("a", MaxTriggerSubject)),
		eventT(EventFilter{}), eventT(EventFilter{Type: "*", Function: "*", Source: "*"}),
		eventT(EventFilter{Type: "io.eventflow.invocation.*", Function: "upper", Source: "/eventflow/invoker"}),
		eventT(EventFilter{Type: "io.eventflow.invocation.dead_lettered"}),
	}
	for _, tr := range valid {
		if err := withTriggers(tr).Validate(); err != nil {
			t.Errorf("%+v refused: %v", tr, err)
		}
	}
	if err := withTriggers(valid[:MaxTriggers]...).Validate(); err != nil {
		t.Errorf("%d different valid triggers refused: %v", MaxTriggers, err)
	}
	sixteen := make([]Trigger, MaxTriggers)
	for i := range sixteen {
		sixteen[i] = natsT(fmt.Sprint("s", i))
	}
	if err := withTriggers(sixteen...).Validate(); err != nil {
		t.Errorf("%d triggers refused: %v", MaxTriggers, err)
	}

	filter := &EventFilter{}
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string
	}{
		{"more than 16", withTriggers(append(sixteen, natsT("one.more"))...), "triggers"},
		{"no type", withTriggers(Trigger{Schedule: "@hourly"}), "triggers[0].type"},
		{"unknown type", withTriggers(Trigger{Type: "webhook"}), "triggers[0].type"},
		{"type in capitals", withTriggers(Trigger{Type: "CRON", Schedule: "@hourly"}), "triggers[0].type"},
		{"the index is the trigger's", withTriggers(cronT("@hourly"), Trigger{Type: "x"}), "triggers[1].type"},

		{"cron without schedule", withTriggers(Trigger{Type: TriggerCron}), "triggers[0].schedule"},
		{"cron, 6 fields", withTriggers(cronT("0 * * * * *")), "triggers[0].schedule"},
		{"cron, out of range", withTriggers(cronT("61 * * * *")), "triggers[0].schedule"},
		{"cron, garbage", withTriggers(cronT("every minute")), "triggers[0].schedule"},
		{"cron, unknown descriptor", withTriggers(cronT("@fortnightly")), "triggers[0].schedule"},
		{"@every under a second", withTriggers(cronT("@every 500ms")), "triggers[0].schedule"},
		{"@every 0", withTriggers(cronT("@every 0s")), "triggers[0].schedule"},
		{"@every negative", withTriggers(cronT("@every -1m")), "triggers[0].schedule"},
		{"@every no duration", withTriggers(cronT("@every soon")), "triggers[0].schedule"},
		{"zone in the schedule", withTriggers(cronT("CRON_TZ=Europe/Paris 0 9 * * *")), "triggers[0].schedule"},
		{"TZ= in the schedule", withTriggers(cronT("TZ=UTC 0 9 * * *")), "triggers[0].schedule"},
		{"schedule of two lines", withTriggers(cronT("@hourly\n0 * * * *")), "triggers[0].schedule"},
		{"unknown zone", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Timezone: "Mars/Olympus"}), "triggers[0].timezone"},
		{"Local zone", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Timezone: "Local"}), "triggers[0].timezone"},
		{"zone with a space", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Timezone: "Europe/Paris "}), "triggers[0].timezone"},
		{"body too big", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Body: strings.Repeat("b", MaxTriggerBody+1)}), "triggers[0].body"},
		{"bad missed", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Missed: "all"}), "triggers[0].missed"},
		{"cron with subject", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Subject: "a"}), "triggers[0].subject"},
		{"cron with filter", withTriggers(Trigger{Type: TriggerCron, Schedule: "@hourly", Filter: filter}), "triggers[0].filter"},

		{"nats without subject", withTriggers(Trigger{Type: TriggerNATS}), "triggers[0].subject"},
		{"subject too long", withTriggers(natsT(strings.Repeat("a", MaxTriggerSubject+1))), "triggers[0].subject"},
		{"empty token", withTriggers(natsT("a..b")), "triggers[0].subject"},
		{"leading dot", withTriggers(natsT(".a")), "triggers[0].subject"},
		{"trailing dot", withTriggers(natsT("a.")), "triggers[0].subject"},
		{"> not last", withTriggers(natsT(">.a")), "triggers[0].subject"},
		{"* in a token", withTriggers(natsT("a*")), "triggers[0].subject"},
		{"> in a token", withTriggers(natsT("a.b>")), "triggers[0].subject"},
		{"space", withTriggers(natsT("a b")), "triggers[0].subject"},
		{"tab", withTriggers(natsT("a\tb")), "triggers[0].subject"},
		{"control character", withTriggers(natsT("a\x00")), "triggers[0].subject"},
		{"invalid UTF-8", withTriggers(natsT("a\xff")), "triggers[0].subject"},
		{"nats with schedule", withTriggers(Trigger{Type: TriggerNATS, Subject: "a", Schedule: "@hourly"}), "triggers[0].schedule"},
		{"nats with timezone", withTriggers(Trigger{Type: TriggerNATS, Subject: "a", Timezone: "UTC"}), "triggers[0].timezone"},
		{"nats with body", withTriggers(Trigger{Type: TriggerNATS, Subject: "a", Body: "x"}), "triggers[0].body"},
		{"nats with missed", withTriggers(Trigger{Type: TriggerNATS, Subject: "a", Missed: MissedSkip}), "triggers[0].missed"},
		{"nats with filter", withTriggers(Trigger{Type: TriggerNATS, Subject: "a", Filter: filter}), "triggers[0].filter"},

		{"event without filter", withTriggers(Trigger{Type: TriggerEvent}), "triggers[0].filter"},
		{"filter type not EventFlow's", withTriggers(eventT(EventFilter{Type: "com.example.order"})), "triggers[0].filter.type"},
		{"filter type too long", withTriggers(eventT(EventFilter{Type: "io.eventflow." + strings.Repeat("a", 200)})), "triggers[0].filter.type"},
		{"filter type not printable", withTriggers(eventT(EventFilter{Type: "io.eventflow.\n"})), "triggers[0].filter.type"},
		{"filter function not a name", withTriggers(eventT(EventFilter{Function: "Upper_Case"})), "triggers[0].filter.function"},
		{"filter function pattern", withTriggers(eventT(EventFilter{Function: "up*"})), "triggers[0].filter.function"},
		{"filter source not printable", withTriggers(eventT(EventFilter{Source: "/a\x7f"})), "triggers[0].filter.source"},
		{"filter source too long", withTriggers(eventT(EventFilter{Source: strings.Repeat("s", 201)})), "triggers[0].filter.source"},
		{"first bad filter field named", withTriggers(eventT(EventFilter{Type: "\x00", Function: "\x00", Source: "\x00"})), "triggers[0].filter.type"},
		{"event with subject", withTriggers(Trigger{Type: TriggerEvent, Filter: filter, Subject: "a"}), "triggers[0].subject"},
		{"event with schedule", withTriggers(Trigger{Type: TriggerEvent, Filter: filter, Schedule: "@hourly"}), "triggers[0].schedule"},
		{"event with body", withTriggers(Trigger{Type: TriggerEvent, Filter: filter, Body: "x"}), "triggers[0].body"},

		{"duplicate", withTriggers(natsT("a"), cronT("@hourly"), natsT("a")), "triggers[2]"},
		{"duplicate once defaulted", withTriggers(cronT("@hourly"), Trigger{Type: TriggerCron, Schedule: "@hourly", Timezone: "UTC", Missed: MissedSkip}), "triggers[1]"},
		{"duplicate filter", withTriggers(eventT(EventFilter{Type: "io.eventflow.function.ready"}), eventT(EventFilter{Type: "io.eventflow.function.ready"})), "triggers[1]"},

		{"http on a job function", Spec{Name: "a", Command: []string{"x"}, HTTP: &HTTP{}}, "http"},
		{"http auth on an explicit job", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeJob}, HTTP: &HTTP{Auth: HTTPAuthPublic}}, "http"},
		{"bad auth", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, HTTP: &HTTP{Auth: "basic"}}, "http.auth"},
		{"auth in capitals", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, HTTP: &HTTP{Auth: "Public"}}, "http.auth"},
	} {
		err := tc.spec.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want a FieldError on %q wrapping ErrInvalid", tc.name, err, tc.field)
		}
	}
	for _, auth := range []string{"", HTTPAuthToken, HTTPAuthPublic} {
		s := Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, HTTP: &HTTP{Auth: auth}}
		if err := s.Validate(); err != nil {
			t.Errorf("http auth %q refused: %v", auth, err)
		}
	}
}

func TestTriggerKey(t *testing.T) {
	a := Trigger{Type: TriggerCron, Schedule: "@hourly", Body: "tick"}
	same := []Trigger{
		a,
		{Type: TriggerCron, Schedule: "@hourly", Body: "tick", Timezone: "UTC"},
		{Type: TriggerCron, Schedule: "@hourly", Body: "tick", Missed: MissedSkip},
		{Type: TriggerCron, Schedule: "@hourly", Body: "tick", Timezone: "UTC", Missed: MissedSkip},
	}
	for _, s := range same {
		if s.Key() != a.Key() {
			t.Errorf("%+v: key %s, want %s (the same trigger once defaulted)", s, s.Key(), a.Key())
		}
	}
	if !strings.HasPrefix(a.Key(), "cron-") || len(a.Key()) != len("cron-")+12 {
		t.Errorf("key %q: want cron-<12 hex>", a.Key())
	}
	// Stable across releases: the state in the triggers bucket and the
	// invocation ids hang on it.
	if got, want := natsT("orders.>").Key(), natsT("orders.>").Key(); got != want {
		t.Errorf("the key of one trigger differs between calls: %s, %s", got, want)
	}
	// Stored and read back, in a defaulted spec, or in another place of
	// the list: the same key.
	spec := withTriggers(natsT("x"), a).WithDefaults()
	b, _ := json.Marshal(spec)
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Triggers[1].Key() != a.Key() || withTriggers(a, natsT("x")).Triggers[0].Key() != a.Key() {
		t.Error("the key changed when stored, defaulted or moved in the list")
	}
	f1, f2 := EventFilter{Type: "io.eventflow.function.ready"}, EventFilter{Type: "io.eventflow.function.ready"}
	if eventT(f1).Key() != eventT(f2).Key() {
		t.Error("two equal filters (different pointers) have different keys")
	}

	changed := []Trigger{
		{Type: TriggerCron, Schedule: "@daily", Body: "tick"},
		{Type: TriggerCron, Schedule: "@hourly", Body: "tock"},
		{Type: TriggerCron, Schedule: "@hourly", Body: "tick", Timezone: "Europe/Paris"},
		{Type: TriggerCron, Schedule: "@hourly", Body: "tick", Missed: MissedOnce},
		{Type: TriggerCron, Schedule: "@hourly"},
	}
	seen := map[string]Trigger{a.Key(): a}
	for _, c := range append(changed, natsT("a"), natsT("b"), natsT("a.>"),
		eventT(EventFilter{}), eventT(EventFilter{Type: "io.eventflow.function.ready"}), eventT(EventFilter{Function: "x"}), eventT(EventFilter{Source: "x"})) {
		if prev, dup := seen[c.Key()]; dup {
			t.Errorf("%+v has the key of %+v: %s", c, prev, c.Key())
		}
		seen[c.Key()] = c
	}
	if k := natsT("a").Key(); !strings.HasPrefix(k, "nats-") {
		t.Errorf("nats key %q", k)
	}
	if k := eventT(EventFilter{}).Key(); !strings.HasPrefix(k, "event-") {
		t.Errorf("event key %q", k)
	}
}

func TestNextFires(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 30, 0, time.UTC)
	check := func(tr Trigger, want ...time.Time) {
		t.Helper()
		got := tr.NextFires(now, 3)
		if len(got) != len(want) {
			t.Fatalf("%+v: %v, want %v", tr, got, want)
		}
		for i := range got {
			if !got[i].Equal(want[i]) || got[i].Location() != time.UTC {
				t.Errorf("%+v: fire %d = %v, want %v in UTC", tr, i, got[i], want[i])
			}
		}
	}
	// @every ticks are multiples of the interval, whenever asked: every
	// replica and the gateway agree on them.
	m := now.Truncate(time.Minute)
	check(cronT("@every 1m"), m.Add(time.Minute), m.Add(2*time.Minute), m.Add(3*time.Minute))
	check(cronT("*/15 * * * *"), time.Date(2026, 1, 15, 10, 15, 0, 0, time.UTC), time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC), time.Date(2026, 1, 15, 10, 45, 0, 0, time.UTC))
	// 09:00 in Paris is 08:00 UTC in winter: the next is tomorrow's.
	paris := Trigger{Type: TriggerCron, Schedule: "0 9 * * *", Timezone: "Europe/Paris"}
	check(paris, time.Date(2026, 1, 16, 8, 0, 0, 0, time.UTC), time.Date(2026, 1, 17, 8, 0, 0, 0, time.UTC), time.Date(2026, 1, 18, 8, 0, 0, 0, time.UTC))
	check(natsT("a"))
	check(eventT(EventFilter{}))
	check(cronT("not a schedule"))
	if got := cronT("@hourly").NextFires(now, 0); len(got) != 0 {
		t.Errorf("0 fires asked: %v", got)
	}
	// February 30th never comes: no fires rather than a hang.
	if got := cronT("0 0 30 2 *").NextFires(now, 3); len(got) != 0 {
		t.Errorf("a date that never comes: %v", got)
	}
}

func TestTriggerStatuses(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	c, n := cronT("@every 1m"), natsT("orders.>")
	spec := withTriggers(n, c)
	if got := (Spec{Name: "a"}).TriggerStatuses(map[string]TriggerStatus{c.Key(): {Fires: 1}}, now); got != nil {
		t.Errorf("no triggers: %v, want nil", got)
	}
	last := now.Add(-time.Minute)
	stored := map[string]TriggerStatus{
		// Key and type come from the spec, whatever the stored copy says.
		c.Key():     {Key: "stale", Type: "nats", Fires: 4, Errors: 1, LastFire: last, LastInvocation: "inv", LastError: "boom", LastErrorAt: last, NextFires: []time.Time{last}},
		"cron-gone": {Fires: 99},
	}
	got := spec.TriggerStatuses(stored, now)
	if len(got) != 2 {
		t.Fatalf("statuses %+v", got)
	}
	if got[0].Key != n.Key() || got[0].Type != TriggerNATS || got[0].Fires != 0 || got[0].Errors != 0 || !got[0].LastFire.IsZero() || got[0].NextFires != nil {
		t.Errorf("never fired nats trigger: %+v", got[0])
	}
	g := got[1]
	if g.Key != c.Key() || g.Type != TriggerCron || g.Fires != 4 || g.Errors != 1 || !g.LastFire.Equal(last) || g.LastInvocation != "inv" || g.LastError != "boom" || !g.LastErrorAt.Equal(last) {
		t.Errorf("cron trigger: %+v", g)
	}
	if len(g.NextFires) != 3 || !g.NextFires[0].Equal(now.Add(time.Minute)) {
		t.Errorf("cron next fires %v, want the next 3 after now", g.NextFires)
	}
	if got := spec.TriggerStatuses(nil, now); len(got) != 2 || got[1].Fires != 0 || len(got[1].NextFires) != 3 {
		t.Errorf("without stored states: %+v", got)
	}
	// JSON: a never-fired trigger has its counts but no times.
	b, _ := json.Marshal(got[0])
	if string(b) != `{"key":"`+n.Key()+`","type":"nats","fires":0,"errors":0}` {
		t.Errorf("JSON of a never-fired trigger: %s", b)
	}
}

func TestHTTPAndTriggerDefaults(t *testing.T) {
	f := &EventFilter{Type: "io.eventflow.function.ready"}
	s := Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP},
		Triggers: []Trigger{cronT("@hourly"), {Type: TriggerEvent, Filter: f}}}
	d := s.WithDefaults()
	if d.HTTP == nil || d.HTTP.Auth != HTTPAuthToken || d.RouteAuth() != HTTPAuthToken {
		t.Errorf("http mode: http %+v, want auth token", d.HTTP)
	}
	if tr := d.Triggers[0]; tr.Timezone != "UTC" || tr.Missed != MissedSkip {
		t.Errorf("cron defaults: %+v", tr)
	}
	if tr := d.Triggers[1]; tr.Timezone != "" || tr.Missed != "" {
		t.Errorf("an event trigger got cron defaults: %+v", tr)
	}
	// The defaulted spec shares nothing with the original.
	d.Triggers[1].Filter.Type = "changed"
	d.Triggers[0].Body = "changed"
	if f.Type != "io.eventflow.function.ready" || s.Triggers[0].Body != "" {
		t.Error("WithDefaults aliases the original's triggers")
	}
	if j := (Spec{Name: "a", Command: []string{"x"}}).WithDefaults(); j.HTTP != nil || j.Triggers != nil {
		t.Errorf("job function: http %+v, triggers %v", j.HTTP, j.Triggers)
	}
	pub := Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, HTTP: &HTTP{Auth: HTTPAuthPublic}}.WithDefaults()
	if pub.HTTP.Auth != HTTPAuthPublic {
		t.Errorf("public auth not kept: %+v", pub.HTTP)
	}
}

func TestViewRouteAndEndpoints(t *testing.T) {
	st := &Status{Phase: PhaseReady, ObservedGeneration: 1, Endpoints: []string{"http://10.0.0.1:8080"}, URL: "/stale/",
		RevisionEndpoints: map[int64][]string{1: {"http://10.0.0.2:8080"}}}
	web := View(Record{Spec: Spec{Name: "web", Invocation: Invocation{Mode: ModeHTTP}}, Tenant: "demo", Generation: 1}, st)
	if web.Status.URL != "/fn/demo/web/" || web.Status.Endpoints != nil || web.Status.RevisionEndpoints != nil {
		t.Errorf("http function: url %q, endpoints %v %v", web.Status.URL, web.Status.Endpoints, web.Status.RevisionEndpoints)
	}
	if st.Endpoints == nil {
		t.Error("View changed the stored status")
	}
	job := View(Record{Spec: Spec{Name: "j"}, Tenant: "demo", Generation: 1}, &Status{ObservedGeneration: 1, Endpoints: []string{"x"}})
	if job.Status.URL != "" || job.Status.Endpoints != nil {
		t.Errorf("job function: url %q, endpoints %v", job.Status.URL, job.Status.Endpoints)
	}
	b, _ := json.Marshal(job)
	if strings.Contains(string(b), "endpoints") || strings.Contains(string(b), `"url"`) || strings.Contains(string(b), `"triggers"`) {
		t.Errorf("job function JSON: %s", b)
	}
}
