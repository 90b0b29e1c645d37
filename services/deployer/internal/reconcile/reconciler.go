// Package reconcile converges one function's runtime state to its desired
// record and publishes what it observed: status into the status bucket and
// lifecycle events onto the events stream.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/telemetry"
)

// Source is the CloudEvents source of the deployer's events.
const Source = "/eventflow/deployer"

// Reconciler converges functions. Reconcile must not run concurrently for
// the same function (the work queue sees to that).
type Reconciler struct {
	JS      jetstream.JetStream
	Buckets bus.Buckets
	Runtime runtime.Deployments
	Log     *slog.Logger
	// Scaler decides the count of autoscaled functions; nil runs them at
	// their initial count.
	Scaler Scaler
	// Metrics, optional.
	Metrics *Metrics
	// Requeue reconciles ref again after a while (a drained revision is
	// removed once its requests had their time; a revision's own change
	// is its function's). Nil: not again.
	Requeue func(ref runtime.Ref, after time.Duration)
	// Outcomes counts what rolling-out functions' new revisions served;
	// nil: a rollout goes on by time alone.
	Outcomes Outcomes
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last map[runtime.Ref]function.Status // what we last wrote, to skip no-op writes
	// retiring are the revisions running beside their functions that no
	// traffic goes to any more, and since when they drain.
	retiring map[runtime.Ref]time.Time
	// revisionTimeouts are the timeouts of the revisions this deployer
	// ran beside their functions: how long a drained one is given.
	revisionTimeouts map[runtime.Ref]time.Duration
	// besides are the functions a revision was seen running beside
	// (running lists the runtime only for those, and those with a split).
	besides map[runtime.Ref]bool
	// applied is the generation this deployer last applied to each
	// function's latest, and when: a rollout is judged, and a way back
	// completed, only from then on.
	applied map[runtime.Ref]appliedGen
	// unsent are lifecycle events kept to publish again.
	unsent unsent
}

type appliedGen struct {
	gen int64
	at  time.Time
}

