package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/telemetry"
)

// Settlement of async invocations in one place: handleAsync decides what
// becomes of a message and returns it as an outcome, touching neither the
// message's ack state nor the final record; settler.settle carries the
// outcome out (record, dead letter, lifecycle event, callback) and ends
// with exactly one of Ack, DoubleAck, NakWithDelay or Term. The order of
// those steps is what makes the invoker lose nothing: whatever must be
// durable is stored before the message is acked, and a failure to store
// it naks the message instead.

// outcomeKind is what becomes of an invocation message.
type outcomeKind int

const (
	// outcomeDone: a final result (succeeded or failed) to record; then
	// its event, its callback queued, and the ack.
	outcomeDone outcomeKind = iota + 1
	// outcomeRetry: a failed attempt the policy tries again: record
	// retrying, its event, and a nak with the backoff.
	outcomeRetry
	// outcomeDeadLetter: no attempt left: the dead letter stored, then
	// the record dead_lettered, its event, its callback, and the ack.
	outcomeDeadLetter
	// outcomeRedeliverLater: the invoker itself could not handle it (a
	// read failed, the catalog is unavailable): a nak after RetryDelay,
	// nothing written.
	outcomeRedeliverLater
	// outcomeDrop: a malformed message, which no redelivery will mend:
	// terminated.
	outcomeDrop
	// outcomeAlreadySettled: the invocation's end was recorded before
	// (a redelivery, or another delivery finished first): acked without
	// running, after its callback is queued again if still pending.
	outcomeAlreadySettled
	// outcomeCold: the function had no ready instance (scale from zero)
	// and the invocation's hold ended without one: back to its queue, a
	// nak after RetryDelay, no attempt counted. Nothing is written,
	// unless the record was written running while a call of the runtime
	// was under way: then it is written back with the attempt taken off.
	outcomeCold
)

func (k outcomeKind) String() string {
	switch k {
	case outcomeDone:
		return "done"
	case outcomeRetry:
		return "retry"
	case outcomeDeadLetter:
		return "deadLetter"
	case outcomeRedeliverLater:
		return "redeliverLater"
	case outcomeDrop:
		return "drop"
	case outcomeAlreadySettled:
		return "alreadySettled"
	case outcomeCold:
		return "cold"
	}
	return "unknown"
}

// held is a record as stored at a revision (0: none stored): what the
// next revision-checked write goes from, so a writer that just read or
// wrote the record does not read it again.
type held struct {
	rec events.StoredInvocation
	rev uint64
}

// outcome is the handler's decision about one invocation message.
type outcome struct {
	kind outcomeKind
	// record is the record to write (done, retry, deadLetter), the
	// record as stored (alreadySettled; zero when unknown), or just who
	// the invocation is, for the log.
	record events.StoredInvocation
	// from is the stored record the write goes from.
	from held
	// event is the lifecycle event type published once record is written.
	event string
	// after is a retry's backoff.
	after time.Duration
	// inv is the invocation, for its dead letter.
	inv events.Invocation
	// reason says why, for the log (redeliverLater, drop, alreadySettled,
	// cold).
	reason error
	// restore: record is to be written over from before a cold
	// outcome's nak.
	restore bool
}

func done(r events.StoredInvocation, from held) outcome {
	typ := events.TypeInvocationSucceeded
	if r.Status == events.StatusFailed {
		typ = events.TypeInvocationFailed
	}
	return outcome{kind: outcomeDone, record: r, from: from, event: typ}
}

func retryAfter(r events.StoredInvocation, from held, delay time.Duration) outcome {
	r.Status = events.StatusRetrying
	return outcome{kind: outcomeRetry, record: r, from: from, event: events.TypeInvocationRetrying, after: delay}
}

func deadLettered(inv events.Invocation, r events.StoredInvocation, from held) outcome {
	r.Status = events.StatusDeadLettered
	return outcome{kind: outcomeDeadLetter, record: r, from: from, event: events.TypeInvocationDeadLettered, inv: inv}
}

func redeliverLater(who events.StoredInvocation, err error) outcome {
	return outcome{kind: outcomeRedeliverLater, record: who, reason: err}
}

// maxColdDelay bounds the wait of an invocation sent back to its queue
// because its function had no ready instance.
const maxColdDelay = time.Minute

