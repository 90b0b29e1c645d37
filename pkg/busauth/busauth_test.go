package busauth_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver"
)

// party is one identity connected to the secured server; errs receives
// the server's asynchronous refusals (permission violations).
type party struct {
	name string
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func startSecured(t *testing.T, kit *busauth.Kit) *server.Server {
	t.Helper()
	srv, err := kit.Server()
	if err != nil {
		t.Fatal(err)
	}
	s, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), Auth: &srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(t *testing.T, url, name string, creds []byte) *party {
	t.Helper()
	opts, err := busauth.ConnectOptions(creds)
	if err != nil {
		t.Fatal(err)
	}
	p := &party{name: name, errs: make(chan error, 64)}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case p.errs <- err:
		default:
		}
	}))
	if p.nc, err = nats.Connect(url, opts...); err != nil {
		t.Fatalf("%s connects: %v", name, err)
	}
	t.Cleanup(p.nc.Close)
	if p.js, err = jetstream.New(p.nc); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// refused waits for the server's permission violation naming subject.
func (p *party) refused(t *testing.T, op, subject string) {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case err := <-p.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Errorf("%s: %s %s was not refused", p.name, op, subject)
			return
		}
	}
}

func (p *party) refusePublish(t *testing.T, subject string) {
	t.Helper()
	if err := p.nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	p.refused(t, "publish to", subject)
}

func (p *party) refuseSubscribe(t *testing.T, subject string) {
	t.Helper()
	sub, err := p.nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	p.refused(t, "subscribe to", subject)
}

