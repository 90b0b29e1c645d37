// Package dev runs the whole platform in one process: an embedded NATS
// JetStream server, the four services and the local process runtime. Every
// step still travels over JetStream exactly as in a cluster.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/logship"
	"github.com/eventflow/eventflow/pkg/natsserver"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/runtime/runtimeboot"
	"github.com/eventflow/eventflow/pkg/telemetry"
	deployer "github.com/eventflow/eventflow/services/deployer/service"
	gateway "github.com/eventflow/eventflow/services/gateway/service"
	invoker "github.com/eventflow/eventflow/services/invoker/service"
)

// Config of `eventflow dev`.
type Config struct {
	HTTPAddr     string
	DataDir      string
	NATSAddr     string
	JWTSecret    string
	Runtime      runtimeboot.Flags
	LogLevel     string
	MaxBodyBytes int64
	// InvokerAckWait is how long an unacknowledged async invocation waits
	// before redelivery (e.g. after a crash).
	InvokerAckWait time.Duration
	// InvocationTTL is how long invocation records (and Idempotency-Keys)
	// are kept.
	InvocationTTL time.Duration
	// CallbackRetryDelay is the first wait before a failed callback is
	// tried again (doubled each time).
	CallbackRetryDelay time.Duration
}

// Run starts everything, prints where it is, and runs until ctx ends; then
// it shuts down in order: stop taking requests, let running invocations
// finish and ack, stop functions, flush logs, drain NATS.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if err := cfg.Runtime.Validate(); err != nil {
		return err
	}
	log := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	if err := privateDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	secret, err := LoadSecret(cfg.DataDir, cfg.JWTSecret)
	if err != nil {
		return err
	}
	signer, err := auth.NewHS256(secret)
	if err != nil {
		return err
	}
	// Bind the API first so a busy port fails fast, before anything starts.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set EVENTFLOW_HTTP_ADDR or --http-addr)", cfg.HTTPAddr, err)
	}
	defer ln.Close()

	// The bus has authentication here as in a cluster: each service its
	// own identity, tenants credentials from `eventflow nats-creds`.
	kit, err := busauth.LoadOrCreate(busauth.DataDirKeys(cfg.DataDir))
	if err != nil {
		return err
	}
	trust, err := kit.Server()
	if err != nil {
		return err
	}
	ns, err := natsserver.Start(natsserver.Config{Addr: cfg.NATSAddr, StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Auth: &trust})
	if err != nil {
		return fmt.Errorf("%w (set EVENTFLOW_NATS_ADDR or --nats-addr)", err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	natsURL := ns.ClientURL()

	// One connection per service, as in a cluster: no service's traffic
	// queues behind another's on a shared connection.
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	connect := func(service string) (*nats.Conn, jetstream.JetStream, error) {
		creds, err := kit.ServiceCreds(service)
		if err != nil {
			return nil, nil, err
		}
		id, err := busauth.ConnectOptions(creds)
		if err != nil {
			return nil, nil, err
		}
		nc, err := bus.Connect(ctx, natsURL, "eventflow-"+service, log, id...)
		if err != nil {
			return nil, nil, err
		}
		conns = append(conns, nc)
		js, err := jetstream.New(nc, bus.JetStreamOptions()...)
		return nc, js, err
	}
	type svcConn struct {
		nc *nats.Conn
		js jetstream.JetStream
	}
	conn := map[string]svcConn{}
	for _, name := range busauth.Services {
		nc, js, err := connect(name)
		if err != nil {
			return err
		}
		conn[name] = svcConn{nc, js}
	}
	opts := events.DefaultOptions()
	if cfg.InvocationTTL > 0 {
		opts.InvocationsTTL = cfg.InvocationTTL
	}
	if err := bus.Provision(ctx, conn[busauth.Deployer].js, opts); err != nil {
		return err
	}
	tp, err := telemetry.NewTracerProvider(ctx)
	if err != nil {
		return err
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = tp.Shutdown(sctx)
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Tenants' secrets are sealed to a key kept in the data dir.
	if cfg.Runtime.SecretsKeyFile == "" {
		cfg.Runtime.SecretsKeyFile = filepath.Join(cfg.DataDir, "secrets.key")
	}
	secretsKey, err := cfg.Runtime.OpenSecrets(conn[busauth.Deployer].js)
	if err != nil {
		return err
	}
	rt, err := newRuntimes(ctx, cfg.Runtime, log.With("service", "runtime"))
	if err != nil {
		return err
	}

	// Development callbacks go to this machine and its network: loopback
	// and private destinations are allowed (never in the standalone
	// services unless configured).
	devCallbacks := egress.Policy{AllowPrivate: true}
	// One developer, and `make bench`, which sends thousands of requests a
	// second as one tenant: no request rate limit (the other per-tenant
	// limits keep their defaults).
	devTenants := gateway.TenantLimits{RequestsPerSecond: gateway.Unlimited}
	gw, err := gateway.New(ctx, gateway.Config{MaxBodyBytes: cfg.MaxBodyBytes, EnableTokenIssuer: true, CallbackSecret: secret, CallbackDestinations: devCallbacks, Tenants: devTenants}, gateway.Deps{
		NC: conn["gateway"].nc, JS: conn["gateway"].js, Auth: signer, Log: log.With("service", "gateway"), Tracer: tp.Tracer("eventflow/gateway"),
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		return err
	}
	dp, err := deployer.New(ctx, deployer.Config{}, deployer.Deps{
		NC: conn["deployer"].nc, JS: conn["deployer"].js, Runtime: rt.deployments, Log: log.With("service", "deployer"), Tracer: tp.Tracer("eventflow/deployer"), Registerer: reg,
		SecretsKey: secretsKey,
	})
	if err != nil {
		return err
	}
	iv, err := invoker.New(ctx, invoker.Config{AckWait: cfg.InvokerAckWait, CallbackSecret: secret, CallbackRetryDelay: cfg.CallbackRetryDelay, CallbackDestinations: devCallbacks}, invoker.Deps{
		NC: conn["invoker"].nc, JS: conn["invoker"].js, Runtime: rt.invoker, Log: log.With("service", "invoker"), Tracer: tp.Tracer("eventflow/invoker"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	// Logstream is the one follower of the runtime's logs: the deployer and
	// the invoker share this process's runtime, so unlike their standalone
	// binaries they do not ship lines themselves. It outlives the others so
	// the last lines of stopping functions are still published.
	stopLogs := logship.New(logship.Deps{JS: conn["logstream"].js, Source: rt.logs, Log: log.With("service", "logstream"), Registerer: reg}).Start(ctx)
	defer stopLogs()

	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{
		"gateway":  func(ctx context.Context) error { return gw.Serve(ctx, ln) },
		"deployer": dp.Run,
		"invoker":  iv.Run,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	printBanner(out, ln.Addr().String(), natsURL, cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	log.Info("shutting down")
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := rt.close(sctx); err != nil {
		log.Warn("stop functions", "err", err)
	}
	stopLogs()
	for _, nc := range conns {
		if err := nc.Drain(); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("drain nats", "err", err)
		}
	}
	fmt.Fprintln(out, "EventFlow stopped.")
	return runErr
}

// runtimes are the three faces of the chosen runtime.
type runtimes struct {
	deployments runtime.Deployments
	invoker     runtime.Invoker
	logs        runtime.LogSource
	close       func(context.Context) error
}

// newRuntimes builds the runtime: one local process runtime shared by the
// services, or the Kubernetes runtime's three parts on one client.
func newRuntimes(ctx context.Context, rf runtimeboot.Flags, log *slog.Logger) (runtimes, error) {
	if rf.Name == runtimeboot.Process {
		pcfg, err := rf.ProcessConfig(log)
		if err != nil {
			return runtimes{}, err
		}
		rt := process.New(pcfg)
		return runtimes{deployments: rt, invoker: rt, logs: rt, close: rt.Close}, nil
	}
	client, kcfg, err := rf.Kube(log)
	if err != nil {
		return runtimes{}, err
	}
	deps, err := kube.NewDeployments(ctx, client, kcfg)
	if err != nil {
		return runtimes{}, err
	}
	inv, err := kube.NewInvoker(ctx, client, kcfg)
	if err != nil {
		return runtimes{}, err
	}
	return runtimes{deployments: deps, invoker: inv, logs: kube.NewLogSource(client, kcfg),
		close: func(context.Context) error { return nil }}, nil
}

func printBanner(w io.Writer, httpAddr, natsURL, dataDir string) {
	api := "http://" + httpAddr
	fmt.Fprintf(w, `
EventFlow dev is running.
  Console:  %s/
  API:      %s
  NATS:     %s
            (credentials: eventflow nats-creds --tenant demo > demo.creds)
  Data dir: %s

In another terminal, with the CLI (%s):
  eventflow login --url %s --tenant demo
  eventflow deploy -f examples/eventflow.yaml --wait
  echo hello | eventflow invoke upper
  eventflow logs upper

Press Ctrl+C to stop.
`, api, api, natsURL, dataDir, cliPath(), api)
}

// cliPath says where this binary is, so the banner's commands can be
// pasted whether or not it is on PATH.
func cliPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin/eventflow"
	}
	if p, err := exec.LookPath("eventflow"); err == nil {
		if abs, err := filepath.Abs(p); err == nil && abs == exe {
			return "on your PATH"
		}
	}
	return `export PATH="` + filepath.Dir(exe) + `:$PATH" first`
}

// privateDataDir makes the data dir, or keeps it, readable by this user
// only: it holds the secrets and the JetStream store (every tenant's
// payloads and records), and functions may run as other users of this
// machine (docs/ARCHITECTURE.md, "Isolation on the process runtime").
func privateDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Not ours to change (a volume mounted as another user's): say so,
		// and run.
		if err := os.Chmod(dir, 0o700); err != nil {
			log.Warn("the data dir is open to other users, functions included, and cannot be made private", "dir", dir, "mode", fi.Mode().Perm().String(), "err", err)
			return nil
		}
		log.Warn("the data dir was open to other users; made it private (mode 0700)", "dir", dir, "was", fi.Mode().Perm().String())
	}
	return nil
}

// LoadSecret returns the configured secret, or the one kept in the data
// dir, creating it on first start so tokens survive restarts.
func LoadSecret(dataDir, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read jwt secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write jwt secret: %w", err)
	}
	return []byte(s), nil
}
