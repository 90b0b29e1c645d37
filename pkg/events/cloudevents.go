package events

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
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

// ShortType is the last dot-separated word of a type, used as the last
// subject token ("io.eventflow.function.ready" → "ready").
func ShortType(eventType string) string {
	for i := len(eventType) - 1; i >= 0; i-- {
		if eventType[i] == '.' {
			return eventType[i+1:]
		}
	}
	return eventType
}
