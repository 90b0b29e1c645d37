package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// flushEvery is how often a replica adds what its triggers did to the
// stored states: a busy nats trigger costs one state write a flush, not
// one per message.
const flushEvery = 500 * time.Millisecond

// State keeps the triggers' states in the triggers bucket. Each replica
// counts what its own fires did and adds it to the stored state with a
// revision-checked write (so replicas' counts add up).
type State struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*function.TriggerStatus // by TriggerKey: deltas and latest fields
}

func newState(kv jetstream.KeyValue, log *slog.Logger) *State {
	return &State{kv: kv, log: log, pending: map[string]*function.TriggerStatus{}}
}

func (s *State) delta(fire Fire) *function.TriggerStatus {
	k := events.TriggerKey(fire.Tenant, fire.Function, fire.Ref.Key)
	d := s.pending[k]
	if d == nil {
		d = &function.TriggerStatus{Key: fire.Ref.Key, Type: fire.Ref.Type}
		s.pending[k] = d
	}
	return d
}

func (s *State) fired(fire Fire) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.delta(fire)
	d.Fires++
	if !fire.At.Before(d.LastFire) {
		d.LastFire, d.LastInvocation = fire.At.UTC(), fire.ID
	}
}

func (s *State) failed(fire Fire, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.delta(fire)
	d.Errors++
	d.LastError, d.LastErrorAt = events.HeaderSafe(err.Error()), time.Now().UTC()
}

// run flushes every flushEvery until ctx ends, then once more.
func (s *State) run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.Flush(fctx)
			cancel()
			return
		case <-t.C:
			s.Flush(ctx)
		}
	}
}

// Flush adds the pending deltas to the stored states; a delta that could
// not be stored is kept for the next flush.
func (s *State) Flush(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[string]*function.TriggerStatus{}
	s.mu.Unlock()
	for k, d := range pending {
		s.store(ctx, k, d)
	}
}

// flushKey adds one trigger's pending delta to its stored state now (a
// cron tick's, so that a restart right after it reads it).
func (s *State) flushKey(ctx context.Context, k string) {
	s.mu.Lock()
	d := s.pending[k]
	delete(s.pending, k)
	s.mu.Unlock()
	if d != nil {
		s.store(ctx, k, d)
	}
}

// store adds d to the stored state under k, or keeps it for the next
// flush if it cannot.
func (s *State) store(ctx context.Context, k string, d *function.TriggerStatus) {
	if err := s.add(ctx, k, *d); err != nil {
		s.log.Warn("trigger state not stored; kept for the next flush", "key", k, "err", err)
		s.mu.Lock()
		if cur := s.pending[k]; cur != nil {
			merge(d, *cur)
		}
		s.pending[k] = d
		s.mu.Unlock()
	}
}

// add merges d into the stored state under k, revision-checked.
func (s *State) add(ctx context.Context, k string, d function.TriggerStatus) error {
	for range 16 {
		var cur function.TriggerStatus
		var rev uint64
		e, err := s.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return err
			}
			rev = e.Revision()
		}
		merge(&cur, d)
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, k, b)
		} else {
			_, err = s.kv.Update(ctx, k, b, rev)
		}
		if err == nil {
			return nil
		}
		if !events.IsRevisionMismatch(err) {
			return err
		}
	}
	return errors.New("still changing after 16 tries")
}

// merge adds the counts of d to into and keeps the latest fire and error.
func merge(into *function.TriggerStatus, d function.TriggerStatus) {
	into.Key, into.Type = d.Key, d.Type
	into.Fires += d.Fires
	into.Errors += d.Errors
	if d.LastFire.After(into.LastFire) {
		into.LastFire, into.LastInvocation = d.LastFire, d.LastInvocation
	}
	if d.LastErrorAt.After(into.LastErrorAt) {
		into.LastError, into.LastErrorAt = d.LastError, d.LastErrorAt
	}
}

// Read returns the stored state of one trigger (zero when none).
func (s *State) Read(ctx context.Context, tenant, fn, key string) (function.TriggerStatus, error) {
	var st function.TriggerStatus
	e, err := s.kv.Get(ctx, events.TriggerKey(tenant, fn, key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(e.Value(), &st)
}

// forget deletes the stored states of a function's triggers (the function
// is gone), and its pending deltas.
func (s *State) forget(ctx context.Context, tenant, fn string) {
	prefix := events.TriggerKey(tenant, fn, "")
	s.mu.Lock()
	for k := range s.pending {
		if strings.HasPrefix(k, prefix) {
			delete(s.pending, k)
		}
	}
	s.mu.Unlock()
	keys, err := s.kv.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		s.log.Warn("trigger states of a deleted function not removed", "tenant", tenant, "function", fn, "err", err)
		return
	}
	for k := range keys.Keys() {
		if err := s.kv.Purge(ctx, k); err != nil {
			s.log.Warn("trigger state of a deleted function not removed", "key", k, "err", err)
		}
	}
}

// forgetKey deletes one trigger's stored state and pending delta (the
// trigger was removed).
func (s *State) forgetKey(ctx context.Context, k string) {
	s.mu.Lock()
	delete(s.pending, k)
	s.mu.Unlock()
	if err := s.kv.Purge(ctx, k); err != nil {
		s.log.Warn("state of a removed trigger not removed", "key", k, "err", err)
	}
}
