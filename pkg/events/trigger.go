package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/net/http/httpguts"
)

// Triggers (docs/TRIGGERS.md): a function's triggers make async
// invocations like any other, on eventflow.invoke.<tenant>.<function>,
// carrying which trigger made them (Eventflow-Trigger).

// SubjectTriggers is the root of the subjects nats triggers listen on:
// eventflow.in.<tenant>.<subject...>, stored on StreamTriggers. A tenant's
// own producers may publish there (pkg/busauth).
const SubjectTriggers = "eventflow.in"

// TriggerSubject is the full subject of a nats trigger's relative subject
// (which may hold wildcards).
func TriggerSubject(tenant, rel string) string { return join(SubjectTriggers, tenant, rel) }

// Trigger event types: a trigger made an invocation, or failed to.
const (
	TypeTriggerFired  = "io.eventflow.trigger.fired"
	TypeTriggerFailed = "io.eventflow.trigger.failed"
)

// TriggerEventData is the data of trigger events.
type TriggerEventData struct {
	Tenant     string     `json:"tenant"`
	Function   string     `json:"function"`
	Trigger    TriggerRef `json:"trigger"`
	Invocation string     `json:"invocation,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// TriggerKey is the key of a trigger's state in BucketTriggers.
func TriggerKey(tenant, fn, key string) string { return tenant + "." + fn + "." + key }

// TriggerRef says which trigger made an invocation, and from what: the
// tick of a cron trigger, the subject and stream sequence of a nats
// trigger's message, the id of an event trigger's event. It is in the
// invocation's record (and the API's answer) as "trigger".
type TriggerRef struct {
	Type string `json:"type"`
	Key  string `json:"key"`
	// Tick is a cron trigger's scheduled time.
	Tick time.Time `json:"tick,omitzero"`
	// Subject is a nats trigger's message subject, relative to the
	// tenant's namespace; Seq its sequence in StreamTriggers.
	Subject string `json:"subject,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	// Event is an event trigger's CloudEvent id; Depth is how many event
	// triggers led to the invocation (1: the event was about an invocation
	// no event trigger made), which bounds chains (MaxEventChain).
	Event string `json:"event,omitempty"`
	Depth int    `json:"depth,omitempty"`
}

// MaxEventChain bounds chains of event triggers (A's events invoke B,
// B's invoke C...): an event about an invocation already at this depth
// fires no event trigger, so a cycle between functions, or a fan-out of
// type-prefix filters (each invocation sends several events), ends.
const MaxEventChain = 4

// maxTriggerHeader bounds the Eventflow-Trigger header.
const maxTriggerHeader = 1024

// HeaderTrigger carries an invocation's TriggerRef as one line of JSON.
const HeaderTrigger = "Eventflow-Trigger"

// ParseTriggerRef reads an Eventflow-Trigger header value: a JSON object
// of at most 1 KiB, no unknown fields, a known type and a key.
func ParseTriggerRef(v string) (TriggerRef, error) {
	var t TriggerRef
	if len(v) > maxTriggerHeader {
		return t, fmt.Errorf("%s is longer than %d bytes", HeaderTrigger, maxTriggerHeader)
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil || dec.More() {
		return TriggerRef{}, fmt.Errorf("%s is not a trigger object", HeaderTrigger)
	}
	switch t.Type {
	case "cron", "nats", "event":
	default:
		return TriggerRef{}, fmt.Errorf("%s type %q is not cron, nats or event", HeaderTrigger, t.Type)
	}
	if !validToken(t.Key) || len(t.Key) > 64 || !validText(t.Subject) || !validText(t.Event) || t.Depth < 0 || t.Depth > MaxEventChain {
		return TriggerRef{}, fmt.Errorf("%s has a malformed key, subject or event", HeaderTrigger)
	}
	// Written back (an invocation's Msg, its dead letter), escapes such as
	// \u2028 can make it longer than it came: accept only what still fits.
	if len(t.header()) > maxTriggerHeader {
		return TriggerRef{}, fmt.Errorf("%s is longer than %d bytes once encoded", HeaderTrigger, maxTriggerHeader)
	}
	return t, nil
}

// validText is a short printable one-line value.
func validText(s string) bool {
	return len(s) <= 256 && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (t TriggerRef) header() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(t)
	return strings.TrimSuffix(b.String(), "\n")
}

// DerivedInvocationID is an invocation id made the same way every time
// from the same seed: the time t (as NewInvocationID's, so ids still sort
// by time) and 80 bits of the seed's SHA-256. Triggers use it so that a
// tick, a message or an event fired twice (by two replicas, or again after
// a crash) is one invocation: JetStream de-duplicates the id.
func DerivedInvocationID(t time.Time, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return fmt.Sprintf("%012x%s", t.UnixMilli(), hex.EncodeToString(sum[:10]))
}

// HTTPRequest is the request an /async-fn/ route call queued for an
// http-mode function: method, path (after the function's prefix, with the
// query) and the headers to forward. It travels in headers:
// Eventflow-Http-Method, Eventflow-Http-Path and each forwarded header as
// Eventflow-Http-H-<Name>.
type HTTPRequest struct {
	Method string
	Path   string
	Header http.Header
}

// HopByHopHeaders concern one connection (RFC 9110 7.6.1), never a
// request carried further: neither a queued HTTP request nor a message's
// headers made into one take them.
var HopByHopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// MaxHTTPPath bounds the path and query of a queued HTTP request.
const MaxHTTPPath = 8192

// HTTP request headers of an invocation queued by the /async-fn/ route.
const (
	HeaderHTTPMethod = "Eventflow-Http-Method"
	HeaderHTTPPath   = "Eventflow-Http-Path"
	// HeaderHTTPPrefix prefixes each forwarded request header.
	HeaderHTTPPrefix = "Eventflow-Http-H-"
)

func (r *HTTPRequest) setHeaders(h nats.Header) {
	h.Set(HeaderHTTPMethod, r.Method)
	h.Set(HeaderHTTPPath, r.Path)
	for k, vs := range r.Header {
		for _, v := range vs {
			h.Add(HeaderHTTPPrefix+k, v)
		}
	}
}

// parseHTTPRequest reads the request headers, if any: a method of token
// characters and an absolute path.
func parseHTTPRequest(h nats.Header) (*HTTPRequest, error) {
	m := h.Get(HeaderHTTPMethod)
	if m == "" {
		return nil, nil
	}
	if len(m) > 32 || !httpguts.ValidHeaderFieldName(m) {
		return nil, fmt.Errorf("%s %q is not an HTTP method", HeaderHTTPMethod, m)
	}
	p := h.Get(HeaderHTTPPath)
	if !strings.HasPrefix(p, "/") || len(p) > MaxHTTPPath || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("%s %q is not an absolute path", HeaderHTTPPath, p)
	}
	r := &HTTPRequest{Method: m, Path: p, Header: http.Header{}}
	for k, vs := range h {
		if name, ok := strings.CutPrefix(k, HeaderHTTPPrefix); ok && httpguts.ValidHeaderFieldName(name) {
			// A value the invoker's HTTP client would refuse to send
			// (control characters but tab) fails here, once, rather than
			// at every attempt.
			for _, v := range vs {
				if !httpguts.ValidHeaderFieldValue(v) {
					return nil, fmt.Errorf("%s%s has a control character", HeaderHTTPPrefix, name)
				}
			}
			r.Header[http.CanonicalHeaderKey(name)] = append(r.Header[http.CanonicalHeaderKey(name)], vs...)
		}
	}
	return r, nil
}
