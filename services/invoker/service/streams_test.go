package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// triggerConsumerName is the name the invoker gives a trigger's consumer.
func triggerConsumerName(tenant, fn string, t function.Trigger) string {
	return "trigger_" + tenant + "_" + fn + "_" + t.Key()
}

// putTriggerSpec stores a function's record as the gateway would on an update.
func (f *fixture) putTriggerSpec(t *testing.T, tenant string, spec function.Spec, gen int64) {
	t.Helper()
	raw, _ := json.Marshal(function.Record{Spec: spec.WithDefaults(), Tenant: tenant, Generation: gen})
	if _, err := f.b.Functions.Put(context.Background(), events.FunctionKey(tenant, spec.Name), raw); err != nil {
		t.Fatal(err)
	}
}

// waitTriggerConsumer waits until the trigger's consumer exists (gone
// false) or is gone (gone true).
func (f *fixture) waitTriggerConsumer(t *testing.T, stream, name string, gone bool) {
	t.Helper()
	testkit.WaitFor(t, 15*time.Second, fmt.Sprintf("consumer %s on %s (gone %v)", name, stream, gone), func() bool {
		_, err := f.js.Consumer(context.Background(), stream, name)
		if gone {
			return errors.Is(err, jetstream.ErrConsumerNotFound)
		}
		return err == nil
	})
}

// triggerFnRecords returns the stored records of one function's invocations.
func (f *fixture) triggerFnRecords(t *testing.T, tenant, fn string) []events.StoredInvocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lister, err := f.b.Invocations.ListKeysFiltered(ctx, tenant+"."+fn+".*")
	if err != nil {
		t.Fatal(err)
	}
	var out []events.StoredInvocation
	for k := range lister.Keys() {
		e, err := f.b.Invocations.Get(ctx, k)
		if err != nil {
			continue
		}
		var r events.StoredInvocation
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// watchTriggerRecords follows one function's records (latest per key) until
// done holds for them or within has passed.
func (f *fixture) watchTriggerRecords(t *testing.T, tenant, fn string, within time.Duration, done func(map[string]events.StoredInvocation) (bool, string)) map[string]events.StoredInvocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	w, err := f.b.Invocations.Watch(ctx, tenant+"."+fn+".*")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	recs := map[string]events.StoredInvocation{}
	state := "nothing yet"
	for {
		select {
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var r events.StoredInvocation
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				t.Fatal(err)
			}
			recs[e.Key()] = r
			var ok bool
			if ok, state = done(recs); ok {
				return recs
			}
		case <-ctx.Done():
			t.Fatalf("records of %s/%s: not done within %s; last: %s", tenant, fn, within, state)
		}
	}
}

// waitTriggerConsumerIdle waits until a consumer has been handed every message
// stored so far that it takes, and has none unacked or to redeliver:
// everything it was to see, it saw.
func (f *fixture) waitTriggerConsumerIdle(t *testing.T, stream, name string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, "consumer "+name+" idle", func() (bool, string) {
		c, err := f.js.Consumer(context.Background(), stream, name)
		if err != nil {
			return false, err.Error()
		}
		ci, err := c.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0 && ci.NumRedelivered == 0,
			fmt.Sprintf("pending %d, ack pending %d, redelivered %d", ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
	})
}

