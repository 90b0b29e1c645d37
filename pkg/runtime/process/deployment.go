package process

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// crashLoopThreshold is how many bad exits in a row make a function Failed.
const crashLoopThreshold = 3

// deployment is what the runtime has for one applied function. Its fields
// are guarded by Runtime.mu.
type deployment struct {
	ref     runtime.Ref
	spec    function.Spec
	hash    string // of what the processes see; a new hash replaces them
	path    string // resolved command
	failMsg string // why the spec cannot run here, or ""
	// secrets are what the instances get in their secrets directory, read
	// by the last Apply (their versions are in hash); nil in job mode.
	secrets []runtime.Secret
	// instances are the current replicas; instances[i] is named ...-i.
	instances []*instance
	// retiring are replaced or scaled-down instances still stopping; Remove
	// waits for them too.
	retiring map[*instance]struct{}
	rr       atomic.Uint32 // round-robin cursor for http invocations
	// scaled is the count Scale set (scaledSet); before the first Scale,
	// or with scale.metric cpu, the spec's own count.
	scaled    int32
	scaledSet bool
}

// desired is how many instances the function should run now.
func (d *deployment) desired() int32 {
	if d.failMsg != "" || d.spec.Mode() != function.ModeHTTP {
		return 0
	}
	if d.scaledSet {
		return d.scaled
	}
	return d.spec.ReplicaCount()
}

// specHash covers what a process sees (name, command, env), like a pod
// template hash: replicas scale, other fields (timeout, labels, the ignored
// image) update in place.
func specHash(s function.Spec) string { return processHash(s, "") }

// processHash is specHash with the secrets the processes get, as
// runtime.SecretsVersion sums them up ("" for none, which leaves specHash
// as it was): a rotated secret replaces the instances as a changed spec
// does.
func processHash(s function.Spec, secretsVersion string) string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	write(s.Name)
	for _, a := range s.Command {
		write(a)
	}
	h.Write([]byte{'|'})
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		write(k)
		write(s.Env[k])
	}
	if secretsVersion != "" {
		h.Write([]byte{'|'})
		write(secretsVersion)
	}
	return hex.EncodeToString(h.Sum(nil)[:3])[:5]
}

// check says whether spec can run here: the resolved command, or why not.
func (r *Runtime) check(spec function.Spec) (path, failMsg string) {
	if len(spec.Command) == 0 {
		return "", msgNoCommand
	}
	p, err := r.resolve(spec.Command[0])
	if err != nil {
		return "", err.Error()
	}
	return p, ""
}

