// Package store keeps the gateway's view of functions and invocations in
// JetStream KV: desired records (written here), observed status (written by
// the deployer) and invocation records (created here for an async accept
// and set back to queued on a redrive, revision-checked through
// events.UpdateInvocation; the invoker writes the rest). Invocations are
// read as stored (events.StoredInvocation) and answered as their view
// (events.InvocationRecord).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Sentinel errors the API maps to status codes.
var (
	ErrNotFound = catalog.ErrNotFound
	ErrConflict = errors.New("conflict")
	// ErrExists: a create-only write found the name taken.
	ErrExists = errors.New("already exists")
)

// casRetries bounds optimistic-concurrency retries when two gateways write
// the same function at once.
const casRetries = 8

// Store reads and writes functions and invocation records.
type Store struct {
	js        jetstream.JetStream
	b         bus.Buckets
	now       func() time.Time
	invMu     sync.Mutex
	invStream jetstream.Stream // the invocations bucket's stream, once looked up
}

// New returns a store over the shared buckets.
func New(js jetstream.JetStream, b bus.Buckets) *Store { return &Store{js: js, b: b, now: time.Now} }

// Record reads the desired record of a function.
func (s *Store) Record(ctx context.Context, tenant, name string) (function.Record, uint64, error) {
	return catalog.Get(ctx, s.b.Functions, tenant, name)
}

// Get returns one function with its observed status.
func (s *Store) Get(ctx context.Context, tenant, name string) (function.Function, error) {
	rec, _, err := s.Record(ctx, tenant, name)
	if err != nil {
		return function.Function{}, err
	}
	return s.View(ctx, rec)
}

// View is a record the caller already holds (e.g. just wrote) with its
// observed status.
func (s *Store) View(ctx context.Context, rec function.Record) (function.Function, error) {
	st, err := s.Status(ctx, rec.Tenant, rec.Spec.Name)
	if err != nil {
		return function.Function{}, err
	}
	return function.View(rec, st), nil
}

// Status reads the observed status of a function; nil if it has none.
func (s *Store) Status(ctx context.Context, tenant, name string) (*function.Status, error) {
	e, err := s.b.Status.Get(ctx, events.FunctionKey(tenant, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status %s/%s: %w", tenant, name, err)
	}
	var st function.Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("decode status %s/%s: %w", tenant, name, err)
	}
	return &st, nil
}

// Records returns a tenant's desired records by name (those being deleted
// included).
func (s *Store) Records(ctx context.Context, tenant string) (map[string]function.Record, error) {
	recs := map[string]function.Record{}
	err := scan(ctx, s.b.Functions, tenant, func(name string, v []byte) error {
		var r function.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode function %s/%s: %w", tenant, name, err)
		}
		recs[name] = r
		return nil
	})
	return recs, err
}

