package triggers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

func mustSchedule(t *testing.T, tr function.Trigger) function.Schedule {
	t.Helper()
	s, err := tr.CronSchedule()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 3, 29, 0, 59, 58, 250e6, time.UTC)

// TestCronEveryIsAnchored: @every ticks do not depend on when they are
// asked for, so replicas (and restarts) agree on them.
func TestCronEveryIsAnchored(t *testing.T) {
	s := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@every 7s"})
	a, b := s.Next(t0), s.Next(t0.Add(3*time.Second))
	if !a.Equal(b) && !s.Next(a).Equal(b) && !a.Equal(s.Next(b)) {
		t.Fatalf("ticks from two nows disagree: %s, %s", a, b)
	}
	for tick, i := a, 0; i < 5; i, tick = i+1, s.Next(tick) {
		if n := s.Next(tick); n.Sub(tick) != 7*time.Second {
			t.Fatalf("next of %s is %s", tick, n)
		}
		if !s.Next(tick.Add(-time.Millisecond)).Equal(tick) {
			t.Fatalf("a tick is not a fixed point: %s", tick)
		}
	}
	one := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@every 1s"})
	if n := one.Next(t0); !n.Equal(time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC)) {
		t.Fatalf("@every 1s after %s: %s", t0, n)
	}
	// A 5-field schedule keeps its zone (Paris changes to summer time at
	// 01:00 UTC that day).
	paris := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "0 3 * * *", Timezone: "Europe/Paris"})
	if n := paris.Next(t0); !n.UTC().Equal(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("03:00 Paris after %s: %s", t0, n.UTC())
	}
}

func TestCronLatestTick(t *testing.T) {
	every := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@every 1s"})
	hourly := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@hourly"})
	sec := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(time.Second))) }
	for _, c := range []struct {
		name        string
		s           function.Schedule
		after, now  time.Time
		want        time.Time
		wantNothing bool
	}{
		{"some ticks", every, sec(0), sec(5.5), sec(4.75), false},
		{"now on a tick", every, sec(0), sec(4.75), sec(4.75), false},
		{"none in between", every, sec(0), sec(0.5), time.Time{}, true},
		{"now before after", every, sec(5), sec(1), time.Time{}, true},
		{"a year of seconds", every, sec(0), sec(0).AddDate(1, 0, 0), sec(0).AddDate(1, 0, 0).Truncate(time.Second), false},
		{"hourly over a day", hourly, sec(0), sec(0).Add(25 * time.Hour), time.Date(2026, 3, 30, 1, 0, 0, 0, time.UTC), false},
		{"hourly within the hour", hourly, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 59, 0, 0, time.UTC), time.Time{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := latestTick(c.s, c.after, c.now)
			if c.wantNothing {
				if ok {
					t.Fatalf("latest tick %s, want none", got)
				}
				return
			}
			if !ok || !got.Equal(c.want) {
				t.Fatalf("latest tick %s (%v), want %s", got, ok, c.want)
			}
		})
	}
}

func TestCronOwedTick(t *testing.T) {
	skip := function.Trigger{Type: "cron", Schedule: "@every 1s"}
	once := function.Trigger{Type: "cron", Schedule: "@every 1s", Missed: "once"}
	s := mustSchedule(t, once)
	now := t0.Add(10 * time.Second)
	if _, ok := owedTick(skip, s, t0, now); ok {
		t.Error("skip owes a tick")
	}
	if _, ok := owedTick(once, s, time.Time{}, now); ok {
		t.Error("a trigger that never fired owes a tick")
	}
	if tick, ok := owedTick(once, s, t0, now); !ok || !tick.Equal(now.Truncate(time.Second)) {
		t.Errorf("once owes %s (%v), want %s", tick, ok, now.Truncate(time.Second))
	}
	if _, ok := owedTick(once, s, now.Truncate(time.Second), now); ok {
		t.Error("once owes the tick it last fired")
	}
}

