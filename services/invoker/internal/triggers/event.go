package triggers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

const (
	// eventWindow and eventMaxAckPending bound an event trigger's fires
	// as natsWindow and natsMaxAckPending do a nats trigger's.
	eventWindow        = 32
	eventMaxAckPending = 256
	// triggerEventPrefix: trigger events never trigger anything, or a
	// trigger on "any event" would fire on its own fires forever.
	triggerEventPrefix = "io.eventflow.trigger."
	// cloudEventsJSON is the content type of an event trigger's payload.
	cloudEventsJSON = "application/cloudevents+json"
)

// eventTrigger: the tenant's lifecycle events that match the filter, one
// invocation each, with the CloudEvent (structured JSON) as the payload.
type eventTrigger struct {
	tenant, fn, key string
	filter          function.EventFilter
}

func (e *eventTrigger) stream() string { return events.StreamEvents }
func (e *eventTrigger) window() int    { return eventWindow }

func anyValue(v string) bool { return v == "" || v == "*" }

// filterSubject narrows the consumer to the tenant, and to the function
// and the type when the filter names them: a type prefix ending in ".*"
// becomes a '>' wildcard over the rest of the type's tokens.
func (e *eventTrigger) filterSubject() (string, error) {
	fn := e.filter.Function
	if anyValue(fn) {
		fn = ""
	}
	typ := e.filter.Type
	switch {
	case anyValue(typ):
		typ = ""
	case strings.HasSuffix(typ, ".*"):
		typ = strings.TrimSuffix(typ, "*") + ">"
	}
	subj := events.EventFilter(e.tenant, fn, typ)
	for _, tok := range strings.Split(subj, ".") {
		if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) ||
			(strings.ContainsAny(tok, "*>") && tok != "*" && tok != ">") {
			return "", fmt.Errorf("filter %+v makes no valid subject (%q)", e.filter, subj)
		}
	}
	return subj, nil
}

func (e *eventTrigger) config() (jetstream.ConsumerConfig, error) {
	subj, err := e.filterSubject()
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	return jetstream.ConsumerConfig{
		Description:   fmt.Sprintf("EventFlow event trigger %s of %s/%s", e.key, e.tenant, e.fn),
		FilterSubject: subj,
		MaxAckPending: eventMaxAckPending,
	}, nil
}

// typeMatches checks the type in code too (the subject holds it without
// its io.eventflow. prefix).
func (e *eventTrigger) typeMatches(t string) bool {
	f := e.filter.Type
	switch {
	case anyValue(f):
		return true
	case strings.HasSuffix(f, ".*"):
		return strings.HasPrefix(t, strings.TrimSuffix(f, "*"))
	}
	return t == f
}

// handle skips what must not fire: an event that does not match the
// filter (its source is checked here, the subject cannot hold it), a
// trigger event, and an event about the triggered function itself (the
// loop guard: a function triggered by its own failures would otherwise
// fail, and fire, forever). The id is derived from the event's id, so
// the same event is one invocation however often it is delivered.
func (e *eventTrigger) handle(msg jetstream.Msg, md *jetstream.MsgMetadata) (Fire, bool, error) {
	fire := Fire{Tenant: e.tenant, Function: e.fn, At: md.Timestamp,
		Ref: events.TriggerRef{Type: function.TriggerEvent, Key: e.key}}
	_, about, err := events.TenantFunction(msg.Subject())
	if err != nil {
		return fire, false, fmt.Errorf("event subject: %w", err)
	}
	ev, err := events.ParseCloudEvent(msg.Data())
	if err != nil {
		return fire, false, err
	}
	if about == e.fn || strings.HasPrefix(ev.Type, triggerEventPrefix) || !e.typeMatches(ev.Type) ||
		(!anyValue(e.filter.Source) && ev.Source != e.filter.Source) {
		return fire, true, nil
	}
	depth := chainDepth(ev) + 1
	if depth > events.MaxEventChain {
		return fire, false, fmt.Errorf("%w: event %s is about an invocation %d event triggers deep", errChainTooDeep, ev.ID, depth-1)
	}
	fire.Ref.Depth = depth
	at := ev.Time
	if at.IsZero() {
		at = md.Timestamp
	}
	fire.At = at
	fire.Ref.Event = refText(ev.ID)
	fire.ID = events.DerivedInvocationID(at, e.tenant+"/"+e.fn+"/"+e.key+"/"+ev.ID)
	fire.Payload = msg.Data()
	fire.ContentType = cloudEventsJSON
	return fire, false, nil
}

// errChainTooDeep: an event trigger's chain reached events.MaxEventChain.
var errChainTooDeep = errors.New("event trigger chain too deep")

// chainDepth is how many event triggers led to the invocation an event is
// about (0 for any other event, or an invocation made otherwise).
func chainDepth(ev events.CloudEvent) int {
	var d struct {
		Trigger *events.TriggerRef `json:"trigger"`
	}
	if json.Unmarshal(ev.Data, &d) != nil || d.Trigger == nil || d.Trigger.Type != function.TriggerEvent {
		return 0
	}
	return max(d.Trigger.Depth, 1)
}
