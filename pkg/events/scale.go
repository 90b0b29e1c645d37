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
}

// maxLoad bounds a report's counts: more than any one process runs.
const maxLoad = 1 << 20

// MaxLoadSize bounds an encoded report.
const MaxLoadSize = 256

// Data encodes the report.
func (l Load) Data() []byte {
	b, _ := json.Marshal(l)
	return b
}

// ParseLoad reads a load report strictly: one JSON object of at most
// MaxLoadSize bytes, no unknown fields, a source that is a subject token
// of at most 64 bytes, counts from 0 to 2^20.
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
	return l, nil
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
