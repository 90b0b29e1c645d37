// Package service assembles the invoker: sync invocations arrive by core
// NATS request/reply in a queue group (no disk on the hot path), async ones
// from the JetStream work queue, acknowledged only once their result is
// recorded.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/loadreport"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/telemetry"
	"github.com/eventflow/eventflow/services/invoker/internal/records"
	"github.com/eventflow/eventflow/services/invoker/internal/triggers"
)

// Config of the invoker.
type Config struct {
	// MaxConcurrent bounds invocations running at once, sync and async
	// each (default 64).
	MaxConcurrent int
	// AckWait is how long JetStream waits for an ack before redelivering;
	// running invocations send in-progress acks well within it.
	AckWait time.Duration
	// RetryDelay is the delay before a message is tried again after the
	// invoker itself could not handle it (e.g. a record could not be read).
	// Failed attempts of the function wait their retry policy's backoff.
	RetryDelay time.Duration
	// CallbackSecret derives the tenants' callback signing keys (the
	// gateway's must match); without it callbacks go unsigned. It also
	// keys trigger invocation ids and consumer names (triggers.Deps).
	CallbackSecret []byte
	// CallbackAttempts bounds deliveries of a callback (default 5);
	// CallbackRetryDelay is the first wait between them, doubled each time
	// (default 1s).
	CallbackAttempts   int
	CallbackRetryDelay time.Duration
	// CallbackDestinations is checked on every address a callback dials
	// (public ones only by default); a refused one fails the callback at
	// once.
	CallbackDestinations egress.Policy
	// RunningAfter is how long an async run goes on before its record is
	// written running (default DefaultRunningAfter; negative: at once).
	// A run that ends sooner has its record go straight to its end: one
	// write per completion instead of two. Its started event is sent at
	// the start either way.
	RunningAfter time.Duration
	// MaxFunctionSeries caps the distinct (tenant, function) label pairs of
	// the per-function metrics (default DefaultMaxFunctionSeries); past it,
	// series go to function="_other" (docs/ARCHITECTURE.md, Observability).
	MaxFunctionSeries int
	// ScaleReportInterval is how often the invoker reports each
	// function's runs in flight and held to the deployer's scaler, and
	// repeats a held run's wake (0: loadreport.DefaultInterval).
	ScaleReportInterval time.Duration
}

// Deps are what the invoker needs from its host.
type Deps struct {
	NC         *nats.Conn
	JS         jetstream.JetStream
	Runtime    runtime.Invoker
	Log        *slog.Logger
	Tracer     trace.Tracer
	Registerer prometheus.Registerer
	// Load, when set, is the reporter of the functions' load (tests);
	// else New makes one on NC with source "invoker" and
	// Config.ScaleReportInterval. Run runs it.
	Load *loadreport.Reporter
}

// Invoker runs invocations until its context ends.
type Invoker struct {
	cfg     Config
	d       Deps
	fns     *catalog.Cache
	records records.Store
	m       metrics
	queues  *queues
	cbs     jetstream.Consumer
	events  *bus.AsyncPublisher
	// triggers make invocations from the functions' triggers.
	triggers *triggers.Triggers
	// consume takes an async invocation message to its settlement:
	// handleAsync decides, the settler carries the decision out.
	consume msgHandler

	callbackClient *http.Client

	// load reports runs in flight and held to the deployer's scaler
	// (cold.go); cold bounds the async holds per function.
	load *loadreport.Reporter
	cold coldGate
	// stopping ends when Run's context does: held async runs go back to
	// their queue then (running ones finish).
	stopping context.Context
}

// DefaultRunningAfter is Config.RunningAfter's default.
const DefaultRunningAfter = 100 * time.Millisecond

// Source is the CloudEvents source of the invoker's events.
const Source = "/eventflow/invoker"

// ReportSource names the invoker's load reports (loadreport adds a
// suffix per replica).
const ReportSource = "invoker"

// legacyConsumer is the one invocations consumer of earlier versions.
const legacyConsumer = "invoker"