// TestNATSTriggerRedeployLosesNothing: 1,000 messages published on a nats
// trigger's subjects while its function is being redeployed (its record
// updated again and again) become exactly 1,000 invocations, one per
// message, each carrying its message's sequence, all succeeded.
func TestNATSTriggerRedeployLosesNothing(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second, MaxConcurrent: 64})
	trig := function.Trigger{Type: function.TriggerNATS, Subject: "orders.>"}
	// The output says which generation ran it: the redeploys happen while
	// the messages are being fired and run.
	spec := function.Spec{Name: "orders", Command: []string{"sh", "-c", `cat; printf " g%s" "$GENERATION"`},
		Env: map[string]string{"GENERATION": "1"}, Triggers: []function.Trigger{trig}}
	f.putTriggerSpec(t, "t", spec, 1)
	f.waitTriggerConsumer(t, events.StreamTriggers, triggerConsumerName("t", "orders", trig), false)
	created := f.triggerConsumerCreated(t, events.StreamTriggers, triggerConsumerName("t", "orders", trig))

	const n = 1000
	gen := int64(1)
	start := time.Now()
	for i := range n {
		msg := nats.NewMsg(events.TriggerSubject("t", fmt.Sprintf("orders.eu.%d", i)))
		msg.Data = []byte(fmt.Sprintf("order %d", i))
		msg.Header.Set("Content-Type", "text/plain")
		if _, err := f.js.PublishMsgAsync(msg); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if i%200 == 100 { // a redeploy: same trigger, changed environment
			gen++
			spec.Env = map[string]string{"GENERATION": fmt.Sprint(gen)}
			f.putTriggerSpec(t, "t", spec, gen)
		}
	}
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatal("messages not stored in 20s")
	}
	recs := f.watchTriggerRecords(t, "t", "orders", 60*time.Second, func(recs map[string]events.StoredInvocation) (bool, string) {
		done := 0
		for _, r := range recs {
			if r.Done() {
				done++
			}
		}
		return done >= n, fmt.Sprintf("%d records, %d done", len(recs), done)
	})
	t.Logf("%d messages to %d finished invocations in %s", n, len(recs), time.Since(start).Round(time.Millisecond))

	seqs := map[uint64]string{}
	gens := map[string]int{}
	for k, r := range recs {
		if r.Trigger == nil || r.Trigger.Type != "nats" || r.Trigger.Key != trig.Key() || r.Trigger.Seq == 0 {
			t.Fatalf("record %s without the nats trigger: %+v", k, r.Trigger)
		}
		if prev, dup := seqs[r.Trigger.Seq]; dup {
			t.Fatalf("message %d made two invocations: %s and %s", r.Trigger.Seq, prev, r.ID)
		}
		seqs[r.Trigger.Seq] = r.ID
		body, gen, _ := strings.Cut(r.Output, " g")
		if r.Status != events.StatusSucceeded || !strings.HasPrefix(r.Trigger.Subject, "orders.eu.") ||
			body != "order "+strings.TrimPrefix(r.Trigger.Subject, "orders.eu.") {
			t.Fatalf("record %+v (trigger %+v)", r, r.Trigger)
		}
		gens[gen]++
	}
	t.Logf("invocations by the generation that ran them: %v", gens)
	if len(recs) != n || len(seqs) != n {
		t.Fatalf("%d records for %d distinct messages; want exactly %d", len(recs), len(seqs), n)
	}
	// Nothing left to fire, nothing fired twice since.
	f.waitTriggerConsumerIdle(t, events.StreamTriggers, triggerConsumerName("t", "orders", trig))
	if got := len(f.triggerFnRecords(t, "t", "orders")); got != n {
		t.Fatalf("%d records in the end, want %d", got, n)
	}
	// The redeploys kept the trigger's consumer: never made again.
	if again := f.triggerConsumerCreated(t, events.StreamTriggers, triggerConsumerName("t", "orders", trig)); !again.Equal(created) {
		t.Fatalf("the consumer was made again by a redeploy: %s, then %s", created, again)
	}
}

