package events

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Invocation is an async invocation as it crosses the bus, on
// eventflow.invoke.<tenant>.<function> (docs/EVENTS.md, "Producers on
// NATS"): the payload raw in the body, the rest in headers. Msg and
// ParseInvocation are the only code that writes or reads those headers.
// Trace context (traceparent) travels beside them (pkg/telemetry).
type Invocation struct {
	ID       string // Eventflow-Invocation-Id (and Nats-Msg-Id)
	Tenant   string // from the subject
	Function string // from the subject
	Payload  []byte // the body
	// ContentType is Content-Type, passed to http-mode functions.
	ContentType string
	// CallbackURL is Eventflow-Callback-Url (X-Callback-Url at the API):
	// an absolute http or https URL.
	CallbackURL string
	// AcceptedAt is Eventflow-Accepted-At (RFC 3339), when the gateway
	// accepted it; zero when absent (a producer on the bus).
	AcceptedAt time.Time
	// PriorAttempts is Eventflow-Prior-Attempts on a redriven invocation:
	// the attempts it had made before it was dead-lettered.
	PriorAttempts int
	// Trigger is Eventflow-Trigger: the trigger that made the invocation
	// (nil for an API call).
	Trigger *TriggerRef
	// Request is the HTTP request an /async-fn/ route call queued, for
	// an http-mode function (nil otherwise).
	Request *HTTPRequest
}

// Msg is the message that queues the invocation, de-duplicated by its id.
func (inv Invocation) Msg() *nats.Msg {
	m := nats.NewMsg(InvocationSubject(inv.Tenant, inv.Function))
	m.Data = inv.Payload
	m.Header.Set(nats.MsgIdHdr, inv.ID)
	inv.setHeaders(m.Header)
	if inv.PriorAttempts > 0 {
		m.Header.Set(HeaderPriorAttempts, strconv.Itoa(inv.PriorAttempts))
	}
	return m
}

// setHeaders writes the headers an invocation and its dead letter share.
func (inv Invocation) setHeaders(h nats.Header) {
	h.Set(HeaderInvocationID, inv.ID)
	if !inv.AcceptedAt.IsZero() {
		h.Set(HeaderAcceptedAt, inv.AcceptedAt.UTC().Format(time.RFC3339Nano))
	}
	if inv.ContentType != "" {
		h.Set(HeaderContentType, inv.ContentType)
	}
	if inv.CallbackURL != "" {
		h.Set(HeaderCallbackURL, inv.CallbackURL)
	}
	if inv.Trigger != nil {
		h.Set(HeaderTrigger, inv.Trigger.header())
	}
	if inv.Request != nil {
		inv.Request.setHeaders(h)
	}
}

// InvocationFromMsg reads an invocation message (ParseInvocation).
func InvocationFromMsg(m *nats.Msg) (Invocation, error) {
	return ParseInvocation(m.Subject, m.Header, m.Data)
}

// ParseInvocation reads an invocation from a message's subject, headers
// and body (a jetstream.Msg's Subject(), Headers() and Data()), refusing
// what the invoker cannot run: a subject without tenant and function, an
// id not made as NewInvocationID makes them, a malformed acceptance time,
// prior attempts that are not a non-negative integer, a callback URL that
// is not absolute http or https.
func ParseInvocation(subject string, h nats.Header, data []byte) (Invocation, error) {
	var inv Invocation
	if !strings.HasPrefix(subject, SubjectInvocations+".") {
		return inv, fmt.Errorf("invocation: subject %q is not under %s", subject, SubjectInvocations)
	}
	if err := inv.parseHeaders(subject, h); err != nil {
		return Invocation{}, err
	}
	if v := h.Get(HeaderPriorAttempts); v != "" {
		n, err := parseCount(v)
		if err != nil {
			return Invocation{}, fmt.Errorf("invocation %s: %s %w", inv.ID, HeaderPriorAttempts, err)
		}
		inv.PriorAttempts = n
	}
	inv.Payload = data
	return inv, nil
}

