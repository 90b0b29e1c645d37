package service

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/util/workqueue"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// Retry backoff of a function whose reconcile failed: 200ms, doubling per
// consecutive failure, at most 30s; a success forgets the failures.
const (
	retryBase = 200 * time.Millisecond
	retryMax  = 30 * time.Second
)

// workQueue is client-go's typed rate-limited work queue of function refs,
// plus the trace context that asked for each waiting ref. The client-go
// queue gives what makes reconciling level-triggered and safe under
// duplicated or reordered commands: a ref added many times while waiting is
// handed out once, and a ref is never handed to two workers at once (added
// while in flight, it is queued again when the worker is Done).
type workQueue struct {
	q  workqueue.TypedRateLimitingInterface[runtime.Ref]
	rl workqueue.TypedRateLimiter[runtime.Ref]

	mu     sync.Mutex
	traces map[runtime.Ref]trace.SpanContext // of refs waiting; the first valid one since last taken
}

func newWorkQueue(rl workqueue.TypedRateLimiter[runtime.Ref]) *workQueue {
	if rl == nil {
		rl = workqueue.NewTypedItemExponentialFailureRateLimiter[runtime.Ref](retryBase, retryMax)
	}
	return &workQueue{
		// Unnamed: client-go registers no metrics of its own; the deployer
		// has eventflow_deployer_queue_depth.
		q:      workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[runtime.Ref]{}),
		rl:     rl,
		traces: map[runtime.Ref]trace.SpanContext{},
	}
}

// add queues ref unless it is already waiting; sc (if valid) is the trace
// context its reconcile continues.
func (w *workQueue) add(ref runtime.Ref, sc trace.SpanContext) {
	if sc.IsValid() {
		w.mu.Lock()
		if !w.traces[ref].IsValid() {
			w.traces[ref] = sc
		}
		w.mu.Unlock()
	}
	w.q.Add(ref)
}

// get blocks until a ref is ready; ok is false once the queue is shut down
// and empty. The caller must call done(ref, ...).
func (w *workQueue) get() (ref runtime.Ref, sc trace.SpanContext, ok bool) {
	ref, shutdown := w.q.Get()
	if shutdown {
		return ref, sc, false
	}
	w.mu.Lock()
	sc = w.traces[ref]
	delete(w.traces, ref)
	w.mu.Unlock()
	return ref, sc, true
}

// done marks ref processed. With retry false its failures are forgotten;
// with retry true it is queued again after the rate limiter's backoff,
// which is returned with the number of consecutive failures.
func (w *workQueue) done(ref runtime.Ref, retry bool) (delay time.Duration, attempt int) {
	defer w.q.Done(ref)
	if !retry {
		w.q.Forget(ref)
		return 0, 0
	}
	delay = w.rl.When(ref) // counts the failure, as AddRateLimited would
	w.q.AddAfter(ref, delay)
	return delay, w.rl.NumRequeues(ref)
}

// skip marks ref processed without counting a failure or forgetting one.
func (w *workQueue) skip(ref runtime.Ref) { w.q.Done(ref) }

// len is the number of refs waiting (not those in flight or backing off).
func (w *workQueue) len() int { return w.q.Len() }

// shutDown makes the queue ignore new refs and wakes every get; refs still
// waiting are handed out until it is empty (workers drop them once their
// context is done).
func (w *workQueue) shutDown() { w.q.ShutDown() }

// addAfter queues ref once delay has passed.
func (w *workQueue) addAfter(ref runtime.Ref, delay time.Duration) { w.q.AddAfter(ref, delay) }
