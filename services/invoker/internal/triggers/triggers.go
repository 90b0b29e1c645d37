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
)

// Deps are what triggers need from the invoker.
type Deps struct {
	JS     jetstream.JetStream
	State  jetstream.KeyValue // the triggers bucket
	Events *bus.AsyncPublisher
	Log    *slog.Logger
	// Source is the CloudEvents source of trigger events.
	Source string
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
	// forgets are the state deletions of deleted functions under way.
	forgets sync.WaitGroup
}

// New builds the trigger runners; OnChange must see every catalog change
// from then on (the catalog cache's hook), Run starts them.
func New(d Deps) *Triggers {
	st := newState(d.State, d.Log)
	f := &Firer{js: d.JS, events: d.Events, state: st, log: d.Log, source: d.Source}
	return &Triggers{firer: f, state: st, parts: []component{newCron(f), newStreams(f)}}
}

// OnChange is the catalog cache's hook.
func (t *Triggers) OnChange(ch catalog.Change) {
	for _, p := range t.parts {
		p.onChange(ch)
	}
	if ch.Deleted {
		// A deleted function's trigger states go with it (every replica
		// tries; deleting twice is harmless), off the catalog's goroutine.
		t.forgets.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			t.state.forget(ctx, ch.Tenant, ch.Name)
		})
	}
}

// Run runs the triggers until ctx ends, then stops them and stores their
// last state.
func (t *Triggers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); t.state.run(ctx) }()
	for _, p := range t.parts {
		p.start(ctx, &wg)
	}
	<-ctx.Done()
	for _, p := range t.parts {
		p.stop()
	}
	wg.Wait()
	t.forgets.Wait()
}
