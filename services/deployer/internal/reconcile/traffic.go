package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Traffic splitting (function.TrafficTarget): a revision other than the
// latest that takes a share runs beside it as a runtime deployment of its
// own, named function.RevisionName, at a fixed count; the invoker routes
// each run. A revision the split no longer sends anything to is scaled to
// zero first, which drains its instances (their requests finish; the
// invoker sends new ones to the latest), and removed once the function's
// timeout has passed since.

// drainGrace is added to a function's timeout before a drained revision
// is removed.
const drainGrace = 5 * time.Second

func (r *Reconciler) requeue(ref runtime.Ref, after time.Duration) {
	if r.Requeue != nil {
		r.Requeue(ref, after)
	}
}

// revisionOf tells whether ref is a revision running beside a function
// that exists, and which. An error reading the function is returned: a
// revision taking a share must not be removed for a failed read.
func (r *Reconciler) revisionOf(ctx context.Context, ref runtime.Ref) (runtime.Ref, bool, error) {
	name, _, ok := function.ParseRevisionName(ref.Name)
	if !ok {
		return runtime.Ref{}, false, nil
	}
	_, _, err := catalog.Get(ctx, r.Buckets.Functions, ref.Tenant, name)
	if errors.Is(err, catalog.ErrNotFound) {
		return runtime.Ref{}, false, nil
	}
	if err != nil {
		return runtime.Ref{}, false, err
	}
	return runtime.Ref{Tenant: ref.Tenant, Name: name}, true, nil
}

// revisions applies the revisions rec's traffic sends a share to, and
// drains, then removes, those it no longer does. It returns where the
// ones it applied serve (function.Status.RevisionEndpoints: the gateway's
// route splits with them). One that fails does not stop the others: the
// errors are returned together. The revision a rollout is from runs at
// least latest instances (the count the latest had), and never fewer than
// it has: it takes most of the load at first, and all of it after a
// rollback.
func (r *Reconciler) revisions(ctx context.Context, ref runtime.Ref, rec function.Record, latest int32) (map[int64][]string, error) {
	var errs []error
	var endpoints map[int64][]string
	wanted := map[string]bool{}
	for _, n := range rec.TrafficRevisions() {
		spec, ok := rec.RevisionSpec(n)
		if !ok {
			continue
		}
		wanted[spec.Name] = true
		rr := runtime.Ref{Tenant: ref.Tenant, Name: spec.Name}
		r.mu.Lock()
		delete(r.retiring, rr)
		if r.revisionTimeouts == nil {
			r.revisionTimeouts = map[runtime.Ref]time.Duration{}
		}
		r.revisionTimeouts[rr] = spec.Timeout()
		r.mu.Unlock()
		if err := r.Runtime.Apply(ctx, ref.Tenant, spec); err != nil {
			errs = append(errs, fmt.Errorf("revision %d: %w", n, err))
			continue
		}
		// Its count, always: Apply never changes one set by Scale, and a
		// revision taken back into the split may have been drained to 0.
		count := spec.Scale.Min
		if ro := rec.Rollout; ro.Splits() && ro.From == n {
			count = max(count, min(latest, function.MaxReplicas))
			if obs, found, err := r.Runtime.Observe(ctx, ref.Tenant, spec.Name); err == nil && found {
				count = max(count, obs.Replicas)
			}
		}
		if err := r.Runtime.Scale(ctx, ref.Tenant, spec.Name, count); err != nil {
			errs = append(errs, fmt.Errorf("revision %d: %w", n, err))
			continue
		}
		obs, found, err := r.Runtime.Observe(ctx, ref.Tenant, spec.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("revision %d: observe: %w", n, err))
			continue
		}
		if found && len(obs.Endpoints) > 0 {
			if endpoints == nil {
				endpoints = map[int64][]string{}
			}
			endpoints[n] = obs.Endpoints
		}
	}
	running, err := r.running(ctx, ref, len(rec.Traffic()) > 0)
	if err != nil {
		return endpoints, errors.Join(append(errs, err)...)
	}
	for _, rr := range running {
		if wanted[rr.Name] {
			continue
		}
		if err := r.retire(ctx, rr); err != nil {
			errs = append(errs, err)
		}
	}
	return endpoints, errors.Join(errs...)
}