func (inv *Invocation) parseHeaders(subject string, h nats.Header) error {
	tenant, fn, err := TenantFunction(subject)
	if err != nil {
		return fmt.Errorf("invocation: %w", err)
	}
	if strings.Count(subject, ".") != 3 {
		return fmt.Errorf("invocation: subject %q has more than a tenant and a function", subject)
	}
	inv.Tenant, inv.Function = tenant, fn
	inv.ID = h.Get(HeaderInvocationID)
	if !ValidInvocationID(inv.ID) {
		return fmt.Errorf("invocation: %s %q is not 32 hex characters", HeaderInvocationID, inv.ID)
	}
	if v := h.Get(HeaderAcceptedAt); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fmt.Errorf("invocation %s: %s %q is not an RFC 3339 time", inv.ID, HeaderAcceptedAt, v)
		}
		inv.AcceptedAt = t
	}
	inv.ContentType = h.Get(HeaderContentType)
	if v := h.Get(HeaderCallbackURL); v != "" {
		if err := checkCallbackURL(v); err != nil {
			return fmt.Errorf("invocation %s: %s %w", inv.ID, HeaderCallbackURL, err)
		}
		inv.CallbackURL = v
	}
	if v := h.Get(HeaderTrigger); v != "" {
		t, err := ParseTriggerRef(v)
		if err != nil {
			return fmt.Errorf("invocation %s: %w", inv.ID, err)
		}
		inv.Trigger = &t
	}
	req, err := parseHTTPRequest(h)
	if err != nil {
		return fmt.Errorf("invocation %s: %w", inv.ID, err)
	}
	inv.Request = req
	return nil
}

// checkCallbackURL accepts an absolute http or https URL with a host.
func checkCallbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

// parseCount reads a non-negative decimal integer header value.
func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || strings.HasPrefix(v, "+") {
		return 0, fmt.Errorf("%q is not a non-negative integer", v)
	}
	return n, nil
}

// DeadLetter is an invocation that failed its last attempt, as kept on
// eventflow.dlq.<tenant>.<function> for 14 days: the invocation's payload
// and headers (its prior attempts are counted in Attempts), the attempts
// made in all (Eventflow-Attempts) and the last error (Eventflow-Error).
// The gateway's dead-letter list shows these, with the time the message
// was stored (the stream's, not a header).
type DeadLetter struct {
	Invocation
	Attempts int
	Error    string
}

// maxErrorHeader bounds the error carried in a header.
const maxErrorHeader = 2048

// HeaderSafe keeps a text usable as a NATS header value: one line, at most
// 2,048 bytes.
func HeaderSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	if len(b) > maxErrorHeader {
		b = append(b[:maxErrorHeader-3], "..."...)
	}
	return string(b)
}

// Msg is the dead letter's message, de-duplicated per end (id and
// attempts), so a dead letter published twice (a crash before the ack) is
// stored once.
func (d DeadLetter) Msg() *nats.Msg {
	m := nats.NewMsg(DeadLetterSubject(d.Tenant, d.Function))
	m.Data = d.Payload
	d.setHeaders(m.Header)
	m.Header.Set(HeaderAttempts, strconv.Itoa(d.Attempts))
	m.Header.Set(HeaderError, HeaderSafe(d.Error))
	m.Header.Set(nats.MsgIdHdr, d.ID+"-dlq-"+strconv.Itoa(d.Attempts))
	return m
}

// Redrive is the invocation queued again from this dead letter, stored as
// the stream's message seq: the same id, its attempts counted on
// (PriorAttempts), de-duplicated per dead letter.
func (d DeadLetter) Redrive(seq uint64) *nats.Msg {
	inv := d.Invocation
	inv.PriorAttempts = d.Attempts
	m := inv.Msg()
	m.Header.Set(nats.MsgIdHdr, d.ID+"-redrive-"+strconv.FormatUint(seq, 10))
	return m
}

// DeadLetterFromMsg reads a dead-letter message (ParseDeadLetter).
func DeadLetterFromMsg(m *nats.Msg) (DeadLetter, error) {
	return ParseDeadLetter(m.Subject, m.Header, m.Data)
}

// ParseDeadLetter reads a dead letter from a message's subject, headers
// and body, with the checks of ParseInvocation, and attempts a
// non-negative integer.
func ParseDeadLetter(subject string, h nats.Header, data []byte) (DeadLetter, error) {
	var d DeadLetter
	if !strings.HasPrefix(subject, SubjectDeadLetters+".") {
		return d, fmt.Errorf("dead letter: subject %q is not under %s", subject, SubjectDeadLetters)
	}
	if err := d.parseHeaders(subject, h); err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter: %w", err)
	}
	n, err := parseCount(h.Get(HeaderAttempts))
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %s %w", d.ID, HeaderAttempts, err)
	}
	d.Attempts, d.Error, d.Payload = n, h.Get(HeaderError), data
	return d, nil
}
