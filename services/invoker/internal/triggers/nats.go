package triggers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/net/http/httpguts"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

const (
	// natsWindow is how many messages of one nats trigger a replica fires
	// at once (publishes awaiting JetStream's ack): enough to keep the
	// invocations stream busy, few enough to bound memory.
	natsWindow = 128
	// natsMaxAckPending bounds a nats trigger's messages handed out and
	// not yet acked, across every replica.
	natsMaxAckPending = 1024
	// maxContentType bounds the Content-Type carried to the invocation.
	maxContentType = 256
)

// natsTrigger: messages on eventflow.in.<tenant>.<subject>, one
// invocation each.
type natsTrigger struct {
	tenant, fn, key, subject string
}

func (n *natsTrigger) stream() string { return events.StreamTriggers }
func (n *natsTrigger) window() int    { return natsWindow }

func (n *natsTrigger) config() (jetstream.ConsumerConfig, error) {
	if err := function.ValidateTriggerSubject(n.subject); err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("subject %w", err)
	}
	return jetstream.ConsumerConfig{
		Description:   fmt.Sprintf("EventFlow nats trigger %s of %s/%s on %s", n.key, n.tenant, n.fn, n.subject),
		FilterSubject: events.TriggerSubject(n.tenant, n.subject),
		MaxAckPending: natsMaxAckPending,
	}, nil
}

// handle: the payload is the message's body, the content type its
// Content-Type; the id is derived from where the message is stored (its
// stream sequence and time), so every delivery of it is one invocation.
// The producer's own headers go as the request headers of an http-mode
// function (producerHeaders).
func (n *natsTrigger) handle(msg jetstream.Msg, md *jetstream.MsgMetadata) (Fire, bool, error) {
	seq := md.Sequence.Stream
	rel := strings.TrimPrefix(msg.Subject(), events.TriggerSubject(n.tenant, ""))
	fire := Fire{
		Tenant: n.tenant, Function: n.fn,
		Ref: events.TriggerRef{Type: function.TriggerNATS, Key: n.key, Seq: seq},
		ID:  events.DerivedInvocationID(md.Timestamp, fmt.Sprintf("%s/%s/%s/%d", n.tenant, n.fn, n.key, seq)),
		At:  md.Timestamp,
	}
	fire.Ref.Subject = refText(rel)
	if ct := msg.Headers().Get(events.HeaderContentType); len(ct) <= maxContentType {
		fire.ContentType = ct
	}
	fire.Payload = msg.Data()
	if h := producerHeaders(msg.Headers()); len(h) > 0 {
		fire.Request = &events.HTTPRequest{Method: http.MethodPost, Path: "/", Header: h}
	}
	return fire, false, nil
}

// producerHeaders are the message's headers an http-mode function gets
// as request headers: the producer's own, not the bus's (Nats-*), not
// EventFlow's (Eventflow-*), not Content-Type (carried as the content
// type) nor what HTTP itself sets; names that are HTTP tokens and values
// of one printable line only.
func producerHeaders(h nats.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		name := http.CanonicalHeaderKey(k)
		if skipProducerHeader(name) {
			continue
		}
		for _, v := range vs {
			if httpguts.ValidHeaderFieldValue(v) {
				out[name] = append(out[name], v)
			}
		}
	}
	return out
}

func skipProducerHeader(name string) bool {
	if strings.HasPrefix(name, "Nats-") || strings.HasPrefix(name, "Eventflow-") || strings.HasPrefix(name, "Proxy-") || slices.Contains(events.HopByHopHeaders, name) {
		return true
	}
	switch name {
	case "Content-Type", "Content-Length", "Host", "X-Invocation-Id":
		return true
	}
	return !httpguts.ValidHeaderFieldName(name)
}

// maxRefText bounds a subject or event id carried in the trigger ref.
const maxRefText = 200

// refText keeps a text the trigger ref carries within what its header
// allows (events.ParseTriggerRef): valid UTF-8, no control characters,
// at most maxRefText bytes (cut on a character; the sequence or the
// invocation id still names the message).
func refText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	for len(s) > maxRefText {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
