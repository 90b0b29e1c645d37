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
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/telemetry"
	deployer "github.com/eventflow/eventflow/services/deployer/service"
	gateway "github.com/eventflow/eventflow/services/gateway/service"
	invoker "github.com/eventflow/eventflow/services/invoker/service"
	logstream "github.com/eventflow/eventflow/services/logstream/service"
)

// Config of `eventflow dev`.
type Config struct {
	HTTPAddr     string
	DataDir      string
	NATSAddr     string
	JWTSecret    string
	Runtime      string
	LogLevel     string
	MaxBodyBytes int64
	// InvokerAckWait is how long an unacknowledged async invocation waits
	// before redelivery (e.g. after a crash).
	InvokerAckWait time.Duration
}

// Run starts everything, prints where it is, and runs until ctx ends; then
// it shuts down in order: stop taking requests, let running invocations
// finish and ack, stop functions, flush logs, drain NATS.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Runtime != "process" {
		return fmt.Errorf("runtime %q is not available in dev; use \"process\"", cfg.Runtime)
	}
	log := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	secret, err := loadSecret(cfg.DataDir, cfg.JWTSecret)
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

	ns, err := natsserver.Start(natsserver.Config{Addr: cfg.NATSAddr, StoreDir: filepath.Join(cfg.DataDir, "jetstream")})
	if err != nil {
		return fmt.Errorf("%w (set EVENTFLOW_NATS_ADDR or --nats-addr)", err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	natsURL := ns.ClientURL()

	nc, err := bus.Connect(ctx, natsURL, "eventflow-dev", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := bus.Provision(ctx, js, events.DefaultOptions()); err != nil {
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

	rt := process.New(process.Config{Logger: log.With("service", "runtime"), WorkDir: ""})

	gw, err := gateway.New(ctx, gateway.Config{MaxBodyBytes: cfg.MaxBodyBytes, EnableTokenIssuer: true}, gateway.Deps{
		NC: nc, JS: js, Auth: signer, Log: log.With("service", "gateway"), Tracer: tp.Tracer("eventflow/gateway"),
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		return err
	}
	dp, err := deployer.New(ctx, deployer.Config{}, deployer.Deps{
		JS: js, Runtime: rt, Log: log.With("service", "deployer"), Tracer: tp.Tracer("eventflow/deployer"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	iv, err := invoker.New(ctx, invoker.Config{AckWait: cfg.InvokerAckWait}, invoker.Deps{
		NC: nc, JS: js, Runtime: rt, Log: log.With("service", "invoker"), Tracer: tp.Tracer("eventflow/invoker"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	ls := logstream.New(logstream.Deps{JS: js, Source: rt, Log: log.With("service", "logstream"), Registerer: reg})

	// Logstream outlives the others so the last lines of stopping
	// functions are still published.
	lsCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	var lsWG sync.WaitGroup
	lsWG.Add(1)
	go func() {
		defer lsWG.Done()
		if err := ls.Run(lsCtx); err != nil {
			log.Error("logstream stopped", "err", err)
		}
	}()

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
	if err := rt.Close(sctx); err != nil {
		log.Warn("stop functions", "err", err)
	}
	stopLogs()
	lsWG.Wait()
	if err := nc.Drain(); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("drain nats", "err", err)
	}
	fmt.Fprintln(out, "EventFlow stopped.")
	return runErr
}

func printBanner(w io.Writer, httpAddr, natsURL, dataDir string) {
	api := "http://" + httpAddr
	fmt.Fprintf(w, `
EventFlow dev is running.
  API:      %s
  NATS:     %s
  Data dir: %s

Get a token:
  curl -s -X POST %s/auth/token -d '{"tenant":"demo"}'
Then, with TOKEN set to it:
  curl -s -X POST %s/v1/functions -H "Authorization: Bearer $TOKEN" \
       -d '{"name":"upper","command":["tr","a-z","A-Z"]}'
  curl -s -X POST %s/v1/functions/upper:invoke -H "Authorization: Bearer $TOKEN" -d hello

Press Ctrl+C to stop.
`, api, natsURL, dataDir, api, api, api)
}

// loadSecret returns the configured secret, or the one kept in the data
// dir, creating it on first start so tokens survive restarts.
func loadSecret(dataDir, configured string) ([]byte, error) {
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

// LoadSecret is loadSecret for the `token` command.
func LoadSecret(dataDir, configured string) ([]byte, error) { return loadSecret(dataDir, configured) }