// Apply converges the function to spec and returns without waiting for
// readiness: http mode runs ReplicaCount supervised instances, job mode
// only records the spec.
//
// The secrets spec names are read on every Apply: when their versions
// differ from what the running instances got, the instances are replaced,
// as on a spec change. A secret that cannot be read (a missing one wraps
// runtime.ErrSecretNotFound) fails Apply and changes nothing: the
// instances running keep running.
func (r *Runtime) Apply(ctx context.Context, tenant string, spec function.Spec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	spec = spec.WithDefaults()
	ref := runtime.Ref{Tenant: tenant, Name: spec.Name}
	path, failMsg := r.check(spec)
	var secrets []runtime.Secret
	if failMsg == "" {
		var err error
		if secrets, err = r.readSecrets(ctx, tenant, spec); err != nil {
			return err
		}
	}
	hash := processHash(spec, runtime.SecretsVersion(secrets))
	if spec.Mode() != function.ModeHTTP {
		secrets = nil // read to check them; a job run reads its own
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	d := r.fns[ref]
	changed := d == nil
	if d == nil {
		d = &deployment{ref: ref, retiring: make(map[*instance]struct{})}
		r.fns[ref] = d
	}
	if d.hash != hash || d.path != path || d.failMsg != failMsg {
		changed = true
		// A different process: replace every instance.
		for len(d.instances) > 0 {
			d.retireLast()
		}
	}
	d.spec, d.hash, d.path, d.failMsg, d.secrets = spec, hash, path, failMsg, secrets
	if !spec.ScaleSpec().Counted() {
		// Not EventFlow's to scale here: CPU-based scaling is Kubernetes'
		// HPA; this runtime runs min instances.
		d.scaledSet = false
	}
	if r.converge(d) {
		changed = true
	}
	r.mu.Unlock()

	// Only a real change is news: the deployer reconciles on every change
	// and applies on every reconcile, so notifying an unchanged Apply would
	// loop for ever.
	if changed {
		r.changes.notify(ref)
	}
	return nil
}

// converge starts or retires instances until the count is desired(), and
// says whether it changed anything. r.mu must be held.
func (r *Runtime) converge(d *deployment) bool {
	want := int(d.desired())
	changed := len(d.instances) != want
	for len(d.instances) > want {
		d.drainLast(r.cfg.DrainDelay)
	}
	for i := len(d.instances); i < want; i++ {
		in := r.newInstance(d, d.ref.Tenant, i)
		d.instances = append(d.instances, in)
		r.wg.Add(1)
		go in.supervise()
	}
	return changed
}

// Scale sets how many instances of the applied http-mode function run.
// Instances removed are drained (drain.go): out of the endpoints at once,
// stopped once their invocations have finished.
func (r *Runtime) Scale(ctx context.Context, tenant, name string, replicas int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if replicas < 0 || replicas > function.MaxReplicas {
		return fmt.Errorf("scale %s/%s: %d replicas is out of range (0 to %d)", tenant, name, replicas, function.MaxReplicas)
	}
	ref := runtime.Ref{Tenant: tenant, Name: name}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	d := r.fns[ref]
	if d == nil {
		r.mu.Unlock()
		return fmt.Errorf("scale %s/%s: %w", tenant, name, ErrNotApplied)
	}
	if d.spec.Mode() != function.ModeHTTP {
		r.mu.Unlock()
		return fmt.Errorf("scale %s/%s: a job-mode function has no instances to scale", tenant, name)
	}
	changed := !d.scaledSet || d.scaled != replicas
	d.scaled, d.scaledSet = replicas, true
	if r.converge(d) {
		changed = true
	}
	r.mu.Unlock()
	if changed {
		r.changes.notify(ref)
	}
	return nil
}

// retireLast stops the highest-index instance without waiting for it: a
// replaced instance (its spec changed) stops at once, as a rolled pod.
func (d *deployment) retireLast() {
	in := d.detachLast()
	in.stop()
}

// detachLast takes the highest-index instance out of the live ones into
// retiring.
func (d *deployment) detachLast() *instance {
	n := len(d.instances) - 1
	in := d.instances[n]
	d.instances[n] = nil
	d.instances = d.instances[:n]
	d.retiring[in] = struct{}{}
	return in
}

// stopAll detaches every instance and returns them, for Remove and Close.
func (d *deployment) stopAll() []*instance {
	all := make([]*instance, 0, len(d.instances)+len(d.retiring))
	all = append(all, d.instances...)
	for in := range d.retiring {
		all = append(all, in)
	}
	d.instances = nil
	for _, in := range all {
		in.stop()
	}
	return all
}

// Remove stops every instance of the function (SIGTERM to each process
// group, SIGKILL after StopGrace), forgets it, and returns once they are
// gone. An unknown function is not an error.
func (r *Runtime) Remove(ctx context.Context, tenant, name string) error {
	ref := runtime.Ref{Tenant: tenant, Name: name}
	r.mu.Lock()
	d := r.fns[ref]
	if d == nil {
		r.mu.Unlock()
		return nil
	}
	delete(r.fns, ref)
	all := d.stopAll()
	r.mu.Unlock()

	defer r.changes.notify(ref)
	for _, in := range all {
		select {
		case <-in.done:
		case <-ctx.Done():
			return fmt.Errorf("remove %s/%s: %w", tenant, name, ctx.Err())
		}
	}
	return nil
}

// Observe reports the function's phase; found is false unless it was
// applied and not removed.
func (r *Runtime) Observe(ctx context.Context, tenant, name string) (runtime.Observed, bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.fns[runtime.Ref{Tenant: tenant, Name: name}]
	if d == nil {
		return runtime.Observed{}, false, nil
	}
	if d.failMsg != "" {
		return runtime.Observed{Phase: function.PhaseFailed, Message: d.failMsg}, true, nil
	}
	if d.spec.Mode() != function.ModeHTTP {
		return runtime.Observed{Phase: function.PhaseReady}, true, nil
	}
	var obs runtime.Observed
	var crashing string
	for _, in := range d.instances {
		st := in.status()
		if ep := in.ep.Load(); ep != nil {
			obs.ReadyReplicas++
			// The gateway's route reaches the instance here; a change of
			// readiness or port notifies Changes (runOnce, exited), so the
			// deployer rewrites the status with it.
			obs.Endpoints = append(obs.Endpoints, "http://"+ep.addr)
		} else if crashing == "" && st.crashes >= crashLoopThreshold {
			crashing = fmt.Sprintf("instance %s %s (restarted %d times)", in.name, st.lastExit, st.crashes)
			if st.lastStderr != "" {
				crashing += ": " + st.lastStderr
			}
		}
	}
	desired := d.desired()
	obs.Replicas = desired
	switch {
	case crashing != "":
		obs.Phase, obs.Message = function.PhaseFailed, crashing
	case obs.ReadyReplicas >= desired:
		obs.Phase = function.PhaseReady
	default:
		obs.Phase = function.PhaseDeploying
		obs.Message = fmt.Sprintf("%d of %d instances ready", obs.ReadyReplicas, desired)
	}
	return obs, true, nil
}

// List returns every function applied and not removed.
func (r *Runtime) List(ctx context.Context) ([]runtime.Ref, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	refs := make([]runtime.Ref, 0, len(r.fns))
	for ref := range r.fns {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(a, b runtime.Ref) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.Name, b.Name))
	})
	return refs, nil
}
