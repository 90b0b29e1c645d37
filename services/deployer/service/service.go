// Package service assembles the deployer: commands from JetStream, runtime
// change notifications and periodic resyncs all feed one keyed work queue
// whose workers reconcile functions.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/telemetry"
	"github.com/eventflow/eventflow/services/deployer/internal/reconcile"
	"github.com/eventflow/eventflow/services/deployer/internal/rollout"
	"github.com/eventflow/eventflow/services/deployer/internal/scaler"
)

// Config of the deployer.
type Config struct {
	Workers        int           // concurrent reconciles (default 4)
	ResyncInterval time.Duration // full resync period (default 30s)
	// ScaleInterval and ScaleReportTTL tune the scaler of autoscaled
	// functions (defaults 1s and 3s; see package scaler's Config).
	ScaleInterval, ScaleReportTTL time.Duration
}

// Deps are what the deployer needs from its host.
type Deps struct {
	// NC carries load reports to the scaler; nil: no autoscaling (functions
	// run their initial count).
	NC         *nats.Conn
	JS         jetstream.JetStream
	Runtime    runtime.Deployments
	Log        *slog.Logger
	Tracer     trace.Tracer
	Registerer prometheus.Registerer
	// SecretsKey, when set, is published for the gateway to seal
	// tenants' secrets to (the runtime opens them with it).
	SecretsKey *secrets.Key
}

// Deployer reconciles functions until its context ends.
type Deployer struct {
	cfg     Config
	d       Deps
	buckets bus.Buckets
	rec     interface {
		Reconcile(context.Context, runtime.Ref) error
	} // a *reconcile.Reconciler; a fake in tests of the workers
	queue  *workQueue
	scaler *scaler.Scaler // nil without Deps.NC
	tally  *rollout.Tally // nil without Deps.NC
	m      metrics
}

type metrics struct {
	commands   *prometheus.CounterVec
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
	queueDepth prometheus.GaugeFunc
	unsent     prometheus.GaugeFunc
}

// New builds a deployer.
func New(ctx context.Context, cfg Config, d Deps) (*Deployer, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	b, err := bus.OpenBuckets(ctx, d.JS)
	if err != nil {
		return nil, err
	}
	if d.SecretsKey != nil {
		if err := (&secrets.Store{KV: b.Secrets, Key: d.SecretsKey}).PublishKey(ctx); err != nil {
			return nil, err
		}
	}
	dp := &Deployer{cfg: cfg, d: d, buckets: b, queue: newWorkQueue(nil)}
	rec := &reconcile.Reconciler{JS: d.JS, Buckets: b, Runtime: d.Runtime, Log: d.Log, Metrics: reconcile.NewMetrics(d.Registerer),
		Requeue: func(ref runtime.Ref, after time.Duration) { dp.queue.addAfter(ref, after) }}
	if d.NC != nil {
		// A decision queues the function: its reconcile applies the count
		// and records why, so the status has one writer.
		dp.scaler = scaler.New(scaler.Config{Interval: cfg.ScaleInterval, ReportTTL: cfg.ScaleReportTTL}, scaler.Deps{NC: d.NC, JS: d.JS, Log: d.Log, Registerer: d.Registerer,
			OnChange: func(ref runtime.Ref) { dp.queue.add(ref, trace.SpanContext{}) }})
		rec.Scaler = dp.scaler
		// Rollouts are judged by what the gateways and invokers report
		// their new revisions served.
		dp.tally = rollout.New()
		rec.Outcomes = dp.tally
	}
	dp.rec = rec
	dp.m = metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_deployer_commands_total", Help: "Function commands consumed, by action.",
		}, []string{"action"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_deployer_reconciles_total", Help: "Reconciles, by result (ok, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventflow_deployer_reconcile_duration_seconds", Help: "Time of one reconcile.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventflow_deployer_queue_depth", Help: "Functions waiting to be reconciled.",
		}, func() float64 { return float64(dp.queue.len()) }),
		unsent: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventflow_deployer_events_unsent", Help: "Lifecycle events kept to publish again: their publish failed after the state they report was stored.",
		}, func() float64 { return float64(rec.UnsentEvents()) }),
	}
	d.Registerer.MustRegister(dp.m.commands, dp.m.reconciles, dp.m.duration, dp.m.queueDepth, dp.m.unsent)
	return dp, nil
}