type metrics struct {
	invocations *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	running     prometheus.Gauge
	queueDepth  prometheus.GaugeFunc

	// Per function, labels bounded by fnLabels.
	fnLabels      *fnLabels
	fnInvocations *prometheus.CounterVec
	fnDuration    *prometheus.HistogramVec
	// coldHeld counts runs held for want of a ready instance (per
	// function); coldWait is how long they were held, by how the hold
	// ended.
	coldHeld *prometheus.CounterVec
	coldWait *prometheus.HistogramVec
}

// forgetFunction deletes the per-function series of a deleted function.
func (m *metrics) forgetFunction(tenant, name string) {
	if !m.fnLabels.forget(tenant, name) {
		return
	}
	l := prometheus.Labels{"tenant": tenant, "function": name}
	m.fnInvocations.DeletePartialMatch(l)
	m.fnDuration.DeletePartialMatch(l)
	m.coldHeld.DeletePartialMatch(l)
}

// New builds an invoker.
func New(ctx context.Context, cfg Config, d Deps) (*Invoker, error) {
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 64
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	switch {
	case cfg.RunningAfter == 0:
		cfg.RunningAfter = DefaultRunningAfter
	case cfg.RunningAfter < 0:
		cfg.RunningAfter = 0
	}
	if cfg.CallbackAttempts <= 0 {
		cfg.CallbackAttempts = 5
	}
	if cfg.CallbackRetryDelay <= 0 {
		cfg.CallbackRetryDelay = time.Second
	}
	b, err := bus.OpenBuckets(ctx, d.JS)
	if err != nil {
		return nil, err
	}
	// The single consumer of earlier versions overlaps the per-function
	// ones, which a work-queue stream refuses: remove it.
	if err := d.JS.DeleteConsumer(ctx, events.StreamInvocations, legacyConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("remove the old invocations consumer: %w", err)
	}
	iv := &Invoker{cfg: cfg, d: d, records: records.Store{KV: b.Invocations},
		callbackClient: cfg.CallbackDestinations.HTTPClient(15 * time.Second), load: d.Load, stopping: ctx}
	if iv.load == nil {
		iv.load = loadreport.New(d.NC, ReportSource, cfg.ScaleReportInterval, d.Log)
	}
	iv.queues = newQueues(iv)
	iv.consume = traced(d.Tracer, iv.settler().settled(iv.handleAsync))
	iv.m = newMetrics(cfg, d)
	iv.events = bus.NewAsyncPublisher(d.JS, func(err error) {
		if err != nil {
			d.Log.Warn("lifecycle event not stored", "err", err)
		}
	})
	iv.triggers = triggers.New(triggers.Deps{JS: d.JS, State: b.Triggers, Invocations: b.Invocations, Events: iv.events, Log: d.Log, Source: Source, Secret: cfg.CallbackSecret})
	onChange := func(ch catalog.Change) {
		iv.queues.onChange(ch)
		iv.triggers.OnChange(ch)
		if ch.Deleted {
			iv.m.forgetFunction(ch.Tenant, ch.Name)
		}
	}
	if iv.fns, err = catalog.NewCacheWithHook(ctx, b.Functions, onChange); err != nil {
		return nil, err
	}
	if iv.cbs, err = iv.callbacksConsumer(ctx); err != nil {
		return nil, fmt.Errorf("callbacks consumer: %w", err)
	}
	d.Registerer.MustRegister(iv.m.invocations, iv.m.duration, iv.m.running, iv.m.queueDepth, iv.m.fnInvocations, iv.m.fnDuration, iv.m.coldHeld, iv.m.coldWait)
	return iv, nil
}

// settler settles async invocations with the invoker's bucket, streams
// and event publisher.
func (iv *Invoker) settler() settler {
	return settler{
		retryDelay: iv.cfg.RetryDelay,
		log:        iv.d.Log,
		write:      iv.write,
		publishDeadLetter: func(ctx context.Context, dl events.DeadLetter) error {
			_, err := iv.d.JS.PublishMsg(ctx, dl.Msg())
			return err
		},
		queueCallback: iv.queueCallback,
		emit:          iv.emit,
	}
}

