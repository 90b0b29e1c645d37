package rollout

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/testkit"

	"github.com/nats-io/nats.go"
)

var (
	web   = runtime.Ref{Tenant: "t1", Name: "web"}
	other = runtime.Ref{Tenant: "t2", Name: "web"}
)

// TestAddCountsWatchedOnly: reports of a function not watched are not
// counted (nor kept for later), those of a watched one are summed by
// revision.
func TestAddCountsWatchedOnly(t *testing.T) {
	ta := New()
	ta.Add(web, []events.Served{{Revision: 2, Requests: 5, Failed: 1}})
	ta.Watch(web)
	if s, f := ta.Take(web, 1); s != 0 || f != 0 {
		t.Fatalf("a report from before Watch counted: served %d failed %d", s, f)
	}
	ta.Add(web, []events.Served{{Revision: 2, Requests: 5, Failed: 1}})
	ta.Add(web, []events.Served{{Revision: 2, Requests: 3, Failed: 2}, {Revision: 3, Requests: 4}})
	ta.Add(other, []events.Served{{Revision: 2, Requests: 100, Failed: 100}}) // not watched
	if s, f := ta.Take(web, 1); s != 12 || f != 3 {
		t.Fatalf("took served %d failed %d, want 12 and 3", s, f)
	}
	if s, f := ta.Take(other, 1); s != 0 || f != 0 {
		t.Fatalf("an unwatched function counted: served %d failed %d", s, f)
	}
	// Watch again is a no-op: it must not reset what was counted.
	ta.Add(web, []events.Served{{Revision: 2, Requests: 2, Failed: 1}})
	ta.Watch(web)
	if s, f := ta.Take(web, 1); s != 2 || f != 1 {
		t.Fatalf("after a second Watch took served %d failed %d, want 2 and 1", s, f)
	}
}

// TestTakeCountsSinceAndResets: Take sums the revisions from since on
// (the new code, whatever generation it got since; not the older one
// rolled out from) and starts afresh.
func TestTakeCountsSinceAndResets(t *testing.T) {
	ta := New()
	ta.Watch(web)
	ta.Add(web, []events.Served{{Revision: 1, Requests: 50, Failed: 50}, {Revision: 2, Requests: 10, Failed: 1}})
	ta.Add(web, []events.Served{{Revision: 3, Requests: 6, Failed: 2}}) // a scale change made generation 3
	if s, f := ta.Take(web, 2); s != 16 || f != 3 {
		t.Fatalf("took served %d failed %d, want 16 and 3 (revision 1 left out)", s, f)
	}
	if s, f := ta.Take(web, 1); s != 0 || f != 0 {
		t.Fatalf("a second Take got served %d failed %d, want nothing", s, f)
	}
	// What from served was dropped too, not kept for a later Take from
	// another revision.
	if s, f := ta.Take(web, 1); s != 0 || f != 0 {
		t.Fatalf("Take kept revision 1's counts: served %d failed %d", s, f)
	}
	// Take of an unwatched function is nothing.
	if s, f := ta.Take(other, 1); s != 0 || f != 0 {
		t.Fatalf("unwatched: served %d failed %d", s, f)
	}
}

// TestForgetDrops: a forgotten function's counts are gone, and its
// reports no longer counted until it is watched again.
func TestForgetDrops(t *testing.T) {
	ta := New()
	ta.Watch(web)
	ta.Watch(other)
	ta.Add(web, []events.Served{{Revision: 2, Requests: 7, Failed: 7}})
	ta.Add(other, []events.Served{{Revision: 2, Requests: 4, Failed: 1}})
	ta.Forget(web)
	ta.Add(web, []events.Served{{Revision: 2, Requests: 7, Failed: 7}})
	if s, f := ta.Take(web, 1); s != 0 || f != 0 {
		t.Fatalf("forgotten function: served %d failed %d", s, f)
	}
	ta.Watch(web)
	if s, f := ta.Take(web, 1); s != 0 || f != 0 {
		t.Fatalf("watched again, it brought back old counts: served %d failed %d", s, f)
	}
	if s, f := ta.Take(other, 1); s != 4 || f != 1 {
		t.Fatalf("Forget of one function touched another: served %d failed %d", s, f)
	}
	ta.Forget(runtime.Ref{Tenant: "nobody", Name: "x"}) // no-op
}

// TestBoundedRevisions: at most events.MaxServed revisions are counted for
// one function between two Takes; revisions already counted go on being
// counted, and a Take makes room again.
func TestBoundedRevisions(t *testing.T) {
	ta := New()
	ta.Watch(web)
	for rev := int64(1); rev <= events.MaxServed+5; rev++ {
		ta.Add(web, []events.Served{{Revision: rev, Requests: 1, Failed: 1}})
	}
	ta.mu.Lock()
	n := len(ta.fns[web].served)
	ta.mu.Unlock()
	if n != events.MaxServed {
		t.Fatalf("%d revisions kept, want at most %d", n, events.MaxServed)
	}
	// Revision 1 was among the first: still counted.
	ta.Add(web, []events.Served{{Revision: 1, Requests: 10}})
	if s, f := ta.Take(web, 0); s != events.MaxServed+10 || f != events.MaxServed {
		t.Fatalf("took served %d failed %d, want %d and %d", s, f, events.MaxServed+10, events.MaxServed)
	}
	// Room again after the Take.
	ta.Add(web, []events.Served{{Revision: 100, Requests: 3}})
	if s, _ := ta.Take(web, 0); s != 3 {
		t.Fatalf("a new revision after Take: served %d, want 3", s)
	}
}