// TestIdentities proves each identity may do its work and is refused what
// it must not do, on a real server that trusts only the kit.
func TestIdentities(t *testing.T) {
	kit, err := busauth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s := startSecured(t, kit)
	url := s.ClientURL()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	}
	other, _ := busauth.Generate()
	forged, _ := other.ServiceCreds(busauth.Gateway)
	if opts, err := busauth.ConnectOptions(forged); err != nil {
		t.Fatal(err)
	} else if nc, err := nats.Connect(url, opts...); err == nil {
		nc.Close()
		t.Fatal("credentials signed by another account key connected")
	}

	svc := map[string]*party{}
	for _, name := range busauth.Services {
		creds, err := kit.ServiceCreds(name)
		if err != nil {
			t.Fatal(err)
		}
		svc[name] = connect(t, url, name, creds)
	}
	// Only the deployer provisions.
	if err := bus.Provision(ctx(t), svc[busauth.Deployer].js, events.DefaultOptions()); err != nil {
		t.Fatalf("deployer provisions: %v", err)
	}
	if err := bus.WaitProvisioned(ctx(t), svc[busauth.Gateway].js, events.DefaultOptions(), discard()); err != nil {
		t.Fatalf("gateway sees the streams: %v", err)
	}
	svc[busauth.Gateway].refusePublish(t, "$JS.API.STREAM.CREATE."+events.StreamInvocations)
	svc[busauth.Gateway].refusePublish(t, "$JS.API.STREAM.DELETE."+events.StreamInvocations)
	svc[busauth.Invoker].refusePublish(t, "$JS.API.STREAM.PURGE."+events.StreamInvocations)

	// The gateway queues an invocation and writes its record; the invoker
	// consumes it.
	gw := svc[busauth.Gateway]
	if _, err := gw.js.Publish(ctx(t), events.InvocationSubject("acme", "f"), []byte("hi")); err != nil {
		t.Fatalf("gateway queues: %v", err)
	}
	gwKV, err := gw.js.KeyValue(ctx(t), events.BucketInvocations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gwKV.Put(ctx(t), events.InvocationKey("acme", "f", "1"), []byte(`{}`)); err != nil {
		t.Fatalf("gateway writes a record: %v", err)
	}
	iv := svc[busauth.Invoker]
	cons, err := iv.js.CreateOrUpdateConsumer(ctx(t), events.StreamInvocations, jetstream.ConsumerConfig{
		Durable: "acme_f", FilterSubject: events.InvocationSubject("acme", "f"), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("invoker makes its consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(3 * time.Second))
	if err != nil {
		t.Fatalf("invoker takes the invocation: %v", err)
	}
	if err := msg.DoubleAck(ctx(t)); err != nil {
		t.Fatalf("invoker acks: %v", err)
	}
	ivKV, err := iv.js.KeyValue(ctx(t), events.BucketInvocations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ivKV.Get(ctx(t), events.InvocationKey("acme", "f", "1")); err != nil {
		t.Fatalf("invoker reads the record: %v", err)
	}
	// Sync invocations: the invoker answers the gateway's request.
	sub, err := iv.nc.QueueSubscribe(events.SubjectSync+".>", events.SyncQueueGroup, func(m *nats.Msg) { _ = m.Respond([]byte("done")) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := iv.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if reply, err := gw.nc.Request(events.SyncSubject("acme", "f"), nil, 3*time.Second); err != nil || string(reply.Data) != "done" {
		t.Fatalf("sync request: %v %v", reply, err)
	}

	svc[busauth.Invoker].refusePublish(t, "$KV."+events.BucketFunctions+".acme.f")
	svc[busauth.Deployer].refusePublish(t, "$KV."+events.BucketInvocations+".acme.f.1")
	svc[busauth.Deployer].refusePublish(t, events.InvocationSubject("acme", "f"))
	svc[busauth.Logstream].refusePublish(t, events.InvocationSubject("acme", "f"))
	svc[busauth.Logstream].refusePublish(t, "$JS.API.DIRECT.GET.KV_"+events.BucketInvocations+".$KV."+events.BucketInvocations+".acme.f.1")
	svc[busauth.Logstream].refuseSubscribe(t, events.SubjectEvents+".>")
	// No service reads another's replies.
	svc[busauth.Logstream].refuseSubscribe(t, busauth.ServiceInboxPrefix(busauth.Gateway)+".>")
	svc[busauth.Logstream].refuseSubscribe(t, "_INBOX.>")
	if _, err := svc[busauth.Logstream].js.Publish(ctx(t), events.LogSubject("acme", "f", "i"), []byte("line")); err != nil {
		t.Fatalf("logstream ships a line: %v", err)
	}

	t.Run("tenant", func(t *testing.T) {
		creds, err := kit.TenantCreds("acme", time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		acme := connect(t, url, "acme", creds)
		if _, err := acme.js.Publish(ctx(t), events.InvocationSubject("acme", "f"), []byte("mine")); err != nil {
			t.Fatalf("acme queues its own invocation: %v", err)
		}
		// A producer of nats triggers: its own namespace is stored (the
		// JetStream ack), another tenant's is refused and stores nothing.
		if ack, err := acme.js.Publish(ctx(t), events.TriggerSubject("acme", "x"), []byte("mine")); err != nil || ack.Stream != events.StreamTriggers {
			t.Fatalf("acme publishes to its trigger subjects: %+v %v", ack, err)
		}
		if ack, err := acme.js.Publish(ctx(t), busauth.SubjectTriggers+".acme.orders.new", nil); err != nil || ack.Stream != events.StreamTriggers {
			t.Fatalf("acme publishes to its trigger subjects: %+v %v", ack, err)
		}
		short, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
		ack, err := acme.js.Publish(short, events.TriggerSubject("other", "x"), []byte("theirs"))
		cancel()
		if err == nil {
			t.Fatalf("acme stored a message on another tenant's trigger subject: %+v", ack)
		}
		acme.refused(t, "publish to", events.TriggerSubject("other", "x"))
		if st, err := svc[busauth.Invoker].js.Stream(ctx(t), events.StreamTriggers); err != nil {
			t.Fatal(err)
		} else if _, err := st.GetLastMsgForSubject(ctx(t), events.TriggerSubject("other", "x")); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("another tenant's trigger subject holds a message: %v", err)
		}
		acme.refusePublish(t, events.InvocationSubject("other", "f"))
		acme.refusePublish(t, busauth.SubjectTriggers+".other.orders")
		acme.refusePublish(t, "$JS.API.CONSUMER.CREATE."+events.StreamTriggers+".x."+events.TriggerSubject("acme", ">"))

		// The invoker runs the triggers: a durable consumer per trigger on
		// the triggers stream and on the events stream, taken, acked and
		// deleted.
		for _, tc := range []struct{ stream, filter string }{
			{events.StreamTriggers, events.TriggerSubject("acme", "x")},
			{events.StreamEvents, events.EventFilter("acme", "", "io.eventflow.invocation.>")},
		} {
			name := "trigger_acme_f_k"
			cons, err := iv.js.CreateConsumer(ctx(t), tc.stream, jetstream.ConsumerConfig{Durable: name, FilterSubject: tc.filter, AckPolicy: jetstream.AckExplicitPolicy})
			if err != nil {
				t.Fatalf("invoker makes a trigger consumer on %s: %v", tc.stream, err)
			}
			if tc.stream == events.StreamTriggers {
				m, err := cons.Next(jetstream.FetchMaxWait(3 * time.Second))
				if err != nil || string(m.Data()) != "mine" {
					t.Fatalf("invoker takes acme's trigger message: %v", err)
				}
				if err := m.DoubleAck(ctx(t)); err != nil {
					t.Fatalf("invoker acks it: %v", err)
				}
			}
			if err := iv.js.DeleteConsumer(ctx(t), tc.stream, name); err != nil {
				t.Fatalf("invoker deletes a trigger consumer on %s: %v", tc.stream, err)
			}
		}
		acme.refusePublish(t, events.CommandSubject("acme", "f"))
		acme.refusePublish(t, events.EventSubject("acme", "f", "io.eventflow.invocation.succeeded"))
		acme.refusePublish(t, "$KV."+events.BucketFunctions+".acme.f")
		// Load reports scale functions and judge rollouts: a tenant's own
		// would forge them.
		acme.refusePublish(t, events.ScaleSubject("acme", "f"))
		acme.refusePublish(t, "$JS.API.STREAM.INFO."+events.StreamInvocations)
		acme.refusePublish(t, "$JS.API.CONSUMER.CREATE."+events.StreamEvents+".x."+events.EventFilter("other", "", ""))
		acme.refusePublish(t, "$JS.API.CONSUMER.CREATE."+events.StreamEvents+".x.>")
		acme.refuseSubscribe(t, events.EventFilter("other", "", ""))
		acme.refuseSubscribe(t, "eventflow.>")
		acme.refuseSubscribe(t, "$KV.>")
		acme.refuseSubscribe(t, "_INBOX.>")
		acme.refuseSubscribe(t, busauth.ServiceInboxPrefix(busauth.Gateway)+".>")

		// Its own events, live and replayed from the stream.
		live, err := acme.nc.SubscribeSync(events.EventFilter("acme", "", ""))
		if err != nil {
			t.Fatal(err)
		}
		if err := acme.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		ev := events.EventSubject("acme", "f", "io.eventflow.invocation.succeeded")
		if _, err := gw.js.Publish(ctx(t), ev, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if m, err := live.NextMsg(3 * time.Second); err != nil || m.Subject != ev {
			t.Fatalf("acme's live event: %v %v", m, err)
		}
		oc, err := acme.js.OrderedConsumer(ctx(t), events.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EventFilter("acme", "", "")}})
		if err != nil {
			t.Fatalf("acme replays its events: %v", err)
		}
		if m, err := oc.Next(jetstream.FetchMaxWait(3 * time.Second)); err != nil || m.Subject() != ev {
			t.Fatalf("acme's replayed event: %v", err)
		}
	})

	t.Run("expired tenant credentials", func(t *testing.T) {
		creds, err := kit.TenantCreds("acme", time.Second, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := busauth.ConnectOptions(creds)
		if nc, err := nats.Connect(url, opts...); err == nil {
			nc.Close()
			t.Fatal("expired credentials connected")
		}
	})

	t.Run("admin", func(t *testing.T) {
		creds, err := kit.AdminCreds(time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		admin := connect(t, url, "admin", creds)
		if _, err := admin.js.Stream(ctx(t), events.StreamInvocations); err != nil {
			t.Fatalf("admin reads a stream: %v", err)
		}
	})
}

// TestServerConfig: the configuration fragment `eventflow nats-auth init`
// writes for clusters is what a nats-server accepts, and it trusts the
// services' credentials from the same bundle.
func TestServerConfig(t *testing.T) {
	dir := t.TempDir()
	if err := busauth.WriteBundle(dir); err != nil {
		t.Fatal(err)
	}
	if err := busauth.WriteBundle(dir); err == nil {
		t.Fatal("a second init overwrote the bundle's keys")
	}
	conf := filepath.Join(dir, "nats.conf")
	main := "listen: 127.0.0.1:-1\njetstream { store_dir: " + filepath.Join(dir, "js") + " }\ninclude ./secret/auth.conf\n"
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses the configuration: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	co, err := busauth.ConnectOptionsFile(filepath.Join(dir, "secret", busauth.CredsFile(busauth.Deployer)))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), co...)
	if err != nil {
		t.Fatalf("deployer connects with the bundle's credentials: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := bus.Provision(ctx(t), js, events.DefaultOptions()); err != nil {
		t.Fatalf("deployer provisions on the configured server: %v", err)
	}
	if _, err := nats.Connect(s.ClientURL()); err == nil {
		t.Fatal("the configured server accepts anonymous clients")
	}
	// The kit's seeds never go to the cluster.
	kit, err := busauth.Load(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadDir(filepath.Join(dir, "secret"))
	if len(secret) != 1+len(busauth.Services) {
		t.Errorf("secret/ holds %d files, want auth.conf and one creds file per service", len(secret))
	}
	for _, e := range secret {
		b, _ := os.ReadFile(filepath.Join(dir, "secret", e.Name()))
		for _, kp := range []nkeys.KeyPair{kit.Operator, kit.System, kit.Account} {
			if seed, _ := kp.Seed(); strings.Contains(string(b), string(seed)) {
				t.Errorf("%s holds a seed of the kit", e.Name())
			}
		}
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestCredsFitTheControlLine: a user JWT travels in the CONNECT line,
// which nats-server caps at 4 KiB unless configured otherwise; EventFlow's
// credentials must work on a server with default settings.
func TestCredsFitTheControlLine(t *testing.T) {
	kit, err := busauth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("t", 40)
	all := map[string]func() ([]byte, error){
		"tenant " + long: func() ([]byte, error) { return kit.TenantCreds(long, time.Hour, time.Now()) },
	}
	for _, s := range busauth.Services {
		all[s] = func() ([]byte, error) { return kit.ServiceCreds(s) }
	}
	for name, mint := range all {
		creds, err := mint()
		if err != nil {
			t.Fatal(err)
		}
		token, err := jwt.ParseDecoratedJWT(creds)
		if err != nil {
			t.Fatal(err)
		}
		// The CONNECT line also carries a signature, the name and options.
		if n := len(token) + 512; n > 4096 {
			t.Errorf("%s: JWT of %d bytes does not fit a 4 KiB control line", name, len(token))
		}
	}
}

func TestUnknownIdentities(t *testing.T) {
	if _, err := busauth.ServicePermissions("scheduler"); err == nil {
		t.Error("an unknown service got permissions")
	}
	for _, tenant := range []string{"", "a.b", "*", ">", "A", "acme corp", strings.Repeat("a", 41)} {
		if _, err := busauth.TenantPermissions(tenant); err == nil {
			t.Errorf("tenant %q got permissions", tenant)
		}
	}
}

// TestServicesWaitForTheDeployer: a service whose identity may not create
// streams waits until the deployer has, and says what it waits for.
func TestServicesWaitForTheDeployer(t *testing.T) {
	kit, err := busauth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s := startSecured(t, kit)
	id := map[string]*party{}
	for _, name := range []string{busauth.Gateway, busauth.Deployer} {
		creds, _ := kit.ServiceCreds(name)
		id[name] = connect(t, s.ClientURL(), name, creds)
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = bus.WaitProvisioned(short, id[busauth.Gateway].js, events.DefaultOptions(), discard())
	if err == nil || !strings.Contains(err.Error(), "deployer") {
		t.Fatalf("waiting without a deployer: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- bus.WaitProvisioned(ctx(t), id[busauth.Gateway].js, events.DefaultOptions(), discard())
	}()
	if err := bus.Provision(ctx(t), id[busauth.Deployer].js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gateway after provisioning: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gateway still waits after the deployer provisioned")
	}
}

// TestAuthKeepsWhatWasStored: a data dir written by a server without
// authentication (an EventFlow from before bus credentials) keeps its
// streams when the server starts with them: nothing queued is lost.
func TestAuthKeepsWhatWasStored(t *testing.T) {
	dir := t.TempDir()
	open, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(open.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := bus.Provision(ctx(t), js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx(t), events.InvocationSubject("acme", "f"), []byte("queued before")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	open.Shutdown()
	open.WaitForShutdown()

	kit, _ := busauth.Generate()
	srv, _ := kit.Server()
	s, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: dir, Auth: &srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	creds, _ := kit.AdminCreds(time.Hour, time.Now())
	admin := connect(t, s.ClientURL(), "admin", creds)
	st, err := admin.js.Stream(ctx(t), events.StreamInvocations)
	if err != nil {
		t.Fatalf("the invocations stream after turning authentication on: %v", err)
	}
	m, err := st.GetMsg(ctx(t), 1)
	if err != nil || string(m.Data) != "queued before" {
		t.Fatalf("the queued invocation: %v %v", m, err)
	}
}
