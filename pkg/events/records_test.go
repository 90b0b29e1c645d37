package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestUpdateInvocationIsRevisionChecked: a writer whose read went stale
// does not put back what it read: its change is re-applied to the record
// as it now is, and refused when the transition is no longer valid.
func TestUpdateInvocationIsRevisionChecked(t *testing.T) {
	_, _, _, b := natstest.Provisioned(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := events.InvocationKey("acme", "upper", testID)
	base := events.StoredInvocation{ID: testID, Tenant: "acme", Function: "upper", Async: true, Status: events.StatusDeadLettered, Attempts: 3,
		Callback: &events.CallbackStatus{URL: "https://x.example", Status: events.CallbackPending}}

	// Created when there is none.
	if _, err := events.UpdateInvocation(ctx, b.Invocations, key, func(_ events.StoredInvocation, exists bool) (events.StoredInvocation, error) {
		if exists {
			t.Fatal("a record before the first write")
		}
		return base, nil
	}); err != nil {
		t.Fatal(err)
	}
	// A callback outcome whose first read is overtaken by a redrive: the
	// retry sees the queued record, and refuses to write.
	calls := 0
	_, err := events.UpdateInvocation(ctx, b.Invocations, key, func(cur events.StoredInvocation, _ bool) (events.StoredInvocation, error) {
		calls++
		if calls == 1 {
			if _, err := events.UpdateInvocation(ctx, b.Invocations, key, func(cur events.StoredInvocation, _ bool) (events.StoredInvocation, error) {
				r, ok := events.Redriven(cur)
				if !ok {
					t.Fatalf("not redrivable: %+v", cur)
				}
				return r, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return events.WithCallbackOutcome(cur, 3, events.CallbackDelivered, 1, "")
	})
	if !errors.Is(err, events.ErrInvalidTransition) || calls != 2 {
		t.Fatalf("stale callback write: %v after %d calls", err, calls)
	}
	e, err := b.Invocations.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var r events.StoredInvocation
	_ = json.Unmarshal(e.Value(), &r)
	if r.Status != events.StatusQueued || r.Callback.Status != events.CallbackPending {
		t.Fatalf("record %+v, want the redrive's", r)
	}
	// A change along no edge is refused even if the writer does not check.
	if _, err := events.UpdateInvocation(ctx, b.Invocations, key, func(cur events.StoredInvocation, _ bool) (events.StoredInvocation, error) {
		cur.Status = events.StatusSucceeded
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.UpdateInvocation(ctx, b.Invocations, key, func(cur events.StoredInvocation, _ bool) (events.StoredInvocation, error) {
		cur.Status = events.StatusRunning
		return cur, nil
	}); !errors.Is(err, events.ErrInvalidTransition) {
		t.Fatalf("succeeded -> running: %v", err)
	}
}
