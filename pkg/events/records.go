package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The invocation record's state machine. Every write of a record after its
// creation goes through UpdateInvocation: a KV Update with the revision it
// read, so no writer can put back a state it read before another writer
// moved on; on a revision mismatch the change is re-applied to the record
// as it now is, and refused if the transition is no longer valid.
//
//	(none) ──► queued ──► running ──► succeeded | failed | retrying | dead_lettered
//	                        ▲  └─ running (a redelivery after a crash) │
//	                        └──────────── retrying ◄───────────────────┘
//	dead_lettered ──► queued (redrive)
//
// Any state that is not final may also end (succeeded, failed,
// dead_lettered) without running, e.g. when the function is gone; a
// final record only ever goes back to queued by a redrive (from
// dead_lettered). A write that keeps the status (the callback outcome, a
// rewrite of running) is valid in every state.

// ErrInvalidTransition is returned when a change would move a record along
// no edge of the state machine: it was moved on by another writer.
var ErrInvalidTransition = errors.New("invalid invocation record transition")

// ValidTransition reports whether a record may go from status from to
// status to ("" from: there is no record yet).
func ValidTransition(from, to string) bool {
	switch {
	case from == to:
		return true
	case from == "":
		return true
	case from == StatusDeadLettered:
		return to == StatusQueued
	case from == StatusSucceeded || from == StatusFailed:
		return false
	}
	// queued, running, retrying: on to any later state; a queued record
	// does not go back to queued from running or retrying except by the
	// same status rule above.
	return to != StatusQueued
}

// Redriven is the record of a dead-lettered invocation queued again: status
// queued, and its callback (if it asked for one) pending again, since the
// new end will be called back. ok is false for a record not dead-lettered.
func Redriven(r StoredInvocation) (StoredInvocation, bool) {
	if r.Status != StatusDeadLettered {
		return r, false
	}
	r.Status = StatusQueued
	if r.Callback != nil {
		cb := *r.Callback
		cb.Status, cb.Attempts, cb.LastError = CallbackPending, 0, ""
		r.Callback = &cb
	}
	return r, true
}

// WithCallbackOutcome is the record with the outcome of a callback about
// the end the invocation reached after attempts attempts: it changes the
// callback part only, and only while the record still is that end (a
// redriven invocation's record is not: the outcome is stale).
func WithCallbackOutcome(r StoredInvocation, attempts int, status string, deliveries int, lastError string) (StoredInvocation, error) {
	if !r.Done() || r.Callback == nil || r.Attempts != attempts {
		return r, fmt.Errorf("%w: callback of attempt %d for a record %s after %d attempts", ErrInvalidTransition, attempts, r.Status, r.Attempts)
	}
	cb := *r.Callback
	cb.Status, cb.Attempts, cb.LastError = status, deliveries, lastError
	r.Callback = &cb
	return r, nil
}

// maxUpdateTries bounds the re-reads of UpdateInvocation under contention.
const maxUpdateTries = 16

// UpdateInvocation applies change to the record under key in kv, with a
// revision-checked write: Create when there is no record (change gets
// exists false and a zero record), Update with the revision read
// otherwise; on a conflict it reads again and re-applies change. change
// returning an error stops it with that error (nothing is written), and so
// does a change whose status is not a ValidTransition from the current
// one (ErrInvalidTransition). It returns the record written.
func UpdateInvocation(ctx context.Context, kv jetstream.KeyValue, key string, change func(cur StoredInvocation, exists bool) (StoredInvocation, error)) (StoredInvocation, error) {
	cur, rev, err := readInvocation(ctx, kv, key)
	if err != nil {
		return cur, err
	}
	next, _, err := UpdateInvocationFrom(ctx, kv, key, cur, rev, change)
	return next, err
}

// UpdateInvocationFrom is UpdateInvocation for a writer that already holds
// the record as of revision rev (0: it found none), e.g. from its own last
// write: the first try applies change to cur and writes with that revision,
// with no read; only a conflict reads again (and re-applies change, as
// UpdateInvocation does). It returns the record written and its revision,
// for the writer's next write.
func UpdateInvocationFrom(ctx context.Context, kv jetstream.KeyValue, key string, cur StoredInvocation, rev uint64, change func(cur StoredInvocation, exists bool) (StoredInvocation, error)) (StoredInvocation, uint64, error) {
	for try := range maxUpdateTries {
		if try > 0 {
			var err error
			if cur, rev, err = readInvocation(ctx, kv, key); err != nil {
				return cur, 0, err
			}
		}
		next, err := change(cur, rev != 0)
		if err != nil {
			return cur, rev, err
		}
		if from := cur.Status; rev != 0 && !ValidTransition(from, next.Status) {
			return cur, rev, fmt.Errorf("%w: %s to %s", ErrInvalidTransition, from, next.Status)
		}
		b, err := json.Marshal(next)
		if err != nil {
			return cur, rev, err
		}
		var nrev uint64
		if rev == 0 {
			nrev, err = kv.Create(ctx, key, b)
		} else {
			nrev, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return next, nrev, nil
		}
		if !IsRevisionMismatch(err) {
			return cur, rev, fmt.Errorf("write invocation record %s: %w", key, err)
		}
	}
	return StoredInvocation{}, 0, fmt.Errorf("write invocation record %s: still changing after %d tries", key, maxUpdateTries)
}

// readInvocation reads the record under key and its revision (0 and a
// zero record when there is none).
func readInvocation(ctx context.Context, kv jetstream.KeyValue, key string) (StoredInvocation, uint64, error) {
	var cur StoredInvocation
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return cur, 0, nil
	case err != nil:
		return cur, 0, fmt.Errorf("read invocation record %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return cur, 0, fmt.Errorf("decode invocation record %s: %w", key, err)
	}
	return cur, e.Revision(), nil
}

// IsRevisionMismatch reports a KV Create or Update that lost to another
// writer.
// Replicated (R>1) streams answer a lost race with code 10164 rather than
// 10071: both are a mismatch.
func IsRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}