func (f *fixture) triggerConsumerCreated(t *testing.T, stream, name string) time.Time {
	t.Helper()
	c, err := f.js.Consumer(context.Background(), stream, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo().Created
}

// TestNATSTriggerTenantsApart: a message on another tenant's subjects, or
// on a subject outside the trigger's, makes no invocation.
func TestNATSTriggerTenantsApart(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second})
	trig := function.Trigger{Type: function.TriggerNATS, Subject: "orders.*"}
	for _, tenant := range []string{"acme", "other"} {
		f.putTriggerSpec(t, tenant, function.Spec{Name: "orders", Command: []string{"cat"}, Triggers: []function.Trigger{trig}}, 1)
		f.waitTriggerConsumer(t, events.StreamTriggers, triggerConsumerName(tenant, "orders", trig), false)
	}
	ctx := context.Background()
	pub := func(subject, body string) {
		if _, err := f.js.Publish(ctx, subject, []byte(body)); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
	// Outside acme's trigger: another tenant's, other subjects of acme's,
	// a deeper subject than orders.* takes.
	pub(events.TriggerSubject("other", "orders.new"), "for other")
	pub(events.TriggerSubject("acme", "payments.new"), "payment")
	pub(events.TriggerSubject("acme", "orders"), "bare")
	pub(events.TriggerSubject("acme", "orders.eu.new"), "too deep")
	pub(events.TriggerSubject("acme", "orders.new"), "for acme")

	for _, tc := range []struct{ tenant, body string }{{"acme", "for acme"}, {"other", "for other"}} {
		f.waitTriggerConsumerIdle(t, events.StreamTriggers, triggerConsumerName(tc.tenant, "orders", trig))
		recs := f.watchTriggerRecords(t, tc.tenant, "orders", 15*time.Second, func(recs map[string]events.StoredInvocation) (bool, string) {
			for _, r := range recs {
				if r.Done() {
					return true, ""
				}
			}
			return false, fmt.Sprint(len(recs), " records")
		})
		all := f.triggerFnRecords(t, tc.tenant, "orders")
		if len(recs) != 1 || len(all) != 1 || all[0].Output != tc.body || all[0].Trigger == nil || all[0].Trigger.Subject != "orders.new" {
			t.Fatalf("%s's invocations: %+v; want exactly one, of %q", tc.tenant, all, tc.body)
		}
	}
}

// TestEventTriggerDeadLetters: a function whose invocation is dead-lettered
// invokes, through an event trigger, another function with the CloudEvent
// as its body; a function triggered by every dead letter, itself always
// failing, is not triggered by its own dead letters (the loop guard).
func TestEventTriggerDeadLetters(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second})
	one := &function.RetryPolicy{MaxAttempts: 1}
	f.putTriggerSpec(t, "t", function.Spec{Name: "fails", Command: []string{"sh", "-c", "exit 3"}, Invocation: function.Invocation{Retry: one}}, 1)
	onDead := function.Trigger{Type: function.TriggerEvent, Filter: &function.EventFilter{Type: events.TypeInvocationDeadLettered, Function: "fails"}}
	f.putTriggerSpec(t, "t", function.Spec{Name: "ondead", Command: []string{"cat"}, Triggers: []function.Trigger{onDead}}, 1)
	// loops would fire on its own dead letters, but for the guard.
	anyDead := function.Trigger{Type: function.TriggerEvent, Filter: &function.EventFilter{Type: "io.eventflow.invocation.*", Function: "*"}}
	f.putTriggerSpec(t, "t", function.Spec{Name: "loops", Command: []string{"sh", "-c", "exit 4"}, Invocation: function.Invocation{Retry: one}, Triggers: []function.Trigger{anyDead}}, 1)
	f.waitTriggerConsumer(t, events.StreamEvents, triggerConsumerName("t", "ondead", onDead), false)
	f.waitTriggerConsumer(t, events.StreamEvents, triggerConsumerName("t", "loops", anyDead), false)

	id := events.NewInvocationID()
	f.enqueue(t, "t", "fails", id, "doomed")
	if r := f.waitRecord(t, id); r.Status != events.StatusDeadLettered {
		t.Fatalf("fails: %+v", r)
	}
	recs := f.watchTriggerRecords(t, "t", "ondead", 15*time.Second, func(recs map[string]events.StoredInvocation) (bool, string) {
		for _, r := range recs {
			if r.Done() {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(recs), " records")
	})
	var r events.StoredInvocation
	for _, r = range recs {
	}
	ev, err := events.ParseCloudEvent([]byte(r.Output))
	if err != nil || r.Status != events.StatusSucceeded {
		t.Fatalf("ondead's body is no CloudEvent: %v (%+v)", err, r)
	}
	var data events.InvocationEventData
	if err := json.Unmarshal(ev.Data, &data); err != nil || ev.Type != events.TypeInvocationDeadLettered || ev.Subject != "fails" || data.ID != id || data.Function != "fails" {
		t.Fatalf("ondead's event: %+v %+v (%v)", ev, data, err)
	}
	if r.Trigger == nil || r.Trigger.Type != "event" || r.Trigger.Event != ev.ID || r.Trigger.Key != onDead.Key() {
		t.Fatalf("ondead's trigger ref %+v, want the event %s", r.Trigger, ev.ID)
	}

	// loops runs once for each invocation event about another function
	// (fails' and ondead's), never for one about itself: the set of events
	// that made its invocations is exactly those, once it has seen all.
	testkit.Eventually(t, 20*time.Second, "loops' invocations match the events about others", func() (bool, string) {
		want, own := f.invocationEventsApart(t, "t", "loops")
		got := map[string]bool{}
		recs := f.triggerFnRecords(t, "t", "loops")
		for _, r := range recs {
			if r.Trigger == nil || r.Trigger.Type != "event" || !r.Done() {
				return false, fmt.Sprintf("loops' record %s not done or untriggered: %s %+v", r.ID, r.Status, r.Trigger)
			}
			if own[r.Trigger.Event] {
				t.Fatalf("loops was triggered by its own event %s", r.Trigger.Event)
			}
			if got[r.Trigger.Event] {
				t.Fatalf("event %s triggered loops twice", r.Trigger.Event)
			}
			got[r.Trigger.Event] = true
		}
		if len(own) == 0 || len(got) != len(want) || len(want) == 0 {
			return false, fmt.Sprintf("%d invocations, %d events about others, %d about loops", len(got), len(want), len(own))
		}
		for id := range want {
			if !got[id] {
				return false, "event " + id + " made no invocation yet"
			}
		}
		t.Logf("loops ran %d times, once per invocation event about another function, never for its %d own", len(got), len(own))
		return true, ""
	})
}

