package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// coldServer builds testdata/coldserver where the function's user can run
// it.
func coldServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(proctest.SharedDir(t), "coldserver")
	build := exec.Command("go", "build", "-o", bin, "./testdata/coldserver/main.go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test server: %v\n%s", err, out)
	}
	return bin
}

// coldEnv is an invoker on the process runtime with one http-mode
// function, "t/cold" (scale {min: 0, max: 2}), applied and scaled to zero.
type coldEnv struct {
	*fixture
	rt   *process.Runtime
	spec function.Spec
}

func startCold(t *testing.T, cfg Config, inv function.Invocation) *coldEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := process.New(process.Config{Logger: log, StopGrace: 2 * time.Second})
	f := startOn(t, cfg, rt, nil)
	inv.Mode = function.ModeHTTP
	spec := function.Spec{Name: "cold", Command: []string{coldServer(t)}, Scale: &function.Scale{Min: 0, Max: 2}, Invocation: inv}.WithDefaults()
	e := &coldEnv{fixture: f, rt: rt, spec: spec}
	if err := rt.Apply(context.Background(), "t", spec); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, 1) // its scale's initial count
	e.scale(t, 0)
	e.waitReady(t, 0)
	f.deploy(t, "t", spec)
	return e
}

func (e *coldEnv) scale(t *testing.T, n int32) {
	t.Helper()
	if err := e.rt.Scale(context.Background(), "t", "cold", n); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits for n ready instances (none, and no endpoint, for 0).
func (e *coldEnv) waitReady(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		obs, found, err := e.rt.Observe(context.Background(), "t", "cold")
		if err == nil && found && obs.ReadyReplicas == n && (n > 0 || len(obs.Endpoints) == 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %d ready instances in 15s: %+v %v %v", n, obs, found, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loads collects the load reports of a function.
func (f *fixture) loads(t *testing.T, tenant, fn string) <-chan events.Load {
	t.Helper()
	out := make(chan events.Load, 10000)
	sub, err := f.nc.Subscribe(events.ScaleSubject(tenant, fn), func(m *nats.Msg) {
		l, err := events.ParseLoad(m.Data)
		if err != nil {
			t.Errorf("load report %q: %v", m.Data, err)
			return
		}
		out <- l
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return out
}

// waitLoad returns the first report that satisfies cond within d.
func waitLoad(t *testing.T, loads <-chan events.Load, d time.Duration, what string, cond func(events.Load) bool) events.Load {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l := <-loads:
			if cond(l) {
				return l
			}
		case <-timer.C:
			t.Fatalf("no load report with %s within %s", what, d)
		}
	}
}

type syncReply struct {
	msg *nats.Msg
	err error
}

// sendSync makes a sync invocation and returns where its reply comes.
func (f *fixture) sendSync(tenant, name, payload string) <-chan syncReply {
	out := make(chan syncReply, 1)
	msg := nats.NewMsg(events.SyncSubject(tenant, name))
	msg.Header.Set(events.HeaderInvocationID, events.NewInvocationID())
	msg.Data = []byte(payload)
	go func() {
		m, err := f.nc.RequestMsg(msg, 30*time.Second)
		out <- syncReply{m, err}
	}()
	return out
}

// metric is the value of a counter, or the sample count of a histogram,
// with the labels given (all of them, the others any).
func (f *fixture) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// TestColdSyncHeldUntilReady: a sync invocation of a function scaled to
// zero is held, not refused; a wake goes out on the function's scale
// subject at once (the report interval here is far longer than the
// test); once an instance is ready the invocation is served.
func TestColdSyncHeldUntilReady(t *testing.T) {
	e := startCold(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: time.Minute}, function.Invocation{Timeout: function.Duration(20 * time.Second)})
	loads := e.loads(t, "t", "cold")
	sent := time.Now()
	reply := e.sendSync("t", "cold", "hello")
	wake := waitLoad(t, loads, 2*time.Second, "held > 0", func(l events.Load) bool { return l.Held > 0 })
	t.Logf("wake %+v %s after the request", wake, time.Since(sent).Round(time.Millisecond))
	if !strings.HasPrefix(wake.Source, ReportSource+"-") || wake.Held != 1 {
		t.Fatalf("wake %+v", wake)
	}
	select {
	case r := <-reply:
		t.Fatalf("answered with no instance: %v %v", r.msg, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	up := time.Now()
	e.scale(t, 1)
	r := <-reply
	if r.err != nil || r.msg.Header.Get(events.HeaderStatus) != events.StatusSucceeded || string(r.msg.Data) != "HELLO" {
		t.Fatalf("reply %+v", r)
	}
	t.Logf("served %s after the scale up", time.Since(up).Round(time.Millisecond))
	rec := e.waitRecord(t, r.msg.Header.Get(events.HeaderInvocationID))
	if rec.Status != events.StatusSucceeded || rec.Attempts != 1 {
		t.Fatalf("record %+v", rec)
	}
	if n := e.metric(t, "eventflow_function_cold_held_total", map[string]string{"tenant": "t", "function": "cold", "mode": "sync"}); n != 1 {
		t.Fatalf("cold held total %v, want 1", n)
	}
	if n := e.metric(t, "eventflow_function_cold_wait_seconds", map[string]string{"mode": "sync", "outcome": "served"}); n != 1 {
		t.Fatalf("cold waits served %v, want 1", n)
	}
	// Warm now: not held again.
	if r := <-e.sendSync("t", "cold", "again"); r.err != nil || string(r.msg.Data) != "AGAIN" {
		t.Fatalf("warm reply %+v", r)
	}
	if n := e.metric(t, "eventflow_function_cold_held_total", nil); n != 1 {
		t.Fatalf("cold held total %v after a warm invocation, want 1", n)
	}
}

// TestColdSyncUnavailableAfterTimeout: held past the function's timeout,
// a sync invocation is answered unavailable; it never ran, so its record
// counts no attempt. The wake is repeated every report interval while it
// waits.
func TestColdSyncUnavailableAfterTimeout(t *testing.T) {
	e := startCold(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: 100 * time.Millisecond}, function.Invocation{Timeout: function.Duration(time.Second)})
	loads := e.loads(t, "t", "cold")
	start := time.Now()
	r := <-e.sendSync("t", "cold", "x")
	took := time.Since(start)
	if r.err != nil || r.msg.Header.Get(events.HeaderErrorCode) != events.ErrorCodeUnavailable {
		t.Fatalf("reply %+v", r)
	}
	if took < time.Second || took > 4*time.Second {
		t.Fatalf("answered after %s, want the function's timeout (1s)", took)
	}
	if msg := r.msg.Header.Get(events.HeaderError); !strings.Contains(msg, "no ready instance") {
		t.Fatalf("error %q", msg)
	}
	wakes := 0
	for len(loads) > 0 {
		if l := <-loads; l.Held > 0 {
			wakes++
		}
	}
	if wakes < 5 {
		t.Fatalf("%d wakes in a 1s hold with a 100ms interval", wakes)
	}
	rec := e.waitRecord(t, r.msg.Header.Get(events.HeaderInvocationID))
	if rec.Status != events.StatusFailed || rec.Attempts != 0 {
		t.Fatalf("record %+v", rec)
	}
	if n := e.metric(t, "eventflow_function_cold_wait_seconds", map[string]string{"mode": "sync", "outcome": "timeout"}); n != 1 {
		t.Fatalf("cold waits timed out %v, want 1", n)
	}
}

// TestColdHoldsShareTheirWakes: the wake of held runs is repeated by the
// invoker's load reports, one a report interval for the function however
// many runs wait (each run used to repeat its own as well: one report per
// run and interval more).
func TestColdHoldsShareTheirWakes(t *testing.T) {
	const held, interval = 6, 100 * time.Millisecond
	e := startCold(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: interval}, function.Invocation{Timeout: function.Duration(time.Second)})
	loads := e.loads(t, "t", "cold")
	start := time.Now()
	var replies []<-chan syncReply
	for range held {
		replies = append(replies, e.sendSync("t", "cold", "x"))
	}
	for _, reply := range replies {
		if r := <-reply; r.err != nil || r.msg.Header.Get(events.HeaderErrorCode) != events.ErrorCodeUnavailable {
			t.Fatalf("reply %+v", r)
		}
	}
	rounds := int(time.Since(start)/interval) + 1
	wakes, most := 0, 0
	for len(loads) > 0 {
		if l := <-loads; l.Held > 0 {
			wakes++
			most = max(most, l.Held)
		}
	}
	t.Logf("%d wakes for %d runs held over %d report intervals", wakes, held, rounds)
	if most != held {
		t.Fatalf("the most held in one report is %d, want %d", most, held)
	}
	// One wake as each run is held, then about one a round; one a run
	// and round would be held*(rounds+1).
	if wakes < held+rounds/2 || wakes > held+2*rounds {
		t.Fatalf("%d wakes for %d runs held over %d report intervals, want %d to %d", wakes, held, rounds, held+rounds/2, held+2*rounds)
	}
}

// TestColdAsyncWaitsInQueue: async invocations of a function at zero are
// held up to its timeout, then go back to their queue (again and again)
// without an attempt counted: a retry policy of one attempt does not
// dead-letter them. Once an instance is ready they succeed, each with one
// attempt.
func TestColdAsyncWaitsInQueue(t *testing.T) {
	one := function.RetryPolicy{MaxAttempts: 1}
	e := startCold(t, Config{AckWait: 3 * time.Second, RetryDelay: 100 * time.Millisecond, ScaleReportInterval: 100 * time.Millisecond},
		function.Invocation{Timeout: function.Duration(300 * time.Millisecond), Retry: &one})
	loads := e.loads(t, "t", "cold")
	ids := []string{events.NewInvocationID(), events.NewInvocationID(), events.NewInvocationID()}
	for i, id := range ids {
		e.enqueue(t, "t", "cold", id, "queued "+string(rune('a'+i)))
	}
	waitLoad(t, loads, 2*time.Second, "held > 0", func(l events.Load) bool { return l.Held > 0 })
	// Several holds time out, and the invocations go back to the queue.
	deadline := time.Now().Add(10 * time.Second)
	for e.metric(t, "eventflow_function_cold_wait_seconds", map[string]string{"mode": "async", "outcome": "timeout"}) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("async holds did not time out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range ids {
		if en, err := e.b.Invocations.Get(context.Background(), e.keyOf(id)); err == nil {
			var r events.InvocationRecord
			_ = json.Unmarshal(en.Value(), &r)
			if r.Done() || r.Attempts != 0 {
				t.Fatalf("record of a cold invocation %+v", r)
			}
		}
	}
	e.scale(t, 1)
	for i, id := range ids {
		r := e.waitRecord(t, id)
		if r.Status != events.StatusSucceeded || r.Attempts != 1 || r.Output != "QUEUED "+string(rune('A'+i)) {
			t.Fatalf("record %+v", r)
		}
	}
	waitQueueEmpty(t, e.js)
	s, err := e.js.Stream(context.Background(), events.StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("dead letters: %+v %v", info, err)
	}
	if n := e.metric(t, "eventflow_function_cold_held_total", map[string]string{"mode": "async"}); n < 3 {
		t.Fatalf("cold held total %v", n)
	}
	if n := e.metric(t, "eventflow_invocations_total", map[string]string{"mode": "async"}); n != 3 {
		t.Fatalf("async runs counted %v, want 3 (no cold delivery counted)", n)
	}
}

// TestInFlightReported: sync and async runs on an instance count in the
// function's load reports while they run, and a report of zero follows
// their end.
func TestInFlightReported(t *testing.T) {
	e := startCold(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: 50 * time.Millisecond}, function.Invocation{})
	e.scale(t, 1)
	e.waitReady(t, 1)
	loads := e.loads(t, "t", "cold")
	reply := e.sendSync("t", "cold", "slow")
	l := waitLoad(t, loads, 2*time.Second, "a sync run in flight", func(l events.Load) bool { return l.InFlight > 0 })
	if l.InFlight != 1 || l.Held != 0 {
		t.Fatalf("report %+v", l)
	}
	if r := <-reply; r.err != nil || string(r.msg.Data) != "SLOW" {
		t.Fatalf("reply %+v", r)
	}
	waitLoad(t, loads, 2*time.Second, "zero", func(l events.Load) bool { return l.InFlight == 0 && l.Held == 0 })

	id := events.NewInvocationID()
	e.enqueue(t, "t", "cold", id, "slow")
	waitLoad(t, loads, 2*time.Second, "an async run in flight", func(l events.Load) bool { return l.InFlight == 1 })
	if r := e.waitRecord(t, id); r.Status != events.StatusSucceeded || r.Output != "SLOW" {
		t.Fatalf("record %+v", r)
	}
	waitLoad(t, loads, 2*time.Second, "zero", func(l events.Load) bool { return l.InFlight == 0 && l.Held == 0 })
}

// gatedRuntime is a runtime without runtime.ReadyWaiter that has no ready
// instance until ready is closed, then answers with the payload.
type gatedRuntime struct {
	ready chan struct{}
	calls atomic.Int64
}

func (g *gatedRuntime) Invoke(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	g.calls.Add(1)
	select {
	case <-g.ready:
		return runtime.InvokeResult{Succeeded: true, Output: req.Payload, Duration: time.Millisecond}, nil
	default:
		return runtime.InvokeResult{}, runtime.ErrNoReadyInstance
	}
}

func (g *gatedRuntime) Close(context.Context) error { return nil }

// TestColdHoldPollsWithoutReadyWaiter: on a runtime that cannot say when
// an instance is ready, a held run tries again every coldPoll, and is
// served once one is.
func TestColdHoldPollsWithoutReadyWaiter(t *testing.T) {
	g := &gatedRuntime{ready: make(chan struct{})}
	f := startOn(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: time.Minute}, g, nil)
	spec := function.Spec{Name: "gated", Image: "example/gated", Invocation: function.Invocation{Mode: function.ModeHTTP, Timeout: function.Duration(10 * time.Second)}}
	f.deploy(t, "t", spec)
	loads := f.loads(t, "t", "gated")
	reply := f.sendSync("t", "gated", "polled")
	waitLoad(t, loads, 2*time.Second, "held > 0", func(l events.Load) bool { return l.Held == 1 })
	before := g.calls.Load()
	time.Sleep(300 * time.Millisecond)
	if n := g.calls.Load() - before; n < 5 || n > 30 {
		t.Fatalf("%d calls in 300ms of a hold, want one about every %s", n, coldPoll)
	}
	close(g.ready)
	select {
	case r := <-reply:
		if r.err != nil || string(r.msg.Data) != "polled" {
			t.Fatalf("reply %+v", r)
		}
	case <-time.After(time.Second):
		t.Fatal("not served within a second of an instance being ready")
	}
}

