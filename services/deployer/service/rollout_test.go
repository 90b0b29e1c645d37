package service

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// rolloutRecord is generation 2 of an http-mode function rolling out
// gradually from generation 1 (as the gateway writes it on an update):
// revision 2 at start percent, revision 1 the rest.
func rolloutRecord(bin, name string, cfg function.Rollout, start int) function.Record {
	v1 := function.Spec{Name: name, Command: []string{bin}, Env: map[string]string{"V": "1"},
		Invocation: function.Invocation{Mode: function.ModeHTTP, Timeout: function.Duration(time.Second)},
		Scale:      &function.Scale{Min: 1, Max: 1}}.WithDefaults()
	v2 := v1
	v2.Env = map[string]string{"V": "2"}
	v2.Rollout = &cfg
	v2 = v2.WithDefaults()
	return function.Record{Spec: v2, Tenant: "t1", Generation: 2, TrafficSpecs: map[int64]function.Spec{1: v1},
		Rollout: &function.RolloutState{Revision: 2, From: 1, Percent: start, Phase: function.RolloutProgressing, UpdatedAt: time.Now().UTC()}}
}

// record reads the function's desired record as the deployer does.
func (f *fixture) record(t *testing.T, tenant, name string) function.Record {
	t.Helper()
	rec, _, err := catalog.Get(context.Background(), f.b.Functions, tenant, name)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// waitRollout waits until the record's rollout satisfies cond.
func (f *fixture) waitRollout(t *testing.T, name, what string, cond func(*function.RolloutState) bool) function.Record {
	t.Helper()
	var rec function.Record
	testkit.Eventually(t, 20*time.Second, what, func() (bool, string) {
		rec = f.record(t, "t1", name)
		b, _ := json.Marshal(rec.Rollout)
		return rec.Rollout != nil && cond(rec.Rollout), string(b)
	})
	return rec
}

// rolloutEvents delivers the function's io.eventflow.function.rollout
// events as they are published.
func (f *fixture) rolloutEvents(t *testing.T, tenant, name string) <-chan events.RolloutEventData {
	return functionEvents[events.RolloutEventData](t, f, tenant, name, events.TypeFunctionRollout)
}

func nextRollout(t *testing.T, ch <-chan events.RolloutEventData) events.RolloutEventData {
	t.Helper()
	return nextEvent(t, ch, events.TypeFunctionRollout)
}

// statusHistory records every status the deployer writes for the
// function (a KV watch started before the function is put), so a state
// that lasts a moment is not missed.
type statusHistory struct {
	mu  sync.Mutex
	all []function.Status
}

func (f *fixture) watchStatus(t *testing.T, tenant, name string) *statusHistory {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := f.b.Status.Watch(ctx, events.FunctionKey(tenant, name), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	h := &statusHistory{}
	go func() {
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st function.Status
			if json.Unmarshal(e.Value(), &st) == nil {
				h.mu.Lock()
				h.all = append(h.all, st)
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { _ = w.Stop() })
	return h
}

func (h *statusHistory) any(cond func(function.Status) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range h.all {
		if cond(st) {
			return true
		}
	}
	return false
}

// TestRolloutSteps: a rollout in progress moves StepPercent further each
// interval until the new revision takes everything; each step is written
// to the record and published as a function.rollout event; revision 1
// runs beside the latest (web--r1, in status.revisionEndpoints) while the
// rollout splits, and is drained and gone from the status once it is
// complete.
func TestRolloutSteps(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	evs := f.rolloutEvents(t, "t1", "web")
	hist := f.watchStatus(t, "t1", "web")
	// Three steps of 300ms (25 → 50 → 75 → 100): time for revision 1 to
	// come up beside the latest while the split lasts.
	cfg := function.Rollout{StepPercent: 25, Interval: function.Duration(300 * time.Millisecond), MinRequests: 5, MaxErrorPercent: 10}
	f.putRecord(t, rolloutRecord(bin, "web", cfg, 25))
	f.command(t, "t1", "web", 2, events.ActionApply)

	rec := f.waitRollout(t, "web", "rollout complete", func(ro *function.RolloutState) bool {
		return ro.Phase == function.RolloutComplete
	})
	if ro := rec.Rollout; ro.Percent != 100 || ro.Revision != 2 || ro.From != 1 || ro.Message != "revision 2 takes all traffic" || ro.UpdatedAt.IsZero() {
		t.Fatalf("completed rollout: %+v", ro)
	}
	if rec.Generation != 2 || rec.Spec.Env["V"] != "2" || len(rec.TrafficSpecs) != 1 {
		t.Fatalf("a rollout step changed more than the rollout: generation %d, spec %+v, traffic specs %v", rec.Generation, rec.Spec, rec.TrafficSpecs)
	}
	if got := rec.Traffic(); len(got) != 0 {
		t.Fatalf("a completed rollout still splits: %+v", got)
	}

	// One event per step, in order.
	want := []struct {
		percent int
		phase   string
	}{{50, function.RolloutProgressing}, {75, function.RolloutProgressing}, {100, function.RolloutComplete}}
	for i, w := range want {
		ev := nextRollout(t, evs)
		if ev.Tenant != "t1" || ev.Name != "web" || ev.Revision != 2 || ev.From != 1 || ev.Percent != w.percent || ev.Phase != w.phase || ev.Message == "" {
			t.Fatalf("rollout event %d: %+v, want percent %d phase %s", i, ev, w.percent, w.phase)
		}
	}
	select {
	case ev := <-evs:
		t.Fatalf("an event after the rollout completed: %+v", ev)
	case <-time.After(500 * time.Millisecond): // an interval and more
	}

	// Revision 1 ran beside the latest while the rollout split.
	if !hist.any(func(st function.Status) bool { return len(st.RevisionEndpoints[1]) > 0 && len(st.Endpoints) > 0 }) {
		t.Fatalf("revision 1 never had endpoints in the status while rolling out: %+v", hist.all)
	}
	var st *function.Status
	testkit.Eventually(t, 15*time.Second, "latest Ready, revision 1 gone from the status", func() (bool, string) {
		st = f.status(t, "t1", "web")
		return st != nil && st.ObservedGeneration == 2 && st.Phase == function.PhaseReady && len(st.Endpoints) == 1 &&
			st.RevisionEndpoints == nil, fmt.Sprintf("%+v", st)
	})
	// ... and from the runtime: drained at once, removed once its timeout
	// (1s) and the drain grace have passed.
	ctx := context.Background()
	testkit.Eventually(t, 20*time.Second, "web--r1 drained then removed", func() (bool, string) {
		obs, found, err := f.rt.Observe(ctx, "t1", function.RevisionName("web", 1))
		return err == nil && !found, fmt.Sprintf("found %v %+v err %v", found, obs, err)
	})
	if st := f.status(t, "t1", "web"); st.Phase != function.PhaseReady || len(st.Endpoints) != 1 {
		t.Fatalf("the latest after revision 1 was removed: %+v", st)
	}
}

// report publishes a load report of the function, as an invoker does.
func (f *fixture) report(t *testing.T, name string, l events.Load) {
	t.Helper()
	if err := f.nc.Publish(events.ScaleSubject("t1", name), l.Data()); err != nil {
		t.Fatal(err)
	}
}

// reportUntilOver sends loads every 50 ms (a report interval) until the
// function's rollout is no longer in progress, for at most 20 s, and
// returns the record then.
func (f *fixture) reportUntilOver(t *testing.T, name string, loads ...events.Load) function.Record {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := f.record(t, "t1", name)
		if ro := rec.Rollout; ro != nil && ro.Phase != function.RolloutProgressing {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout still in progress after 20s: %+v", rec.Rollout)
		}
		for _, l := range loads {
			f.report(t, name, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolloutRollsBackOnErrors: when more than maxErrorPercent of the new
// revision's requests (at least minRequests) failed in an interval, the
// rollout is rolled back: percent 0, a message saying why, an event, and
// revision 1 takes (and keeps running for) all the traffic.
func TestRolloutRollsBackOnErrors(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	evs := f.rolloutEvents(t, "t1", "web")
	// Small steps: the rollout cannot complete before the reports are
	// counted (the tally watches the function from its first reconcile).
	cfg := function.Rollout{StepPercent: 10, Interval: function.Duration(300 * time.Millisecond), MinRequests: 5, MaxErrorPercent: 10}
	f.putRecord(t, rolloutRecord(bin, "web", cfg, 10))
	f.command(t, "t1", "web", 2, events.ActionApply)

	rec := f.reportUntilOver(t, "web", events.Load{Source: "invoker-x", Served: []events.Served{{Revision: 2, Requests: 20, Failed: 10}}})
	ro := rec.Rollout
	if ro.Phase != function.RolloutRolledBack || ro.Percent != 0 || ro.Revision != 2 || ro.From != 1 {
		t.Fatalf("rollout after failures: %+v", ro)
	}
	if !strings.Contains(ro.Message, "rolled back to revision 1") || !strings.Contains(ro.Message, "failed") || !strings.Contains(ro.Message, "more than 10%") {
		t.Fatalf("rollback message %q does not say why", ro.Message)
	}
	// Revision 1 takes everything: the split is 100/0.
	if tr := rec.Traffic(); len(tr) != 2 || tr[0].Revision != 1 || tr[0].Percent != 100 || tr[1].Percent != 0 {
		t.Fatalf("traffic after the rollback: %+v", tr)
	}
	// The events: the rollback last, and nothing after it.
	var last events.RolloutEventData
	for last.Phase != function.RolloutRolledBack {
		last = nextRollout(t, evs)
		if last.Phase == function.RolloutComplete {
			t.Fatalf("rollout event %+v before the rollback", last)
		}
	}
	if last.Percent != 0 || last.Revision != 2 || last.From != 1 || last.Message != ro.Message {
		t.Fatalf("rollback event %+v, record %+v", last, ro)
	}
	// A rolled-back rollout is not stepped again, whatever is reported.
	for range 10 {
		f.report(t, "web", events.Load{Source: "invoker-x", Served: []events.Served{{Revision: 2, Requests: 20}}})
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case ev := <-evs:
		t.Fatalf("an event after the rollback: %+v", ev)
	case <-time.After(400 * time.Millisecond): // more than an interval
	}
	if got := f.record(t, "t1", "web").Rollout; got.Phase != function.RolloutRolledBack || got.Percent != 0 {
		t.Fatalf("a rolled-back rollout moved on: %+v", got)
	}
	// Revision 1 serves beside the latest, which keeps running.
	testkit.Eventually(t, 15*time.Second, "revision 1 running after the rollback", func() (bool, string) {
		st := f.status(t, "t1", "web")
		return st != nil && st.ObservedGeneration == 2 && len(st.RevisionEndpoints[1]) == 1, fmt.Sprintf("%+v", st)
	})
}

// TestRolloutIgnoresFromFailures: failures of the revision rolled out
// from (revision 1) are not the new revision's: they never roll it back,
// and the rollout completes while the new revision serves well.
func TestRolloutIgnoresFromFailures(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	evs := f.rolloutEvents(t, "t1", "web")
	cfg := function.Rollout{StepPercent: 25, Interval: function.Duration(300 * time.Millisecond), MinRequests: 5, MaxErrorPercent: 10}
	f.putRecord(t, rolloutRecord(bin, "web", cfg, 25))
	f.command(t, "t1", "web", 2, events.ActionApply)

	// Revision 1 fails everything, revision 2 nothing (from two sources:
	// the gateway's route and an invoker).
	rec := f.reportUntilOver(t, "web",
		events.Load{Source: "invoker-x", Served: []events.Served{{Revision: 1, Requests: 20, Failed: 20}, {Revision: 2, Requests: 10}}},
		events.Load{Source: "gateway-x", Served: []events.Served{{Revision: 1, Requests: 30, Failed: 30}}})
	if ro := rec.Rollout; ro.Phase != function.RolloutComplete || ro.Percent != 100 {
		t.Fatalf("revision 1's failures ended the rollout as %+v, want complete", ro)
	}
	// Every step went forward; the middle ones counted revision 2's
	// requests and none of its failures.
	for _, p := range []int{50, 75, 100} {
		ev := nextRollout(t, evs)
		if ev.Percent != p || ev.Phase == function.RolloutRolledBack {
			t.Fatalf("rollout event %+v, want percent %d", ev, p)
		}
		if p < 100 && !strings.Contains(ev.Message, "(0 of its") {
			t.Errorf("step to %d%%: message %q, want no failures of revision 2 counted", p, ev.Message)
		}
	}
}

// TestRolloutRestartForgetsReplacedRevision: an update to new code during
// a rollout starts the rollout over (function.PlanRollout: the newest
// revision at stepPercent, from the same revision); what the replaced
// revision served, and how much of it failed, is not the new one's and
// must not roll it back.
func TestRolloutRestartForgetsReplacedRevision(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	cfg := function.Rollout{StepPercent: 10, Interval: function.Duration(time.Second), MinRequests: 5, MaxErrorPercent: 10}
	rec := rolloutRecord(bin, "web", cfg, 10)
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 2, events.ActionApply)
	// Revision 2 fails everything for half an interval.
	for range 10 {
		f.report(t, "web", events.Load{Source: "invoker-x", Served: []events.Served{{Revision: 2, Requests: 100, Failed: 100}}})
		time.Sleep(50 * time.Millisecond)
	}
	// A fix is put out before the step: generation 3, rolled out afresh.
	rec.Generation = 3
	rec.Spec.Env = map[string]string{"V": "3"}
	rec.Rollout = &function.RolloutState{Revision: 3, From: 1, Percent: 10, Phase: function.RolloutProgressing, UpdatedAt: time.Now().UTC()}
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 3, events.ActionApply)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := f.record(t, "t1", "web").Rollout
		if got.Revision == 3 && (got.Percent != 10 || got.Phase != function.RolloutProgressing) {
			if got.Phase != function.RolloutProgressing || got.Percent != 20 {
				t.Fatalf("the fix's first step: %+v, want 20%% (revision 2's failures counted against revision 3)", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no step within 20s: %+v", got)
		}
		f.report(t, "web", events.Load{Source: "invoker-x", Served: []events.Served{{Revision: 3, Requests: 20}}})
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolloutWaitsForFrom: the latest takes the new code only once the
// revision rolled out from serves beside it, so the new code never gets
// more than its share: while that revision cannot run, the latest is not
// started on the new code, the status says why, and the rollout does not
// step (nothing of the new code could be judged). A revision rolled out
// from that cannot run at all (Failed) is not waited for: the new code,
// a fix say, goes ahead.
func TestRolloutWaitsForFrom(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	cfg := function.Rollout{StepPercent: 10, Interval: function.Duration(300 * time.Millisecond)}
	rec := rolloutRecord(bin, "web", cfg, 10)
	slow := rec.TrafficSpecs[1] // runs, but never serves
	slow.Command = []string{"sleep", "60"}
	rec.TrafficSpecs[1] = slow
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 2, events.ActionApply)
	testkit.Eventually(t, 10*time.Second, "the status saying the rollout waits", func() (bool, string) {
		st := f.status(t, "t1", "web")
		return st != nil && st.ObservedGeneration == 2 && strings.Contains(st.Message, "revision 2 starts once revision 1 serves beside it"), fmt.Sprintf("%+v", st)
	})
	// Several reconciles and intervals later (it is tried again each
	// second), the new code still runs nowhere and the share has not moved.
	time.Sleep(1500 * time.Millisecond)
	if st := f.status(t, "t1", "web"); st.Phase != function.PhaseDeploying || len(st.Endpoints) != 0 || st.ReadyReplicas != 0 {
		t.Fatalf("the latest started on the new code before revision 1 served: %+v", st)
	}
	if ro := f.record(t, "t1", "web").Rollout; ro.Percent != 10 || ro.Phase != function.RolloutProgressing {
		t.Fatalf("the rollout stepped while the new code ran nowhere: %+v", ro)
	}

	// Revision 1 fixed (its spec as it should be): it starts, then the latest.
	rec.TrafficSpecs[1] = rolloutRecord(bin, "web", cfg, 10).TrafficSpecs[1]
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 2, events.ActionApply)
	testkit.Eventually(t, 15*time.Second, "both running", func() (bool, string) {
		st := f.status(t, "t1", "web")
		return st != nil && st.Phase == function.PhaseReady && len(st.Endpoints) == 1 && len(st.RevisionEndpoints[1]) == 1, fmt.Sprintf("%+v", st)
	})
}

// TestRolloutDoesNotWaitForAFailedFrom: the revision rolled out from
// cannot run (its command is missing): the latest takes the new code at
// once, or a broken function could never be fixed with a rollout.
func TestRolloutDoesNotWaitForAFailedFrom(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour})
	rec := rolloutRecord(bin, "web", function.Rollout{StepPercent: 10, Interval: function.Duration(time.Hour)}, 10)
	broken := rec.TrafficSpecs[1]
	broken.Command = []string{filepath.Join(t.TempDir(), "missing")}
	rec.TrafficSpecs[1] = broken
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 2, events.ActionApply)
	testkit.Eventually(t, 15*time.Second, "the latest serving the new code", func() (bool, string) {
		st := f.status(t, "t1", "web")
		return st != nil && st.ObservedGeneration == 2 && st.Phase == function.PhaseReady && len(st.Endpoints) == 1 && !strings.Contains(st.Message, "starts once"), fmt.Sprintf("%+v", st)
	})
}
