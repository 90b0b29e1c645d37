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
	ro, counts := rec.Rollout, r.outcomes()
	if !ro.Progressing() {
		counts.Forget(ref)
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
	// Counted only since now (this deployer just started, say): a step is
	// judged on a whole interval of reports, so the first one waits for it.
	if since := counts.Watch(ref); since.After(ro.UpdatedAt) {
		due = later(due, since.Add(interval))
	}
	if now.Before(due) {
		r.requeue(ref, due.Sub(now))
		return rec, kvRev, nil
	}
	served, failed := counts.Take(ref, ro.Revision)
	next := ro.Step(cfg, served, failed, now)
	out, newRev, written, err := r.writeRollout(ctx, ref, rec, kvRev, next, "served", served, "failed", failed)
	if !written {
		counts.Restore(ref, ro.Revision, served, failed) // for the step that is written
		return rec, kvRev, err
	}
	if next.Progressing() {
		r.requeue(ref, next.Due(cfg).Sub(now))
	} else {
		counts.Forget(ref)
	}
	return out, newRev, err
}

// failed says whether the runtime observes deployment name as Failed: a
// revision rolled out from that cannot run (its command missing, a crash
// loop) serves nothing worth waiting for, and the latest takes the new
// code at once (else a fix could never replace a broken revision).
func (r *Reconciler) failed(ctx context.Context, tenant, name string) bool {
	obs, found, err := r.Runtime.Observe(ctx, tenant, name)
	return err == nil && found && obs.Phase == function.PhaseFailed
}

// returned completes the rollout of a record going back to the code of
// the revision it was from (function.Record.Returning) once the latest
// runs it (obs, observed after this deployer applied it: Ready, or scaled
// to zero, whose next instance runs it), so everything goes to the latest
// again; the record is written revision-checked from kvRev. (A runtime
// observing from caches says Deploying until they carry what it applied:
// the Kubernetes runtime's behindApply.)
func (r *Reconciler) returned(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64, obs runtime.Observed) error {
	if !rec.Returning() || obs.Phase != function.PhaseReady {
		return nil
	}
	if gen, _ := r.appliedGeneration(ref); gen != rec.Generation {
		return nil
	}
	_, _, written, err := r.writeRollout(ctx, ref, rec, kvRev, rec.Rollout.Return(r.now()))
	if written {
		r.requeue(ref, 0) // the revision beside it is retired by the next reconcile
	}
	return err
}

// writeRollout stores next as rec's rollout, revision-checked from kvRev
// (a conflict asks for a reconcile from the new record, and is no
// error), then logs it (with attrs) and publishes its event. written
// says whether the record was stored.
func (r *Reconciler) writeRollout(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64, next function.RolloutState, attrs ...any) (out function.Record, newRev uint64, written bool, err error) {
	out = rec
	out.Rollout = &next
	newRev, err = r.Buckets.Functions.Update(ctx, events.FunctionKey(ref.Tenant, ref.Name), mustJSON(out), kvRev)
	if events.IsRevisionMismatch(err) {
		r.requeue(ref, 0)
		return rec, kvRev, false, nil
	}
	if err != nil {
		return rec, kvRev, false, fmt.Errorf("write rollout of %s/%s: %w", ref.Tenant, ref.Name, err)
	}
	r.Log.InfoContext(ctx, "rollout", append([]any{"tenant", ref.Tenant, "function", ref.Name, "revision", next.Revision, "from", next.From,
		"percent", next.Percent, "phase", next.Phase}, attrs...)...)
	return out, newRev, true, r.publishEvent(ctx, ref, events.TypeFunctionRollout, events.RolloutEventData{
		Tenant: ref.Tenant, Name: ref.Name, Revision: next.Revision, From: next.From,
		Percent: next.Percent, Phase: next.Phase, Message: next.Message,
	})
}

// outcomes is Outcomes, or counts of nothing without one (a rollout then
// goes on by time alone).
func (r *Reconciler) outcomes() Outcomes {
	if r.Outcomes == nil {
		return noOutcomes{}
	}
	return r.Outcomes
}

type noOutcomes struct{}

func (noOutcomes) Watch(runtime.Ref) time.Time          { return time.Time{} }
func (noOutcomes) Forget(runtime.Ref)                   {}
func (noOutcomes) Take(runtime.Ref, int64) (int, int)   { return 0, 0 }
func (noOutcomes) Restore(runtime.Ref, int64, int, int) {}

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
	if first && rec.Rollout.Progressing() {
		r.outcomes().Watch(ref)
		r.outcomes().Take(ref, 0)
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
