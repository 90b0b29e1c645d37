package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Outcomes is what the new revisions of rolling-out functions served
// (the rollout package's Tally).
type Outcomes interface {
	// Watch starts counting ref's (if it did not yet) and returns since
	// when it counts them.
	Watch(ref runtime.Ref) time.Time
	Forget(ref runtime.Ref)
	// Take returns what the revisions from since on served since the
	// last Take, and how much of it failed.
	Take(ref runtime.Ref, since int64) (served, failed int)
	// Restore gives back what a Take returned, as revision rev's.
	Restore(ref runtime.Ref, rev int64, served, failed int)
}

// stepRollout moves a rollout in progress on once its interval has
// passed (function.RolloutState.Step), by what the new revision served in
// it, and writes the record revision-checked from kvRev: a user's update
// in between wins, and the next reconcile sees it. It returns the record
// to go on with, and asks for the next reconcile when the next step is
// due.
func (r *Reconciler) stepRollout(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64) (function.Record, uint64, error) {
	ro := rec.Rollout
	if !ro.Progressing() {
		if r.Outcomes != nil {
			r.Outcomes.Forget(ref)
		}
		return rec, kvRev, nil
	}
	var cfg function.Rollout
	if rec.Spec.Rollout != nil {
		cfg = *rec.Spec.Rollout
	}
	interval := time.Duration(cfg.WithDefaults().Interval)
	now := r.now()
	gen, at := r.appliedGeneration(ref)
	if gen != rec.Generation {
		// The latest does not run the new code yet (it waits for the
		// revision rolled out from: Reconcile's hold): nothing to judge.
		r.requeue(ref, interval)
		return rec, kvRev, nil
	}
	due := later(ro.Due(cfg), at.Add(interval))
	if r.Outcomes != nil {
		// Counted only since now (this deployer just started, say): a
		// step is judged on a whole interval of reports, so the first
		// one waits for it.
		if since := r.Outcomes.Watch(ref); since.After(ro.UpdatedAt) {
			due = later(due, since.Add(interval))
		}
	}
	if now.Before(due) {
		r.requeue(ref, due.Sub(now))
		return rec, kvRev, nil
	}
	var served, failed int
	if r.Outcomes != nil {
		served, failed = r.Outcomes.Take(ref, ro.Revision)
	}
	next := ro.Step(cfg, served, failed, now)
	out := rec
	out.Rollout = &next
	newRev, err := r.Buckets.Functions.Update(ctx, events.FunctionKey(ref.Tenant, ref.Name), mustJSON(out), kvRev)
	if err != nil {
		if r.Outcomes != nil {
			r.Outcomes.Restore(ref, ro.Revision, served, failed) // for the step that is written
		}
		if events.IsRevisionMismatch(err) {
			r.requeue(ref, 0) // changed meanwhile: judged again from the new record
			return rec, kvRev, nil
		}
		return rec, kvRev, fmt.Errorf("write rollout of %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	r.Log.InfoContext(ctx, "rollout", "tenant", ref.Tenant, "function", ref.Name, "revision", next.Revision, "from", next.From,
		"percent", next.Percent, "phase", next.Phase, "served", served, "failed", failed)
	if next.Progressing() {
		r.requeue(ref, next.Due(cfg).Sub(now))
	} else if r.Outcomes != nil {
		r.Outcomes.Forget(ref)
	}
	if err := r.publishEvent(ctx, ref, events.TypeFunctionRollout, events.RolloutEventData{
		Tenant: ref.Tenant, Name: ref.Name, Revision: next.Revision, From: next.From,
		Percent: next.Percent, Phase: next.Phase, Message: next.Message,
	}); err != nil {
		return out, newRev, err
	}
	return out, newRev, nil
}

// returnSettle is how long after applying the way back the latest must
// still be observed Ready before it takes everything again: a runtime
// that observes from caches (Kubernetes informers) may still show the
// instances of the code left behind, all ready, just after the Apply.
const returnSettle = 2 * time.Second

// returned completes the rollout of a record going back to the code of
// the revision it was from (function.Record.Returning) once the latest
// runs it (obs, observed after Apply, returnSettle after it: Ready, or
// scaled to zero, whose next instance runs it), so everything goes to the
// latest again; the record is written revision-checked from kvRev.
func (r *Reconciler) returned(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64, obs runtime.Observed) error {
	if !rec.Returning() || obs.Phase != function.PhaseReady {
		return nil
	}
	gen, at := r.appliedGeneration(ref)
	if gen != rec.Generation {
		return nil
	}
	if wait := returnSettle - r.now().Sub(at); wait > 0 {
		r.requeue(ref, wait)
		return nil
	}
	done := rec.Rollout.Return(r.now())
	out := rec
	out.Rollout = &done
	if _, err := r.Buckets.Functions.Update(ctx, events.FunctionKey(ref.Tenant, ref.Name), mustJSON(out), kvRev); err != nil {
		if events.IsRevisionMismatch(err) {
			r.requeue(ref, 0)
			return nil
		}
		return fmt.Errorf("write rollout of %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	r.Log.InfoContext(ctx, "rollout", "tenant", ref.Tenant, "function", ref.Name, "revision", done.Revision, "from", done.From, "phase", done.Phase)
	r.requeue(ref, 0) // the revision beside it is retired by the next reconcile
	return r.publishEvent(ctx, ref, events.TypeFunctionRollout, events.RolloutEventData{
		Tenant: ref.Tenant, Name: ref.Name, Revision: done.Revision, From: done.From,
		Percent: done.Percent, Phase: done.Phase, Message: done.Message,
	})
}

// noteApplied records that the latest now runs rec's generation; the
// first time, what was counted for a rollout before (answered by the
// code left behind, under the new revision's number) is dropped.
func (r *Reconciler) noteApplied(ref runtime.Ref, rec function.Record) {
	r.mu.Lock()
	if r.applied == nil {
		r.applied = map[runtime.Ref]appliedGen{}
	}
	first := r.applied[ref].gen != rec.Generation
	if first {
		r.applied[ref] = appliedGen{gen: rec.Generation, at: r.now()}
	}
	r.mu.Unlock()
	if first && rec.Rollout.Progressing() && r.Outcomes != nil {
		r.Outcomes.Watch(ref)
		r.Outcomes.Take(ref, 0)
	}
}

// appliedGeneration is the generation this deployer last applied to ref's
// latest, and when (0 when none since it started).
func (r *Reconciler) appliedGeneration(ref runtime.Ref) (int64, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.applied[ref]
	return a.gen, a.at
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
