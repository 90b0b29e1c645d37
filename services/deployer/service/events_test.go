package service

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestLifecycleEventsOutliveAnEventsOutage: the events stream is gone
// while a function deploys, so each event's publish fails after the
// status it reports was written, and no later reconcile has a change to
// report. Once the stream is back, the events still arrive, in order.
func TestLifecycleEventsOutliveAnEventsOutage(t *testing.T) {
	f := start(t, time.Hour)
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, events.StreamEvents); err != nil {
		t.Fatal(err)
	}
	f.putRecord(t, function.Record{Spec: jobSpec("outage", 1), Tenant: "t3", Generation: 1})
	f.command(t, "t3", "outage", 1, events.ActionApply)
	testkit.WaitFor(t, 10*time.Second, "Ready", func() bool {
		st := f.status(t, "t3", "outage")
		return st != nil && st.Phase == function.PhaseReady
	})
	if n := unsentEvents(t, f); n < 1 {
		t.Fatalf("eventflow_deployer_events_unsent is %v during the outage, want at least 1", n)
	}
	if err := bus.Provision(ctx, f.js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	want := []string{events.TypeFunctionDeploying, events.TypeFunctionReady}
	var got []string
	// The next try comes within the backoff, at most 30 s.
	testkit.WaitFor(t, 45*time.Second, "the function's events stored", func() bool {
		got = functionEventTypes(t, f, "t3", "outage")
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if n := unsentEvents(t, f); n != 0 {
		t.Fatalf("eventflow_deployer_events_unsent is %v once they are stored, want 0", n)
	}
}

// unsentEvents reads the deployer's eventflow_deployer_events_unsent.
func unsentEvents(t *testing.T, f *fixture) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eventflow_deployer_events_unsent" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no eventflow_deployer_events_unsent")
	return 0
}

// functionEventTypes reads the types of the function's events stored so
// far (none if the stream cannot be read).
func functionEventTypes(t *testing.T, f *fixture, tenant, name string) []string {
	t.Helper()
	ctx := context.Background()
	subject := events.EventFilter(tenant, name, "")
	cons, err := f.js.OrderedConsumer(ctx, events.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil
	}
	batch, err := cons.FetchNoWait(100)
	if err != nil {
		return nil
	}
	var types []string
	for m := range batch.Messages() {
		var ev events.CloudEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.SpecVersion != "1.0" || ev.Tenant != tenant || ev.Subject != name {
			t.Fatalf("bad event %s: %v", m.Data(), err)
		}
		types = append(types, ev.Type)
	}
	return types
}
