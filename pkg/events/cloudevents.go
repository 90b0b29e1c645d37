package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// Lifecycle event types (CloudEvents "type" attribute).
const (
	TypeFunctionDeploying = "io.eventflow.function.deploying"
	TypeFunctionReady     = "io.eventflow.function.ready"
	TypeFunctionFailed    = "io.eventflow.function.failed"
	TypeFunctionDeleted   = "io.eventflow.function.deleted"

	TypeInvocationQueued    = "io.eventflow.invocation.queued"
	TypeInvocationStarted   = "io.eventflow.invocation.started"
	TypeInvocationSucceeded = "io.eventflow.invocation.succeeded"
	TypeInvocationFailed    = "io.eventflow.invocation.failed"
	TypeInvocationRetrying  = "io.eventflow.invocation.retrying"
	// TypeInvocationDeadLettered: the last attempt failed.
	TypeInvocationDeadLettered = "io.eventflow.invocation.dead_lettered"
)

// CloudEvent is a CloudEvents 1.0 event in its JSON format (structured
// mode), field for field as github.com/cloudevents/sdk-go/v2 writes it.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// Extension attributes (lower-case alphanumerics, per the spec).
	Tenant string `json:"tenant,omitempty"`
}

// NewCloudEvent builds an event about one function with data as its JSON.
func NewCloudEvent(eventType, source, tenant, fn string, data any) (CloudEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return CloudEvent{}, err
	}
	return CloudEvent{
		SpecVersion:     "1.0",
		ID:              uuid.NewString(),
		Source:          source,
		Type:            eventType,
		Subject:         fn,
		Time:            time.Now().UTC(),
		DataContentType: "application/json",
		Data:            raw,
		Tenant:          tenant,
	}, nil
}

// EventTypes lists every lifecycle event type: the catalogue.
var EventTypes = []string{
	TypeFunctionDeploying, TypeFunctionReady, TypeFunctionFailed, TypeFunctionDeleted, TypeFunctionScaled, TypeFunctionRollout,
	TypeInvocationQueued, TypeInvocationStarted, TypeInvocationSucceeded, TypeInvocationFailed,
	TypeInvocationRetrying, TypeInvocationDeadLettered,
	TypeTriggerFired, TypeTriggerFailed,
}

// EventTypeTokens is the part of a type after "io.eventflow.", used as the
// last two subject tokens ("io.eventflow.function.ready" → "function.ready").
func EventTypeTokens(eventType string) string {
	return strings.TrimPrefix(eventType, "io.eventflow.")
}

// FunctionEventData is the data of io.eventflow.function.* events.
type FunctionEventData struct {
	Tenant        string `json:"tenant"`
	Name          string `json:"name"`
	Generation    int64  `json:"generation"`
	Phase         string `json:"phase"`
	ReadyReplicas int32  `json:"readyReplicas"`
	Message       string `json:"message,omitempty"`
}

// InvocationEventData is the data of io.eventflow.invocation.* events.
type InvocationEventData struct {
	ID         string `json:"id"`
	Tenant     string `json:"tenant"`
	Function   string `json:"function"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	Error      string `json:"error,omitempty"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	DurationMs *int64 `json:"durationMs,omitempty"`
	// Trigger is the trigger that made the invocation, if one did: event
	// triggers read it to bound chains (TriggerRef.Depth).
	Trigger *TriggerRef `json:"trigger,omitempty"`
}

// InvocationEvent is the event of an invocation record's transition.
func InvocationEvent(eventType, source string, r InvocationRecord) (CloudEvent, error) {
	return NewCloudEvent(eventType, source, r.Tenant, r.Function, InvocationEventData{
		ID: r.ID, Tenant: r.Tenant, Function: r.Function, Status: r.Status, Attempts: r.Attempts,
		Error: r.Error, ExitCode: r.ExitCode, DurationMs: r.DurationMs, Trigger: r.Trigger,
	})
}

// ParseCloudEvent reads a CloudEvent in its JSON format (structured mode),
// as stored on the events stream and sent by GET /v1/events: it must be a
// JSON object with the attributes the spec requires (specversion "1.0",
// id, source and type).
func ParseCloudEvent(data []byte) (CloudEvent, error) {
	var ev CloudEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return CloudEvent{}, fmt.Errorf("cloudevent: %w", err)
	}
	switch {
	case ev.SpecVersion != "1.0":
		return CloudEvent{}, fmt.Errorf("cloudevent: specversion %q, want 1.0", ev.SpecVersion)
	case ev.ID == "" || ev.Source == "" || ev.Type == "":
		return CloudEvent{}, errors.New("cloudevent: id, source and type are required")
	}
	return ev, nil
}

// Msg is the message that stores ev on the events stream: CloudEvents
// structured JSON, de-duplicated by the event id.
func (ev CloudEvent) Msg() (*nats.Msg, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(EventSubject(ev.Tenant, ev.Subject, ev.Type))
	msg.Data = b
	msg.Header.Set(nats.MsgIdHdr, ev.ID)
	msg.Header.Set(HeaderContentType, "application/cloudevents+json")
	return msg, nil
}
