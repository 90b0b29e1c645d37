package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// TriggerStates reads the stored state (written by the invoker) of each of
// the spec's triggers, by trigger key: one KV read per trigger, at most
// function.MaxTriggers. A trigger that never fired has no entry.
func (s *Store) TriggerStates(ctx context.Context, tenant string, spec function.Spec) (map[string]function.TriggerStatus, error) {
	if len(spec.Triggers) == 0 {
		return nil, nil
	}
	out := make(map[string]function.TriggerStatus, len(spec.Triggers))
	for _, t := range spec.Triggers {
		key := t.Key()
		e, err := s.b.Triggers.Get(ctx, events.TriggerKey(tenant, spec.Name, key))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read trigger state %s/%s/%s: %w", tenant, spec.Name, key, err)
		}
		var st function.TriggerStatus
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return nil, fmt.Errorf("decode trigger state %s/%s/%s: %w", tenant, spec.Name, key, err)
		}
		out[key] = st
	}
	return out, nil
}

// watchKeysMax bounds the keys one watch filters on; a tenant's list
// (at most its functions times function.MaxTriggers keys) takes a few.
const watchKeysMax = 256

// FunctionsTriggerStates reads the stored state of every trigger of the
// given functions (one tenant's), by function name then trigger key. It
// reads exactly those keys, with one filtered watch per watchKeysMax of
// them rather than a read per trigger, so it costs what the listed specs
// hold: states of triggers no longer in a spec (the invoker keeps them)
// are not read.
func (s *Store) FunctionsTriggerStates(ctx context.Context, tenant string, specs []function.Spec) (map[string]map[string]function.TriggerStatus, error) {
	type ref struct{ fn, key string }
	want := map[string]ref{} // bucket key -> function and trigger key
	var keys []string
	for _, sp := range specs {
		for _, t := range sp.Triggers {
			k := events.TriggerKey(tenant, sp.Name, t.Key())
			if _, dup := want[k]; !dup {
				want[k] = ref{sp.Name, t.Key()}
				keys = append(keys, k)
			}
		}
	}
	out := map[string]map[string]function.TriggerStatus{}
	for len(keys) > 0 {
		n := min(len(keys), watchKeysMax)
		if err := watchCurrent(ctx, s.b.Triggers, keys[:n], func(k string, v []byte) error {
			r, ok := want[k]
			if !ok {
				return nil
			}
			var st function.TriggerStatus
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode trigger state %s: %w", k, err)
			}
			if out[r.fn] == nil {
				out[r.fn] = map[string]function.TriggerStatus{}
			}
			out[r.fn][r.key] = st
			return nil
		}); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}
