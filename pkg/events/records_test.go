package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// countingKV counts the reads of a bucket.
type countingKV struct {
	jetstream.KeyValue
	gets int
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets++
	return c.KeyValue.Get(ctx, key)
}

// TestUpdateInvocationFrom: a writer that holds the record and its
// revision writes without reading; when the revision went stale it reads
// again and re-applies its change through the state machine.
func TestUpdateInvocationFrom(t *testing.T) {
	_, _, _, b := natstest.Provisioned(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv := &countingKV{KeyValue: b.Invocations}
	key := events.InvocationKey("acme", "upper", testID)
	set := func(status string) func(events.StoredInvocation, bool) (events.StoredInvocation, error) {
		return func(cur events.StoredInvocation, _ bool) (events.StoredInvocation, error) {
			cur.Status = status
			cur.Attempts++
			return cur, nil
		}
	}
	base := events.StoredInvocation{ID: testID, Tenant: "acme", Function: "upper", Async: true}

	// No record held: created, no read.
	r, rev, err := events.UpdateInvocationFrom(ctx, kv, key, base, 0, set(events.StatusQueued))
	if err != nil || rev == 0 || r.Status != events.StatusQueued {
		t.Fatalf("create: %+v rev %d: %v", r, rev, err)
	}
	// Chained from the revision written: still no read.
	r, rev, err = events.UpdateInvocationFrom(ctx, kv, key, r, rev, set(events.StatusRunning))
	if err != nil || r.Status != events.StatusRunning || r.Attempts != 2 {
		t.Fatalf("running: %+v: %v", r, err)
	}
	if kv.gets != 0 {
		t.Fatalf("%d reads for writes from known revisions, want 0", kv.gets)
	}
	// Another writer moves it on: the stale revision is read again and the
	// change re-applied to the record as it now is.
	if _, err := events.UpdateInvocation(ctx, b.Invocations, key, set(events.StatusRetrying)); err != nil {
		t.Fatal(err)
	}
	r2, rev2, err := events.UpdateInvocationFrom(ctx, kv, key, r, rev, set(events.StatusRunning))
	if err != nil || r2.Status != events.StatusRunning || r2.Attempts != 4 || rev2 <= rev || kv.gets != 1 {
		t.Fatalf("after a conflict: %+v rev %d (was %d), %d reads: %v", r2, rev2, rev, kv.gets, err)
	}
	// A creator that lost to another's Create re-applies to that record.
	other := events.InvocationKey("acme", "upper", events.NewInvocationID())
	if _, err := b.Invocations.Create(ctx, other, mustJSON(t, events.StoredInvocation{Status: events.StatusSucceeded})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := events.UpdateInvocationFrom(ctx, kv, other, base, 0, set(events.StatusRunning)); !errors.Is(err, events.ErrInvalidTransition) {
		t.Fatalf("running over a stale view of a succeeded record: %v", err)
	}
	e, err := b.Invocations.Get(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	var got events.StoredInvocation
	_ = json.Unmarshal(e.Value(), &got)
	if got.Status != events.StatusSucceeded {
		t.Fatalf("record %+v, want the other writer's", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