// List returns a tenant's functions sorted by name.
func (s *Store) List(ctx context.Context, tenant string) ([]function.Function, error) {
	recs, err := s.Records(ctx, tenant)
	if err != nil {
		return nil, err
	}
	sts := map[string]*function.Status{}
	if len(recs) > 0 {
		if err := scan(ctx, s.b.Status, tenant, func(name string, v []byte) error {
			var st function.Status
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode status %s/%s: %w", tenant, name, err)
			}
			sts[name] = &st
			return nil
		}); err != nil {
			return nil, err
		}
	}
	out := make([]function.Function, 0, len(recs))
	for name, r := range recs {
		out = append(out, function.View(r, sts[name]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CountFunctions counts the tenant's functions, those being deleted
// included (they hold their resources until the deployer has removed
// them), and tells whether name is one of them. It reads the keys only.
func (s *Store) CountFunctions(ctx context.Context, tenant, name string) (n int, exists bool, err error) {
	err = scan(ctx, s.b.Functions, tenant, func(fn string, _ []byte) error {
		n++
		exists = exists || fn == name
		return nil
	}, jetstream.MetaOnly())
	return n, exists, err
}

// scan calls fn for every current key "<tenant>.<name>" of a bucket, using
// one filtered watch instead of a round trip per key. opts are added to the
// watch's (jetstream.MetaOnly: keys without values).
func scan(ctx context.Context, kv jetstream.KeyValue, tenant string, fn func(name string, v []byte) error, opts ...jetstream.WatchOpt) error {
	return watchCurrent(ctx, kv, []string{tenant + ".*"}, func(key string, v []byte) error {
		return fn(strings.TrimPrefix(key, tenant+"."), v)
	}, opts...)
}

// watchCurrent calls fn for the current value of every key matching
// filters, with one watch that ends once they are all delivered.
func watchCurrent(ctx context.Context, kv jetstream.KeyValue, filters []string, fn func(key string, v []byte) error, opts ...jetstream.WatchOpt) error {
	w, err := kv.WatchFiltered(ctx, filters, append([]jetstream.WatchOpt{jetstream.IgnoreDeletes()}, opts...)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("read %s: watch closed", kv.Bucket())
			}
			if e == nil { // all current values delivered
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}

// Upsert creates the function or updates its spec. The generation goes up
// only when the spec changes (as in Kubernetes), so a repeated request is a
// no-op. changed reports whether a new generation was written; each new
// generation is a new revision (writeRevision), made for change.
//
// traffic holds the specs of the revisions spec.traffic names (Record.TrafficSpecs).
func (s *Store) Upsert(ctx context.Context, tenant string, spec function.Spec, change function.Change, traffic map[int64]function.Spec) (rec function.Record, changed bool, err error) {
	key := events.FunctionKey(tenant, spec.Name)
	for range casRetries {
		cur, rev, err := s.Record(ctx, tenant, spec.Name)
		now := s.now().UTC()
		switch {
		case errors.Is(err, ErrNotFound):
			rec = function.Record{Spec: spec, Tenant: tenant, Generation: 1, CreatedAt: now, UpdatedAt: now, Change: change, TrafficSpecs: traffic}
			_, err = s.b.Functions.Create(ctx, key, mustJSON(rec))
		case err != nil:
			return rec, false, err
		case cur.Deleting:
			return cur, false, fmt.Errorf("%w: function %q is being deleted; try again once it is gone", ErrConflict, spec.Name)
		case reflect.DeepEqual(cur.Spec, spec):
			return cur, false, nil
		default:
			rec = cur
			rec.Spec = spec
			rec.Generation++
			rec.UpdatedAt = now
			rec.Change = change
			rec.TrafficSpecs = traffic
			// A change of code with spec.rollout rolls out gradually
			// (the deployer steps it); any other change ends a rollout.
			rec.Rollout = nil
			if ro, specs := function.PlanRollout(cur, rec, now); ro != nil {
				rec.Rollout, rec.TrafficSpecs = ro, specs
			}
			_, err = s.b.Functions.Update(ctx, key, mustJSON(rec), rev)
		}
		if err == nil {
			s.writeRevision(ctx, rec)
			return rec, true, nil
		}
		if !events.IsRevisionMismatch(err) {
			return rec, false, fmt.Errorf("write function %s/%s: %w", tenant, spec.Name, err)
		}
	}
	return rec, false, fmt.Errorf("%w: function %q is being changed concurrently; try again", ErrConflict, spec.Name)
}

// Roll makes a new generation of the function with its spec unchanged,
// for change (a secret it uses was rotated): the deployer then rolls its
// instances onto what changed outside the spec.
func (s *Store) Roll(ctx context.Context, tenant, name string, change function.Change) (function.Record, error) {
	rec, err := s.bump(ctx, tenant, name, func(rec *function.Record) { rec.Change = change })
	if err == nil {
		s.writeRevision(ctx, rec) // none for a function being deleted
	}
	return rec, err
}

// bump writes a new generation of an existing function with edit applied,
// revision-checked (retried when another writer won); a function being
// deleted is left as it is.
func (s *Store) bump(ctx context.Context, tenant, name string, edit func(*function.Record)) (function.Record, error) {
	key := events.FunctionKey(tenant, name)
	for range casRetries {
		rec, rev, err := s.Record(ctx, tenant, name)
		if err != nil || rec.Deleting {
			return rec, err
		}
		edit(&rec)
		rec.Generation++
		rec.UpdatedAt = s.now().UTC()
		if _, err = s.b.Functions.Update(ctx, key, mustJSON(rec), rev); err == nil {
			return rec, nil
		}
		if !events.IsRevisionMismatch(err) {
			return rec, fmt.Errorf("write function %s/%s: %w", tenant, name, err)
		}
	}
	return function.Record{}, fmt.Errorf("%w: function %q is being changed concurrently; try again", ErrConflict, name)
}

// Create stores a new function, generation 1, and fails with ErrExists if
// the tenant has a function of that name, including one being deleted.
// JetStream KV's Create checks and writes in one step (the write expects
// the key to have no value), so of concurrent creates exactly one wins and
// nothing is written for the others.
func (s *Store) Create(ctx context.Context, tenant string, spec function.Spec, by string) (function.Record, error) {
	now := s.now().UTC()
	rec := function.Record{Spec: spec, Tenant: tenant, Generation: 1, CreatedAt: now, UpdatedAt: now,
		Change: function.Change{By: by}}
	_, err := s.b.Functions.Create(ctx, events.FunctionKey(tenant, spec.Name), mustJSON(rec))
	if errors.Is(err, jetstream.ErrKeyExists) {
		// The write is refused already; this read only words the message.
		if cur, _, rerr := s.Record(ctx, tenant, spec.Name); rerr == nil && cur.Deleting {
			return function.Record{}, fmt.Errorf("function %q %w and is being deleted; create it again once it is gone", spec.Name, ErrExists)
		}
		// Both ways to replace it: POST without the header upserts, PUT
		// updates an existing function.
		return function.Record{}, fmt.Errorf("function %q %w; replace it with POST /v1/functions without If-None-Match: *, or PUT /v1/functions/%s", spec.Name, ErrExists, spec.Name)
	}
	if err != nil {
		return function.Record{}, fmt.Errorf("write function %s/%s: %w", tenant, spec.Name, err)
	}
	s.writeRevision(ctx, rec)
	return rec, nil
}

// MarkDeleting records the wish to delete. The deployer removes the record
// once the runtime has let go.
func (s *Store) MarkDeleting(ctx context.Context, tenant, name string) (function.Record, error) {
	return s.bump(ctx, tenant, name, func(rec *function.Record) { rec.Deleting = true })
}

// Invocation reads an invocation record by id among the tenant's
// functions: one direct get of the last message on the key's wildcard
// subject ($KV.<bucket>.<tenant>.*.<id>). Another tenant's is ErrNotFound.
func (s *Store) Invocation(ctx context.Context, tenant, id string) (events.InvocationRecord, error) {
	var r events.StoredInvocation
	s.invMu.Lock()
	if s.invStream == nil {
		st, err := s.js.Stream(ctx, "KV_"+events.BucketInvocations)
		if err != nil {
			s.invMu.Unlock()
			return events.InvocationRecord{}, fmt.Errorf("read invocation %s: %w", id, err)
		}
		s.invStream = st
	}
	stream := s.invStream
	s.invMu.Unlock()
	m, err := stream.GetLastMsgForSubject(ctx, "$KV."+events.BucketInvocations+"."+events.InvocationKeyByID(tenant, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.InvocationRecord{}, ErrNotFound
	}
	if err != nil {
		return events.InvocationRecord{}, fmt.Errorf("read invocation %s: %w", id, err)
	}
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return events.InvocationRecord{}, ErrNotFound
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return events.InvocationRecord{}, fmt.Errorf("decode invocation %s: %w", id, err)
	}
	if r.Tenant != tenant {
		return events.InvocationRecord{}, ErrNotFound
	}
	return r.View(), nil
}

// Invocations lists a function's invocation records, newest first (ids
// sort by time), optionally of one status, at most limit, older than the
// id before (the previous page's last). Outputs are left out: the record
// of one invocation has it.
func (s *Store) Invocations(ctx context.Context, tenant, fn, status, before string, limit int) ([]events.InvocationRecord, error) {
	var all []events.InvocationRecord
	err := scan(ctx, s.b.Invocations, tenant+"."+fn, func(_ string, v []byte) error {
		var r events.StoredInvocation
		if json.Unmarshal(v, &r) != nil || (status != "" && r.Status != status) || (before != "" && r.ID >= before) {
			return nil
		}
		r.Output = ""
		all = append(all, r.View())
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID > all[j].ID })
	return all[:min(limit, len(all))], nil
}

// CreateQueued writes the "queued" record of an accepted async invocation
// and waits for it. If the invoker got there first, its record wins and
// this is a no-op. The accept path sends QueuedMsg instead, without
// waiting; this is its retry.
func (s *Store) CreateQueued(ctx context.Context, r events.StoredInvocation) error {
	_, err := s.b.Invocations.Create(ctx, events.InvocationKey(r.Tenant, r.Function, r.ID), mustJSON(r))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("record invocation %s: %w", r.ID, err)
	}
	return nil
}

// QueuedMsg is the write of the "queued" record of an accepted async
// invocation as a message to publish without waiting for it: a create
// ($KV.<bucket>.<key>, expecting no earlier revision of the key), so it
// never overwrites a record the invoker already wrote; IsRecordTaken
// tells that refusal from a failure.
func QueuedMsg(r events.StoredInvocation) *nats.Msg {
	m := nats.NewMsg("$KV." + events.BucketInvocations + "." + events.InvocationKey(r.Tenant, r.Function, r.ID))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	m.Data = mustJSON(r)
	return m
}

// IsRecordTaken reports whether a QueuedMsg was refused because the key
// already has a record.
func IsRecordTaken(err error) bool { return events.IsRevisionMismatch(err) }

// IdempotentID returns the id of the invocation an Idempotency-Key of the
// function made; found is false if the key is new (or expired with the
// records). Such ids are made by events.NewInvocationID like any other,
// so they sort by time; the key finds its id through an index entry
// (events.IdempotencyKey). A record under the key's hash, the id keys had
// before, is found too.
func (s *Store) IdempotentID(ctx context.Context, tenant, fn, key string) (id string, found bool, err error) {
	e, err := s.b.Invocations.Get(ctx, events.IdempotencyKey(tenant, fn, key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		legacy := events.LegacyIdempotentInvocationID(tenant, fn, key)
		if r, err := s.Invocation(ctx, tenant, legacy); err == nil && r.Function == fn {
			return legacy, true, nil
		}
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read Idempotency-Key: %w", err)
	}
	id = string(e.Value())
	if !events.ValidInvocationID(id) {
		return "", false, fmt.Errorf("read Idempotency-Key: %q is not an invocation id", id)
	}
	return id, true, nil
}

// ClaimIdempotencyKey maps a new Idempotency-Key to id, unless a request
// with the same key claimed it first: the write expects the key to have no
// value, so of concurrent requests exactly one wins, and the others get the
// winner's id.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, tenant, fn, key, id string) (string, error) {
	for range casRetries {
		_, err := s.b.Invocations.Create(ctx, events.IdempotencyKey(tenant, fn, key), []byte(id))
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("record Idempotency-Key: %w", err)
		}
		prev, found, err := s.IdempotentID(ctx, tenant, fn, key)
		if err != nil {
			return "", err
		}
		if found {
			return prev, nil
		}
		// It expired between the two steps: the key is new again.
	}
	return "", fmt.Errorf("%w: Idempotency-Key is being used concurrently; try again", ErrConflict)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err)) // only our own plain structs come here
	}
	return b
}

