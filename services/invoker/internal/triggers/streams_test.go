package triggers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// streamFakeMsg is a message as a consumer hands it out: only what the
// handlers read.
type streamFakeMsg struct {
	jetstream.Msg
	subject string
	data    []byte
	hdr     nats.Header
}

func (m streamFakeMsg) Subject() string      { return m.subject }
func (m streamFakeMsg) Data() []byte         { return m.data }
func (m streamFakeMsg) Headers() nats.Header { return m.hdr }

func TestEventTriggerFilterSubject(t *testing.T) {
	for _, tc := range []struct {
		f    function.EventFilter
		want string
	}{
		{function.EventFilter{}, "eventflow.events.acme.*.>"},
		{function.EventFilter{Type: "*", Function: "*"}, "eventflow.events.acme.*.>"},
		{function.EventFilter{Type: "io.eventflow.invocation.dead_lettered"}, "eventflow.events.acme.*.invocation.dead_lettered"},
		{function.EventFilter{Type: "io.eventflow.invocation.*", Function: "upper"}, "eventflow.events.acme.upper.invocation.>"},
		{function.EventFilter{Type: "io.eventflow.*"}, "eventflow.events.acme.*.>"},
	} {
		got, err := (&eventTrigger{tenant: "acme", fn: "f", filter: tc.f}).filterSubject()
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.f, got, err, tc.want)
		}
	}
	if s, err := (&eventTrigger{tenant: "acme", filter: function.EventFilter{Type: "io.eventflow.bad type"}}).filterSubject(); err == nil {
		t.Errorf("a type with a space made the subject %q", s)
	}
}

