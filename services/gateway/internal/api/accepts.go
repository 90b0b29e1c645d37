package api

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// An async accept makes one durable write before its 202: the invocation
// message on the work queue. The "queued" record and event follow without
// being waited for (queuedRecords), so a 202 never waits for them; the
// record is still there for a GET right after the 202: this gateway
// remembers the records it has sent until they are stored, and a GET for
// one waits for it (invocationRecord). If the record cannot be written,
// the invocation is still queued and the invoker writes its record when it
// runs it.

const (
	// recordWait bounds how long a GET waits for a record this gateway
	// has sent and JetStream not yet stored.
	recordWait = 5 * time.Second
	// freshID is how young an id (by the time in it) must be for a GET
	// that finds no record to look again, until the id is that old:
	// another gateway may have accepted it a moment ago and be writing its
	// record (a GET for an id nobody accepted waits that long for its 404).
	freshID = 5 * time.Second
	// maxRecordRetries bounds the retries of failed record writes running
	// at once; past it, a failed write is left to the invoker.
	maxRecordRetries = 64
)

// firstLook is the wait before a second look for the record of a fresh
// id; each later wait doubles, until the id is freshID old.
const firstLook = 5 * time.Millisecond

// queuedRecords writes the queued records and events of accepted
// invocations off the request path.
type queuedRecords struct {
	store   *store.Store
	pub     *bus.AsyncPublisher
	log     *slog.Logger
	retries chan struct{}

	mu      sync.Mutex
	pending map[string]pendingRecord // by invocation id
}

// pendingRecord is a record sent and not yet settled.
type pendingRecord struct {
	function string // events.FunctionKey(tenant, name)
	done     chan struct{}
}

func newQueuedRecords(st *store.Store, pub *bus.AsyncPublisher, log *slog.Logger) *queuedRecords {
	return &queuedRecords{store: st, pub: pub, log: log, retries: make(chan struct{}, maxRecordRetries), pending: map[string]pendingRecord{}}
}

// write sends the record of an accepted invocation, and its queued event
// (ev, may be nil), without waiting for either.
func (q *queuedRecords) write(rec events.StoredInvocation, ev *nats.Msg) {
	done := make(chan struct{})
	q.mu.Lock()
	q.pending[rec.ID] = pendingRecord{function: events.FunctionKey(rec.Tenant, rec.Function), done: done}
	q.mu.Unlock()
	q.pub.PublishThen(store.QueuedMsg(rec), func(err error) {
		if err == nil || store.IsRecordTaken(err) { // taken: the invoker's record is newer
			q.settle(rec.ID, done)
			return
		}
		select {
		case q.retries <- struct{}{}:
			go func() {
				defer func() { <-q.retries }()
				ctx, cancel := context.WithTimeout(context.Background(), recordWait)
				defer cancel()
				if err := q.store.CreateQueued(ctx, rec); err != nil {
					q.log.Warn("queued invocation has no record yet; the invoker will write it", "id", rec.ID, "err", err)
				}
				q.settle(rec.ID, done)
			}()
		default:
			q.log.Warn("queued invocation has no record yet; the invoker will write it", "id", rec.ID, "err", err)
			q.settle(rec.ID, done)
		}
	})
	if ev != nil {
		q.pub.Publish(ev)
	}
}

func (q *queuedRecords) settle(id string, done chan struct{}) {
	q.mu.Lock()
	if q.pending[id].done == done {
		delete(q.pending, id)
	}
	q.mu.Unlock()
	close(done)
}

// wait waits (bounded by ctx and recordWait) until the record of id, if
// this gateway is writing it, is settled; it reports whether it was.
func (q *queuedRecords) wait(ctx context.Context, id string) bool {
	q.mu.Lock()
	p, ok := q.pending[id]
	q.mu.Unlock()
	if !ok {
		return false
	}
	waitAll(ctx, []chan struct{}{p.done})
	return true
}

// waitFunction waits (bounded as wait) until every record of the
// function's invocations this gateway has sent is settled, so a listing
// right after a 202 shows the invocation.
func (q *queuedRecords) waitFunction(ctx context.Context, tenant, name string) {
	fn := events.FunctionKey(tenant, name)
	var dones []chan struct{}
	q.mu.Lock()
	for _, p := range q.pending {
		if p.function == fn {
			dones = append(dones, p.done)
		}
	}
	q.mu.Unlock()
	waitAll(ctx, dones)
}

// waitAll waits until every channel is closed, ctx ends or recordWait
// passes.
func waitAll(ctx context.Context, dones []chan struct{}) {
	if len(dones) == 0 {
		return
	}
	t := time.NewTimer(recordWait)
	defer t.Stop()
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// invocationRecord reads the record of an invocation of the tenant's, as
// GET /v1/invocations/{id} and Idempotency-Key replays do: read-your-writes
// holds after a 202 even though its record is written after it.
func (a *API) invocationRecord(ctx context.Context, tenant, id string) (events.InvocationRecord, error) {
	r, err := a.Store.Invocation(ctx, tenant, id)
	if !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	if a.queued.wait(ctx, id) {
		return a.Store.Invocation(ctx, tenant, id)
	}
	now := time.Now()
	if !fresh(id, now) {
		return r, err
	}
	// Another gateway accepted it a moment ago: its record is on the way.
	// Look again, less and less often, until the id is freshID old (at
	// most freshID from now, whatever the other host's clock says).
	made, _ := events.InvocationIDTime(id)
	deadline := made.Add(freshID)
	if latest := now.Add(freshID); deadline.After(latest) {
		deadline = latest
	}
	for wait := firstLook; time.Until(deadline) > 0; wait *= 2 {
		t := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return r, err
		case <-t.C:
		}
		if r, err = a.Store.Invocation(ctx, tenant, id); !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
	}
	return r, err
}

// fresh reports whether id was made within freshID of now (either way:
// clocks of two gateways differ a little).
func fresh(id string, now time.Time) bool {
	t, ok := events.InvocationIDTime(id)
	return ok && t.After(now.Add(-freshID)) && t.Before(now.Add(freshID))
}
