package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime/process"
)

// TestTrustedProducerOnNATS: a producer that is not a REST client enqueues
// an invocation by publishing straight to eventflow.invoke.<tenant>.<fn>
// (with the invocation id in a header and as Nats-Msg-Id), and NATS
// permissions confine it to its tenant's subjects, as docs/EVENTS.md shows.
func TestTrustedProducerOnNATS(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "platform", Password: "platform-secret"},
			{Username: "acme-producer", Password: "acme-secret", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{"eventflow.invoke.acme.>"}},
				// Replies to its publishes (JetStream's acks) and, to read
				// outcomes, its tenant's lifecycle events.
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", "eventflow.events.acme.>"}},
			}},
		}}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	platform, err := nats.Connect(srv.ClientURL(), nats.UserInfo("platform", "platform-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(platform.Close)
	js, _ := jetstream.New(platform)
	ctx, cancel := context.WithCancel(context.Background())
	if err := bus.Provision(ctx, js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	b, _ := bus.OpenBuckets(ctx, js)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := process.New(process.Config{Logger: log})
	iv, err := New(ctx, Config{}, Deps{NC: platform, JS: js, Runtime: rt, Log: log, Tracer: noop.NewTracerProvider().Tracer(""), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = iv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = rt.Close(context.Background()) })
	for _, tenant := range []string{"acme", "other"} {
		raw, _ := json.Marshal(function.Record{Spec: function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}}.WithDefaults(), Tenant: tenant, Generation: 1})
		if _, err := b.Functions.Put(ctx, events.FunctionKey(tenant, "upper"), raw); err != nil {
			t.Fatal(err)
		}
	}

	// The producer: nats.go and JetStream publish, nothing of EventFlow's.
	producer, err := nats.Connect(srv.ClientURL(), nats.UserInfo("acme-producer", "acme-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	pjs, _ := jetstream.New(producer)
	id := events.NewInvocationID()
	msg := nats.NewMsg("eventflow.invoke.acme.upper")
	msg.Header.Set("Eventflow-Invocation-Id", id)
	msg.Header.Set("Nats-Msg-Id", id)
	msg.Data = []byte("from a producer")
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := pjs.PublishMsg(pctx, msg); err != nil {
		t.Fatalf("the producer's own tenant: %v", err)
	}
	f := &fixture{nc: platform, js: js, b: b}
	if r := f.waitRecord(t, id); r.Status != events.StatusSucceeded || r.Output != "FROM A PRODUCER" || r.Tenant != "acme" {
		t.Fatalf("record %+v", r)
	}

	// Another tenant's subject is refused by the server: nothing is stored
	// (the stream's last sequence does not move).
	st, _ := js.Stream(ctx, events.StreamInvocations)
	before, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	foreign := nats.NewMsg("eventflow.invoke.other.upper")
	foreign.Header.Set("Eventflow-Invocation-Id", events.NewInvocationID())
	foreign.Data = []byte("sneaky")
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	defer fcancel()
	if _, err := pjs.PublishMsg(fctx, foreign); err == nil {
		t.Fatal("a producer published to another tenant's invocation subject")
	}
	after, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.LastSeq != before.State.LastSeq {
		t.Fatalf("the foreign invocation was stored (last sequence %d → %d)", before.State.LastSeq, after.State.LastSeq)
	}
}