// TestColdGateBoundsAsyncHolds: one async invocation of a function is
// held at a time; the others go back to their queue at once.
func TestColdGateBoundsAsyncHolds(t *testing.T) {
	var g coldGate
	if !g.enter("t", "f") || g.enter("t", "f") || !g.full("t", "f") {
		t.Fatal("a second hold of one function admitted")
	}
	if !g.enter("t", "other") {
		t.Fatal("another function's hold refused")
	}
	g.leave("t", "f")
	if g.full("t", "f") || !g.enter("t", "f") {
		t.Fatal("the hold not freed")
	}
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for range 50 {
		wg.Go(func() {
			if g.enter("t", "race") {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != coldHoldsPerFunction {
		t.Fatalf("%d holds admitted at once", admitted.Load())
	}
}

// TestColdAsyncHoldEndsWithTheInvoker: an invoker that stops does not wait
// out a held async invocation's timeout: the invocation goes back to its
// queue (for another invoker), not run, no attempt counted.
func TestColdAsyncHoldEndsWithTheInvoker(t *testing.T) {
	e := startCold(t, Config{AckWait: 3 * time.Second, ScaleReportInterval: time.Minute}, function.Invocation{Timeout: function.Duration(time.Minute)})
	loads := e.loads(t, "t", "cold")
	id := events.NewInvocationID()
	e.enqueue(t, "t", "cold", id, "later")
	waitLoad(t, loads, 2*time.Second, "held > 0", func(l events.Load) bool { return l.Held > 0 })
	start := time.Now()
	e.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stopping took %s with an invocation held", took)
	}
	if n := e.metric(t, "eventflow_function_cold_wait_seconds", map[string]string{"mode": "async", "outcome": "stopped"}); n != 1 {
		t.Fatalf("holds ended by the stop: %v, want 1", n)
	}
	s, err := e.js.Stream(context.Background(), events.StreamInvocations)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(context.Background()); err != nil || info.State.Msgs != 1 {
		t.Fatalf("invocations stream after the stop: %+v %v", info, err)
	}
	if en, err := e.b.Invocations.Get(context.Background(), e.keyOf(id)); err == nil {
		var r events.InvocationRecord
		_ = json.Unmarshal(en.Value(), &r)
		if r.Done() || r.Attempts != 0 {
			t.Fatalf("record %+v", r)
		}
	}
	// A final report: nothing held any more.
	waitLoad(t, loads, 2*time.Second, "zero", func(l events.Load) bool { return l.InFlight == 0 && l.Held == 0 })
}
