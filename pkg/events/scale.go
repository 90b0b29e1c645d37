package events

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// SubjectScale carries load reports (core NATS, not stored):
// eventflow.scale.<tenant>.<function>. The gateway and the invokers
// publish; the deployer's scaler listens. Tenants' bus clients may not
// publish here, so no tenant can scale another's function.
const SubjectScale = "eventflow.scale"

// ScaleSubject is where load reports of one function go.
func ScaleSubject(tenant, fn string) string { return join(SubjectScale, tenant, fn) }

// TypeFunctionScaled is the event of a change of a function's desired
// instances, with ScaledEventData.
const TypeFunctionScaled = "io.eventflow.function.scaled"

// Load is one process's report of a function's work: requests it is
// running on the function's instances now (InFlight) and requests it holds
// because no instance is ready (Held). A report with Held > 0 is a wake:
// it is sent at once when a request finds no instance, then with every
// report interval while requests wait. Reports are sent every interval
// while either count is non-zero, and once more when both fall to zero.
type Load struct {
	// Source names the reporting process (gateway or invoker replica); the
	// scaler sums the latest report of every source.
	Source   string `json:"source"`
	InFlight int    `json:"inFlight"`
	Held     int    `json:"held,omitempty"`
	// Served counts the requests the process finished for each revision of
	// the function since its last report, while the function rolls out
	// (function.RolloutState): the deployer rolls back on their errors.
	Served []Served `json:"served,omitempty"`
}

// Served is how many requests one revision served, and how many of them
// failed (a failed run, a 5xx answer, a timeout; not a 4xx).
type Served struct {
	Revision int64 `json:"revision"`
	Requests int   `json:"requests"`
	Failed   int   `json:"failed,omitempty"`
}

// maxLoad bounds a report's counts: more than any one process runs.
const maxLoad = 1 << 20

// MaxServed bounds the revisions of one report.
const MaxServed = 8

// MaxLoadSize bounds an encoded report.
const MaxLoadSize = 1024

// Data encodes the report.
func (l Load) Data() []byte {
	b, _ := json.Marshal(l)
	return b
}

// ParseLoad reads a load report strictly: one JSON object of at most
// MaxLoadSize bytes, no unknown fields, a source that is a subject token
// of at most 64 bytes, counts from 0 to 2^20, at most MaxServed revisions
// served, each once, from 1 to 999999, with no more failed than served.
func ParseLoad(data []byte) (Load, error) {
	var l Load
	if len(data) > MaxLoadSize {
		return l, fmt.Errorf("load report longer than %d bytes", MaxLoadSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil || dec.More() {
		return Load{}, fmt.Errorf("load report is not a JSON object of source, inFlight and held")
	}
	if !validToken(l.Source) || len(l.Source) > 64 {
		return Load{}, fmt.Errorf("load report source %q is not a short subject token", l.Source)
	}
	if l.InFlight < 0 || l.InFlight > maxLoad || l.Held < 0 || l.Held > maxLoad {
		return Load{}, fmt.Errorf("load report counts out of range (0 to %d)", maxLoad)
	}
	if len(l.Served) == 0 {
		l.Served = nil // as it encodes again
	}
	if len(l.Served) > MaxServed {
		return Load{}, fmt.Errorf("load report names more than %d revisions", MaxServed)
	}
	for i, sv := range l.Served {
		if sv.Revision < 1 || sv.Revision >= 1000000 || sv.Requests < 0 || sv.Requests > maxLoad || sv.Failed < 0 || sv.Failed > sv.Requests {
			return Load{}, fmt.Errorf("load report served counts out of range")
		}
		for _, o := range l.Served[:i] {
			if o.Revision == sv.Revision {
				return Load{}, fmt.Errorf("load report names revision %d twice", sv.Revision)
			}
		}
	}
	return l, nil
}

// TypeFunctionRollout is the event of a step of a function's gradual
// rollout: a new share, its end, or a rollback.
const TypeFunctionRollout = "io.eventflow.function.rollout"

// RolloutEventData is the data of io.eventflow.function.rollout events:
// where the rollout of revision to replace from stands.
type RolloutEventData struct {
	Tenant   string `json:"tenant"`
	Name     string `json:"name"`
	Revision int64  `json:"revision"`
	From     int64  `json:"from"`
	Percent  int    `json:"percent"`
	Phase    string `json:"phase"`
	Message  string `json:"message,omitempty"`
}

// ScaledEventData is the data of io.eventflow.function.scaled events.
type ScaledEventData struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	From   int32  `json:"from"`
	To     int32  `json:"to"`
	Reason string `json:"reason"`
}

// QueueConsumer is the durable consumer of one function's queued async
// invocations on the invocations stream (the invoker's); the scaler reads
// its pending and unacknowledged counts.
func QueueConsumer(tenant, fn string) string { return "invoke_" + tenant + "_" + fn }
