package service

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestScalerJourney: a function with min 0 starts with one instance and
// idles to zero after idleAfter; a held request's wake brings it back at
// once; in-flight reports scale it up to what the target asks (within
// max); when the reports stop it idles back to zero. Each change is in
// the status (replicas, lastScale) and in a function.scaled event.
func TestScalerJourney(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := startWith(t, Config{ResyncInterval: time.Hour, ScaleInterval: 50 * time.Millisecond, ScaleReportTTL: 400 * time.Millisecond})
	spec := function.Spec{Name: "web", Command: []string{bin}, Invocation: function.Invocation{Mode: function.ModeHTTP},
		Scale: &function.Scale{Min: 0, Max: 3, Target: 2, IdleAfter: function.Duration(time.Second)}}.WithDefaults()
	scaled := f.scaledEvents(t, "t1", "web")
	f.putRecord(t, function.Record{Spec: spec, Tenant: "t1", Generation: 1})
	f.command(t, "t1", "web", 1, events.ActionApply)

	waitStatus := func(what string, cond func(st *function.Status) bool) *function.Status {
		t.Helper()
		var st *function.Status
		testkit.Eventually(t, 15*time.Second, what, func() (bool, string) {
			st = f.status(t, "t1", "web")
			if st == nil {
				return false, "no status"
			}
			b, _ := json.Marshal(st)
			return cond(st), string(b)
		})
		return st
	}
	waitStatus("one instance first", func(st *function.Status) bool {
		return st.Phase == function.PhaseReady && st.Replicas == 1 && st.ReadyReplicas == 1
	})
	st := waitStatus("scaled to zero when idle", func(st *function.Status) bool {
		return st.Phase == function.PhaseReady && st.Replicas == 0 && st.ReadyReplicas == 0 && len(st.Endpoints) == 0
	})
	if d := st.LastScale; d == nil || d.From != 1 || d.To != 0 || d.Reason == "" {
		t.Fatalf("lastScale after idling: %+v", d)
	}
	if ev := nextScaled(t, scaled); ev.From != 1 || ev.To != 0 {
		t.Fatalf("scaled event %+v", ev)
	}

	// A held request wakes it: no tick needed.
	report := func(l events.Load) {
		t.Helper()
		if err := f.nc.Publish(events.ScaleSubject("t1", "web"), l.Data()); err != nil {
			t.Fatal(err)
		}
	}
	woke := time.Now()
	report(events.Load{Source: "gateway-1", Held: 1})
	waitStatus("woken", func(st *function.Status) bool { return st.Replicas >= 1 && st.ReadyReplicas >= 1 })
	t.Logf("wake to ready status: %s", time.Since(woke).Round(time.Millisecond))
	if ev := nextScaled(t, scaled); ev.From != 0 || ev.To != 1 {
		t.Fatalf("scaled event %+v", ev)
	}

	// 5 in flight over two sources at target 2: ceil(5/2) = 3 = max.
	for range 10 {
		report(events.Load{Source: "gateway-1", InFlight: 2})
		report(events.Load{Source: "invoker-1", InFlight: 3})
		if st := f.status(t, "t1", "web"); st != nil && st.ReadyReplicas == 3 {
			break
		}
		time.Sleep(100 * time.Millisecond) // a report interval
	}
	waitStatus("scaled up to 3", func(st *function.Status) bool { return st.Replicas == 3 && st.ReadyReplicas == 3 })
	// Reports stop (as if every request ended and the last report got
	// lost): after the report TTL and idleAfter, back to zero.
	waitStatus("back to zero", func(st *function.Status) bool { return st.Replicas == 0 && st.ReadyReplicas == 0 })
	// The status is written before its event is published, so read events
	// up to the one that reached zero: only then is the channel quiet.
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("no function.scaled event to zero within 10 events")
		}
		if ev := nextScaled(t, scaled); ev.To == 0 {
			break
		}
	}

	// A new generation is no scaling decision: no second event for the last
	// one, and the status keeps it.
	drained := len(scaled)
	spec.Env = map[string]string{"V": "2"}
	f.putRecord(t, function.Record{Spec: spec, Tenant: "t1", Generation: 2})
	f.command(t, "t1", "web", 2, events.ActionApply)
	st = waitStatus("generation 2", func(st *function.Status) bool { return st.ObservedGeneration == 2 && st.Phase == function.PhaseReady })
	if st.LastScale == nil || st.LastScale.To != 0 {
		t.Fatalf("lastScale lost by an update: %+v", st.LastScale)
	}
	time.Sleep(300 * time.Millisecond) // six ticks: time for a wrong event to show
	if n := len(scaled); n != drained {
		t.Fatalf("an update published %d function.scaled events: %+v", n-drained, nextScaled(t, scaled))
	}

	// Malformed reports change nothing.
	if err := f.nc.Publish(events.ScaleSubject("t1", "web"), []byte(`{"source":"x","held":-5}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Publish(events.ScaleSubject("t1", "web"), []byte(`{"source":"x","held":1,"extra":true}`)); err != nil {
		t.Fatal(err)
	}
	_ = f.nc.Flush()
	time.Sleep(200 * time.Millisecond) // four ticks
	if st := f.status(t, "t1", "web"); st.Replicas != 0 {
		t.Fatalf("a malformed report scaled the function: %+v", st)
	}
}

// scaledEvents delivers the function's io.eventflow.function.scaled
// events as they are published.
func (f *fixture) scaledEvents(t *testing.T, tenant, name string) <-chan events.ScaledEventData {
	return functionEvents[events.ScaledEventData](t, f, tenant, name, events.TypeFunctionScaled)
}

func nextScaled(t *testing.T, ch <-chan events.ScaledEventData) events.ScaledEventData {
	t.Helper()
	return nextEvent(t, ch, events.TypeFunctionScaled)
}

// functionEvents delivers the data of the function's lifecycle events of
// type typ as they are published.
func functionEvents[T any](t *testing.T, f *fixture, tenant, name, typ string) <-chan T {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cons, err := f.js.OrderedConsumer(ctx, events.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventSubject(tenant, name, typ)},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan T, 64)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev struct {
			Type string `json:"type"`
			Data T      `json:"data"`
		}
		if err := json.Unmarshal(m.Data(), &ev); err == nil && ev.Type == typ {
			out <- ev.Data
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return out
}

// nextEvent is the next event of ch, failing after 10 s.
func nextEvent[T any](t *testing.T, ch <-chan T, typ string) T {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event", typ)
		var zero T
		return zero
	}
}
