package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Fairness and per-function concurrency: every function has a durable
// consumer of its own on the invocations work queue. Its MaxAckPending is
// the function's maxConcurrency, so JetStream itself bounds the function's
// running invocations across all invokers; and since each function is pulled
// separately, a flood for one function waits in its own queue instead of in
// front of everyone else's. All of them share the invoker's slots.

// pullBatch is the pull batch of a function's consumer. The server hands
// out at most MaxAckPending (the function's maxConcurrency) unacked
// messages whatever the batch, so small bounds need no small batch; and
// with batches of a few messages nats.go's Consume was seen to stop pulling
// with work queued (until its pull expired; bus.PullExpiry keeps such a
// pause short). Messages held while waiting for one of the invoker's slots
// have their ack wait running.
const pullBatch = 64

type queue struct {
	maxConc  int
	cc       jetstream.ConsumeContext
	draining bool // the function is gone: finish its queue, then remove
}

// queues keeps one consumer per function in step with the catalog.
type queues struct {
	iv     *Invoker
	slots  chan struct{}
	wg     *sync.WaitGroup
	runCtx context.Context

	mu      sync.Mutex
	started bool
	early   map[string]catalog.Change // changes seen before start
	byKey   map[string]*queue
}

func newQueues(iv *Invoker) *queues {
	return &queues{iv: iv, slots: make(chan struct{}, iv.cfg.MaxConcurrent),
		early: map[string]catalog.Change{}, byKey: map[string]*queue{}}
}

// onChange is the catalog's hook (called in order, from its watch).
func (q *queues) onChange(ch catalog.Change) {
	q.mu.Lock()
	if !q.started {
		q.early[events.FunctionKey(ch.Tenant, ch.Name)] = ch
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	q.apply(ch)
}

func (q *queues) apply(ch catalog.Change) {
	log := q.iv.d.Log.With("tenant", ch.Tenant, "function", ch.Name)
	key := events.FunctionKey(ch.Tenant, ch.Name)
	q.mu.Lock()
	cur := q.byKey[key]
	q.mu.Unlock()
	if ch.Deleted || ch.Record.Deleting {
		if cur != nil {
			q.mu.Lock()
			cur.draining = true
			q.mu.Unlock()
		}
		return
	}
	maxConc := ch.Record.Spec.Invocation.MaxConcurrency
	if maxConc == 0 {
		maxConc = function.MaxConcurrencyLimit
	}
	if cur != nil && cur.maxConc == maxConc && !cur.draining {
		return
	}
	ctx, cancel := context.WithTimeout(q.runCtx, 30*time.Second)
	defer cancel()
	cons, err := q.iv.d.JS.CreateOrUpdateConsumer(ctx, events.StreamInvocations, jetstream.ConsumerConfig{
		Durable:       events.QueueConsumer(ch.Tenant, ch.Name),
		Description:   "EventFlow invoker: async invocations of " + key,
		FilterSubject: events.InvocationSubject(ch.Tenant, ch.Name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.iv.cfg.AckWait,
		// No MaxDeliver: JetStream would leave a message that reaches it
		// stranded in the queue; retry policies are the invoker's.
		MaxDeliver:    -1,
		MaxAckPending: maxConc,
	})
	if err != nil {
		log.Error("invocation queue not consumed; retrying at the next check", "err", err)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if cur != nil { // an update of an existing consumer: it goes on consuming
		cur.maxConc, cur.draining = maxConc, false
		return
	}
	cc, err := cons.Consume(q.handle, jetstream.PullMaxMessages(pullBatch), bus.PullExpiry)
	if err != nil {
		log.Error("invocation queue not consumed; retrying at the next check", "err", err)
		return
	}
	q.byKey[key] = &queue{maxConc: maxConc, cc: cc}
}

// handle waits for a slot, then runs the invocation in its own goroutine.
func (q *queues) handle(msg jetstream.Msg) {
	q.slots <- struct{}{}
	q.wg.Add(1)
	go func() {
		defer func() { <-q.slots; q.wg.Done() }()
		q.iv.consume(q.runCtx, msg)
	}()
}

// start begins consuming every function seen so far, and keeps checking:
// queues that failed to start are retried, drained queues of deleted
// functions removed.
func (q *queues) start(ctx, runCtx context.Context, wg *sync.WaitGroup) {
	q.runCtx, q.wg = runCtx, wg
	q.mu.Lock()
	q.started = true
	early := q.early
	q.early = nil
	q.mu.Unlock()
	for _, ch := range early {
		q.apply(ch)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				q.check(ctx)
			}
		}
	}()
}

// check removes the consumers of deleted functions once nothing of theirs
// is queued or running, and starts queues of functions that have none.
func (q *queues) check(ctx context.Context) {
	q.mu.Lock()
	draining := map[string]*queue{}
	for k, qu := range q.byKey {
		if qu.draining {
			draining[k] = qu
		}
	}
	q.mu.Unlock()
	for key, qu := range draining {
		tenant, name, _ := cutKey(key)
		cons, err := q.iv.d.JS.Consumer(ctx, events.StreamInvocations, events.QueueConsumer(tenant, name))
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			continue
		}
		qu.cc.Stop()
		if err := q.iv.d.JS.DeleteConsumer(ctx, events.StreamInvocations, events.QueueConsumer(tenant, name)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		q.mu.Lock()
		delete(q.byKey, key)
		q.mu.Unlock()
	}
	for _, ch := range q.iv.fns.Snapshot() {
		q.mu.Lock()
		_, ok := q.byKey[events.FunctionKey(ch.Tenant, ch.Name)]
		q.mu.Unlock()
		if !ok && !ch.Record.Deleting {
			q.apply(ch)
		}
	}
}

// stop stops taking invocations; running ones finish (the caller waits).
func (q *queues) stop() {
	q.mu.Lock()
	all := make([]*queue, 0, len(q.byKey))
	for _, qu := range q.byKey {
		all = append(all, qu)
	}
	q.mu.Unlock()
	for _, qu := range all {
		qu.cc.Drain()
	}
	for _, qu := range all {
		<-qu.cc.Closed()
	}
}

func cutKey(key string) (tenant, name string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}