// newMetrics builds the invoker's metrics (registered by New).
func newMetrics(cfg Config, d Deps) metrics {
	return metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_invocations_total", Help: "Invocations run, by mode (sync, async) and outcome.",
		}, []string{"mode", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventflow_invocation_duration_seconds", Help: "Run time of invocations by mode.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"mode"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eventflow_invocations_running", Help: "Invocations running now.",
		}),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventflow_invocation_queue_depth", Help: "Async invocations in the queue, waiting or running.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := d.JS.Stream(ctx, events.StreamInvocations)
			if err != nil {
				return -1
			}
			info, err := st.Info(ctx)
			if err != nil {
				return -1
			}
			return float64(info.State.Msgs)
		}),
		fnLabels: newFnLabels(cfg.MaxFunctionSeries),
		fnInvocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_function_invocations_total", Help: "Invocations run per function, by mode and outcome (tenant/function bounded: past the cap they count under function=\"_other\").",
		}, []string{"tenant", "function", "mode", "outcome"}),
		fnDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventflow_function_invocation_duration_seconds", Help: "Run time of invocations per function, by mode (tenant/function bounded as for eventflow_function_invocations_total).",
			Buckets: []float64{0.005, 0.025, 0.1, 0.5, 2.5, 10, 60},
		}, []string{"tenant", "function", "mode"}),
		coldHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_function_cold_held_total", Help: "Invocations held because their http-mode function had no ready instance (scale from zero), per function and mode (tenant/function bounded as for eventflow_function_invocations_total).",
		}, []string{"tenant", "function", "mode"}),
		coldWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "eventflow_function_cold_wait_seconds", Help: "How long invocations were held waiting for a ready instance, by mode and how the hold ended (served, timeout, stopped, cancelled).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"mode", "outcome"}),
	}
}

// Run serves until ctx ends, then stops taking work and lets running
// invocations finish and be acknowledged.
func (iv *Invoker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// Running invocations are not cancelled by shutdown: they finish (or
	// time out) and are recorded and acked, so nothing is redone needlessly.
	runCtx := context.WithoutCancel(ctx)
	// Held async runs go back to their queue when the invoker stops.
	iv.stopping = ctx
	// The load reports, for as long as the invoker runs, and a last
	// round once every run has ended (the counts back to zero).
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); iv.load.Run(loadCtx) }()
	defer func() {
		stopLoad()
		<-loadDone
		iv.load.Final()
	}()

	syncSem := make(chan struct{}, iv.cfg.MaxConcurrent)
	sub, err := iv.d.NC.QueueSubscribe(events.SubjectSync+".>", events.SyncQueueGroup, func(msg *nats.Msg) {
		syncSem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-syncSem; wg.Done() }()
			iv.handleSync(runCtx, msg)
		}()
	})
	if err != nil {
		return fmt.Errorf("subscribe sync: %w", err)
	}

	iv.queues.start(ctx, runCtx, &wg)
	tctx, stopTriggers := context.WithCancel(ctx)
	defer stopTriggers()
	trigDone := make(chan struct{})
	go func() { defer close(trigDone); iv.triggers.Run(tctx) }()
	cbSem := make(chan struct{}, 16)
	cbc, err := iv.cbs.Consume(func(msg jetstream.Msg) {
		cbSem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-cbSem; wg.Done() }()
			iv.deliverCallback(runCtx, msg)
		}()
	}, jetstream.PullMaxMessages(16), bus.PullExpiry)
	if err != nil {
		_ = sub.Unsubscribe()
		iv.queues.stop()
		stopTriggers()
		<-trigDone
		return fmt.Errorf("consume callbacks: %w", err)
	}
	iv.d.Log.Info("invoker running", "maxConcurrent", iv.cfg.MaxConcurrent)
	<-ctx.Done()
	_ = sub.Drain()
	cbc.Drain()
	iv.queues.stop()
	<-cbc.Closed()
	<-trigDone
	wg.Wait()
	iv.events.Close()
	return nil
}