// TestEventTriggerSkips: the loop guard, trigger events, another source
// and a type outside a prefix are acked without a fire; a matching event
// fires with itself as the body and an id that depends only on the event.
func TestEventTriggerSkips(t *testing.T) {
	e := &eventTrigger{tenant: "acme", fn: "watcher", key: "event-abc",
		filter: function.EventFilter{Type: "io.eventflow.invocation.*", Source: "/eventflow/invoker"}}
	md := &jetstream.MsgMetadata{Timestamp: time.Now()}
	msg := func(fn, typ, source string) streamFakeMsg {
		ev, err := events.NewCloudEvent(typ, source, "acme", fn, map[string]string{"id": "x"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ev.Msg()
		if err != nil {
			t.Fatal(err)
		}
		return streamFakeMsg{subject: m.Subject, data: m.Data, hdr: m.Header}
	}
	for name, m := range map[string]streamFakeMsg{
		"about itself":  msg("watcher", events.TypeInvocationDeadLettered, "/eventflow/invoker"),
		"trigger event": msg("other", events.TypeTriggerFired, "/eventflow/invoker"),
		"other source":  msg("other", events.TypeInvocationDeadLettered, "/eventflow/gateway"),
		"other type":    msg("other", "io.eventflow.function.ready", "/eventflow/invoker"),
	} {
		if _, skip, err := e.handle(m, md); !skip || err != nil {
			t.Errorf("%s: skip %v, err %v; want skipped", name, skip, err)
		}
	}
	m := msg("other", events.TypeInvocationDeadLettered, "/eventflow/invoker")
	fire, skip, err := e.handle(m, md)
	again, _, _ := e.handle(m, &jetstream.MsgMetadata{Timestamp: time.Now().Add(time.Minute)})
	if skip || err != nil || string(fire.Payload) != string(m.data) || fire.ContentType != "application/cloudevents+json" ||
		fire.Ref.Type != "event" || fire.Ref.Event == "" || fire.ID != again.ID || !events.ValidInvocationID(fire.ID) {
		t.Fatalf("fire %+v skip %v err %v (again %s)", fire, skip, err, again.ID)
	}
	if _, skip, err := e.handle(streamFakeMsg{subject: m.subject, data: []byte("not json")}, md); skip || err == nil {
		t.Fatalf("a malformed event: skip %v err %v; want an error", skip, err)
	}
}

func TestNATSTriggerFire(t *testing.T) {
	n := &natsTrigger{tenant: "acme", fn: "orders", key: "nats-abc", subject: "orders.>"}
	now := time.Now()
	md := &jetstream.MsgMetadata{Timestamp: now, Sequence: jetstream.SequencePair{Stream: 42}}
	hdr := nats.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Other", "carried")
	fire, skip, err := n.handle(streamFakeMsg{subject: "eventflow.in.acme.orders.eu.new", data: []byte("{}"), hdr: hdr}, md)
	if skip || err != nil || fire.Ref.Subject != "orders.eu.new" || fire.Ref.Seq != 42 || fire.ContentType != "application/json" ||
		string(fire.Payload) != "{}" || !fire.At.Equal(now) || !events.ValidInvocationID(fire.ID) {
		t.Fatalf("fire %+v skip %v err %v", fire, skip, err)
	}
	md.Sequence.Stream = 43
	if other, _, _ := n.handle(streamFakeMsg{subject: "eventflow.in.acme.orders.eu.new", hdr: nats.Header{}}, md); other.ID == fire.ID {
		t.Fatal("two messages made one id")
	}
	// The ref's subject stays within what its header carries.
	long := "eventflow.in.acme.orders." + strings.Repeat("é", 300) + "\x01"
	f2, _, _ := n.handle(streamFakeMsg{subject: long, hdr: nats.Header{}}, md)
	inv := events.Invocation{ID: f2.ID, Tenant: "acme", Function: "orders", Trigger: &f2.Ref}
	m := inv.Msg()
	if _, err := events.InvocationFromMsg(m); err != nil {
		t.Fatalf("a long subject made an unreadable invocation: %v", err)
	}
}

func TestNakDelay(t *testing.T) {
	for delivered, want := range map[uint64]time.Duration{0: 500 * time.Millisecond, 1: 500 * time.Millisecond, 2: time.Second, 4: 4 * time.Second, 50: 30 * time.Second} {
		if got := nakDelay(delivered); got != want {
			t.Errorf("delivery %d: %s, want %s", delivered, got, want)
		}
	}
}

// TestStreamConsumerTakenOver: a consumer that exists already (made by
// another replica, or before a restart, with other bounds) is taken as it
// is, keeping its position, its bounds brought up to date.
func TestStreamConsumerTakenOver(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	ctx := context.Background()
	name := streamConsumerName("acme", "orders", "nats-abc")
	if _, err := js.CreateConsumer(ctx, events.StreamTriggers, jetstream.ConsumerConfig{Durable: name,
		FilterSubject: events.TriggerSubject("acme", "orders.>"), AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 7}); err != nil {
		t.Fatal(err)
	}
	s := newStreams(&Firer{js: js, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ft := &fnTriggers{tenant: "acme", fn: "orders", at: time.Now()}
	c, err := s.startConsumer(ctx, ft, "nats-abc", function.Trigger{Type: function.TriggerNATS, Subject: "orders.>"})
	if err != nil {
		t.Fatal(err)
	}
	c.cc.Stop()
	<-c.cc.Closed()
	cons, err := js.Consumer(ctx, events.StreamTriggers, name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := cons.CachedInfo().Config; cfg.MaxAckPending != natsMaxAckPending || cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Fatalf("consumer config %+v", cfg)
	}
}

// TestKeyedIDsAndNames: with the platform's secret, a fire's invocation id
// and a trigger's consumer name are stable (every replica agrees) but not
// what anyone can derive from the trigger alone; the id keeps its time.
func TestKeyedIDsAndNames(t *testing.T) {
	plain, keyed, other := &Firer{}, &Firer{secret: []byte("s1")}, &Firer{secret: []byte("s2")}
	id := events.DerivedInvocationID(time.UnixMilli(1_700_000_000_000), "acme/f/cron-abc/1700000000000")
	if plain.keyedID(id) != id {
		t.Error("without a secret the id must stay as derived")
	}
	k := keyed.keyedID(id)
	if k == id || k != keyed.keyedID(id) || k == other.keyedID(id) || !events.ValidInvocationID(k) || k[:12] != id[:12] {
		t.Errorf("keyed id %q of %q", k, id)
	}
	name := plain.consumerName("acme", "f", "event-abc")
	if name != streamConsumerName("acme", "f", "event-abc") {
		t.Errorf("unkeyed name %q", name)
	}
	kn := keyed.consumerName("acme", "f", "event-abc")
	if !strings.HasPrefix(kn, name+"_") || kn == other.consumerName("acme", "f", "event-abc") || kn != keyed.consumerName("acme", "f", "event-abc") {
		t.Errorf("keyed name %q", kn)
	}
}

// TestNATSMessageHeadersReachTheInvocation: a producer's own headers go
// with the invocation (as an http-mode function's request headers), the
// bus's and EventFlow's do not, and they survive the invocation message.
func TestNATSMessageHeadersReachTheInvocation(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	ctx := context.Background()
	m := nats.NewMsg(events.TriggerSubject("acme", "orders.new"))
	m.Data = []byte(`{"order":42}`)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set("X-Order-Source", "shop")
	m.Header.Add("X-Tag", "a")
	m.Header.Add("X-Tag", "b")
	m.Header.Set(nats.MsgIdHdr, "order-42")
	m.Header.Set("Eventflow-Trigger", `{"type":"cron","key":"forged"}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateConsumer(ctx, events.StreamTriggers, jetstream.ConsumerConfig{FilterSubject: events.TriggerSubject("acme", ">")})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next()
	if err != nil {
		t.Fatal(err)
	}
	md, _ := msg.Metadata()
	n := &natsTrigger{tenant: "acme", fn: "orders", key: "nats-abc", subject: "orders.>"}
	fire, skip, err := n.handle(msg, md)
	if err != nil || skip {
		t.Fatalf("handle: %v %v", skip, err)
	}
	if fire.ContentType != "application/json" || fire.Request == nil || fire.Request.Method != "POST" || fire.Request.Path != "/" {
		t.Fatalf("fire %+v", fire)
	}
	want := http.Header{"X-Order-Source": {"shop"}, "X-Tag": {"a", "b"}}
	if fmt.Sprint(fire.Request.Header) != fmt.Sprint(want) {
		t.Fatalf("headers %v, want %v", fire.Request.Header, want)
	}
	inv := events.Invocation{ID: events.NewInvocationID(), Tenant: "acme", Function: "orders", Payload: fire.Payload,
		ContentType: fire.ContentType, Trigger: &fire.Ref, Request: fire.Request}
	back, err := events.InvocationFromMsg(inv.Msg())
	if err != nil || fmt.Sprint(back.Request.Header) != fmt.Sprint(want) || back.Trigger.Type != "nats" {
		t.Fatalf("invocation message: %+v %v", back, err)
	}
}