// invocationEventsApart reads the tenant's invocation events stored so far:
// the ids of those about other functions than fn, and of those about fn.
func (f *fixture) invocationEventsApart(t *testing.T, tenant, fn string) (others, own map[string]bool) {
	t.Helper()
	ctx := context.Background()
	st, err := f.js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	others, own = map[string]bool{}, map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		ev, err := events.ParseCloudEvent(m.Data)
		if err != nil || ev.Tenant != tenant || !strings.HasPrefix(ev.Type, "io.eventflow.invocation.") {
			continue
		}
		if ev.Subject == fn {
			own[ev.ID] = true
		} else {
			others[ev.ID] = true
		}
	}
	return others, own
}

// TestTriggerRemovedStops: removing a trigger deletes its consumer (and
// so it makes no more invocations); deleting a function deletes its
// triggers' consumers; a redeploy keeps them.
func TestTriggerRemovedStops(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second})
	nt := function.Trigger{Type: function.TriggerNATS, Subject: "jobs"}
	et := function.Trigger{Type: function.TriggerEvent, Filter: &function.EventFilter{Type: events.TypeInvocationFailed}}
	spec := function.Spec{Name: "worker", Command: []string{"cat"}, Triggers: []function.Trigger{nt, et}}
	f.putTriggerSpec(t, "t", spec, 1)
	natsName, eventName := triggerConsumerName("t", "worker", nt), triggerConsumerName("t", "worker", et)
	f.waitTriggerConsumer(t, events.StreamTriggers, natsName, false)
	f.waitTriggerConsumer(t, events.StreamEvents, eventName, false)
	ack, err := f.js.Publish(context.Background(), events.TriggerSubject("t", "jobs"), []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	f.watchTriggerRecords(t, "t", "worker", 15*time.Second, func(recs map[string]events.StoredInvocation) (bool, string) {
		for _, r := range recs {
			return r.Done() && r.Trigger != nil && r.Trigger.Seq == ack.Sequence, ""
		}
		return false, ""
	})

	// The nats trigger goes, the event trigger stays.
	spec.Triggers = []function.Trigger{et}
	f.putTriggerSpec(t, "t", spec, 2)
	f.waitTriggerConsumer(t, events.StreamTriggers, natsName, true)
	if _, err := f.js.Consumer(context.Background(), events.StreamEvents, eventName); err != nil {
		t.Fatalf("the event trigger's consumer went with the other: %v", err)
	}
	if _, err := f.js.Publish(context.Background(), events.TriggerSubject("t", "jobs"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	// A function deleted: its consumers go.
	if err := f.b.Functions.Delete(context.Background(), events.FunctionKey("t", "worker")); err != nil {
		t.Fatal(err)
	}
	f.waitTriggerConsumer(t, events.StreamEvents, eventName, true)
	if recs := f.triggerFnRecords(t, "t", "worker"); len(recs) != 1 {
		t.Fatalf("%d invocations, want only the one before the trigger went", len(recs))
	}
}

// TestTriggerConsumerDeletedIsMadeAgain: a trigger's consumer deleted
// under the running trigger (by hand, or by a replica that saw the
// trigger go and come back late) is made again, and the trigger fires on.
func TestTriggerConsumerDeletedIsMadeAgain(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second})
	trig := function.Trigger{Type: function.TriggerNATS, Subject: "jobs"}
	f.putTriggerSpec(t, "t", function.Spec{Name: "worker", Command: []string{"cat"}, Triggers: []function.Trigger{trig}}, 1)
	name := triggerConsumerName("t", "worker", trig)
	f.waitTriggerConsumer(t, events.StreamTriggers, name, false)
	before := f.triggerConsumerCreated(t, events.StreamTriggers, name)
	if err := f.js.DeleteConsumer(context.Background(), events.StreamTriggers, name); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the consumer made again", func() bool {
		c, err := f.js.Consumer(context.Background(), events.StreamTriggers, name)
		return err == nil && c.CachedInfo().Created.After(before)
	})
	ack, err := f.js.Publish(context.Background(), events.TriggerSubject("t", "jobs"), []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	f.watchTriggerRecords(t, "t", "worker", 15*time.Second, func(recs map[string]events.StoredInvocation) (bool, string) {
		for _, r := range recs {
			return r.Done() && r.Output == "after" && r.Trigger.Seq == ack.Sequence, r.Status
		}
		return false, "no record"
	})
}

