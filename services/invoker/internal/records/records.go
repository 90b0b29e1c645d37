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

// Read reads a record and its revision (0 when there is none), for a
// writer that goes on with UpdateFrom.
func (s Store) Read(ctx context.Context, tenant, fn, id string) (r events.StoredInvocation, rev uint64, err error) {
	e, err := s.KV.Get(ctx, events.InvocationKey(tenant, fn, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return r, 0, nil
	}
	if err != nil {
		return r, 0, fmt.Errorf("read invocation %s: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, 0, fmt.Errorf("decode invocation %s: %w", id, err)
	}
	return r, e.Revision(), nil
}

// Update applies change to the record of id as stored (see
// events.UpdateInvocation) and returns what it wrote.
func (s Store) Update(ctx context.Context, tenant, fn, id string, change func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error)) (events.StoredInvocation, error) {
	return events.UpdateInvocation(ctx, s.KV, events.InvocationKey(tenant, fn, id), change)
}

// UpdateFrom is Update from the record cur the caller holds as of revision
// rev (0: none), read by Read or written by its last UpdateFrom: no read
// unless the revision went stale (events.UpdateInvocationFrom). It returns
// what it wrote and the revision to go on from.
func (s Store) UpdateFrom(ctx context.Context, tenant, fn, id string, cur events.StoredInvocation, rev uint64, change func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error)) (events.StoredInvocation, uint64, error) {
	return events.UpdateInvocationFrom(ctx, s.KV, events.InvocationKey(tenant, fn, id), cur, rev, change)
}
