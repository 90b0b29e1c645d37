package triggers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	// secret keys the invocation ids and consumer names (see keyedID).
	secret []byte
}

// keyedID is the invocation id a fire publishes: the derived id with its
// hash keyed by the platform's secret. The invocations stream
// de-duplicates ids across every tenant, and a derived id is computable
// from a trigger's content (a cron tick's all the more): unkeyed, a tenant
// publishing on its own subjects with another's coming tick id as
// Nats-Msg-Id would make that tick a "duplicate" that never runs. Every
// replica has the secret, so they still agree. Without one (a test, a
// platform with no callback secret) the id stays as derived.
func (f *Firer) keyedID(id string) string {
	if len(f.secret) == 0 {
		return id
	}
	return id[:12] + f.mac("invocation:" + id)[:20]
}

// consumerName names a nats or event trigger's consumer, with a keyed
// suffix (when there is a secret): tenants may pull from consumers on the
// events stream by name (their own replays), so an event trigger's
// consumer must not have a name another tenant can work out.
func (f *Firer) consumerName(tenant, fn, key string) string {
	name := streamConsumerName(tenant, fn, key)
	if len(f.secret) == 0 {
		return name
	}
	return name + "_" + f.mac("consumer:" + name)[:16]
}

func (f *Firer) mac(s string) string {
	m := hmac.New(sha256.New, f.secret)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
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
	// Request carries a nats message's own headers to an http-mode
	// function (as a POST to "/" with them); nil for none.
	Request *events.HTTPRequest
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
	fire.ID = f.keyedID(fire.ID)
	inv := events.Invocation{ID: fire.ID, Tenant: fire.Tenant, Function: fire.Function,
		Payload: fire.Payload, ContentType: fire.ContentType, AcceptedAt: fire.At, Trigger: &fire.Ref, Request: fire.Request}
	ack, err := f.js.PublishMsg(ctx, inv.Msg())
	if err != nil {
		err = fmt.Errorf("queue the invocation: %w", err)
		f.Failed(ctx, fire, err)
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
