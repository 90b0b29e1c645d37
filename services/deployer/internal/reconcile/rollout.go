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
	Watch(ref runtime.Ref)
	Forget(ref runtime.Ref)
	// Take returns what the revisions from since on served since the
	// last Take, and how much of it failed.
	Take(ref runtime.Ref, since int64) (served, failed int)
}

// stepRollout moves a rollout in progress on once its interval has
// passed (function.RolloutState.Step), by what the new revision served in
// it, and writes the record revision-checked from kvRev: a user's update
// in between wins, and the next reconcile sees it. It returns the record
// to go on with, and asks for the next reconcile when the next step is
// due.
func (r *Reconciler) stepRollout(ctx context.Context, ref runtime.Ref, rec function.Record, kvRev uint64) (function.Record, error) {
	ro := rec.Rollout
	if !ro.Progressing() {
		if r.Outcomes != nil {
			r.Outcomes.Forget(ref)
		}
		return rec, nil
	}
	if r.Outcomes != nil {
		r.Outcomes.Watch(ref)
	}
	var cfg function.Rollout
	if rec.Spec.Rollout != nil {
		cfg = *rec.Spec.Rollout
	}
	now := r.now()
	if due := ro.Due(cfg); now.Before(due) {
		r.requeue(ref, due.Sub(now))
		return rec, nil
	}
	var served, failed int
	if r.Outcomes != nil {
		served, failed = r.Outcomes.Take(ref, ro.Revision)
	}
	next := ro.Step(cfg, served, failed, now)
	out := rec
	out.Rollout = &next
	if _, err := r.Buckets.Functions.Update(ctx, events.FunctionKey(ref.Tenant, ref.Name), mustJSON(out), kvRev); err != nil {
		if events.IsRevisionMismatch(err) {
			r.requeue(ref, 0) // changed meanwhile: judged again from the new record
			return rec, nil
		}
		return rec, fmt.Errorf("write rollout of %s/%s: %w", ref.Tenant, ref.Name, err)
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
		return out, err
	}
	return out, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
