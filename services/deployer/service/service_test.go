package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/testkit"
)

type fixture struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	b   bus.Buckets
	rt  *process.Runtime
	reg *prometheus.Registry
}

// start runs a real JetStream server, provisions it and runs a deployer on
// the real process runtime until the test ends.
func start(t *testing.T, resync time.Duration) *fixture {
	return startWith(t, Config{ResyncInterval: resync})
}

func startWith(t *testing.T, cfg Config) *fixture {
	t.Helper()
	_, nc, js, b := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := process.New(process.Config{Logger: log})
	reg := prometheus.NewRegistry()
	dp, err := New(ctx, cfg, Deps{NC: nc, JS: js, Runtime: rt, Log: log, Tracer: noop.NewTracerProvider().Tracer(""), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = dp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = rt.Close(cctx)
	})
	return &fixture{nc: nc, js: js, b: b, rt: rt, reg: reg}
}

func (f *fixture) putRecord(t *testing.T, rec function.Record) {
	t.Helper()
	raw, _ := json.Marshal(rec)
	if _, err := f.b.Functions.Put(context.Background(), events.FunctionKey(rec.Tenant, rec.Spec.Name), raw); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) command(t *testing.T, tenant, name string, gen int64, action string) {
	t.Helper()
	cmd := events.Command{Tenant: tenant, Function: name, Generation: gen, Action: action}
	raw, _ := json.Marshal(cmd)
	// No Nats-Msg-Id: these are deliberate duplicates the stream keeps.
	if _, err := f.js.Publish(context.Background(), events.CommandSubject(tenant, name), raw); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) status(t *testing.T, tenant, name string) *function.Status {
	t.Helper()
	e, err := f.b.Status.Get(context.Background(), events.FunctionKey(tenant, name))
	if err != nil {
		return nil
	}
	var st function.Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// waitCommandsConsumed waits until the deployer has taken and acked every
// command, and its work queue is empty.
func (f *fixture) waitCommandsConsumed(t *testing.T) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "commands consumed", func() bool {
		c, err := f.js.Consumer(context.Background(), events.StreamCommands, events.ConsumerDeployer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// jobSpec is a job-mode function: Ready as soon as its command resolves.
func jobSpec(name string, replicas int32) function.Spec {
	return function.Spec{Name: name, Command: []string{"cat"}, Replicas: &replicas}.WithDefaults()
}

// TestConvergesUnderDuplicatedAndReorderedCommands: commands are nudges;
// whatever order they come in, the function ends at the latest generation.
func TestConvergesUnderDuplicatedAndReorderedCommands(t *testing.T) {
	f := start(t, time.Hour)
	rec := function.Record{Spec: jobSpec("conv", 1), Tenant: "t1", Generation: 1}
	f.putRecord(t, rec)
	rec.Generation = 2
	rec.Spec.Env = map[string]string{"V": "2"}
	f.putRecord(t, rec)
	// Newest first, then a stale one, then duplicates.
	for _, g := range []int64{2, 1, 2, 1, 2} {
		f.command(t, "t1", "conv", g, events.ActionApply)
	}
	testkit.WaitFor(t, 10*time.Second, "observed generation 2 and Ready", func() bool {
		st := f.status(t, "t1", "conv")
		return st != nil && st.ObservedGeneration == 2 && st.Phase == function.PhaseReady
	})
	// It stays there: a stale command must not move it back.
	f.command(t, "t1", "conv", 1, events.ActionApply)
	f.waitCommandsConsumed(t)
	if st := f.status(t, "t1", "conv"); st.ObservedGeneration != 2 {
		t.Fatalf("stale command moved status back: %+v", st)
	}
}

// TestResyncRepairsDrift: the runtime loses a function behind the
// deployer's back; the periodic resync puts it back.
func TestResyncRepairsDrift(t *testing.T) {
	f := start(t, 200*time.Millisecond)
	rec := function.Record{Spec: jobSpec("drift", 1), Tenant: "t1", Generation: 1}
	f.putRecord(t, rec)
	f.command(t, "t1", "drift", 1, events.ActionApply)
	testkit.WaitFor(t, 10*time.Second, "Ready", func() bool {
		st := f.status(t, "t1", "drift")
		return st != nil && st.Phase == function.PhaseReady
	})
	ctx := context.Background()
	if err := f.rt.Remove(ctx, "t1", "drift"); err != nil { // someone deleted it
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "function back in the runtime", func() bool {
		_, found, _ := f.rt.Observe(ctx, "t1", "drift")
		return found
	})
}

// TestDeleteRemovesEverythingAndPublishesEvents: a record marked Deleting
// is torn down, its records vanish, and the lifecycle events are there.
func TestDeleteRemovesEverythingAndPublishesEvents(t *testing.T) {
	f := start(t, time.Hour)
	rec := function.Record{Spec: jobSpec("gone", 1), Tenant: "t2", Generation: 1}
	f.putRecord(t, rec)
	f.command(t, "t2", "gone", 1, events.ActionApply)
	testkit.WaitFor(t, 10*time.Second, "Ready", func() bool {
		st := f.status(t, "t2", "gone")
		return st != nil && st.Phase == function.PhaseReady
	})
	rec.Deleting, rec.Generation = true, 2
	f.putRecord(t, rec)
	f.command(t, "t2", "gone", 2, events.ActionDelete)
	ctx := context.Background()
	testkit.WaitFor(t, 10*time.Second, "records removed", func() bool {
		_, errF := f.b.Functions.Get(ctx, events.FunctionKey("t2", "gone"))
		_, errS := f.b.Status.Get(ctx, events.FunctionKey("t2", "gone"))
		return errF != nil && errS != nil
	})
	if refs, _ := f.rt.List(ctx); len(refs) != 0 {
		t.Fatalf("runtime still has %v", refs)
	}
	want := []string{events.TypeFunctionDeploying, events.TypeFunctionReady, events.TypeFunctionDeleted}
	var got []string
	testkit.WaitFor(t, 10*time.Second, "the function's events stored", func() bool {
		got = functionEventTypes(t, f, "t2", "gone")
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

var _ runtime.Deployments = (*process.Runtime)(nil)

// TestRevisionsRecordedAndForgotten: the deployer records the revision of
// a generation the gateway did not (it writes it after the record, once),
// never rewrites one the gateway did, and forgets a deleted function's
// revisions so a new function of the name starts its own history.
func TestRevisionsRecordedAndForgotten(t *testing.T) {
	f := start(t, time.Hour)
	ctx := context.Background()
	rec := function.Record{Spec: jobSpec("hist", 1), Tenant: "t3", Generation: 1, Change: function.Change{Cause: function.CauseCreated, By: "alice"}}
	f.putRecord(t, rec)
	f.command(t, "t3", "hist", 1, events.ActionApply)
	var got function.Revision
	testkit.WaitFor(t, 10*time.Second, "revision 1 recorded", func() bool {
		e, err := f.b.Revisions.Get(ctx, events.RevisionKey("t3", "hist", 1))
		return err == nil && json.Unmarshal(e.Value(), &got) == nil
	})
	if want := function.RevisionOf(rec); !reflect.DeepEqual(got, want) {
		t.Fatalf("revision 1 = %+v, want %+v", got, want)
	}
	// The gateway's revision 2 stays as it wrote it.
	written := function.RevisionOf(function.Record{Spec: jobSpec("hist", 1), Tenant: "t3", Generation: 2, Change: function.Change{Cause: function.CauseUpdated, Message: "as the gateway wrote it"}})
	raw, _ := json.Marshal(written)
	if _, err := f.b.Revisions.Put(ctx, events.RevisionKey("t3", "hist", 2), raw); err != nil {
		t.Fatal(err)
	}
	rec.Generation, rec.Spec.Command = 2, []string{"cat", "-"}
	f.putRecord(t, rec)
	f.command(t, "t3", "hist", 2, events.ActionApply)
	testkit.WaitFor(t, 10*time.Second, "generation 2 observed", func() bool {
		st := f.status(t, "t3", "hist")
		return st != nil && st.ObservedGeneration == 2 && st.Phase == function.PhaseReady
	})
	if e, err := f.b.Revisions.Get(ctx, events.RevisionKey("t3", "hist", 2)); err != nil || string(e.Value()) != string(raw) {
		t.Fatalf("revision 2 was rewritten: %s (%v)", e.Value(), err)
	}
	rec.Deleting, rec.Generation = true, 3
	f.putRecord(t, rec)
	f.command(t, "t3", "hist", 3, events.ActionDelete)
	testkit.WaitFor(t, 10*time.Second, "revisions forgotten", func() bool {
		_, err1 := f.b.Revisions.Get(ctx, events.RevisionKey("t3", "hist", 1))
		_, err2 := f.b.Revisions.Get(ctx, events.RevisionKey("t3", "hist", 2))
		_, errF := f.b.Functions.Get(ctx, events.FunctionKey("t3", "hist"))
		return err1 != nil && err2 != nil && errF != nil
	})
}

// TestTrafficRevisionFailureKeepsTheStatus: a revision of the split that
// cannot run (it names a secret, and this runtime has no way to read
// one) does not stop the function's reconcile: its latest is applied and
// observed, its status written (with the revision's error in the
// message), and when the split no longer names the revision the message
// no longer says so.
func TestTrafficRevisionFailureKeepsTheStatus(t *testing.T) {
	f := start(t, time.Hour)
	web := func(secrets ...string) function.Spec {
		return function.Spec{Name: "web", Command: []string{"sleep", "60"}, Invocation: function.Invocation{Mode: function.ModeHTTP},
			Scale: &function.Scale{Min: 0, Max: 1}, Secrets: secrets}.WithDefaults()
	}
	rec := function.Record{Spec: web(), Tenant: "t4", Generation: 2,
		TrafficSpecs: map[int64]function.Spec{1: web("db")}}
	rec.Spec.Traffic = []function.TrafficTarget{{Revision: 1, Percent: 50}, {Tag: function.TagLatest, Percent: 50}}
	f.putRecord(t, rec)
	f.command(t, "t4", "web", 2, events.ActionApply)
	testkit.Eventually(t, 10*time.Second, "status written with the revision's error", func() (bool, string) {
		st := f.status(t, "t4", "web")
		return st != nil && st.ObservedGeneration == 2 && st.Replicas == 1 && strings.Contains(st.Message, "traffic: revision 1"), fmt.Sprintf("%+v", st)
	})
	rec.Generation, rec.Spec.Traffic, rec.TrafficSpecs = 3, nil, nil
	f.putRecord(t, rec)
	f.command(t, "t4", "web", 3, events.ActionApply)
	testkit.Eventually(t, 10*time.Second, "message cleared", func() (bool, string) {
		st := f.status(t, "t4", "web")
		return st != nil && st.ObservedGeneration == 3 && !strings.Contains(st.Message, "traffic"), fmt.Sprintf("%+v", st)
	})
}
