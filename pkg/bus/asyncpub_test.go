package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestPublishThen: each message's own callback gets its outcome (stored,
// or JetStream's refusal), onAck gets only those without one, and Close
// waits for every outcome.
func TestPublishThen(t *testing.T) {
	ns := natstest.Start(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var plain []error
	p := bus.NewAsyncPublisher(js, func(err error) { mu.Lock(); plain = append(plain, err); mu.Unlock() })
	const n = 100
	outcomes := make([]error, n)
	called := make([]int, n)
	for i := range n {
		m := nats.NewMsg("t.a")
		if i%2 == 1 { // a create of a subject that has messages: refused
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		}
		p.PublishThen(m, func(err error) { outcomes[i] = err; called[i]++ })
	}
	p.Publish(nats.NewMsg("t.b"))
	p.Close()
	var apiErr *jetstream.APIError
	for i := range n {
		if called[i] != 1 {
			t.Fatalf("message %d: callback called %d times", i, called[i])
		}
		switch {
		case i%2 == 0:
			if outcomes[i] != nil {
				t.Fatalf("message %d: %v", i, outcomes[i])
			}
		case !errors.As(outcomes[i], &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence:
			t.Fatalf("message %d: want a wrong-last-sequence refusal, got %v", i, outcomes[i])
		}
	}
	if len(plain) != 1 || plain[0] != nil {
		t.Fatalf("onAck calls: %v, want one nil", plain)
	}

	// After Close a message is reported failed, not sent (nor a panic).
	var late error
	p.PublishThen(nats.NewMsg("t.c"), func(err error) { late = err })
	if !errors.Is(late, bus.ErrPublisherClosed) {
		t.Fatalf("publish after Close: %v", late)
	}
	p.Close() // twice is fine
}