func TestCronWindowsRetriesAndIDs(t *testing.T) {
	every := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@every 1s"})
	daily := mustSchedule(t, function.Trigger{Type: "cron", Schedule: "@daily"})
	if w := fireWindow(every, t0.Truncate(time.Second)); w != time.Second {
		t.Errorf("window of @every 1s: %s", w)
	}
	if w := fireWindow(daily, t0); w != maxFireWindow {
		t.Errorf("window of @daily: %s", w)
	}
	var got []string
	for n := 1; n <= 7; n++ {
		got = append(got, retryDelay(n).String())
	}
	if s := strings.Join(got, " "); s != "100ms 200ms 400ms 800ms 1.6s 2s 2s" {
		t.Errorf("retry delays %s", s)
	}
	tick := t0.Truncate(time.Second)
	id := tickID("acme", "report", "cron-abc", tick)
	if id != tickID("acme", "report", "cron-abc", tick) || !strings.HasPrefix(id, fmt.Sprintf("%012x", tick.UnixMilli())) {
		t.Errorf("id %s is not derived from the tick", id)
	}
	for _, other := range []string{tickID("acme", "report", "cron-abd", tick), tickID("acme", "reports", "cron-abc", tick),
		tickID("acme", "report", "cron-abc", tick.Add(time.Second))} {
		if other == id {
			t.Errorf("two ticks share the id %s", id)
		}
	}
}

func TestCronTriggersOfAChange(t *testing.T) {
	rec := function.Record{Spec: function.Spec{Triggers: []function.Trigger{
		{Type: "cron", Schedule: "@every 1s"}, {Type: "nats", Subject: "orders.>"}, {Type: "cron", Schedule: "@hourly"}}}}
	if got := cronTriggers(rec, false); len(got) != 2 {
		t.Errorf("cron triggers %v", got)
	}
	if got := cronTriggers(rec, true); len(got) != 0 {
		t.Errorf("deleted: %v", got)
	}
	rec.Deleting = true
	if got := cronTriggers(rec, false); len(got) != 0 {
		t.Errorf("deleting: %v", got)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (f *fakeClock) clock() clock {
	return clock{
		now: func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		timer: func(d time.Duration) (<-chan time.Time, func() bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			c := make(chan time.Time, 1)
			f.timers = append(f.timers, fakeTimer{f.now.Add(d), c})
			return c, func() bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				for i, t := range f.timers {
					if t.c == c {
						f.timers = append(f.timers[:i], f.timers[i+1:]...)
						return true
					}
				}
				return false
			}
		},
	}
}

func (f *fakeClock) waiting() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.timers) }

// advance moves the clock to the earliest timer and fires it.
func (f *fakeClock) advance() {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := 0
	for i, t := range f.timers {
		if t.at.Before(f.timers[first].at) {
			first = i
		}
	}
	t := f.timers[first]
	f.timers = append(f.timers[:first], f.timers[first+1:]...)
	if t.at.After(f.now) {
		f.now = t.at
	}
	t.c <- f.now
}

// fakeFirer records fires; failing makes the next fails fail.
type fakeFirer struct {
	mu      sync.Mutex
	fires   []Fire
	failing int
	last    time.Time       // the stored LastFire
	records map[string]bool // invocation records that exist, by id
}

func (f *fakeFirer) fire(_ context.Context, fi Fire) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fires = append(f.fires, fi)
	if f.failing > 0 {
		f.failing--
		return false, errors.New("no JetStream")
	}
	return false, nil
}

func (f *fakeFirer) ticks() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, fi := range f.fires {
		out = append(out, fi.Ref.Tick)
	}
	return out
}

func newFakeRunner(clk *fakeClock, ff *fakeFirer) *cronRunner {
	return &cronRunner{clk: clk.clock(), log: slog.New(slog.DiscardHandler), fire: ff.fire,
		read: func(context.Context, string, string, string) (function.TriggerStatus, error) {
			ff.mu.Lock()
			defer ff.mu.Unlock()
			return function.TriggerStatus{LastFire: ff.last}, nil
		},
		settle: func(context.Context, string, string, string) {},
		invoked: func(_ context.Context, _, _, id string) (bool, error) {
			ff.mu.Lock()
			defer ff.mu.Unlock()
			return ff.records[id], nil
		},
		fns: map[string]map[string]*cronJob{}}
}

func change(tr ...function.Trigger) catalog.Change {
	return catalog.Change{Tenant: "acme", Name: "report", Record: function.Record{Tenant: "acme", Spec: function.Spec{Name: "report", Triggers: tr}}}
}

