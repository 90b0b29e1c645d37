package main

import (
	"context"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestSubscribeSeesTheTenantsEvents: the example receives a tenant's new
// events, decoded, and none of another tenant's.
func TestSubscribeSeesTheTenantsEvents(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Event, 10)
	go func() { _ = Subscribe(ctx, js, "acme", "", func(ev Event) { got <- ev }) }()
	publish := func(tenant string) {
		ev, _ := events.NewCloudEvent(events.TypeFunctionReady, "/test", tenant, "upper", map[string]string{"phase": "Ready"})
		msg, _ := ev.Msg()
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer starts with new events: publish until one arrives.
	for {
		publish("other")
		publish("acme")
		select {
		case ev := <-got:
			if ev.Tenant != "acme" || ev.Type != "io.eventflow.function.ready" || ev.Subject != "upper" || ev.SpecVersion != "1.0" {
				t.Fatalf("event %+v", ev)
			}
			return
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event within 10s")
		}
	}
}
