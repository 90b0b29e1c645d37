// Package records writes invocation records into the invocations bucket.
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
func (s Store) Get(ctx context.Context, tenant, fn, id string) (r events.InvocationRecord, ok bool, err error) {
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

// Put writes a record, waiting for JetStream to store it.
func (s Store) Put(ctx context.Context, r events.InvocationRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.KV.Put(ctx, events.InvocationKey(r.Tenant, r.Function, r.ID), b); err != nil {
		return fmt.Errorf("write invocation %s: %w", r.ID, err)
	}
	return nil
}