// running lists the revisions of ref the runtime runs beside it. The
// runtime is listed only for a function with a split (split), or one a
// revision was seen beside (sawRevision: a change of it, or the resync,
// which lists the runtime anyway); the others, most functions, have none.
func (r *Reconciler) running(ctx context.Context, ref runtime.Ref, split bool) ([]runtime.Ref, error) {
	if split {
		// Kept until a reconcile without a split finds none left.
		r.sawRevision(ref)
	}
	r.mu.Lock()
	seen := r.besides[ref]
	r.mu.Unlock()
	if !seen {
		return nil, nil
	}
	refs, err := r.Runtime.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list runtime: %w", err)
	}
	var out []runtime.Ref
	for _, rr := range refs {
		name, _, ok := function.ParseRevisionName(rr.Name)
		if !ok || rr.Tenant != ref.Tenant || name != ref.Name {
			continue
		}
		// A function of that very name (made before such names were
		// kept for revisions) is its own, never a revision to retire.
		if _, _, err := catalog.Get(ctx, r.Buckets.Functions, rr.Tenant, rr.Name); err == nil {
			continue
		} else if !errors.Is(err, catalog.ErrNotFound) {
			return nil, err
		}
		out = append(out, rr)
	}
	if !split && len(out) == 0 {
		r.mu.Lock()
		delete(r.besides, ref)
		r.mu.Unlock()
	}
	return out, nil
}

// sawRevision notes that ref has a revision running beside it.
func (r *Reconciler) sawRevision(ref runtime.Ref) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.besides == nil {
		r.besides = map[runtime.Ref]bool{}
	}
	r.besides[ref] = true
}

// retire drains a revision no traffic goes to, and removes it once its
// requests had its timeout to finish (the longest there is, when this
// deployer never ran it: it was restarted since).
func (r *Reconciler) retire(ctx context.Context, rr runtime.Ref) error {
	r.mu.Lock()
	timeout, known := r.revisionTimeouts[rr]
	if !known {
		timeout = function.MaxTimeout
	}
	since, ok := r.retiring[rr]
	if !ok {
		since = time.Now()
		if r.retiring == nil {
			r.retiring = map[runtime.Ref]time.Time{}
		}
		r.retiring[rr] = since
	}
	r.mu.Unlock()
	bound := timeout + drainGrace
	if !ok {
		if err := r.Runtime.Scale(ctx, rr.Tenant, rr.Name, 0); err != nil {
			return fmt.Errorf("drain %s/%s: %w", rr.Tenant, rr.Name, err)
		}
		r.Log.InfoContext(ctx, "revision drained: no traffic goes to it", "tenant", rr.Tenant, "deployment", rr.Name)
		r.requeue(rr, bound)
		return nil
	}
	if left := bound - time.Since(since); left > 0 {
		r.requeue(rr, left)
		return nil
	}
	return r.removeRevision(ctx, rr)
}

// removeRevision removes a revision running beside its function and
// forgets it.
func (r *Reconciler) removeRevision(ctx context.Context, rr runtime.Ref) error {
	if err := r.Runtime.Remove(ctx, rr.Tenant, rr.Name); err != nil {
		return fmt.Errorf("remove %s/%s: %w", rr.Tenant, rr.Name, err)
	}
	r.forget(rr)
	return nil
}

// forget drops what this deployer kept of a function, or of a revision,
// it removed.
func (r *Reconciler) forget(rr runtime.Ref) {
	r.mu.Lock()
	delete(r.retiring, rr)
	delete(r.revisionTimeouts, rr)
	delete(r.besides, rr)
	delete(r.applied, rr)
	r.mu.Unlock()
	r.outcomes().Forget(rr)
}

// removeRevisions removes every revision of a deleted function.
func (r *Reconciler) removeRevisions(ctx context.Context, ref runtime.Ref, rec function.Record) error {
	running, err := r.running(ctx, ref, len(rec.Traffic()) > 0)
	if err != nil {
		return err
	}
	for _, rr := range running {
		if err := r.removeRevision(ctx, rr); err != nil {
			return err
		}
	}
	return nil
}