// TestBoundedFunctions: at most MaxFunctions functions are watched.
func TestBoundedFunctions(t *testing.T) {
	ta := New()
	for i := range MaxFunctions + 10 {
		ta.Watch(runtime.Ref{Tenant: "t", Name: fmt.Sprintf("f%d", i)})
	}
	ta.mu.Lock()
	n := len(ta.fns)
	ta.mu.Unlock()
	if n != MaxFunctions {
		t.Fatalf("%d functions watched, want %d", n, MaxFunctions)
	}
	last := runtime.Ref{Tenant: "t", Name: fmt.Sprintf("f%d", MaxFunctions+5)}
	ta.Add(last, []events.Served{{Revision: 2, Requests: 1}})
	if s, _ := ta.Take(last, 1); s != 0 {
		t.Fatalf("a function past the bound counted %d", s)
	}
	// Forgetting one makes room.
	ta.Forget(runtime.Ref{Tenant: "t", Name: "f0"})
	ta.Watch(last)
	ta.Add(last, []events.Served{{Revision: 2, Requests: 1}})
	if s, _ := ta.Take(last, 1); s != 1 {
		t.Fatalf("a function watched after a Forget counted %d, want 1", s)
	}
}

// TestConcurrentUse: Add, Take, Watch and Forget from many goroutines
// (run with -race); nothing counted is lost or counted twice.
func TestConcurrentUse(t *testing.T) {
	ta := New()
	ta.Watch(web)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	const adders, adds = 8, 500
	for range adders {
		wg.Go(func() {
			for range adds {
				ta.Add(web, []events.Served{{Revision: 2, Requests: 1}})
				ta.Watch(other)
				ta.Forget(other)
			}
		})
	}
	wg.Go(func() {
		for range adds {
			s, _ := ta.Take(web, 1)
			mu.Lock()
			total += s
			mu.Unlock()
		}
	})
	wg.Wait()
	s, _ := ta.Take(web, 1)
	if total+s != adders*adds {
		t.Fatalf("counted %d requests, want %d", total+s, adders*adds)
	}
}

// TestRunCountsLoadReports: Run counts the served requests of the load
// reports on a real NATS server, by the function the subject names, and
// skips malformed reports and subjects.
func TestRunCountsLoadReports(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ta := New()
	ta.Watch(web)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx, nc) }()
	testkit.WaitFor(t, 5*time.Second, "Run subscribed", func() bool { return nc.NumSubscriptions() == 1 })

	pub := func(subject string, data []byte) {
		t.Helper()
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	// Malformed, or naming no function: not counted. They go first, so
	// once the good report is counted they were all handled (one
	// subscription delivers in order).
	pub(events.ScaleSubject("t1", "web"), []byte(`{"source":"x","served":[{"revision":2,"requests":3,"failed":9}]}`)) // more failed than served
	pub(events.ScaleSubject("t1", "web"), []byte(`{"source":"x","served":[{"revision":2,"requests":3}],"extra":1}`))
	pub(events.ScaleSubject("t1", "web"), []byte(`not json`))
	pub(events.SubjectScale+".t1", events.Load{Source: "x", Served: []events.Served{{Revision: 2, Requests: 50}}}.Data())
	pub(events.ScaleSubject("t1", "web"), events.Load{Source: "x", InFlight: 3}.Data()) // no served
	// Another function of the same name in another tenant: not watched.
	pub(events.ScaleSubject("t2", "web"), events.Load{Source: "x", Served: []events.Served{{Revision: 2, Requests: 60, Failed: 60}}}.Data())
	pub(events.ScaleSubject("t1", "web"), events.Load{Source: "invoker-1", Served: []events.Served{{Revision: 2, Requests: 4, Failed: 1}, {Revision: 1, Requests: 9, Failed: 9}}}.Data())
	pub(events.ScaleSubject("t1", "web"), events.Load{Source: "gateway-1", Served: []events.Served{{Revision: 2, Requests: 6, Failed: 2}}}.Data())
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "both good reports counted", func() (bool, string) {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		c := ta.fns[web]
		return c.served[2].Requests == 10, fmt.Sprintf("%+v", c.served)
	})
	if s, f := ta.Take(web, 2); s != 10 || f != 3 {
		t.Fatalf("took served %d failed %d, want 10 and 3 (revision 2 on)", s, f)
	}
	if s, f := ta.Take(other, 1); s != 0 || f != 0 {
		t.Fatalf("unwatched tenant t2 counted: served %d failed %d", s, f)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	if n := nc.NumSubscriptions(); n != 0 {
		t.Fatalf("Run left %d subscriptions", n)
	}
}

// TestRestoreAndSince: what a Take returned but could not be used comes
// back with the next Take (as the revision given); Watch tells since when
// a function is counted, and a second Watch does not move it.
func TestRestoreAndSince(t *testing.T) {
	ta := New()
	before := time.Now()
	since := ta.Watch(web)
	if since.Before(before) || !ta.Watch(web).Equal(since) {
		t.Fatalf("since %s (watched after %s), then %s", since, before, ta.Watch(web))
	}
	ta.Add(web, []events.Served{{Revision: 2, Requests: 10, Failed: 4}})
	s, f := ta.Take(web, 2)
	ta.Restore(web, 2, s, f)
	ta.Add(web, []events.Served{{Revision: 2, Requests: 1}})
	if s, f := ta.Take(web, 2); s != 11 || f != 4 {
		t.Fatalf("after a restore took served %d failed %d, want 11 and 4", s, f)
	}
}
