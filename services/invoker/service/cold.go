package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Scale from zero, the invoker's part (the activator's job for
// invocations): an http-mode run that finds no ready instance of its
// function (runtime.ErrNoReadyInstance) is held. The hold counts in the
// function's load reports (loadreport.Reporter.Hold), which sends the
// deployer's scaler a wake at once; the reporter's rounds repeat it every
// report interval while the run waits (one report a round, however many
// runs wait); the run is tried again as soon as the runtime says an
// instance may have become ready (runtime.ReadyWaiter), or every
// coldPoll on a runtime that cannot say. A hold lasts at most the
// function's timeout; the run that follows it gets its full timeout. A
// sync invocation held past its timeout is answered unavailable; an async
// one goes back to its queue (errCold), without its attempt counted.
// Runs on an instance count as in flight (Reporter.Begin), so the scaler
// sees the concurrency of the invoker's work.

// coldPoll is how often a held run tries again on a runtime without
// runtime.ReadyWaiter.
const coldPoll = 20 * time.Millisecond

// coldHoldsPerFunction bounds the async invocations of one function this
// invoker holds at once. One held invocation is enough to wake the
// function (and every wake report carries the count held); the others go
// straight back to their queue (errCold) instead of taking the invoker's
// async slots, which all functions share, for as long as the function is
// cold.
const coldHoldsPerFunction = 1

// errCold marks an async run that found no ready instance and was not
// (or no longer) held: its invocation goes back to its queue without an
// attempt counted. It wraps runtime.ErrNoReadyInstance.
type errCold struct{ err error }

func (e *errCold) Error() string { return e.err.Error() }
func (e *errCold) Unwrap() error { return e.err }

// runHooks tell an async run's handler how its run goes: attempt before
// each call of the runtime (the first, and each after a hold's wait),
// cold after a call that found no ready instance. Both may be nil.
type runHooks struct {
	attempt func()
	cold    func()
	// stop ends a hold early (the invoker is stopping): the invocation
	// goes back to its queue, for another invoker to hold. nil: the hold
	// lasts its timeout.
	stop <-chan struct{}
}

func (h *runHooks) onAttempt() {
	if h != nil && h.attempt != nil {
		h.attempt()
	}
}

func (h *runHooks) onCold() {
	if h != nil && h.cold != nil {
		h.cold()
	}
}

func (h *runHooks) stopped() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.stop
}

// coldGate counts the async holds of each function (coldHoldsPerFunction).
type coldGate struct {
	mu   sync.Mutex
	held map[[2]string]int
}

func (g *coldGate) enter(tenant, fn string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{tenant, fn}
	if g.held[k] >= coldHoldsPerFunction {
		return false
	}
	if g.held == nil {
		g.held = map[[2]string]int{}
	}
	g.held[k]++
	return true
}

func (g *coldGate) full(tenant, fn string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[[2]string{tenant, fn}] >= coldHoldsPerFunction
}

func (g *coldGate) leave(tenant, fn string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{tenant, fn}
	if g.held[k]--; g.held[k] <= 0 {
		delete(g.held, k)
	}
}

// invoke calls the runtime: a job-mode run as it is; an http-mode one
// counted in flight while it runs, and held while the function has no
// ready instance (see above). h is an async run's (nil for a sync one):
// its holds are bounded per function, and it ends with errCold when it
// goes back to its queue.
func (iv *Invoker) invoke(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest, mode string, h *runHooks) (runtime.InvokeResult, error) {
	if spec.Mode() != function.ModeHTTP {
		h.onAttempt()
		return iv.d.Runtime.Invoke(ctx, tenant, spec, req)
	}
	name := spec.Name
	async := h != nil
	if spec.Paused() {
		// Paused (max 0): no instance will come, nothing to hold for, and
		// no attempt is started (nor its event sent).
		var err error = fmt.Errorf("function %s/%s: %w: it runs no instance (scale.max is 0)", tenant, name, runtime.ErrNoReadyInstance)
		if async {
			err = &errCold{err}
		}
		return runtime.InvokeResult{}, err
	}
	if async && iv.cold.full(tenant, name) {
		// Another of the function's invocations is held: the function
		// is cold, and this one waits in its queue, not started.
		return runtime.InvokeResult{}, &errCold{fmt.Errorf("function %s/%s: %w", tenant, name, runtime.ErrNoReadyInstance)}
	}
	var hd *hold
	for {
		h.onAttempt()
		end := iv.load.Begin(tenant, name)
		res, err := iv.d.Runtime.Invoke(ctx, tenant, spec, req)
		end()
		if !errors.Is(err, runtime.ErrNoReadyInstance) {
			if hd != nil {
				hd.end("served")
			}
			return res, err
		}
		h.onCold()
		if hd == nil {
			// The first call that found no instance: the hold begins.
			if async && !iv.cold.enter(tenant, name) {
				// Another of the function's invocations holds (and wakes)
				// already: this one waits in its queue.
				return res, &errCold{err}
			}
			hd = iv.hold(ctx, tenant, spec, mode, async)
		}
		why := hd.wait(ctx, h.stopped())
		if why == "" {
			continue // an instance may be ready: try again
		}
		waited := hd.end(why)
		err = fmt.Errorf("%w: none became ready in %s (the function's timeout is %s)", err, waited.Round(time.Millisecond), spec.Timeout())
		if async {
			err = &errCold{err}
		}
		return res, err
	}
}

