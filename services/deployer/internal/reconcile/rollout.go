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
	now := r.now()
	due := ro.Due(cfg)
	if r.Outcomes != nil {
		// Counted only since now (this deployer just started, say): a
		// step is judged on a whole interval of reports, so the first
		// one waits for it.
		if since := r.Outcomes.Watch(ref); since.After(ro.UpdatedAt) {
			due = later(due, since.Add(time.Duration(cfg.WithDefaults().Interval)))
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

// returned completes the rollout of a record going back to the code of
// the revision it was from (function.Record.Returning) once the latest's
// instances run it (obs, observed after Apply), so everything goes to the
// latest again; the record is written revision-checked from kvRev.
func (r *Reconciler) returned(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64, obs runtime.Observed) error {
	if !rec.Returning() || obs.Phase != function.PhaseReady || obs.ReadyReplicas < 1 {
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
