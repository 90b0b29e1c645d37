// Package triggers makes async invocations from a function's triggers
// (spec.triggers): cron schedules (cron.go), messages on the tenant's
// NATS subjects and EventFlow's own lifecycle events (streams.go). Every
// trigger fires through one Firer, which publishes an ordinary invocation
// message carrying the trigger (events.TriggerRef) with a derived id, so a
// fire made twice (two invoker replicas, a redelivery after a crash) is one
// invocation: JetStream de-duplicates the id. Each trigger's state (counts,
// last fire, last error) is kept in the triggers bucket (state.go).
package triggers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
)

// Deps are what triggers need from the invoker.
type Deps struct {
	JS    jetstream.JetStream
	State jetstream.KeyValue // the triggers bucket
	// Invocations is the invocation records' bucket (a cron replica
	// checks there whether an owed tick already ran).
	Invocations jetstream.KeyValue
	Events      *bus.AsyncPublisher
	Log         *slog.Logger
	// Source is the CloudEvents source of trigger events.
	Source string
	// Secret, the platform's (every invoker replica has the same), keys
	// trigger invocation ids and consumer names so that no tenant can
	// work them out (Firer.keyedID, Firer.consumerName).
	Secret []byte
}

// component is one kind of trigger runner: it follows the catalog and runs
// the triggers of its kind until stopped.
type component interface {
	onChange(catalog.Change)
	start(ctx context.Context, wg *sync.WaitGroup)
	stop()
}

// Triggers runs every trigger of every function.
type Triggers struct {
	firer *Firer
	state *State
	parts []component
	// forgets are the state deletions under way (of deleted functions,
	// removed triggers).
	forgets sync.WaitGroup
	// seen is each function's trigger keys as last seen (OnChange runs
	// in order on one goroutine, so it needs no lock).
	seen map[string]map[string]bool
}

// New builds the trigger runners; OnChange must see every catalog change
// from then on (the catalog cache's hook), Run starts them.
func New(d Deps) *Triggers {
	st := newState(d.State, d.Log)
	f := &Firer{js: d.JS, events: d.Events, state: st, log: d.Log, source: d.Source, secret: d.Secret}
	return &Triggers{firer: f, state: st, parts: []component{newCron(f, d.Invocations), newStreams(f)}, seen: map[string]map[string]bool{}}
}

// OnChange is the catalog cache's hook.
func (t *Triggers) OnChange(ch catalog.Change) {
	if !ch.Deleted && !ch.Record.Deleting && ch.Record.Spec.Name == "" {
		return // a record that did not decode: every part keeps what runs
	}
	for _, p := range t.parts {
		p.onChange(ch)
	}
	fk := events.FunctionKey(ch.Tenant, ch.Name)
	if ch.Deleted {
		delete(t.seen, fk)
		// A deleted function's trigger states go with it (every replica
		// tries; deleting twice is harmless), off the catalog's goroutine.
		t.forget(func(ctx context.Context) { t.state.forget(ctx, ch.Tenant, ch.Name) })
		return
	}
	now := map[string]bool{}
	for _, tr := range ch.Record.Spec.Triggers {
		now[tr.Key()] = true
	}
	// A trigger removed from a function loses its state: added back
	// later, it starts afresh (a cron trigger with missed: once does not
	// take the time it was gone for missed ticks). A replica sees only
	// the changes after its start, so a restart removes nothing.
	for key := range t.seen[fk] {
		if !now[key] {
			t.forget(func(ctx context.Context) { t.state.forgetKey(ctx, events.TriggerKey(ch.Tenant, ch.Name, key)) })
		}
	}
	t.seen[fk] = now
}

// forget runs a state deletion off the catalog's goroutine, bounded.
func (t *Triggers) forget(del func(ctx context.Context)) {
	t.forgets.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		del(ctx)
	})
}

// Run runs the triggers until ctx ends, then stops them and stores their
// last state.
func (t *Triggers) Run(ctx context.Context) {
	// The state's last flush waits for the parts to stop: fires still in
	// flight when ctx ends (they finish) are counted too.
	sctx, stopState := context.WithCancel(context.WithoutCancel(ctx))
	stateDone := make(chan struct{})
	go func() { defer close(stateDone); t.state.run(sctx) }()
	var wg sync.WaitGroup
	for _, p := range t.parts {
		p.start(ctx, &wg)
	}
	<-ctx.Done()
	for _, p := range t.parts {
		p.stop()
	}
	wg.Wait()
	t.forgets.Wait()
	stopState()
	<-stateDone
}
