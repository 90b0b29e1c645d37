package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// cronEnv is one NATS server with invoker replicas started and stopped
// on it at will, each with its own connection and process runtime.
type cronEnv struct {
	srv *server.Server
	js  jetstream.JetStream
	b   bus.Buckets
	f   *fixture
}

func newCronEnv(t *testing.T) *cronEnv {
	t.Helper()
	srv, nc, js, b := natstest.Provisioned(t)
	return &cronEnv{srv: srv, js: js, b: b, f: &fixture{nc: nc, js: js, b: b}}
}

// replica starts an invoker replica; stop (also run at cleanup) stops it
// gracefully: its triggers stop and their last state is stored.
func (e *cronEnv) replica(t *testing.T) (stop func()) {
	t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := process.New(process.Config{Logger: log})
	iv, err := New(ctx, Config{AckWait: 3 * time.Second}, Deps{NC: nc, JS: js, Runtime: rt, Log: log,
		Tracer: noop.NewTracerProvider().Tracer(""), Registerer: prometheus.NewRegistry()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = iv.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			_ = rt.Close(cctx)
			nc.Close()
		})
	}
	t.Cleanup(stop)
	// Running once it answers sync requests.
	testkit.WaitFor(t, 10*time.Second, "the replica answers", func() bool {
		_, err := nc.Request(events.SyncSubject("probe", "probe"), nil, time.Second)
		return err == nil
	})
	return stop
}

// cronSpec is a function running cat with the given triggers.
func cronSpec(name string, tr ...function.Trigger) function.Spec {
	return function.Spec{Name: name, Command: []string{"cat"}, Triggers: tr}
}

