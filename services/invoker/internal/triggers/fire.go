package triggers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/telemetry"
)

// Firer turns a trigger's fire into an invocation.
type Firer struct {
	js     jetstream.JetStream
	events *bus.AsyncPublisher
	state  *State
	log    *slog.Logger
	source string
}

// Fire is one fire of a trigger.
type Fire struct {
	Tenant, Function string
	Ref              events.TriggerRef
	// ID is the invocation's derived id (events.DerivedInvocationID): the
	// same for the same tick, message or event, whoever fires it.
	ID          string
	Payload     []byte
	ContentType string
	// At is when the fire happened (the tick, the message's or event's
	// time); it is the invocation's acceptance time.
	At time.Time
}

// Fire publishes the invocation and waits for JetStream to store it. A
// fire JetStream found to be a duplicate (another replica made it first,
// or this one before a crash) returns dup true and changes no state;
// otherwise the trigger's state counts it and a trigger event goes out. An
// error (the invocation is not stored) is counted as the trigger's error;
// the caller decides whether to fire again.
func (f *Firer) Fire(ctx context.Context, fire Fire) (dup bool, err error) {
	inv := events.Invocation{ID: fire.ID, Tenant: fire.Tenant, Function: fire.Function,
		Payload: fire.Payload, ContentType: fire.ContentType, AcceptedAt: fire.At, Trigger: &fire.Ref}
	ack, err := f.js.PublishMsg(ctx, inv.Msg())
	if err != nil {
		err = fmt.Errorf("queue the invocation: %w", err)
		f.state.failed(fire, err)
		f.emit(ctx, events.TypeTriggerFailed, fire, err)
		return false, err
	}
	if ack.Duplicate {
		return true, nil
	}
	f.state.fired(fire)
	f.emit(ctx, events.TypeTriggerFired, fire, nil)
	return false, nil
}

// Failed records a trigger's failure to make an invocation that happened
// before Fire (say, a message that cannot become one).
func (f *Firer) Failed(ctx context.Context, fire Fire, err error) {
	f.state.failed(fire, err)
	f.emit(ctx, events.TypeTriggerFailed, fire, err)
}

// emit sends a trigger event without waiting: events inform, the state
// and the invocation are the truth.
func (f *Firer) emit(ctx context.Context, typ string, fire Fire, err error) {
	data := events.TriggerEventData{Tenant: fire.Tenant, Function: fire.Function, Trigger: fire.Ref}
	if err != nil {
		data.Error = err.Error()
	} else {
		data.Invocation = fire.ID
	}
	ev, e := events.NewCloudEvent(typ, f.source, fire.Tenant, fire.Function, data)
	if e != nil {
		return
	}
	msg, e := ev.Msg()
	if e != nil {
		return
	}
	telemetry.Inject(ctx, msg)
	f.events.Publish(msg)
}
