package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Every invoker replica runs every cron trigger: at each tick each one
// publishes the tick's invocation with the same derived id (tickID), and
// JetStream's de-duplication keeps the first; the replicas whose publish
// was a duplicate change nothing. So a tick is one invocation as long as
// one replica is up, with no leader to elect or hand over.

// fireTimeout bounds one publish of a tick.
const fireTimeout = 5 * time.Second

// clock is the runner's time, injected so that scheduling runs on a fake
// one in unit tests.
type clock struct {
	now func() time.Time
	// timer fires once after d; stop releases it.
	timer func(d time.Duration) (c <-chan time.Time, stop func() bool)
}

var wallClock = clock{
	now: time.Now,
	timer: func(d time.Duration) (<-chan time.Time, func() bool) {
		t := time.NewTimer(d)
		return t.C, t.Stop
	},
}

// cronRunner runs the cron triggers: one goroutine with one timer per
// trigger, started and stopped as the catalog changes.
type cronRunner struct {
	clk clock
	log *slog.Logger
	// fire publishes a tick (Firer.Fire); read returns a trigger's stored
	// state (State.Read); settle stores the trigger's state at once after
	// a fire that counted.
	fire   func(context.Context, Fire) (dup bool, err error)
	read   func(ctx context.Context, tenant, fn, key string) (function.TriggerStatus, error)
	settle func(ctx context.Context, tenant, fn, key string)
	// invoked reports whether an invocation's record exists (an owed
	// tick that already ran is not fired again).
	invoked func(ctx context.Context, tenant, fn, id string) (bool, error)

	mu      sync.Mutex
	ctx     context.Context // nil until start
	wg      *sync.WaitGroup
	stopped bool
	fns     map[string]map[string]*cronJob // by tenant/function, then trigger key
}

// cronJob is one running cron trigger of one function.
type cronJob struct {
	tenant, fn, key string
	tr              function.Trigger
	sched           function.Schedule
	cancel          context.CancelFunc // nil until launched
}

func newCron(f *Firer, invocations jetstream.KeyValue) *cronRunner {
	return &cronRunner{
		clk: wallClock, log: f.log, fire: f.Fire, read: f.state.Read,
		settle: func(ctx context.Context, tenant, fn, key string) {
			f.state.flushKey(ctx, events.TriggerKey(tenant, fn, key))
		},
		invoked: func(ctx context.Context, tenant, fn, id string) (bool, error) {
			_, err := invocations.Get(ctx, events.InvocationKey(tenant, fn, f.keyedID(id)))
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return false, nil
			}
			return err == nil, err
		},
		fns: map[string]map[string]*cronJob{},
	}
}

// onChange starts the function's new cron triggers and stops those it no
// longer has (all of them for a function deleted or being deleted); an
// unchanged trigger keeps running (its key is its content).
func (c *cronRunner) onChange(ch catalog.Change) {
	want := cronTriggers(ch.Record, ch.Deleted)
	fk := ch.Tenant + "/" + ch.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	have := c.fns[fk]
	for k, j := range have {
		if _, ok := want[k]; !ok {
			if j.cancel != nil {
				j.cancel()
			}
			delete(have, k)
		}
	}
	for k, tr := range want {
		if _, ok := have[k]; ok {
			continue
		}
		s, err := tr.CronSchedule()
		if err != nil { // validation refuses these; a record written around it is skipped
			c.log.Warn("cron trigger not run", "tenant", ch.Tenant, "function", ch.Name, "trigger", k, "err", err)
			continue
		}
		if have == nil {
			have = map[string]*cronJob{}
		}
		j := &cronJob{tenant: ch.Tenant, fn: ch.Name, key: k, tr: tr, sched: s}
		have[k] = j
		if c.ctx != nil {
			c.launch(j)
		}
	}
	if len(have) == 0 {
		delete(c.fns, fk)
	} else {
		c.fns[fk] = have
	}
}

// launch starts j's goroutine; c.mu is held.
func (c *cronRunner) launch(j *cronJob) {
	ctx, cancel := context.WithCancel(c.ctx)
	j.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		c.run(ctx, j)
	}()
}

// start launches the triggers the catalog has shown so far, and later
// ones as they come.
func (c *cronRunner) start(ctx context.Context, wg *sync.WaitGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.ctx, c.wg = ctx, wg
	for _, jobs := range c.fns {
		for _, j := range jobs {
			c.launch(j)
		}
	}
}

// stop stops every trigger; the Triggers' wait group sees them end.
func (c *cronRunner) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for _, jobs := range c.fns {
		for _, j := range jobs {
			if j.cancel != nil {
				j.cancel()
			}
		}
	}
	c.fns = map[string]map[string]*cronJob{}
}