// tickRecords reads the function's invocation records made by triggers.
func (e *cronEnv) tickRecords(t *testing.T, fn string) []events.InvocationRecord {
	t.Helper()
	ctx := context.Background()
	lister, err := e.b.Invocations.ListKeysFiltered(ctx, events.InvocationKey("t", fn, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []events.InvocationRecord
	for k := range lister.Keys() {
		en, err := e.b.Invocations.Get(ctx, k)
		if err != nil {
			continue
		}
		var r events.InvocationRecord
		if err := json.Unmarshal(en.Value(), &r); err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
		if r.Trigger != nil {
			out = append(out, r)
		}
	}
	_ = lister.Stop()
	sort.Slice(out, func(i, j int) bool { return out[i].Trigger.Tick.Before(out[j].Trigger.Tick) })
	return out
}

// settledRecords waits until the queue is empty and every trigger record
// of fn is final, and returns them.
func (e *cronEnv) settledRecords(t *testing.T, fn string) []events.InvocationRecord {
	t.Helper()
	waitQueueEmpty(t, e.js)
	var recs []events.InvocationRecord
	testkit.Eventually(t, 10*time.Second, "every record of "+fn+" final", func() (bool, string) {
		recs = e.tickRecords(t, fn)
		for _, r := range recs {
			if !r.Done() {
				return false, fmt.Sprintf("%s is %s", r.ID, r.Status)
			}
		}
		return true, ""
	})
	return recs
}

func (e *cronEnv) state(t *testing.T, fn, key string) function.TriggerStatus {
	t.Helper()
	var st function.TriggerStatus
	en, err := e.b.Triggers.Get(context.Background(), events.TriggerKey("t", fn, key))
	if err == nil {
		_ = json.Unmarshal(en.Value(), &st)
	}
	return st
}

// waitClock polls the clock until cond holds (no sleep longer than the
// poll): the tests wait for ticks to pass, not for work to finish.
func waitClock(t *testing.T, what string, within time.Duration, cond func(now time.Time) bool) time.Time {
	t.Helper()
	var now time.Time
	testkit.WaitFor(t, within, what, func() bool { now = time.Now(); return cond(now) })
	return now
}

func ticksOf(recs []events.InvocationRecord) map[int64]int {
	n := map[int64]int{}
	for _, r := range recs {
		n[r.Trigger.Tick.Unix()]++
	}
	return n
}

// TestCronExactlyOncePerTickOnThreeReplicas: three invoker replicas run
// the same @every 1s trigger; over ten seconds every tick is exactly one
// invocation (each replica publishes it, JetStream keeps one), the
// trigger's state counts each once, and updating the function without the
// trigger stops the fires on every replica.
func TestCronExactlyOncePerTickOnThreeReplicas(t *testing.T) {
	e := newCronEnv(t)
	for range 3 {
		e.replica(t)
	}
	tr := function.Trigger{Type: "cron", Schedule: "@every 1s", Body: "tick"}
	e.f.deploy(t, "t", cronSpec("every", tr))
	deployed := time.Now()
	waitClock(t, "ten seconds of ticks", 15*time.Second, func(now time.Time) bool { return now.Sub(deployed) >= 11*time.Second })

	// The state counts each invocation once (it is stored right after
	// each fire, before the run's record: they agree between ticks).
	testkit.Eventually(t, 5*time.Second, "the state counts each invocation once", func() (bool, string) {
		st := e.state(t, "every", tr.Key())
		recs := e.tickRecords(t, "every")
		if len(recs) == 0 {
			return false, "no invocation yet"
		}
		last := recs[len(recs)-1]
		ok := st.Fires == int64(len(recs)) && st.Errors == 0 && st.LastFire.Equal(last.Trigger.Tick) && st.LastInvocation == last.ID
		return ok, fmt.Sprintf("state %+v; %d invocations, last %s at %s", st, len(recs), last.ID, last.Trigger.Tick)
	})

	e.f.deploy(t, "t", cronSpec("every")) // the trigger removed
	removed := time.Now()
	waitClock(t, "ticks after the removal", 5*time.Second, func(now time.Time) bool { return now.Sub(removed) >= 2500*time.Millisecond })

	recs := e.settledRecords(t, "every")
	ticks := ticksOf(recs)
	for tick, n := range ticks {
		if n != 1 {
			t.Errorf("tick %s: %d invocations, want 1", time.Unix(tick, 0).UTC(), n)
		}
		if time.Unix(tick, 0).After(removed.Add(time.Second)) {
			t.Errorf("tick %s fired after the trigger was removed at %s", time.Unix(tick, 0).UTC(), removed.UTC())
		}
	}
	// Every tick from the second after the deploy to the removal: the
	// first may fall before the replicas see the function.
	from, to := deployed.Truncate(time.Second).Add(2*time.Second), removed.Truncate(time.Second)
	missing := 0
	for tick := from; !tick.After(to); tick = tick.Add(time.Second) {
		if ticks[tick.Unix()] == 0 {
			missing++
			t.Errorf("tick %s: no invocation", tick.UTC())
		}
	}
	if len(recs) < 10 {
		t.Errorf("%d invocations in %s", len(recs), removed.Sub(deployed))
	}
	for _, r := range recs {
		if r.Status != events.StatusSucceeded || r.Output != "tick" || r.Trigger.Key != tr.Key() || r.Trigger.Type != "cron" ||
			!r.Async || !strings.HasPrefix(r.ID, fmt.Sprintf("%012x", r.Trigger.Tick.UnixMilli())) {
			t.Errorf("record %+v", r)
		}
	}
	last := recs[len(recs)-1]
	// The removed trigger's state went with it.
	testkit.WaitFor(t, 5*time.Second, "the removed trigger's state removed", func() bool {
		_, err := e.b.Triggers.Get(context.Background(), events.TriggerKey("t", "every", tr.Key()))
		return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
	})
	// Only the replica whose publish JetStream stored tells of the fire.
	testkit.Eventually(t, 5*time.Second, "one fired event per invocation", func() (bool, string) {
		n := e.eventCount(t, "every", events.TypeTriggerFired)
		return n == uint64(len(recs)), fmt.Sprintf("%d events, %d invocations", n, len(recs))
	})
	t.Logf("%d invocations, one per tick, from %s to %s (%d missing)", len(recs), recs[0].Trigger.Tick.Format(time.TimeOnly),
		last.Trigger.Tick.Format(time.TimeOnly), missing)
}

// TestCronMissedTicks: an invoker stopped for a few ticks and started
// again fires none of the ticks it missed with "skip", and the latest of
// them, once, with "once".
func TestCronMissedTicks(t *testing.T) {
	e := newCronEnv(t)
	stop := e.replica(t)
	skip := function.Trigger{Type: "cron", Schedule: "@every 1s", Body: "skip"}
	once := function.Trigger{Type: "cron", Schedule: "@every 1s", Body: "once", Missed: "once"}
	e.f.deploy(t, "t", cronSpec("skipper", skip))
	e.f.deploy(t, "t", cronSpec("oncer", once))
	testkit.WaitFor(t, 10*time.Second, "both triggers fired", func() bool {
		return e.state(t, "skipper", skip.Key()).Fires > 0 && e.state(t, "oncer", once.Key()).Fires > 0
	})
	stop()
	lastSkip, lastOnce := e.state(t, "skipper", skip.Key()).LastFire, e.state(t, "oncer", once.Key()).LastFire
	last := lastSkip
	if lastOnce.After(last) {
		last = lastOnce
	}
	// Down for three ticks or more, then up just after a tick, so that the
	// restarted replica starts its triggers within the same second.
	restart := waitClock(t, "three ticks missed", 6*time.Second, func(now time.Time) bool {
		frac := now.Sub(now.Truncate(time.Second))
		return now.Sub(last) > 3*time.Second && frac >= 20*time.Millisecond && frac < 200*time.Millisecond
	})
	e.replica(t)
	ready := time.Now()
	// The replica reads the clock as it starts its triggers, between
	// restart and about ready: if a second began meanwhile, the latest
	// missed tick ("once") and the first tick ("skip") may be a second
	// later than expected.
	late := !ready.Truncate(time.Second).Equal(restart.Truncate(time.Second))
	if late {
		t.Logf("the replica took %s to start, into the next second", ready.Sub(restart))
	}
	waitClock(t, "ticks after the restart", 5*time.Second, func(now time.Time) bool { return now.Sub(restart) >= 2500*time.Millisecond })

	latestMissed := restart.Truncate(time.Second)
	for _, c := range []struct {
		fn    string
		last  time.Time
		owed  int
		first time.Time
	}{
		{"skipper", lastSkip, 0, latestMissed.Add(time.Second)},
		{"oncer", lastOnce, 1, latestMissed},
	} {
		recs := e.settledRecords(t, c.fn)
		var down, after []time.Time
		for _, r := range recs {
			switch tick := r.Trigger.Tick; {
			case tick.After(c.last) && !tick.After(restart):
				down = append(down, tick)
				after = append(after, tick)
			case tick.After(c.last):
				after = append(after, tick)
			}
		}
		firstOK := len(after) > 0 && (after[0].Equal(c.first) || late && after[0].Equal(c.first.Add(time.Second)))
		downOK := len(down) == c.owed || late && len(down) < c.owed
		if !downOK || !firstOK {
			t.Errorf("%s (last fire %s, restart %s): ticks of the down window %v, want %d; first tick after the stop %v, want %s",
				c.fn, c.last.Format(time.TimeOnly), restart.Format(time.StampMilli), down, c.owed, after, c.first.Format(time.TimeOnly))
		}
		for tick, n := range ticksOf(recs) {
			if n != 1 {
				t.Errorf("%s tick %s: %d invocations", c.fn, time.Unix(tick, 0).UTC(), n)
			}
		}
		for i := 1; i < len(after); i++ {
			if after[i].Sub(after[i-1]) != time.Second {
				t.Errorf("%s: ticks after the restart %v are not every second", c.fn, after)
				break
			}
		}
	}
}

// TestCronStopsWhenTheFunctionGoes: a function marked deleting, and one
// deleted outright, fire no more ticks.
func TestCronStopsWhenTheFunctionGoes(t *testing.T) {
	e := newCronEnv(t)
	e.replica(t)
	tr := function.Trigger{Type: "cron", Schedule: "@every 1s"}
	e.f.deploy(t, "t", cronSpec("marked", tr))
	e.f.deploy(t, "t", cronSpec("gone", tr))
	testkit.WaitFor(t, 10*time.Second, "both fired", func() bool {
		return e.state(t, "marked", tr.Key()).Fires > 0 && e.state(t, "gone", tr.Key()).Fires > 0
	})
	raw, _ := json.Marshal(function.Record{Spec: cronSpec("marked", tr).WithDefaults(), Tenant: "t", Generation: 1, Deleting: true})
	if _, err := e.b.Functions.Put(context.Background(), events.FunctionKey("t", "marked"), raw); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Functions.Delete(context.Background(), events.FunctionKey("t", "gone")); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	waitClock(t, "ticks after the removal", 5*time.Second, func(now time.Time) bool { return now.Sub(gone) >= 2500*time.Millisecond })
	waitQueueEmpty(t, e.js)
	for _, fn := range []string{"marked", "gone"} {
		for _, r := range e.tickRecords(t, fn) {
			if r.Trigger.Tick.After(gone.Add(time.Second)) {
				t.Errorf("%s: tick %s fired after the function went at %s", fn, r.Trigger.Tick, gone.UTC())
			}
		}
	}
	// The deleted function's trigger state went with it; the one being
	// deleted keeps its state until its record goes.
	testkit.WaitFor(t, 10*time.Second, "the deleted function's trigger state removed", func() bool {
		_, err := e.b.Triggers.Get(context.Background(), events.TriggerKey("t", "gone", tr.Key()))
		return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
	})
	if e.state(t, "marked", tr.Key()).Fires == 0 {
		t.Error("the state of a function being deleted was removed before its record")
	}
}

// eventCount counts the function's stored events of a type.
func (e *cronEnv) eventCount(t *testing.T, fn, typ string) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := e.js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.EventFilter("t", fn, typ)))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
