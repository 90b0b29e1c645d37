package reconcile

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// A lifecycle event is published after the state it reports is stored
// (a status, a rollout step), so a publish that fails cannot be retried by
// reconciling again: the next reconcile finds nothing changed and nothing
// to report. Such events are kept (unsent) and published again, oldest
// first and before any newer event, once a backoff has passed: by the
// next reconcile of any function, and at the latest by the one the failed
// try asked for (of the function whose event is oldest). Each keeps its
// CloudEvents id, the events stream's Nats-Msg-Id, so an event that was
// stored although its ack was lost is not stored twice within the
// stream's de-duplication window. No lock is held while publishing, so a
// stream that does not answer holds up one try, not every reconcile (nor
// the metrics). They live in memory: a deployer that stops with some
// loses them.

const (
	// maxUnsent bounds the events kept; past it the oldest are dropped
	// (logged), so an events stream gone for long costs bounded memory.
	maxUnsent = 10_000
	// firstResend is the wait before the first try again; each try that
	// publishes nothing doubles it, up to maxResend.
	firstResend = 500 * time.Millisecond
	maxResend   = 30 * time.Second
	// publishTimeout bounds one publish's wait for its ack.
	publishTimeout = 2 * time.Second
)

// keptEvent is an event whose publish failed.
type keptEvent struct {
	seq uint64 // order of keeping
	ref runtime.Ref
	typ string
	msg *nats.Msg
}

// unsent are the events kept, oldest first.
type unsent struct {
	limit int // of the events kept; 0: maxUnsent

	sending sync.Mutex // held by the one try that publishes them

	mu      sync.Mutex // guards what follows; never held while publishing
	events  []keptEvent
	seq     uint64
	wait    time.Duration // the backoff after the last failed try
	nextTry time.Time
}

// publisher is what unsent needs of JetStream.
type publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// publishAcked sends msg and waits (bounded) for its ack.
func publishAcked(ctx context.Context, js publisher, msg *nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := js.PublishMsg(ctx, msg)
	return err
}

// permanentCodes are the JetStream errors a publish of the same event
// would meet again: too large, a stream that is not the one expected, or
// sealed. Others (no space for now, too many requests, no leader) pass.
var permanentCodes = map[jetstream.ErrorCode]bool{
	10054: true, // JSStreamMessageExceedsMaximumErr
	10097: true, // JSStreamHeaderExceedsMaximumErr
	10060: true, // JSStreamNotMatchErr
	10109: true, // JSStreamSealedErr
}

// refused says whether the server refused a publish for good, which no
// retry changes.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return permanentCodes[apiErr.ErrorCode]
	}
	return errors.Is(err, nats.ErrMaxPayload)
}

// keepBehind keeps ev if events are kept already, so it goes out after
// them, and says whether it did.
func (u *unsent) keepBehind(ev keptEvent) (kept bool, dropped int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.events) == 0 {
		return false, 0
	}
	return true, u.appendLocked(ev)
}

// keep keeps ev, whose publish failed.
func (u *unsent) keep(ev keptEvent) (dropped int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.appendLocked(ev)
}

// appendLocked adds ev last and drops the oldest past the limit,
// counting them. u.mu held.
func (u *unsent) appendLocked(ev keptEvent) (dropped int) {
	u.seq++
	ev.seq = u.seq
	u.events = append(u.events, ev)
	limit := u.limit
	if limit <= 0 {
		limit = maxUnsent
	}
	if over := len(u.events) - limit; over > 0 {
		clear(u.events[:over])
		u.events, dropped = u.events[over:], over
	}
	return dropped
}

// head is the oldest event kept.
func (u *unsent) head() (keptEvent, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.events) == 0 {
		return keptEvent{}, false
	}
	return u.events[0], true
}

// done removes the event seq if it is still the oldest (one dropped past
// the limit meanwhile is gone already), and says how many are left.
func (u *unsent) done(seq uint64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.events) > 0 && u.events[0].seq == seq {
		u.events[0] = keptEvent{}
		u.events = u.events[1:]
	}
	if len(u.events) == 0 {
		u.events, u.wait, u.nextTry = nil, 0, time.Time{}
	}
	return len(u.events)
}

// failed records a failed try at now (progress: it published some first)
// and returns the wait before the next; first says whether it is the
// first failure since events were last all published.
func (u *unsent) failed(now time.Time, progress bool) (wait time.Duration, first bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	first = u.wait == 0
	if progress {
		u.wait = 0
	}
	u.wait = min(max(2*u.wait, firstResend), maxResend)
	u.nextTry = now.Add(u.wait)
	return u.wait, first
}

// due says whether events are kept and their backoff has passed.
func (u *unsent) due(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.events) > 0 && !now.Before(u.nextTry)
}

func (u *unsent) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.events)
}

// UnsentEvents counts the lifecycle events kept to publish again.
func (r *Reconciler) UnsentEvents() int { return r.unsent.len() }

// sendEvent publishes msg, the event typ of ref. While events are kept it
// goes behind them (and they are tried, if due); one whose publish fails
// is kept, and ref's reconcile asked for once the backoff has passed.
func (r *Reconciler) sendEvent(ctx context.Context, ref runtime.Ref, typ string, msg *nats.Msg) {
	ev := keptEvent{ref: ref, typ: typ, msg: msg}
	if kept, dropped := r.unsent.keepBehind(ev); kept {
		r.logDropped(ctx, dropped)
		r.resend(ctx)
		return
	}
	err := publishAcked(ctx, r.JS, msg)
	switch {
	case err == nil:
		return
	case refused(err):
		r.logRefused(ctx, ev, err)
		return
	}
	r.logDropped(ctx, r.unsent.keep(ev))
	wait, first := r.unsent.failed(r.now(), false)
	if first {
		r.Log.WarnContext(ctx, "lifecycle events not stored; kept to publish again", "tenant", ref.Tenant, "function", ref.Name, "type", typ, "retryIn", wait.String(), "err", err)
	}
	r.requeue(ref, wait)
}

// resend publishes the events kept, oldest first, if their backoff has
// passed and no other try is under way. A failed try asks for the
// reconcile of the function whose event is oldest once the next backoff
// has passed.
func (r *Reconciler) resend(ctx context.Context) {
	u := &r.unsent
	if !u.due(r.now()) || !u.sending.TryLock() {
		return
	}
	defer u.sending.Unlock()
	sent := 0
	for {
		ev, ok := u.head()
		if !ok {
			break
		}
		err := publishAcked(ctx, r.JS, ev.msg)
		if err != nil && !refused(err) {
			wait, _ := u.failed(r.now(), sent > 0)
			r.Log.DebugContext(ctx, "kept lifecycle events still not stored", "kept", u.len(), "retryIn", wait.String(), "err", err)
			r.requeue(ev.ref, wait)
			return
		}
		if err != nil {
			r.logRefused(ctx, ev, err)
		} else {
			sent++
		}
		if u.done(ev.seq) == 0 {
			break
		}
	}
	if sent > 0 {
		r.Log.InfoContext(ctx, "kept lifecycle events published", "events", sent)
	}
}

func (r *Reconciler) logRefused(ctx context.Context, ev keptEvent, err error) {
	r.Log.ErrorContext(ctx, "lifecycle event refused by the events stream; dropped", "tenant", ev.ref.Tenant, "function", ev.ref.Name, "type", ev.typ, "err", err)
}

func (r *Reconciler) logDropped(ctx context.Context, dropped int) {
	if dropped > 0 {
		r.Log.ErrorContext(ctx, "lifecycle events dropped: too many could not be published", "dropped", dropped)
	}
}
