// Package records reads and writes invocation records in the invocations
// bucket. Every write is revision-checked (events.UpdateInvocation): a
// change is applied to the record as stored and refused when the state
// machine no longer allows it, so no write puts back a stale state.
package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
)

// Store writes and reads invocation records.
type Store struct{ KV jetstream.KeyValue }

// Get reads a record; ok is false when there is none.
func (s Store) Get(ctx context.Context, tenant, fn, id string) (r events.StoredInvocation, ok bool, err error) {
	e, err := s.KV.Get(ctx, events.InvocationKey(tenant, fn, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read invocation %s: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, false, fmt.Errorf("decode invocation %s: %w", id, err)
	}
	return r, true, nil
}

// Update applies change to the record of id as stored (see
// events.UpdateInvocation) and returns what it wrote.
func (s Store) Update(ctx context.Context, tenant, fn, id string, change func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error)) (events.StoredInvocation, error) {
	return events.UpdateInvocation(ctx, s.KV, events.InvocationKey(tenant, fn, id), change)
}