// Run consumes commands and reconciles until ctx ends; in-flight reconciles
// finish before it returns.
func (dp *Deployer) Run(ctx context.Context) error {
	cons, err := dp.d.JS.CreateOrUpdateConsumer(ctx, events.StreamCommands, jetstream.ConsumerConfig{
		Durable:       events.ConsumerDeployer,
		Description:   "EventFlow deployer: function commands",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		FilterSubject: events.SubjectCommands + ".>",
	})
	if err != nil {
		return fmt.Errorf("commands consumer: %w", err)
	}
	// Start-up resync first, so functions whose command was lost (or acked
	// before a crash) converge.
	if err := dp.resync(ctx); err != nil {
		dp.d.Log.Warn("initial resync", "err", err)
	}
	cc, err := cons.Consume(dp.onCommand, bus.PullExpiry)
	if err != nil {
		return fmt.Errorf("consume commands: %w", err)
	}
	var wg sync.WaitGroup
	for range dp.cfg.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); dp.worker(ctx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); dp.watchRuntime(ctx) }()
	go func() { defer wg.Done(); dp.resyncLoop(ctx) }()
	if dp.scaler != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dp.scaler.Run(ctx); err != nil {
				dp.d.Log.Error("scaler stopped: autoscaled functions keep their count", "err", err)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dp.tally.Run(ctx, dp.d.NC); err != nil {
				dp.d.Log.Error("rollout outcomes not counted: rollouts go on by time alone", "err", err)
			}
		}()
	}
	dp.d.Log.Info("deployer running", "workers", dp.cfg.Workers, "resync", dp.cfg.ResyncInterval.String())
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	dp.queue.shutDown()
	wg.Wait()
	return nil
}

// onCommand queues the function and acks: a command is only a nudge; the
// desired state is in KV and the resync covers a crash after the ack.
func (dp *Deployer) onCommand(msg jetstream.Msg) {
	cmd, err := events.ParseCommand(msg.Data())
	if err != nil {
		dp.d.Log.Warn("dropping malformed command", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	dp.m.commands.WithLabelValues(cmd.Action).Inc()
	ctx := telemetry.Extract(context.Background(), msg.Headers())
	dp.queue.add(runtime.Ref{Tenant: cmd.Tenant, Name: cmd.Function}, trace.SpanContextFromContext(ctx))
	_ = msg.Ack()
}

// worker reconciles refs from the queue until it is shut down. Once ctx is
// done, refs still waiting are dropped (the start-up resync of the next run
// covers them); a reconcile in flight finishes first.
func (dp *Deployer) worker(ctx context.Context) {
	for {
		ref, sc, ok := dp.queue.get()
		if !ok {
			return
		}
		if ctx.Err() != nil {
			dp.queue.skip(ref)
			continue
		}
		dp.reconcile(ctx, ref, sc)
	}
}

// reconcile runs one reconcile of ref and settles it in the queue: a
// success forgets its failures, an error queues it again with backoff.
func (dp *Deployer) reconcile(ctx context.Context, ref runtime.Ref, sc trace.SpanContext) {
	if sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	ctx, span := dp.d.Tracer.Start(ctx, "reconcile", trace.WithAttributes(
		attribute.String("eventflow.tenant", ref.Tenant), attribute.String("eventflow.function", ref.Name)))
	defer span.End()
	start := time.Now()
	err := dp.rec.Reconcile(ctx, ref)
	dp.m.duration.Observe(time.Since(start).Seconds())
	if err == nil {
		dp.m.reconciles.WithLabelValues("ok").Inc()
		dp.queue.done(ref, false)
		return
	}
	if errors.Is(err, context.Canceled) {
		dp.queue.skip(ref)
		return
	}
	dp.m.reconciles.WithLabelValues("error").Inc()
	span.RecordError(err)
	delay, n := dp.queue.done(ref, true)
	dp.d.Log.WarnContext(ctx, "reconcile failed; will retry", "tenant", ref.Tenant, "function", ref.Name, "attempt", n, "retryIn", delay.String(), "err", err)
}

func (dp *Deployer) watchRuntime(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ref := <-dp.d.Runtime.Changes():
			dp.queue.add(ref, trace.SpanContext{})
		}
	}
}

func (dp *Deployer) resyncLoop(ctx context.Context) {
	t := time.NewTicker(dp.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := dp.resync(ctx); err != nil && ctx.Err() == nil {
				dp.d.Log.Warn("resync", "err", err)
			}
		}
	}
}

// resync queues every function that has a desired record or a runtime
// presence, so drift and orphans are repaired.
func (dp *Deployer) resync(ctx context.Context) error {
	keys, err := dp.buckets.Functions.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	for k := range keys.Keys() {
		tenant, name, ok := strings.Cut(k, ".")
		if ok {
			dp.queue.add(runtime.Ref{Tenant: tenant, Name: name}, trace.SpanContext{})
		}
	}
	refs, err := dp.d.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list runtime: %w", err)
	}
	for _, ref := range refs {
		dp.queue.add(ref, trace.SpanContext{})
	}
	return nil
}