// RedriveInvocation sets a dead-lettered invocation's record back to
// queued (events.Redriven), before the invocation is queued again, so the
// invoker's later records win. The write is revision-checked
// (events.UpdateInvocation): a record that is no longer dead_lettered is
// left alone (events.ErrInvalidTransition).
func (s *Store) RedriveInvocation(ctx context.Context, tenant, fn, id string) error {
	_, err := events.UpdateInvocation(ctx, s.b.Invocations, events.InvocationKey(tenant, fn, id), func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error) {
		if !exists {
			return cur, ErrNotFound
		}
		next, ok := events.Redriven(cur)
		if !ok {
			return cur, fmt.Errorf("%w: the record is %s, not %s", events.ErrInvalidTransition, cur.Status, events.StatusDeadLettered)
		}
		return next, nil
	})
	return err
}

// UndoRedrive sets the record of an invocation that could not be queued
// again back to dead_lettered, if it is still queued.
func (s *Store) UndoRedrive(ctx context.Context, tenant, fn, id string) error {
	_, err := events.UpdateInvocation(ctx, s.b.Invocations, events.InvocationKey(tenant, fn, id), func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error) {
		if !exists || cur.Status != events.StatusQueued {
			return cur, fmt.Errorf("%w: the record is no longer queued", events.ErrInvalidTransition)
		}
		cur.Status = events.StatusDeadLettered
		return cur, nil
	})
	return err
}
