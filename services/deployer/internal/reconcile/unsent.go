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
// to report. Such events are kept (unsent) and published again, in their
// order and before any newer event, on the next publish and on the next
// reconcile, which the failing one asks for after a backoff. Each keeps
// its CloudEvents id, the events stream's Nats-Msg-Id, so an event that
// was stored although its ack was lost is not stored twice within the
// stream's de-duplication window. They live in memory: a deployer that
// stops with some loses them.

const (
	// maxUnsent bounds the events kept; past it the oldest are dropped
	// (logged), so an events stream gone for long costs bounded memory.
	maxUnsent = 10_000
	// firstResend is the wait before the first try again; each failed try
	// doubles it, up to maxResend.
	firstResend = 500 * time.Millisecond
	maxResend   = 30 * time.Second
)

// unsent are the events whose publish failed, oldest first.
type unsent struct {
	limit int // of the events kept; 0: maxUnsent

	mu   sync.Mutex // held across publishes, so events keep their order
	msgs []*nats.Msg
	wait time.Duration // before the next try, after a failed one
}

// send publishes msg after every event kept before it. On a failure it
// keeps what is left and returns the error and how long to wait before
// trying again; dropped counts the events let go: refused by the server,
// or the oldest past the limit.
func (u *unsent) send(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) (retryIn time.Duration, dropped int, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if msg != nil {
		u.msgs = append(u.msgs, msg)
	}
	for len(u.msgs) > 0 {
		if _, err = js.PublishMsg(ctx, u.msgs[0]); err != nil && !refused(err) {
			break
		}
		if err != nil {
			// Refused by the server (too large, not permitted): trying
			// again would refuse it again and hold up every later event.
			dropped, err = dropped+1, nil
		}
		u.msgs[0] = nil
		u.msgs = u.msgs[1:]
	}
	if err == nil {
		u.msgs, u.wait = nil, 0
		return 0, dropped, nil
	}
	limit := u.limit
	if limit <= 0 {
		limit = maxUnsent
	}
	if over := len(u.msgs) - limit; over > 0 {
		clear(u.msgs[:over])
		u.msgs, dropped = u.msgs[over:], dropped+over
	}
	u.wait = min(max(2*u.wait, firstResend), maxResend)
	return u.wait, dropped, err
}

// refused says whether the server answered a publish with a refusal,
// which no retry changes.
func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrPermissionViolation)
}

// pending says whether some events wait to be published again.
func (u *unsent) pending() bool { return u.len() > 0 }

func (u *unsent) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.msgs)
}

// UnsentEvents counts the lifecycle events kept to publish again.
func (r *Reconciler) UnsentEvents() int { return r.unsent.len() }

// resend publishes the events kept, if any; a failure asks for ref's
// reconcile again after the backoff.
func (r *Reconciler) resend(ctx context.Context, ref runtime.Ref) {
	if r.unsent.pending() {
		r.sendEvent(ctx, ref, nil, "")
	}
}

// sendEvent publishes msg (an event of type typ; nil: only those kept)
// after the events kept before it, keeping it if that fails.
func (r *Reconciler) sendEvent(ctx context.Context, ref runtime.Ref, msg *nats.Msg, typ string) {
	retryIn, dropped, err := r.unsent.send(ctx, r.JS, msg)
	if dropped > 0 {
		r.Log.ErrorContext(ctx, "lifecycle events dropped: refused by the server, or too many could not be published", "dropped", dropped)
	}
	if err != nil {
		r.Log.WarnContext(ctx, "lifecycle event not stored yet; kept to publish again", "tenant", ref.Tenant, "function", ref.Name,
			"type", typ, "retryIn", retryIn.String(), "err", err)
		r.requeue(ref, retryIn)
	}
}