// handleSync runs one sync invocation and replies first, then records it.
func (iv *Invoker) handleSync(ctx context.Context, msg *nats.Msg) {
	ctx = telemetry.Extract(ctx, msg.Header)
	id := msg.Header.Get(events.HeaderInvocationID)
	if !events.ValidInvocationID(id) {
		id = events.NewInvocationID()
	}
	tenant, name, err := events.TenantFunction(msg.Subject)
	reply := nats.NewMsg(msg.Reply)
	if err != nil {
		iv.replyError(msg, reply, events.ErrorCodeNotFound, err.Error())
		return
	}
	ctx, span := iv.d.Tracer.Start(ctx, "invoke sync", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("eventflow.invocation_id", id)))
	defer span.End()
	rec, err := iv.fns.Lookup(ctx, tenant, name)
	if err == nil && rec.Deleting {
		err = catalog.ErrNotFound
	}
	if err != nil {
		code := events.ErrorCodeUnavailable
		if errors.Is(err, catalog.ErrNotFound) {
			code = events.ErrorCodeNotFound
		}
		iv.replyError(msg, reply, code, fmt.Sprintf("function %q: %v", name, err))
		return
	}
	created := time.Now().UTC()
	// The run is held while the function has no ready instance (up to
	// its timeout), then gets its full timeout: hold and run together
	// take up to twice the function's timeout.
	res, revision, runErr := iv.run(ctx, tenant, rec, runtime.InvokeRequest{ID: id, Payload: msg.Data, ContentType: msg.Header.Get(events.HeaderContentType)}, "sync", nil)
	reply.Header.Set(events.HeaderInvocationID, id)
	reply.Header.Set(events.HeaderDurationMs, events.FormatInt(res.Duration.Milliseconds()))
	switch {
	case runErr != nil:
		iv.replyError(msg, reply, events.ErrorCodeUnavailable, runErr.Error())
	case res.Succeeded:
		reply.Header.Set(events.HeaderStatus, events.StatusSucceeded)
		if res.ContentType != "" {
			reply.Header.Set(events.HeaderContentType, res.ContentType)
		}
		if res.ExitCode != nil {
			reply.Header.Set(events.HeaderExitCode, events.FormatInt(int64(*res.ExitCode)))
		}
		reply.Data = res.Output
		_ = msg.RespondMsg(reply)
	default:
		code := events.ErrorCodeFunctionFailed
		if res.TimedOut {
			code = events.ErrorCodeTimeout
		}
		if res.ExitCode != nil {
			reply.Header.Set(events.HeaderExitCode, events.FormatInt(int64(*res.ExitCode)))
		}
		iv.replyError(msg, reply, code, res.Error)
	}
	r := newRecord(id, tenant, name, false, created)
	finish(&r, res, runErr)
	r.Revision = revision
	r.Attempts = 1
	if errors.Is(runErr, runtime.ErrNoReadyInstance) {
		// Held until its timeout, it never ran: no attempt (as an async
		// invocation's hold is none, handleAsync).
		r.Attempts = 0
	}
	// No read first: a sync invocation has no record yet (a Create, which
	// falls back to a read if there is one after all).
	if _, _, err := iv.write(ctx, r, held{}); err != nil {
		iv.d.Log.WarnContext(ctx, "sync invocation not recorded", "id", id, "err", err)
	}
}

func (iv *Invoker) replyError(msg *nats.Msg, reply *nats.Msg, code, text string) {
	reply.Header.Set(events.HeaderStatus, events.StatusFailed)
	reply.Header.Set(events.HeaderErrorCode, code)
	reply.Header.Set(events.HeaderError, headerSafe(text))
	_ = msg.RespondMsg(reply)
}

