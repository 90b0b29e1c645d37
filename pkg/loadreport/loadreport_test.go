package loadreport

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// listen connects to a new server and subscribes to the load reports on
// subject; next returns the next one and its subject (failing after 5 s).
func listen(t *testing.T, subject string) (nc *nats.Conn, sub *nats.Subscription, next func() (string, events.Load)) {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if sub, err = nc.SubscribeSync(subject); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	return nc, sub, func() (string, events.Load) {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal("no report:", err)
		}
		l, err := events.ParseLoad(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return m.Subject, l
	}
}

// TestReports: a hold is reported at once (the wake); a round reports
// every function with work and, once more, one whose work ended; then it
// is forgotten and no longer reported.
func TestReports(t *testing.T) {
	nc, sub, next := listen(t, events.SubjectScale+".>")
	none := func() {
		t.Helper()
		_ = nc.Flush()
		if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("unexpected report on %s: %s", m.Subject, m.Data)
		}
	}

	r := New(nc, "gateway", time.Hour, nil)
	release := r.Hold("acme", "web")
	if subj, l := next(); subj != events.ScaleSubject("acme", "web") || l.Held != 1 || l.InFlight != 0 || l.Source != r.Source() {
		t.Fatalf("wake: %s %+v", subj, l)
	}
	end := r.Begin("acme", "web")
	release()
	release() // once only
	end2 := r.Begin("acme", "api")
	r.Flush()
	got := map[string]events.Load{}
	for range 2 {
		subj, l := next()
		got[subj] = l
	}
	if l := got[events.ScaleSubject("acme", "web")]; l.InFlight != 1 || l.Held != 0 {
		t.Fatalf("web: %+v", l)
	}
	if l := got[events.ScaleSubject("acme", "api")]; l.InFlight != 1 {
		t.Fatalf("api: %+v", l)
	}
	none()
	end()
	end2()
	r.Flush() // each ended within the interval: it still ran in it
	for range 2 {
		if _, l := next(); l.InFlight != 1 || l.Held != 0 {
			t.Fatalf("report of an interval whose request ended: %+v", l)
		}
	}
	r.Flush() // the last report of each: zero
	for range 2 {
		if _, l := next(); l.InFlight != 0 || l.Held != 0 {
			t.Fatalf("final report %+v", l)
		}
	}
	none()
	r.Flush() // both forgotten: nothing more
	none()

	// A request that begins and ends between two reports is reported.
	r.Begin("acme", "short")()
	r.Flush()
	if subj, l := next(); subj != events.ScaleSubject("acme", "short") || l.InFlight != 1 {
		t.Fatalf("a short request: %s %+v", subj, l)
	}
	r.Flush() // its zero report
	if _, l := next(); l.InFlight != 0 {
		t.Fatalf("after a short request: %+v", l)
	}
	r.Flush() // forgotten
	r.mu.Lock()
	n := len(r.fn)
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d functions still tracked", n)
	}
}

// TestServed: requests served are counted by revision, failures apart,
// sent with the next report and then reset; past events.MaxServed
// revisions in one interval the others are not counted.
func TestServed(t *testing.T) {
	nc, _, nextOn := listen(t, events.ScaleSubject("acme", "web"))
	next := func() events.Load { t.Helper(); _, l := nextOn(); return l }
	r := New(nc, "invoker", time.Hour, nil)
	r.Served("acme", "web", 3, false)
	r.Served("acme", "web", 4, true)
	r.Served("acme", "web", 4, false)
	r.Flush()
	l := next()
	if len(l.Served) != 2 || l.Served[0] != (events.Served{Revision: 3, Requests: 1}) || l.Served[1] != (events.Served{Revision: 4, Requests: 2, Failed: 1}) {
		t.Fatalf("served: %+v", l.Served)
	}
	r.Flush() // reset: the zero report carries none
	if l := next(); l.Served != nil || l.InFlight != 0 {
		t.Fatalf("after the report: %+v", l)
	}
	for rev := range int64(events.MaxServed + 2) {
		r.Served("acme", "web", rev+1, false)
	}
	r.Flush()
	if l := next(); len(l.Served) != events.MaxServed {
		t.Fatalf("%d revisions reported, want the first %d", len(l.Served), events.MaxServed)
	}
}