// Reconcile reads the latest desired record (whatever command asked) and
// makes the runtime match it.
func (r *Reconciler) Reconcile(ctx context.Context, ref runtime.Ref) error {
	r.resend(ctx)
	rec, kvRev, err := catalog.Get(ctx, r.Buckets.Functions, ref.Tenant, ref.Name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		base, ok, err := r.revisionOf(ctx, ref)
		if err != nil {
			return err
		}
		if ok {
			// A revision running beside its function's latest: that
			// function's reconcile keeps, drains or removes it.
			r.sawRevision(base)
			r.requeue(base, 0)
			return nil
		}
		return r.remove(ctx, ref, nil)
	case err != nil:
		return err
	case rec.Deleting:
		return r.remove(ctx, ref, &rec)
	}
	if rec, kvRev, err = r.stepRollout(ctx, ref, rec, kvRev); err != nil {
		return err
	}
	prev, err := r.previous(ctx, ref)
	if err != nil {
		return err
	}
	if prev == nil || prev.ObservedGeneration < rec.Generation {
		// A new generation: say so before the runtime starts on it. The
		// instances serving so far still do (the HTTP route keeps them
		// until Observe says otherwise, right after Apply).
		st := function.Status{Phase: function.PhaseDeploying, ObservedGeneration: rec.Generation}
		carry(&st, prev)
		if err := r.write(ctx, ref, prev, st); err != nil {
			return err
		}
		prev, _ = r.previous(ctx, ref)
		if err := r.recordRevision(ctx, rec); err != nil {
			return err
		}
	}
	// A revision that cannot run beside the latest is the split's
	// problem, not the latest's: the status is still observed and written
	// (with the error in its message), and the reconcile tried again.
	var (
		revEndpoints map[int64][]string
		revErr       error
		hold         bool
	)
	if ro := rec.Rollout; ro.Splits() {
		// The revision a rollout is from serves beside the latest before
		// the latest takes the new code: until then the latest keeps what
		// it runs, so the new code never gets more than its share (and
		// the rollout does not step: stepRollout).
		var latest int32
		if prev != nil {
			latest = prev.Replicas
		}
		revEndpoints, revErr = r.revisions(ctx, ref, rec, latest)
		gen, _ := r.appliedGeneration(ref)
		hold = ro.Progressing() && gen != rec.Generation && len(revEndpoints[ro.From]) == 0 && !r.failed(ctx, ref.Tenant, function.RevisionName(ref.Name, ro.From))
	}
	if !hold {
		if err := r.Runtime.Apply(ctx, ref.Tenant, rec.Spec.ForRuntime()); err != nil {
			failed := function.Status{Phase: function.PhaseFailed, Message: "apply: " + err.Error(), ObservedGeneration: rec.Generation}
			carry(&failed, prev)
			_ = r.write(ctx, ref, prev, failed)
			return fmt.Errorf("apply %s/%s: %w", ref.Tenant, ref.Name, err)
		}
		r.noteApplied(ref, rec)
		if err := r.scale(ctx, ref, rec.Spec); err != nil {
			return err
		}
		if !rec.Rollout.Splits() {
			revEndpoints, revErr = r.revisions(ctx, ref, rec, 0)
		}
	}
	obs, found, err := r.Runtime.Observe(ctx, ref.Tenant, ref.Name)
	if err != nil {
		return fmt.Errorf("observe %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	st := function.Status{Phase: function.PhaseDeploying, ObservedGeneration: rec.Generation}
	if found {
		st.Phase, st.ReadyReplicas, st.Replicas, st.Message = obs.Phase, obs.ReadyReplicas, obs.Replicas, obs.Message
		// Where the gateway's HTTP route sends requests (it links no
		// runtime, so it learns them from the status bucket).
		st.Endpoints = obs.Endpoints
	}
	st.RevisionEndpoints = revEndpoints
	if r.Scaler != nil {
		st.LastScale = r.Scaler.Decision(ref)
	}
	if revErr != nil {
		st.Message = strings.TrimPrefix(st.Message+"; traffic: "+revErr.Error(), "; ")
	}
	if hold {
		st.Phase = function.PhaseDeploying
		st.Message = strings.TrimPrefix(st.Message+fmt.Sprintf("; rollout: revision %d starts once revision %d serves beside it", rec.Generation, rec.Rollout.From), "; ")
		r.requeue(ref, time.Second) // besides its instances' own change
	} else if found {
		if err := r.returned(ctx, ref, rec, kvRev, obs); err != nil {
			revErr = errors.Join(revErr, err)
		}
	}
	r.Metrics.observe(ref, prev, st)
	return errors.Join(r.write(ctx, ref, prev, st), revErr)
}

// carry keeps in st what the runtime still runs from prev: the instances
// serving so far (the HTTP route keeps them until Observe says otherwise)
// and the scaling state, so an interim status neither hides them nor makes
// the next write look like a new scaling decision.
func carry(st *function.Status, prev *function.Status) {
	if prev == nil {
		return
	}
	st.Endpoints, st.RevisionEndpoints = prev.Endpoints, prev.RevisionEndpoints
	st.ReadyReplicas, st.Replicas, st.LastScale = prev.ReadyReplicas, prev.Replicas, prev.LastScale
}

// remove tears the function down. With a record marked Deleting, it then
// deletes the status and the record, so the API answers 404 only once the
// runtime holds nothing of it.
func (r *Reconciler) remove(ctx context.Context, ref runtime.Ref, rec *function.Record) error {
	if err := r.Runtime.Remove(ctx, ref.Tenant, ref.Name); err != nil {
		return fmt.Errorf("remove %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	if rec != nil {
		// Its revisions running beside it go with it.
		if err := r.removeRevisions(ctx, ref, *rec); err != nil {
			return err
		}
	}
	r.forget(ref) // what was kept of it, as a function or as a revision
	key := events.FunctionKey(ref.Tenant, ref.Name)
	prev, err := r.previous(ctx, ref)
	if err != nil {
		return err
	}
	if prev != nil {
		if err := r.Buckets.Status.Purge(ctx, key); err != nil {
			return fmt.Errorf("delete status %s: %w", key, err)
		}
	}
	r.mu.Lock()
	delete(r.last, ref)
	r.mu.Unlock()
	if r.Scaler != nil {
		r.Scaler.Forget(ref)
	}
	r.Metrics.forget(ref)
	if rec == nil {
		return nil
	}
	if err := r.forgetRevisions(ctx, ref); err != nil {
		return err
	}
	if err := r.Buckets.Functions.Purge(ctx, key); err != nil {
		return fmt.Errorf("delete function %s: %w", key, err)
	}
	r.Log.InfoContext(ctx, "function deleted", "tenant", ref.Tenant, "function", ref.Name)
	return r.publish(ctx, ref, events.TypeFunctionDeleted, function.Status{Phase: function.PhaseDeleting, ObservedGeneration: rec.Generation})
}

// recordRevision keeps the revision of a generation the gateway may have
// failed to record (it writes it right after the record, without
// retrying). A revision is never rewritten here.
func (r *Reconciler) recordRevision(ctx context.Context, rec function.Record) error {
	if r.Buckets.Revisions == nil {
		return nil
	}
	// Update from revision 0 writes only where the key never had a value:
	// unlike Create it never reads (the deployer may not read revisions),
	// and it leaves a revision forgotten on purpose forgotten.
	_, err := r.Buckets.Revisions.Update(ctx, events.RevisionKey(rec.Tenant, rec.Spec.Name, rec.Generation), mustJSON(function.RevisionOf(rec)), 0)
	if err != nil && !events.IsRevisionMismatch(err) {
		return fmt.Errorf("record revision %d of %s/%s: %w", rec.Generation, rec.Tenant, rec.Spec.Name, err)
	}
	return nil
}

// forgetRevisions deletes a deleted function's revisions (before its
// record: if this fails the delete is tried again), so a new function of
// the name starts its own history.
func (r *Reconciler) forgetRevisions(ctx context.Context, ref runtime.Ref) error {
	if r.Buckets.Revisions == nil {
		return nil
	}
	lister, err := r.Buckets.Revisions.ListKeysFiltered(ctx, events.FunctionKey(ref.Tenant, ref.Name)+".*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list revisions of %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := r.Buckets.Revisions.Purge(ctx, k); err != nil {
			return fmt.Errorf("delete revision %s: %w", k, err)
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (r *Reconciler) previous(ctx context.Context, ref runtime.Ref) (*function.Status, error) {
	r.mu.Lock()
	st, ok := r.last[ref]
	r.mu.Unlock()
	if ok {
		return &st, nil
	}
	e, err := r.Buckets.Status.Get(ctx, events.FunctionKey(ref.Tenant, ref.Name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	r.remember(ref, st)
	return &st, nil
}

func (r *Reconciler) remember(ref runtime.Ref, st function.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[runtime.Ref]function.Status{}
	}
	r.last[ref] = st
}

// write stores st unless nothing changed, and publishes an event when the
// phase (or generation) changed.
func (r *Reconciler) write(ctx context.Context, ref runtime.Ref, prev *function.Status, st function.Status) error {
	if prev != nil && prev.Phase == st.Phase && prev.ReadyReplicas == st.ReadyReplicas && prev.Replicas == st.Replicas &&
		prev.Message == st.Message && prev.ObservedGeneration == st.ObservedGeneration &&
		slices.Equal(prev.Endpoints, st.Endpoints) && maps.EqualFunc(prev.RevisionEndpoints, st.RevisionEndpoints, slices.Equal) &&
		sameDecision(prev.LastScale, st.LastScale) {
		return nil
	}
	st.UpdatedAt = time.Now().UTC()
	b, _ := json.Marshal(st)
	if _, err := r.Buckets.Status.Put(ctx, events.FunctionKey(ref.Tenant, ref.Name), b); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	r.remember(ref, st)
	if d := st.LastScale; d != nil && (prev == nil || !sameDecision(prev.LastScale, d)) {
		r.Log.InfoContext(ctx, "function scaled", "tenant", ref.Tenant, "function", ref.Name, "from", d.From, "to", d.To, "reason", d.Reason)
		if err := r.publishScaled(ctx, ref, *d); err != nil {
			return err
		}
	}
	if prev != nil && prev.Phase == st.Phase && prev.ObservedGeneration == st.ObservedGeneration {
		return nil
	}
	r.Log.InfoContext(ctx, "function status", "tenant", ref.Tenant, "function", ref.Name,
		"phase", st.Phase, "readyReplicas", st.ReadyReplicas, "generation", st.ObservedGeneration, "message", st.Message)
	return r.publish(ctx, ref, eventType(st.Phase), st)
}

func eventType(p function.Phase) string {
	switch p {
	case function.PhaseReady:
		return events.TypeFunctionReady
	case function.PhaseFailed:
		return events.TypeFunctionFailed
	default:
		return events.TypeFunctionDeploying
	}
}

func (r *Reconciler) publish(ctx context.Context, ref runtime.Ref, typ string, st function.Status) error {
	return r.publishEvent(ctx, ref, typ, events.FunctionEventData{
		Tenant: ref.Tenant, Name: ref.Name, Generation: st.ObservedGeneration,
		Phase: string(st.Phase), ReadyReplicas: st.ReadyReplicas, Message: st.Message,
	})
}

// publishEvent publishes one lifecycle event of the function and waits for
// it to be stored; one that cannot be stored now is kept and published
// again (unsent.go), as the state it reports is stored already.
func (r *Reconciler) publishEvent(ctx context.Context, ref runtime.Ref, typ string, data any) error {
	ev, err := events.NewCloudEvent(typ, Source, ref.Tenant, ref.Name, data)
	if err != nil {
		return err
	}
	msg, err := ev.Msg()
	if err != nil {
		return err
	}
	telemetry.Inject(ctx, msg)
	r.sendEvent(ctx, ref, typ, msg)
	return nil
}