// hold is one run's wait for a ready instance.
type hold struct {
	iv           *Invoker
	tenant, name string
	mode         string
	async        bool
	since        time.Time
	release      func() // the load report's hold
	deadline     *time.Timer
	// ctx ends the readiness wait (ready) with the hold.
	ctx    context.Context
	cancel context.CancelFunc
	ready  <-chan struct{}
}

// hold begins a hold of the function's run: counted held in the load
// reports, which sends a wake at once.
func (iv *Invoker) hold(ctx context.Context, tenant string, spec function.Spec, mode string, async bool) *hold {
	hd := &hold{iv: iv, tenant: tenant, name: spec.Name, mode: mode, async: async, since: time.Now(),
		release:  iv.load.Hold(tenant, spec.Name),
		deadline: time.NewTimer(spec.Timeout())}
	hd.ctx, hd.cancel = context.WithCancel(ctx)
	ft, ff := iv.m.fnLabels.labels(tenant, spec.Name)
	iv.m.coldHeld.WithLabelValues(ft, ff, mode).Inc()
	return hd
}

// wait returns "" when an instance of the function may have become ready,
// else why the hold is over: "timeout" (it lasted the function's
// timeout), "cancelled" (ctx ended) or "stopped" (stop was closed).
func (hd *hold) wait(ctx context.Context, stop <-chan struct{}) string {
	for {
		if hd.ready == nil {
			hd.ready = hd.iv.waitReady(hd.ctx, hd.tenant, hd.name)
		}
		select {
		case <-hd.ready:
			hd.ready = nil
			if ctx.Err() != nil {
				return "cancelled"
			}
			return ""
		case <-hd.deadline.C:
			return "timeout"
		case <-ctx.Done():
			return "cancelled"
		case <-stop:
			return "stopped"
		}
	}
}

// end ends the hold, recording how (served, or why it gave up) and how
// long it lasted, which it returns.
func (hd *hold) end(how string) time.Duration {
	waited := time.Since(hd.since)
	hd.cancel()
	hd.deadline.Stop()
	hd.release()
	if hd.async {
		hd.iv.cold.leave(hd.tenant, hd.name)
	}
	hd.iv.m.coldWait.WithLabelValues(hd.mode, how).Observe(waited.Seconds())
	return waited
}

// waitReady returns a channel closed when an instance of the function may
// have become ready: when the runtime's WaitReady returns, or after
// coldPoll on a runtime without it (or whose WaitReady failed before
// ctx ended). ctx ends the wait (the channel is closed then too).
func (iv *Invoker) waitReady(ctx context.Context, tenant, name string) <-chan struct{} {
	ch := make(chan struct{})
	rw, ok := iv.d.Runtime.(runtime.ReadyWaiter)
	if !ok {
		time.AfterFunc(coldPoll, func() { close(ch) })
		return ch
	}
	go func() {
		defer close(ch)
		if err := rw.WaitReady(ctx, tenant, name); err != nil && ctx.Err() == nil {
			// The runtime cannot say (closed, say): poll.
			select {
			case <-time.After(coldPoll):
			case <-ctx.Done():
			}
		}
	}()
	return ch
}