// handleAsync runs one queued invocation and decides what becomes of it:
// run with in-progress acks (the record written running once the run has
// lasted Config.RunningAfter), and return the outcome, which the settler
// (settle.go) records and acks. The record is read once and each write
// goes from the revision of the last, so a completion on the happy path
// is one read and one revision-checked write (two for a longer run).
func (iv *Invoker) handleAsync(ctx context.Context, msg jetstream.Msg) outcome {
	inv, err := events.ParseInvocation(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		return drop(fmt.Errorf("subject %s: %w", msg.Subject(), err))
	}
	id, tenant, name := inv.ID, inv.Tenant, inv.Function
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("eventflow.invocation_id", id))
	who := newRecord(id, tenant, name, true, time.Time{})
	md, err := msg.Metadata()
	if err != nil {
		return redeliverLater(who, fmt.Errorf("invocation without metadata: %w", err))
	}
	r, rev, err := iv.records.Read(ctx, tenant, name, id)
	if err != nil {
		return redeliverLater(who, fmt.Errorf("read record: %w", err))
	}
	// Attempts are the runs the invocation had, counted on across
	// redeliveries and a redrive from the dead letters (PriorAttempts):
	// the record's count (written with every retry, every end and the
	// running mark of a run that lasts) plus this one. Not the message's
	// deliveries (md.NumDelivered), of which there may be any number
	// that never ran: a delivery sent back to the queue while the
	// function was cold (outcomeCold) is no attempt, and neither is one
	// the invoker could not handle (redeliverLater). The price of the
	// choice: a run cut short by the invoker's own end before its record
	// was written (one shorter than RunningAfter) is not counted, and
	// may be followed by one attempt more than the policy's maxAttempts.
	// The deliveries still bound the count.
	recorded := inv.PriorAttempts
	if rev != 0 {
		recorded = max(recorded, r.Attempts)
	}
	attempt := min(recorded+1, inv.PriorAttempts+int(md.NumDelivered))
	// cycle counts the attempts since the invocation was queued (or
	// redriven): the retry policy's.
	cycle := attempt - inv.PriorAttempts
	from := held{rec: r, rev: rev}
	if rev != 0 && r.Done() {
		// Redelivered after the result was recorded but before the ack
		// landed: do not run it twice (but do not lose its callback).
		return alreadySettled(r, nil)
	}
	if rev == 0 {
		created := inv.AcceptedAt
		if created.IsZero() {
			created = md.Timestamp
		}
		r = newRecord(id, tenant, name, true, created.UTC())
	}
	if inv.Trigger != nil && r.Trigger == nil {
		r.Trigger = inv.Trigger
	}
	if inv.CallbackURL != "" && r.Callback == nil {
		r.Callback = &events.CallbackStatus{URL: inv.CallbackURL, Status: events.CallbackPending}
	}
	fnRec, err := iv.fns.Lookup(ctx, tenant, name)
	if err == nil && fnRec.Deleting {
		err = catalog.ErrNotFound
	}
	if err != nil {
		if !errors.Is(err, catalog.ErrNotFound) {
			return redeliverLater(who, fmt.Errorf("function %q: %w", name, err))
		}
		r.Attempts = attempt
		finish(&r, runtime.InvokeResult{Error: fmt.Sprintf("function %q no longer exists", name)}, nil)
		return done(r, from)
	}
	r.Status, r.Attempts = events.StatusRunning, attempt
	readFrom := from

	// Each call of the runtime (one, or more when the function is cold
	// and the run held: cold.go) starts the run: the first sends the
	// started event; each arms the running mark, which a call that
	// finds no ready instance disarms, so a held invocation's record
	// stays queued (or retrying) while it waits. The record says running
	// only once the run has lasted RunningAfter: most runs end before,
	// and their record goes from queued (or retrying) to its end in one
	// write.
	var mark *runningMark
	started := false
	hooks := &runHooks{
		attempt: func() {
			now := time.Now().UTC()
			r.StartedAt = &now
			if !started {
				started = true
				iv.emit(ctx, events.TypeInvocationStarted, r)
			}
			mark = iv.markRunning(ctx, r, from)
		},
		cold: func() {
			from = mark.stop()
			mark = nil
		},
		stop: iv.stopping.Done(),
	}
	stop := iv.heartbeat(msg)
	res, revision, runErr := iv.run(ctx, tenant, fnRec, runtime.InvokeRequest{ID: id, Payload: inv.Payload, ContentType: inv.ContentType, Request: inv.Request}, "async", hooks)
	stop()
	if mark != nil {
		from = mark.stop()
	}
	var cold *errCold
	if errors.As(runErr, &cold) {
		// No ready instance within the hold: the invocation waits in its
		// queue while the function is cold, without this delivery
		// counted as an attempt (nor dead-lettered for it). A running
		// mark written meanwhile is taken back.
		r.Attempts = attempt - 1
		return coldLater(r, from, from.rev != readFrom.rev, cold)
	}
	finish(&r, res, runErr)
	r.Revision = revision
	if r.Status == events.StatusSucceeded {
		return done(r, from)
	}
	// A failed attempt: again after a backoff while the policy allows
	// (the runtime failing to run it at all is always worth another try),
	// else to the dead letters.
	policy := fnRec.Spec.Retry()
	if (runErr != nil || policy.Retries(failureKind(res))) && cycle < policy.MaxAttempts {
		return retryAfter(r, from, policy.Delay(cycle, rand.Float64()))
	}
	return deadLettered(inv, r, from)
}

