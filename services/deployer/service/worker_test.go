package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// fakeReconciler records reconciles; fn decides each one's outcome.
type fakeReconciler struct {
	mu     sync.Mutex
	calls  []runtime.Ref
	active map[runtime.Ref]int
	maxPar int // most reconciles of one ref at once
	fn     func(ctx context.Context, ref runtime.Ref, n int) error
}

func (f *fakeReconciler) Reconcile(ctx context.Context, ref runtime.Ref) error {
	f.mu.Lock()
	f.calls = append(f.calls, ref)
	n := 0
	for _, c := range f.calls {
		if c == ref {
			n++
		}
	}
	f.active[ref]++
	f.maxPar = max(f.maxPar, f.active[ref])
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.active[ref]--; f.mu.Unlock() }()
	if f.fn == nil {
		return nil
	}
	return f.fn(ctx, ref, n)
}

func (f *fakeReconciler) count(ref runtime.Ref) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == ref {
			n++
		}
	}
	return n
}

// workers runs a deployer's workers on the fake, as Run does, and returns
// what Run does at shutdown: shut the queue down and wait for the workers.
func workers(t *testing.T, ctx context.Context, n int, rec *fakeReconciler) (*Deployer, func()) {
	t.Helper()
	rec.active = map[runtime.Ref]int{}
	dp := &Deployer{
		cfg: Config{Workers: n},
		d: Deps{
			Log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
			Tracer: noop.NewTracerProvider().Tracer(""),
		},
		rec:   rec,
		queue: newWorkQueue(nil),
		m: metrics{
			reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"result"}),
			duration:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "d"}),
		},
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); dp.worker(ctx) }()
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			dp.queue.shutDown()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("workers did not return after shutdown")
			}
		})
	}
	t.Cleanup(stop)
	return dp, stop
}

// TestWorkersNeverReconcileOneFunctionTwiceAtOnce: with several workers
// and a storm of nudges, each function is reconciled by one worker at a
// time, and its last nudge is followed by a reconcile.
func TestWorkersNeverReconcileOneFunctionTwiceAtOnce(t *testing.T) {
	rec := &fakeReconciler{fn: func(context.Context, runtime.Ref, int) error {
		time.Sleep(200 * time.Microsecond)
		return nil
	}}
	dp, stop := workers(t, context.Background(), 4, rec)
	refs := []runtime.Ref{refA, refB, {Tenant: "u", Name: "a"}}
	for i := range 600 {
		dp.queue.add(refs[i%len(refs)], spanCtx(byte(i)))
	}
	last := map[runtime.Ref]int{}
	for _, r := range refs {
		last[r] = rec.count(r)
		dp.queue.add(r, spanCtx(1)) // the last nudge
	}
	testkit.WaitFor(t, 5*time.Second, "a reconcile after each last nudge", func() bool {
		for _, r := range refs {
			if rec.count(r) <= last[r] {
				return false
			}
		}
		return true
	})
	stop()
	if rec.maxPar != 1 {
		t.Fatalf("a function was reconciled by %d workers at once", rec.maxPar)
	}
	if n := len(rec.calls); n >= 600 {
		t.Fatalf("%d reconciles for 600 nudges: waiting nudges were not de-duplicated", n)
	}
}

// TestWorkersRetryFailuresWithBackoff: a failing reconcile is retried, a
// growing delay apart, until it succeeds; then it is not retried again.
func TestWorkersRetryFailuresWithBackoff(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	rec := &fakeReconciler{fn: func(_ context.Context, _ runtime.Ref, n int) error {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n <= 3 {
			return errors.New("runtime unavailable")
		}
		return nil
	}}
	dp, _ := workers(t, context.Background(), 2, rec)
	dp.queue.add(refA, spanCtx(1))
	testkit.WaitFor(t, 10*time.Second, "4 reconciles (3 failures, then success)", func() bool { return rec.count(refA) >= 4 })
	time.Sleep(2 * retryBase * 8) // longer than a 4th retry would wait
	if n := rec.count(refA); n != 4 {
		t.Fatalf("%d reconciles, want 4: a success must not be retried", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []time.Duration{retryBase, 2 * retryBase, 4 * retryBase} {
		if gap := at[i+1].Sub(at[i]); gap < want*3/4 {
			t.Errorf("retry %d came %s after the failure, want about %s", i+1, gap, want)
		}
	}
}

// TestShutdownFinishesInFlightAndDropsWaiting: at shutdown the reconcile
// in flight finishes; functions still waiting are not reconciled (the next
// start-up resync covers them); the workers return.
func TestShutdownFinishesInFlightAndDropsWaiting(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	finished := false
	rec := &fakeReconciler{fn: func(_ context.Context, ref runtime.Ref, _ int) error {
		if ref == refA {
			close(started)
			<-release
			finished = true
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	dp, stop := workers(t, ctx, 1, rec)
	dp.queue.add(refA, spanCtx(1))
	<-started
	dp.queue.add(refB, spanCtx(2)) // waiting behind the one worker
	cancel()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("shutdown did not wait for the reconcile in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	if !finished {
		t.Fatal("the reconcile in flight did not finish")
	}
	if n := rec.count(refB); n != 0 {
		t.Fatalf("a function waiting at shutdown was reconciled %d times", n)
	}
}