// coldDelay is how long an invocation that found no ready instance waits
// before it is delivered again: the retry delay, doubled with each
// delivery up to maxColdDelay, so the invocations of a function that stays
// cold (paused with scale.max 0, or failing to start) are redelivered
// ever more rarely instead of once a second each. A function that wakes
// in a second costs one retry delay.
func coldDelay(base time.Duration, msg acker) time.Duration {
	n := uint64(1)
	if m, ok := msg.(interface {
		Metadata() (*jetstream.MsgMetadata, error)
	}); ok {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 0 {
			n = md.NumDelivered
		}
	}
	// The retry policies' backoff, without its jitter (1: the whole delay).
	p := function.RetryPolicy{InitialDelay: function.Duration(base), MaxDelay: function.Duration(maxColdDelay)}
	return p.Delay(int(min(n, 64)), 1)
}

// coldLater sends an invocation that found no ready instance back to its
// queue. restore says r (its attempt taken off) is to be written over
// from: the running mark wrote the attempt in the meantime.
func coldLater(r events.StoredInvocation, from held, restore bool, err error) outcome {
	return outcome{kind: outcomeCold, record: r, from: from, restore: restore, reason: err}
}

func drop(err error) outcome { return outcome{kind: outcomeDrop, reason: err} }

func alreadySettled(stored events.StoredInvocation, why error) outcome {
	return outcome{kind: outcomeAlreadySettled, record: stored, reason: why}
}

// acker is the part of a jetstream.Msg settlement uses.
type acker interface {
	Ack() error
	DoubleAck(context.Context) error
	NakWithDelay(time.Duration) error
	Term() error
}

// settler carries out outcomes. Its effects are functions so that the
// mapping from outcome to actions is tested without a bus.
type settler struct {
	retryDelay time.Duration
	log        *slog.Logger
	// write writes r over the record held, revision-checked; on
	// events.ErrInvalidTransition it returns the record as now stored.
	write             func(ctx context.Context, r events.StoredInvocation, from held) (events.StoredInvocation, held, error)
	publishDeadLetter func(ctx context.Context, dl events.DeadLetter) error
	queueCallback     func(ctx context.Context, r events.StoredInvocation) error
	emit              func(ctx context.Context, typ string, r events.StoredInvocation)
}

// asyncHandler decides what becomes of an invocation message.
type asyncHandler func(ctx context.Context, msg jetstream.Msg) outcome

// msgHandler consumes a message to the end, settled.
type msgHandler func(ctx context.Context, msg jetstream.Msg)

// settled is the middleware that settles whatever next decides.
func (s settler) settled(next asyncHandler) msgHandler {
	return func(ctx context.Context, msg jetstream.Msg) {
		s.settle(ctx, msg, next(ctx, msg))
	}
}

// traced runs next in a consumer span continuing the producer's trace, so
// settlement (and the events it publishes) is in the invocation's trace.
func traced(tracer trace.Tracer, next msgHandler) msgHandler {
	return func(ctx context.Context, msg jetstream.Msg) {
		ctx = telemetry.Extract(ctx, msg.Headers())
		ctx, span := tracer.Start(ctx, "invoke async", trace.WithSpanKind(trace.SpanKindConsumer))
		defer span.End()
		next(ctx, msg)
	}
}

// settle turns o into its writes and exactly one settlement of msg.
func (s settler) settle(ctx context.Context, msg acker, o outcome) {
	r := o.record
	log := &invLog{base: s.log, r: r}
	switch o.kind {
	case outcomeDrop:
		log.WarnContext(ctx, "dropping malformed invocation", "err", o.reason)
		_ = msg.Term()

	case outcomeRedeliverLater:
		log.WarnContext(ctx, "invocation not handled; will retry", "err", o.reason)
		_ = msg.NakWithDelay(s.retryDelay)

	case outcomeAlreadySettled:
		s.settledElsewhere(ctx, log, msg, r, o.reason)

	case outcomeCold:
		if o.restore {
			_, goOn, err := s.record(ctx, log, msg, r, o.from)
			if !goOn {
				return
			}
			if err != nil {
				// The nak below brings it back whatever the record says;
				// its attempts then count one run too many.
				log.WarnContext(ctx, "record attempts of an invocation back in its queue", "err", err)
			}
		}
		log.DebugContext(ctx, "no ready instance: invocation back in its queue", "err", o.reason)
		_ = msg.NakWithDelay(coldDelay(s.retryDelay, msg))

	case outcomeRetry:
		r, goOn, err := s.record(ctx, log, msg, r, o.from)
		if !goOn {
			return
		}
		if err != nil {
			// The nak below brings the attempt back whatever the record
			// says, so this is not worth another round.
			log.WarnContext(ctx, "record retrying", "err", err)
		}
		s.emit(ctx, o.event, r)
		_ = msg.NakWithDelay(o.after)

	case outcomeDeadLetter:
		// The dead letter first: once it is stored, the message may go. The
		// same one published twice (a crash before the ack) is stored once
		// (its Nats-Msg-Id is per id and attempts).
		dl := events.DeadLetter{Invocation: o.inv, Attempts: r.Attempts, Error: r.Error}
		if err := s.publishDeadLetter(ctx, dl); err != nil {
			log.WarnContext(ctx, "dead-letter; will retry", "err", err)
			_ = msg.NakWithDelay(s.retryDelay)
			return
		}
		r, goOn, err := s.record(ctx, log, msg, r, o.from)
		if !goOn {
			return
		}
		if err != nil {
			// Not nak'ed: the dead letter is stored, and a redelivery
			// would run the invocation again and dead-letter it twice.
			log.WarnContext(ctx, "record dead-lettered", "err", err)
		}
		log.InfoContext(ctx, "invocation dead-lettered", "attempts", r.Attempts, "error", r.Error)
		s.final(ctx, log, msg, o.event, r)

	case outcomeDone:
		r, goOn, err := s.record(ctx, log, msg, r, o.from)
		if !goOn {
			return
		}
		if err != nil {
			log.WarnContext(ctx, "record result; will retry", "err", err)
			_ = msg.NakWithDelay(s.retryDelay)
			return
		}
		s.final(ctx, log, msg, o.event, r)

	default:
		log.ErrorContext(ctx, "unknown invocation outcome; will retry", "kind", o.kind)
		_ = msg.NakWithDelay(s.retryDelay)
	}
}