// failureKind names a failed run the way retry policies do.
func failureKind(res runtime.InvokeResult) string {
	switch {
	case res.TimedOut:
		return function.RetryOnTimeout
	case res.HTTPStatus == 429:
		return function.RetryOnHTTP429
	case res.HTTPStatus >= 500:
		return function.RetryOnHTTP5xx
	case res.HTTPStatus != 0:
		return "http4xx" // the request itself is wrong: trying again will not help
	default:
		return function.RetryOnExit
	}
}

// write records this invoker's state of an invocation over the stored
// record, revision-checked from the record held (held{}: none read, so a
// Create), re-read only on a conflict: a record another writer finished
// (or one being redriven) is not overwritten (events.ErrInvalidTransition,
// with the record as stored), and the stored callback part and creation
// time are kept. It returns what it wrote, held for the next write.
func (iv *Invoker) write(ctx context.Context, r events.StoredInvocation, from held) (events.StoredInvocation, held, error) {
	w, rev, err := iv.records.UpdateFrom(ctx, r.Tenant, r.Function, r.ID, from.rec, from.rev, func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error) {
		if !exists {
			return r, nil
		}
		if cur.Done() {
			return cur, fmt.Errorf("%w: the record is %s", events.ErrInvalidTransition, cur.Status)
		}
		next := r
		next.CreatedAt = cur.CreatedAt
		if cur.Callback != nil {
			next.Callback = cur.Callback
		}
		return next, nil
	})
	return w, held{rec: w, rev: rev}, err
}

// emit publishes a lifecycle event without waiting for it to be stored:
// events inform subscribers; the record is the source of truth.
func (iv *Invoker) emit(ctx context.Context, typ string, r events.StoredInvocation) {
	ev, err := events.InvocationEvent(typ, Source, r.View())
	if err != nil {
		return
	}
	msg, err := ev.Msg()
	if err != nil {
		return
	}
	telemetry.Inject(ctx, msg)
	iv.events.Publish(msg)
}

