package events_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestInvocationsQueueCap provisions EVENTFLOW_INVOCATIONS on a real
// nats-server first without a cap (a deployment from before it), then
// updates it in place with MaxQueuedPerFunction 3, and checks the server
// refuses a function's publishes past 3, atomically and per function, with
// an error IsQueueFull recognises; that a duplicate of a stored message is
// still acknowledged; that an acknowledged invocation frees its place; and
// that provisioning without a cap lifts it again.
func TestInvocationsQueueCap(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	provision := func(maxQueued int) {
		t.Helper()
		o := events.DefaultOptions()
		o.MaxQueuedPerFunction = maxQueued
		if err := bus.Provision(ctx, js, o); err != nil {
			t.Fatalf("provision with MaxQueuedPerFunction %d: %v", maxQueued, err)
		}
	}
	publish := func(fn, id string) (*jetstream.PubAck, error) {
		msg := nats.NewMsg(events.InvocationSubject("acme", fn))
		msg.Header.Set(nats.MsgIdHdr, id)
		msg.Data = []byte("payload")
		return js.PublishMsg(ctx, msg)
	}
	mustPublish := func(fn, id string) {
		t.Helper()
		if _, err := publish(fn, id); err != nil {
			t.Fatalf("publish %s %s: %v", fn, id, err)
		}
	}
	wantFull := func(fn, id string) {
		t.Helper()
		_, err := publish(fn, id)
		if !events.IsQueueFull(err) {
			t.Fatalf("publish %s %s to a full queue: %v, want a queue-full error", fn, id, err)
		}
	}

	// Before the cap: a backlog of 5 for "old".
	provision(0)
	for i := range 5 {
		mustPublish("old", fmt.Sprintf("old-%d", i))
	}

	// The existing stream is updated in place.
	provision(3)
	stream, err := js.Stream(ctx, events.StreamInvocations)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if cfg.MaxMsgsPerSubject != 3 || cfg.Discard != jetstream.DiscardNew || !cfg.DiscardNewPerSubject || cfg.Retention != jetstream.WorkQueuePolicy {
		t.Fatalf("updated stream: max msgs per subject %d, discard %v, discard new per subject %v, retention %v; want 3, new, true, work queue",
			cfg.MaxMsgsPerSubject, cfg.Discard, cfg.DiscardNewPerSubject, cfg.Retention)
	}
	// The backlog stays (nothing is dropped) and takes nothing new.
	wantFull("old", "old-5")

	for i := range 3 {
		mustPublish("busy", fmt.Sprintf("busy-%d", i))
	}
	wantFull("busy", "busy-3")
	// Another function of the same tenant, and another tenant's function
	// of the same name, still accept.
	mustPublish("quiet", "quiet-0")
	msg := nats.NewMsg(events.InvocationSubject("other", "busy"))
	msg.Data = []byte("payload")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("another tenant's function: %v", err)
	}
	// A repeated publish of a stored invocation (a client retrying with
	// its Idempotency-Key) is still answered as the duplicate it is.
	if ack, err := publish("busy", "busy-0"); err != nil || !ack.Duplicate {
		t.Fatalf("duplicate publish to a full queue: ack %+v, err %v; want a duplicate ack", ack, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.InvocationSubject("acme", "busy")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[events.InvocationSubject("acme", "busy")]; n != 3 {
		t.Fatalf("busy has %d queued, want 3", n)
	}

	// An invocation acknowledged (its last attempt done) frees its place.
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamInvocations, jetstream.ConsumerConfig{
		Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.InvocationSubject("acme", "busy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	mustPublish("busy", "busy-4")
	wantFull("busy", "busy-5")

	// Provisioning without a cap lifts it.
	provision(0)
	mustPublish("busy", "busy-6")
	mustPublish("old", "old-6")
}

func TestIsQueueFull(t *testing.T) {
	full := &jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages per subject exceeded"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("maximum messages per subject exceeded"), false},
		{full, true},
		{fmt.Errorf("nats: %w", full), true},
		// The same store error for a stream-wide limit is not a function's
		// queue being full.
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"}, false},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, false},
		{jetstream.ErrNoStreamResponse, false},
	} {
		if got := events.IsQueueFull(tc.err); got != tc.want {
			t.Errorf("IsQueueFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