// record writes r over from and returns what the outcome goes on with: the
// record written, or r and the error of a failed write, for the caller to
// weigh. A record another writer finished meanwhile settles msg here
// (settledElsewhere), and goOn is false.
func (s settler) record(ctx context.Context, log *invLog, msg acker, r events.StoredInvocation, from held) (_ events.StoredInvocation, goOn bool, _ error) {
	w, _, err := s.write(ctx, r, from)
	switch {
	case errors.Is(err, events.ErrInvalidTransition):
		s.settledElsewhere(ctx, log, msg, w, err)
		return r, false, nil
	case err != nil:
		return r, true, err
	}
	return w, true, nil
}

// final finishes a recorded end: its event, its callback queued durably,
// and only then the ack, confirmed by the server (a failed queueing naks,
// so the message comes back and the callback is not lost).
func (s settler) final(ctx context.Context, log *invLog, msg acker, typ string, r events.StoredInvocation) {
	s.emit(ctx, typ, r)
	if err := s.queueCallback(ctx, r); err != nil {
		log.WarnContext(ctx, "queue callback; will retry", "err", err)
		_ = msg.NakWithDelay(s.retryDelay)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil {
		log.WarnContext(ctx, "ack", "err", err)
	}
}

// settledElsewhere acks a message whose invocation's end is recorded
// already (stored, as read), without running it: its callback is queued
// again if still pending, since the crash that caused the redelivery may
// have come before the queueing (the queue de-duplicates).
func (s settler) settledElsewhere(ctx context.Context, log *invLog, msg acker, stored events.StoredInvocation, why error) {
	if why != nil {
		log.InfoContext(ctx, "invocation settled already; not running it again", "status", stored.Status, "err", why)
	}
	if stored.Done() && stored.Callback != nil && stored.Callback.Status == events.CallbackPending {
		if err := s.queueCallback(ctx, stored); err != nil {
			log.WarnContext(ctx, "queue callback; will retry", "err", err)
			_ = msg.NakWithDelay(s.retryDelay)
			return
		}
	}
	_ = msg.Ack()
}

// invLog is the settler's logger with the invocation's identity, made
// only when something is logged: most settlements log nothing.
type invLog struct {
	base *slog.Logger
	r    events.StoredInvocation
	l    *slog.Logger
}

func (l *invLog) get() *slog.Logger {
	if l.l == nil {
		l.l = l.base
		if l.r.ID != "" {
			l.l = l.base.With("id", l.r.ID, "tenant", l.r.Tenant, "function", l.r.Function)
		}
	}
	return l.l
}

func (l *invLog) InfoContext(ctx context.Context, msg string, args ...any) {
	l.get().InfoContext(ctx, msg, args...)
}

func (l *invLog) DebugContext(ctx context.Context, msg string, args ...any) {
	l.get().DebugContext(ctx, msg, args...)
}

func (l *invLog) WarnContext(ctx context.Context, msg string, args ...any) {
	l.get().WarnContext(ctx, msg, args...)
}

func (l *invLog) ErrorContext(ctx context.Context, msg string, args ...any) {
	l.get().ErrorContext(ctx, msg, args...)
}