// heartbeat tells JetStream the invocation is still running, so it is not
// redelivered while a long run goes on. A timer, not a goroutine: most
// runs end before its first beat.
func (iv *Invoker) heartbeat(msg jetstream.Msg) (stop func()) {
	every := iv.cfg.AckWait / 3
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	t = time.AfterFunc(every, func() {
		_ = msg.InProgress()
		mu.Lock()
		if !stopped {
			t.Reset(every)
		}
		mu.Unlock()
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// runningMark writes an async invocation's running record once its run
// has lasted Config.RunningAfter.
type runningMark struct {
	timer *time.Timer
	// done is closed when the timer's write has returned; from is what
	// the next write goes from, set by that write (read after done).
	done chan struct{}
	from held
}

// markRunning arms the running write of r over from. It goes from the
// revision read, revision-checked as every write: a record another
// delivery finished meanwhile is not overwritten (the end's write then
// finds it so too, and acks without recording again).
func (iv *Invoker) markRunning(ctx context.Context, r events.StoredInvocation, from held) *runningMark {
	m := &runningMark{done: make(chan struct{}), from: from}
	m.timer = time.AfterFunc(iv.cfg.RunningAfter, func() {
		defer close(m.done)
		_, h, err := iv.write(ctx, r, from)
		switch {
		case err == nil, errors.Is(err, events.ErrInvalidTransition):
			m.from = h // the record as now stored
		default:
			// The end's write goes from the revision read; on a conflict
			// it reads again.
			iv.d.Log.WarnContext(ctx, "record running", "id", r.ID, "tenant", r.Tenant, "function", r.Function, "err", err)
		}
	})
	return m
}

// stop disarms the running write, or waits for it if it started, and
// returns what the end's write goes from.
func (m *runningMark) stop() held {
	if !m.timer.Stop() {
		<-m.done
	}
	return m.from
}

// run is the invoker's one way to run an invocation, sync or async: an
// http-mode run is counted in its function's load while it runs on an
// instance, and held while the function has no ready instance (cold.go).
// h is an async run's (nil for a sync one). It returns the revision that
// served: the function's traffic split picks one per run (route.go).
func (iv *Invoker) run(ctx context.Context, tenant string, rec function.Record, req runtime.InvokeRequest, mode string, h *runHooks) (runtime.InvokeResult, int64, error) {
	iv.m.running.Inc()
	defer iv.m.running.Dec()
	spec := rec.Spec
	req.Timeout = spec.Timeout()
	res, revision, err := iv.route(ctx, tenant, rec, req, mode, h)
	var cold *errCold
	if errors.As(err, &cold) {
		// Back to its queue: nothing ran, nothing to count.
		return res, revision, err
	}
	outcome := "succeeded"
	switch {
	case err != nil:
		outcome = "error"
	case !res.Succeeded:
		outcome = "failed"
	}
	iv.m.invocations.WithLabelValues(mode, outcome).Inc()
	iv.m.duration.WithLabelValues(mode).Observe(res.Duration.Seconds())
	ft, ff := iv.m.fnLabels.labels(tenant, spec.Name)
	iv.m.fnInvocations.WithLabelValues(ft, ff, mode, outcome).Inc()
	iv.m.fnDuration.WithLabelValues(ft, ff, mode).Observe(res.Duration.Seconds())
	if rec.Rollout.Progressing() && !errors.Is(err, context.Canceled) {
		// The deployer judges the rollout by these (loadreport.Served); a
		// caller that gave up says nothing of the function.
		iv.load.Served(tenant, spec.Name, revision, servedFailed(res, err))
	}
	return res, revision, err
}

// servedFailed says whether a run counts against a rollout: it could not
// run, or it crashed, timed out or answered 5xx (a 4xx is the caller's).
func servedFailed(res runtime.InvokeResult, err error) bool {
	return err != nil || !res.Succeeded && (res.HTTPStatus == 0 || res.HTTPStatus >= 500)
}

func newRecord(id, tenant, name string, async bool, created time.Time) events.StoredInvocation {
	return events.StoredInvocation{ID: id, Tenant: tenant, Function: name, Async: async, Status: events.StatusQueued, CreatedAt: created}
}

func finish(r *events.StoredInvocation, res runtime.InvokeResult, runErr error) {
	now := time.Now().UTC()
	r.FinishedAt = &now
	if r.StartedAt == nil {
		r.StartedAt = &now
	}
	ms := res.Duration.Milliseconds()
	r.DurationMs = &ms
	r.Output = string(res.Output)
	r.ExitCode = res.ExitCode
	switch {
	case runErr != nil:
		r.Status, r.Error = events.StatusFailed, runErr.Error()
	case res.Succeeded:
		r.Status, r.Error = events.StatusSucceeded, ""
	default:
		r.Status, r.Error = events.StatusFailed, res.Error
	}
}

// headerSafe keeps a message usable as a NATS header value (one line,
// bounded).
func headerSafe(s string) string { return events.HeaderSafe(s) }
