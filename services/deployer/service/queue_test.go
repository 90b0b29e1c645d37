package service

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/util/workqueue"

	"github.com/eventflow/eventflow/pkg/runtime"
)

func spanCtx(b byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{b}, SpanID: trace.SpanID{b}})
}

var refA, refB = runtime.Ref{Tenant: "t", Name: "a"}, runtime.Ref{Tenant: "t", Name: "b"}

// getWithin is get that fails the test instead of blocking for ever.
func getWithin(t *testing.T, w *workQueue, d time.Duration) (runtime.Ref, trace.SpanContext) {
	t.Helper()
	type got struct {
		ref runtime.Ref
		sc  trace.SpanContext
		ok  bool
	}
	ch := make(chan got, 1)
	go func() { r, sc, ok := w.get(); ch <- got{r, sc, ok} }()
	select {
	case g := <-ch:
		if !g.ok {
			t.Fatal("queue shut down")
		}
		return g.ref, g.sc
	case <-time.After(d):
		t.Fatalf("nothing queued within %s", d)
	}
	panic("unreachable")
}

// TestAddDeduplicatesWaitingKeys: a function nudged many times while
// waiting is reconciled once, continuing the first trace that asked.
func TestAddDeduplicatesWaitingKeys(t *testing.T) {
	w := newWorkQueue(nil)
	defer w.shutDown()
	w.add(refA, trace.SpanContext{}) // a resync: no trace
	w.add(refA, spanCtx(1))          // a command
	w.add(refA, spanCtx(2))
	w.add(refB, spanCtx(3))
	if w.len() != 2 {
		t.Fatalf("len = %d, want 2", w.len())
	}
	ref, sc := getWithin(t, w, time.Second)
	if ref != refA || !sc.Equal(spanCtx(1)) {
		t.Fatalf("get = %v,%v; want %v and the first trace", ref, sc.TraceID(), refA)
	}
}

// TestKeyAddedWhileProcessingIsRequeuedOnDone: a function nudged while it
// is being reconciled is not handed to a second worker, but is reconciled
// again (with the new trace) once the first reconcile is done.
func TestKeyAddedWhileProcessingIsRequeuedOnDone(t *testing.T) {
	w := newWorkQueue(nil)
	defer w.shutDown()
	w.add(refA, spanCtx(1))
	ref, _ := getWithin(t, w, time.Second)
	w.add(refA, spanCtx(2)) // while in flight
	if w.len() != 0 {
		t.Fatalf("a key in flight must not be handed to a second worker; len = %d", w.len())
	}
	w.done(ref, false)
	if w.len() != 1 {
		t.Fatalf("len after done = %d, want 1", w.len())
	}
	if _, sc := getWithin(t, w, time.Second); !sc.Equal(spanCtx(2)) {
		t.Fatalf("trace = %v, want the one added while in flight", sc.TraceID())
	}
}

// TestNoKeyProcessedConcurrently: with several workers, no function is
// ever reconciled by two at once, and every nudge is followed by a
// reconcile (nothing lost).
func TestNoKeyProcessedConcurrently(t *testing.T) {
	w := newWorkQueue(nil)
	var mu sync.Mutex
	active := map[runtime.Ref]bool{}
	last := map[runtime.Ref]int{} // nudges seen by the last reconcile of each key
	var nudges [5]atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ref, _, ok := w.get()
				if !ok {
					return
				}
				mu.Lock()
				if active[ref] {
					t.Errorf("key %v processed by two workers", ref)
				}
				active[ref] = true
				i := int(ref.Name[0] - '0')
				last[ref] = int(nudges[i].Load())
				mu.Unlock()
				time.Sleep(time.Microsecond)
				mu.Lock()
				active[ref] = false
				mu.Unlock()
				w.done(ref, false)
			}
		}()
	}
	for i := range 2000 {
		k := i % 5
		nudges[k].Add(1)
		w.add(runtime.Ref{Tenant: "t", Name: string(rune('0' + k))}, trace.SpanContext{})
	}
	// Every key's last reconcile started after its last nudge.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		caughtUp := len(last) == 5
		for ref, n := range last {
			if n != 400 || active[ref] {
				caughtUp = false
			}
		}
		mu.Unlock()
		if caughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every nudge was followed by a reconcile: %v", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.shutDown()
	wg.Wait()
}

// TestFailedKeyRetriesWithBackoff: a failed reconcile queues the function
// again after an exponentially growing delay, capped; a success forgets
// the failures, so the next failure starts from the base again.
func TestFailedKeyRetriesWithBackoff(t *testing.T) {
	w := newWorkQueue(nil)
	defer w.shutDown()
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		w.add(refA, trace.SpanContext{})
		ref, _ := getWithin(t, w, time.Second)
		if d, n := w.done(ref, true); d != want || n != i+1 {
			t.Fatalf("failure %d: retry in %s (attempt %d), want %s (attempt %d)", i+1, d, n, want, i+1)
		}
		if w.len() != 0 {
			t.Fatalf("failure %d: retried at once, not after the backoff", i+1)
		}
		start := time.Now()
		ref, _ = getWithin(t, w, 5*time.Second) // the retry itself
		if el := time.Since(start); el < want/2 {
			t.Fatalf("failure %d: retried after %s, want about %s", i+1, el, want)
		}
		w.skip(ref)
	}
	w.add(refA, trace.SpanContext{})
	ref, _ := getWithin(t, w, time.Second)
	w.done(ref, false) // success
	w.add(refA, trace.SpanContext{})
	ref, _ = getWithin(t, w, time.Second)
	if d, n := w.done(ref, true); d != retryBase || n != 1 {
		t.Fatalf("after a success: retry in %s (attempt %d), want %s (attempt 1)", d, n, retryBase)
	}
	// The cap.
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[runtime.Ref](retryBase, retryMax)
	var d time.Duration
	for range 20 {
		d = rl.When(refB)
	}
	if d != retryMax {
		t.Fatalf("backoff after 20 failures = %s, want the cap %s", d, retryMax)
	}
}

// TestShutDownEndsGetAndIgnoresRetries: after shutDown, workers get what
// is left and then false; retries and nudges are ignored.
func TestShutDownEndsGetAndIgnoresRetries(t *testing.T) {
	w := newWorkQueue(nil)
	w.add(refA, trace.SpanContext{})
	ref, _ := getWithin(t, w, time.Second)
	w.add(refB, trace.SpanContext{})
	w.shutDown()
	w.done(ref, true) // the in-flight reconcile failed after shutdown
	w.add(refA, trace.SpanContext{})
	var got []runtime.Ref
	for {
		r, _, ok := w.get()
		if !ok {
			break
		}
		got = append(got, r)
		w.skip(r)
	}
	if len(got) != 1 || got[0] != refB {
		t.Fatalf("after shutDown got %v, want only the waiting %v", got, refB)
	}
}