// TestCronRunnerOnAFakeClock: the runner fires every tick with its derived
// id, fires the owed tick of "once" first, retries a failed publish within
// the tick's window, and stops a trigger the function no longer has.
func TestCronRunnerOnAFakeClock(t *testing.T) {
	clk := &fakeClock{now: t0}
	ff := &fakeFirer{last: t0.Add(-5 * time.Second)}
	c := newFakeRunner(clk, ff)
	once := function.Trigger{Type: "cron", Schedule: "@every 1s", Missed: "once", Body: `{"n":1}`}
	c.onChange(change(once))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	c.start(ctx, &wg)

	wantTick := func(n int, tick time.Time) {
		t.Helper()
		testkit.Eventually(t, 5*time.Second, fmt.Sprintf("fire %d", n), func() (bool, string) {
			got := ff.ticks()
			return len(got) >= n, fmt.Sprint(got)
		})
		ff.mu.Lock()
		fi := ff.fires[n-1]
		ff.mu.Unlock()
		if !fi.Ref.Tick.Equal(tick) || !fi.At.Equal(tick) || fi.ID != tickID("acme", "report", once.Key(), tick) ||
			fi.Ref.Type != "cron" || fi.Ref.Key != once.Key() || string(fi.Payload) != `{"n":1}` || fi.ContentType != "application/json" {
			t.Fatalf("fire %d: %+v, want tick %s", n, fi, tick)
		}
	}
	waitTimer := func() {
		t.Helper()
		testkit.WaitFor(t, 5*time.Second, "a timer", func() bool { return clk.waiting() > 0 })
	}
	// The owed tick: the latest before now.
	wantTick(1, t0.Truncate(time.Second))
	for i := 1; i <= 3; i++ {
		waitTimer()
		clk.advance()
		wantTick(1+i, t0.Truncate(time.Second).Add(time.Duration(i)*time.Second))
	}
	// A failing publish is tried again, within the tick's window.
	ff.mu.Lock()
	ff.failing = 2
	ff.mu.Unlock()
	waitTimer()
	clk.advance() // the tick
	tick := t0.Truncate(time.Second).Add(4 * time.Second)
	for n := 6; n <= 7; n++ {
		waitTimer()
		clk.advance() // a retry delay
		wantTick(n, tick)
	}
	// The trigger removed: its goroutine ends, no timer is left.
	c.onChange(change())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the removed trigger's goroutine did not end")
	}
	if n := clk.waiting(); n != 0 {
		t.Fatalf("%d timers left", n)
	}
	c.stop()
}

// TestCronRunnerSkipAndGiveUp: "skip" fires nothing owed, and a tick whose
// publishes keep failing is given up after maxFireTries within its window.
func TestCronRunnerSkipAndGiveUp(t *testing.T) {
	clk := &fakeClock{now: t0}
	ff := &fakeFirer{last: t0.Add(-5 * time.Second), failing: 1 << 30}
	c := newFakeRunner(clk, ff)
	c.onChange(change(function.Trigger{Type: "cron", Schedule: "@hourly"}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.start(ctx, &wg)
	for i := 0; i < 1+maxFireTries-1; i++ { // the tick, then the retries
		testkit.WaitFor(t, 5*time.Second, "a timer", func() bool { return clk.waiting() > 0 })
		clk.advance()
	}
	testkit.WaitFor(t, 5*time.Second, "the next tick's timer", func() bool { return clk.waiting() > 0 && len(ff.ticks()) == maxFireTries })
	for _, tick := range ff.ticks() {
		if !tick.Equal(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)) {
			t.Fatalf("fired ticks %v, want 01:00 only (nothing owed with skip)", ff.ticks())
		}
	}
	cancel()
	c.stop()
	wg.Wait()
}

// TestCronOwedTickAlreadyInvoked: an owed tick whose invocation record
// exists (its state was not stored before a stop) is not fired again.
func TestCronOwedTickAlreadyInvoked(t *testing.T) {
	clk := &fakeClock{now: t0}
	once := function.Trigger{Type: "cron", Schedule: "@every 1s", Missed: "once"}
	owed := t0.Truncate(time.Second)
	ff := &fakeFirer{last: t0.Add(-5 * time.Second), records: map[string]bool{tickID("acme", "report", once.Key(), owed): true}}
	c := newFakeRunner(clk, ff)
	c.onChange(change(once))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.start(ctx, &wg)
	testkit.WaitFor(t, 5*time.Second, "a timer", func() bool { return clk.waiting() > 0 })
	clk.advance()
	testkit.WaitFor(t, 5*time.Second, "a fire", func() bool { return len(ff.ticks()) > 0 })
	if got := ff.ticks(); !got[0].Equal(owed.Add(time.Second)) {
		t.Fatalf("fired %v, want the next tick %s first", got, owed.Add(time.Second))
	}
	cancel()
	c.stop()
	wg.Wait()
}
