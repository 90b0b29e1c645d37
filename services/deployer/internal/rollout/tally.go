// Package rollout counts, from the load reports of every gateway and
// invoker (events.Load.Served), what the new revision of each function
// that rolls out served and how much of it failed: the reconcile steps a
// rollout on (function.RolloutState.Step) with what was counted since its
// last step.
package rollout

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// MaxFunctions bounds the functions counted at once (those rolling out);
// past it, a rollout's reports are not counted and it goes on by time.
const MaxFunctions = 10000

type counts struct {
	// by revision, since the last Take
	served map[int64]events.Served
	// since is when counting began: a step due before it was not seen
	// whole (a restarted deployer).
	since time.Time
}

// Tally counts requests served by revision for the functions it watches.
// Its methods are safe for concurrent use.
type Tally struct {
	mu  sync.Mutex
	fns map[runtime.Ref]*counts
}

// New makes an empty tally; Run feeds it.
func New() *Tally { return &Tally{fns: map[runtime.Ref]*counts{}} }

// Run counts the load reports on nc until ctx ends.
func (t *Tally) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.Subscribe(events.SubjectScale+".>", func(msg *nats.Msg) {
		if t.idle() {
			return // nothing rolls out: most of the time
		}
		tenant, name, err := events.TenantFunction(msg.Subject)
		if err != nil {
			return
		}
		l, err := events.ParseLoad(msg.Data)
		if err != nil || len(l.Served) == 0 {
			return // malformed reports are the scaler's to count
		}
		t.Add(runtime.Ref{Tenant: tenant, Name: name}, l.Served)
	})
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(64*1024, 64<<20)
	<-ctx.Done()
	return sub.Unsubscribe()
}

func (t *Tally) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.fns) == 0
}

// Watch starts counting ref's reports (a no-op if it already is), and
// returns since when they are counted (now when it began now; zero past
// MaxFunctions).
func (t *Tally) Watch(ref runtime.Ref) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.fns[ref]
	if c == nil {
		if len(t.fns) >= MaxFunctions {
			return time.Time{}
		}
		c = &counts{served: map[int64]events.Served{}, since: time.Now()}
		t.fns[ref] = c
	}
	return c.since
}

// Forget stops counting ref's reports.
func (t *Tally) Forget(ref runtime.Ref) {
	t.mu.Lock()
	delete(t.fns, ref)
	t.mu.Unlock()
}

// Add counts one report's served requests of a watched function.
func (t *Tally) Add(ref runtime.Ref, served []events.Served) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.fns[ref]
	if c == nil {
		return
	}
	for _, s := range served {
		if cur, ok := c.served[s.Revision]; ok || len(c.served) < events.MaxServed {
			cur.Revision = s.Revision
			cur.Requests += s.Requests
			cur.Failed += s.Failed
			c.served[s.Revision] = cur
		}
	}
}

// Take returns what the revisions from since on served since the last
// Take (the new code: the revision rolled out and any later one with its
// code; neither the one rolled out from, which is older, nor one whose
// rollout an update of the code cut short) and how many of those requests
// failed, and starts counting afresh.
func (t *Tally) Take(ref runtime.Ref, since int64) (served, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.fns[ref]
	if c == nil {
		return 0, 0
	}
	for rev, s := range c.served {
		if rev >= since {
			served += s.Requests
			failed += s.Failed
		}
	}
	clear(c.served)
	return served, failed
}

// Restore gives back what a Take returned that could not be used (the
// step was not written), counted as revision rev's.
func (t *Tally) Restore(ref runtime.Ref, rev int64, served, failed int) {
	if served > 0 || failed > 0 {
		t.Add(ref, []events.Served{{Revision: rev, Requests: served, Failed: failed}})
	}
}