// run fires j's owed tick (missed policy), then each tick of its
// schedule, until ctx ends.
func (c *cronRunner) run(ctx context.Context, j *cronJob) {
	now := c.clk.now()
	rctx, cancel := context.WithTimeout(ctx, fireTimeout)
	st, err := c.read(rctx, j.tenant, j.fn, j.key)
	cancel()
	if err != nil {
		// Without the last fire nothing is known to be missed: the
		// schedule goes on from now, as with "skip".
		c.log.Warn("cron trigger state not read; missed ticks skipped", "tenant", j.tenant, "function", j.fn, "trigger", j.key, "err", err)
	} else if tick, ok := owedTick(j.tr, j.sched, st.LastFire, now); ok && !c.ranBefore(ctx, j, tick) {
		c.fireTick(ctx, j, tick)
	}
	next := j.sched.Next(now)
	for !next.IsZero() {
		if !c.sleepUntil(ctx, next) {
			return
		}
		c.fireTick(ctx, j, next)
		next = c.after(j.sched, next, c.clk.now())
	}
}

// ranBefore reports whether an owed tick already made its invocation (its
// record exists): a replica that stored it and stopped before storing the
// state leaves LastFire behind it, and past JetStream's de-duplication
// window (2 minutes) a publish would no longer be found a duplicate. A
// tick queued but not yet run has no record: within the window the
// publish itself settles it.
func (c *cronRunner) ranBefore(ctx context.Context, j *cronJob, tick time.Time) bool {
	rctx, cancel := context.WithTimeout(ctx, fireTimeout)
	defer cancel()
	ok, err := c.invoked(rctx, j.tenant, j.fn, tickID(j.tenant, j.fn, j.key, tick))
	if err != nil {
		c.log.Warn("cron trigger: owed tick not checked; firing it", "tenant", j.tenant, "function", j.fn, "trigger", j.key, "tick", tick, "err", err)
	}
	return ok
}

// after is the tick to wait for once tick is done at now: the next one,
// unless the replica overslept (a suspended process, a long stall) past
// its window; then the latest tick whose window is still open, or the
// first one to come. Ticks overslept are not fired here: other replicas
// fired them, or the trigger missed them.
func (c *cronRunner) after(s function.Schedule, tick, now time.Time) time.Time {
	n := s.Next(tick)
	if n.IsZero() || !now.After(n.Add(fireWindow(s, n))) {
		return n
	}
	if t, ok := latestTick(s, n, now); ok && !now.After(t.Add(fireWindow(s, t))) {
		return t
	}
	return s.Next(now)
}

// fireTick publishes tick's invocation, trying again (a bounded number of
// times, within the tick's window) while the publish fails.
func (c *cronRunner) fireTick(ctx context.Context, j *cronJob, tick time.Time) {
	fire := Fire{Tenant: j.tenant, Function: j.fn,
		Ref: events.TriggerRef{Type: function.TriggerCron, Key: j.key, Tick: tick.UTC()},
		ID:  tickID(j.tenant, j.fn, j.key, tick), Payload: []byte(j.tr.Body),
		ContentType: bodyType(j.tr.Body), At: tick}
	deadline := tick.Add(fireWindow(j.sched, tick))
	for try := 1; ; try++ {
		// A stop while publishing lets the publish finish: cancelling it
		// would count an error for an invocation that may be stored.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
		dup, err := c.fire(fctx, fire)
		if err == nil && !dup {
			// Stored now, not at the next batched flush: a restart
			// reading the state (missed "once") sees this tick.
			c.settle(fctx, j.tenant, j.fn, j.key)
		}
		cancel()
		if err == nil {
			return
		}
		wait := retryDelay(try)
		if try >= maxFireTries || c.clk.now().Add(wait).After(deadline) {
			c.log.Warn("cron tick not fired", "tenant", j.tenant, "function", j.fn, "trigger", j.key, "tick", tick, "tries", try, "err", err)
			return
		}
		if !c.sleepUntil(ctx, c.clk.now().Add(wait)) {
			return
		}
	}
}

// sleepUntil waits until the clock reads t or later (a timer may wake
// early by the wall clock, which can be set back), and reports false if
// ctx ended first.
func (c *cronRunner) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(c.clk.now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		ch, stop := c.clk.timer(d)
		select {
		case <-ctx.Done():
			stop()
			return false
		case <-ch:
		}
	}
}

// bodyType is the content type of a tick's body.
func bodyType(body string) string {
	switch {
	case body == "":
		return ""
	case json.Valid([]byte(body)):
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}
