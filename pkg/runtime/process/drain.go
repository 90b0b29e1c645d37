package process

import (
	"context"
	"errors"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// ErrNotApplied is returned by Scale for a function that was never applied
// (or was removed).
var ErrNotApplied = errors.New("function is not applied")

// drainPoll is how often a draining instance's in-flight count is read;
// its open connections are read drainPoll apart at first, then ever more
// rarely, up to maxDrainPoll.
const (
	drainPoll    = 20 * time.Millisecond
	maxDrainPoll = 320 * time.Millisecond
)

// drainLast scales the deployment down by one instance, safely: the
// highest-index instance leaves the endpoints at once (no new invocation
// picks it, the gateway's route drops it with the next status), and is
// stopped only after delay has passed (for route requests already sent
// to it) and its invocations in flight have finished, or the function's
// timeout has passed. Requests the gateway's route proxies to it do not
// pass through here: the drain also waits until no connection to its port
// is open (openConns), which the gateway's closing of idle connections to
// a removed endpoint makes mean "no request in flight". r.mu must be
// held.
func (d *deployment) drainLast(delay time.Duration) {
	in := d.detachLast()
	in.mu.Lock()
	in.draining = true
	in.ep.Store(nil)
	in.mu.Unlock()
	in.r.changes.notify(in.ref)
	limit := delay + in.spec.Timeout()
	go func() {
		start := time.Now()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-in.stopCh: // removed or closed meanwhile
			return
		case <-t.C:
		}
		// Our own idle keep-alive connections to it would look like
		// requests in flight.
		in.transport.CloseIdleConnections()
		port := in.status().port
		// The in-flight count is an atomic read; the connection table is
		// a scan of the whole host's (costly with many connections), so
		// while only connections remain it is read less and less often.
		wait := drainPoll
		for time.Since(start) < limit {
			if in.inflight.Load() == 0 {
				if n, _ := openConns(port); port == 0 || n == 0 {
					break
				}
				wait = min(wait*2, maxDrainPoll)
			} else {
				wait = drainPoll
			}
			t.Reset(wait)
			select {
			case <-in.stopCh:
				return
			case <-t.C:
			}
		}
		in.stop()
	}()
}

// acquire counts an invocation on the instance behind ep, unless the
// instance stopped serving there meanwhile (drained or exited): then it
// returns false and counts nothing. Counting first and checking after
// means a drain (which clears ep, then reads the count) either sees this
// invocation or makes it pick again.
func (ep *endpoint) acquire() bool {
	ep.in.inflight.Add(1)
	if ep.in.ep.Load() != ep {
		ep.in.inflight.Add(-1)
		return false
	}
	return true
}

func (ep *endpoint) release() { ep.in.inflight.Add(-1) }

// readySignal wakes WaitReady callers whenever an instance becomes ready
// (or a function goes away): a channel closed and replaced per change.
func (r *Runtime) readySignal() {
	r.readyMu.Lock()
	close(r.readyCh)
	r.readyCh = make(chan struct{})
	r.readyMu.Unlock()
}

// WaitReady returns at once when the function has a ready instance, else
// when one of the runtime's instances becomes ready, or ctx ends.
func (r *Runtime) WaitReady(ctx context.Context, tenant, name string) error {
	r.readyMu.Lock()
	ch := r.readyCh
	r.readyMu.Unlock()
	if r.pick(tenant, name) != nil {
		return nil
	}
	if r.isClosed() {
		return ErrClosed
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ runtime.ReadyWaiter = (*Runtime)(nil)