// TestEventTriggerChainsEnd: two functions each triggered by every
// invocation event of any other function feed each other (each run sends
// two events, started and succeeded, so each link doubles the work); the
// chain stops at events.MaxEventChain links: one API invocation of ping
// makes 2 of pong, 4 of ping, 8 of pong and 16 of ping, whose 32 events
// fire nothing but the trigger's errors.
func TestEventTriggerChainsEnd(t *testing.T) {
	f := start(t)
	anyInvocation := function.Trigger{Type: function.TriggerEvent, Filter: &function.EventFilter{Type: "io.eventflow.invocation.*", Function: "*"}}
	for _, fn := range []string{"ping", "pong"} {
		f.putTriggerSpec(t, "t", function.Spec{Name: fn, Command: []string{"cat"}, Triggers: []function.Trigger{anyInvocation}}, 1)
		f.waitTriggerConsumer(t, events.StreamEvents, triggerConsumerName("t", fn, anyInvocation), false)
	}
	f.enqueue(t, "t", "ping", events.NewInvocationID(), "serve")
	key := events.TriggerKey("t", "pong", anyInvocation.Key())
	testkit.Eventually(t, 30*time.Second, "pong's trigger refuses the events past the chain's end", func() (bool, string) {
		e, err := f.b.Triggers.Get(context.Background(), key)
		if err != nil {
			return false, err.Error()
		}
		var st function.TriggerStatus
		_ = json.Unmarshal(e.Value(), &st)
		return st.Errors == 32, fmt.Sprintf("pong's trigger: %d fires, %d errors", st.Fires, st.Errors)
	})
	testkit.Eventually(t, 30*time.Second, "every invocation of the chain done", func() (bool, string) {
		count := map[string]int{}
		for _, fn := range []string{"ping", "pong"} {
			for _, r := range f.triggerFnRecords(t, "t", fn) {
				if !r.Done() {
					return false, fmt.Sprintf("%s %s is %s", fn, r.ID, r.Status)
				}
				if r.Trigger != nil && r.Trigger.Depth > events.MaxEventChain {
					t.Fatalf("%s %s made at depth %d", fn, r.ID, r.Trigger.Depth)
				}
				count[fn]++
			}
		}
		return count["ping"] == 1+4+16 && count["pong"] == 2+8, fmt.Sprint(count)
	})
}
