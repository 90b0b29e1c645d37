// Package svcboot is the start-up every standalone service shares: flags
// with environment defaults, the JSON logger, the tracer, the NATS
// connection and stream provisioning, and signal handling. It imports no
// runtime and nothing of Kubernetes: choosing a runtime is
// pkg/runtime/runtimeboot's, which only the services that run functions
// use, so the gateway does not link client-go.
package svcboot

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/opshttp"
	"github.com/eventflow/eventflow/pkg/telemetry"
)

// Env returns the environment variable name, or def when unset.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// EnvInt is Env for integers; a malformed value is a start-up error.
func EnvInt(name string, def int) int {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q is not a whole number\n", name, v)
		os.Exit(2)
	}
	return n
}

// EnvDuration is Env for durations.
func EnvDuration(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q is not a duration like 30s\n", name, v)
		os.Exit(2)
	}
	return d
}

// Common are the settings of every standalone service.
type Common struct {
	NATSURL string
	// NATSCreds is the service's own bus credentials (a .creds file).
	NATSCreds      string
	LogLevel       string
	StreamReplicas int
	// InvocationTTL is how long invocation records are kept, which is also
	// how long an Idempotency-Key maps to its invocation.
	InvocationTTL time.Duration
	// MaxQueuedPerFunction caps the async invocations one function may
	// have on the invocations stream; 0: no cap.
	MaxQueuedPerFunction int
}

// Flags registers the common flags (defaults from NATS_URL,
// EVENTFLOW_LOG_LEVEL, EVENTFLOW_STREAM_REPLICAS) on fs.
func (c *Common) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSURL, "nats-url", Env("NATS_URL", nats.DefaultURL), "NATS server URL(s), comma-separated [NATS_URL]")
	fs.StringVar(&c.NATSCreds, "nats-creds", Env("NATS_CREDS", ""), "this service's NATS credentials file, from `eventflow nats-auth init` (empty: no authentication) [NATS_CREDS]")
	fs.StringVar(&c.LogLevel, "log-level", Env("EVENTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error [EVENTFLOW_LOG_LEVEL]")
	fs.DurationVar(&c.InvocationTTL, "invocation-ttl", EnvDuration("EVENTFLOW_INVOCATION_TTL", 24*time.Hour), "how long invocation records (and Idempotency-Keys) are kept [EVENTFLOW_INVOCATION_TTL]")
	fs.IntVar(&c.MaxQueuedPerFunction, "max-queued-per-function", EnvInt("EVENTFLOW_MAX_QUEUED_PER_FUNCTION", events.DefaultMaxQueuedPerFunction), "async invocations one function may have queued, running or waiting for a retry; more are refused with 429 queue_full; 0: no limit; give every service the same value (with bus credentials the deployer's counts) [EVENTFLOW_MAX_QUEUED_PER_FUNCTION]")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", EnvInt("EVENTFLOW_STREAM_REPLICAS", 1), "replicas of streams and buckets when provisioning (3 in a cluster) [EVENTFLOW_STREAM_REPLICAS]")
}

// Service is what a started service gets.
type Service struct {
	Name     string
	Log      *slog.Logger
	Tracer   trace.Tracer
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	tp       *sdktrace.TracerProvider
}

// Start connects and provisions. The caller must call Close.
func Start(ctx context.Context, name string, c Common) (*Service, error) {
	log := telemetry.NewLogger(os.Stderr, c.LogLevel).With("service", name)
	tp, err := telemetry.NewTracerProvider(ctx)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var auth []nats.Option
	if c.NATSCreds != "" {
		if auth, err = busauth.ConnectOptionsFile(c.NATSCreds); err != nil {
			return nil, err
		}
	}
	nc, err := bus.Connect(ctx, c.NATSURL, "eventflow-"+name, log, auth...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, bus.JetStreamOptions()...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	opts := events.DefaultOptions()
	opts.Replicas = c.StreamReplicas
	opts.MaxQueuedPerFunction = c.MaxQueuedPerFunction
	if c.InvocationTTL > 0 {
		opts.InvocationsTTL = c.InvocationTTL
	}
	// With credentials, only the deployer's identity may create and
	// update streams; the others wait for them.
	provision := bus.Provision
	if c.NATSCreds != "" && name != busauth.Deployer {
		provision = func(ctx context.Context, js jetstream.JetStream, o events.Options) error {
			return bus.WaitProvisioned(ctx, js, o, log)
		}
	}
	if err := provision(ctx, js, opts); err != nil {
		nc.Close()
		return nil, err
	}
	return &Service{Name: name, Log: log, Tracer: tp.Tracer("eventflow/" + name), NC: nc, JS: js, Registry: reg, tp: tp}, nil
}

// Ready reports whether NATS and JetStream answer.
func (s *Service) Ready(ctx context.Context) error { return bus.Ready(ctx, s.NC, s.JS) }

// Close drains the NATS connection (so in-flight acks are sent) and flushes
// traces.
func (s *Service) Close() {
	_ = s.NC.Drain()
	for i := 0; i < 100 && !s.NC.IsClosed(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.tp.Shutdown(ctx)
}

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// ServeOps serves /healthz, /readyz and /metrics on addr in the background
// until ctx ends.
func (s *Service) ServeOps(ctx context.Context, addr string) {
	go func() {
		if err := opshttp.Serve(ctx, addr, opshttp.Handler(s.Ready, s.Registry), s.Log); err != nil {
			s.Log.Error("ops endpoints", "addr", addr, "err", err)
		}
	}()
}

// CloseTimeout is a context for shutdown work after the main context ended.
func CloseTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}
