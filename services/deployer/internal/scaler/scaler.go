package scaler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Defaults of Config.
const (
	DefaultInterval  = time.Second
	DefaultReportTTL = 3 * time.Second
	// maxSources bounds the reporting processes remembered per function.
	maxSources = 256
	// queueReadTimeout bounds one read of a function's queue consumer.
	queueReadTimeout = 2 * time.Second
)

// Config tunes the scaler.
type Config struct {
	// Interval is how often every autoscaled function is evaluated (wakes
	// are evaluated as they arrive).
	Interval time.Duration
	// ReportTTL is how long a process's last load report counts: a process
	// that stopped reporting (gone, or its work ended with the report
	// lost) no longer adds load after it.
	ReportTTL time.Duration
}

// Deps are what the scaler uses.
type Deps struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	Log *slog.Logger
	// OnChange is called (without locks held) when a function's desired
	// count changed; the deployer queues the function, and its reconcile
	// applies Desired and records Decision.
	OnChange   func(runtime.Ref)
	Registerer prometheus.Registerer
}

type report struct {
	l  events.Load
	at time.Time
}

type fnState struct {
	sc      function.Scale
	win     window
	last    *function.ScaleDecision
	sources map[string]report
}

// Scaler keeps the decision state of every autoscaled function.
type Scaler struct {
	cfg Config
	d   Deps
	now func() time.Time

	mu  sync.Mutex
	fns map[runtime.Ref]*fnState

	decisions *prometheus.CounterVec
	dropped   prometheus.Counter
}

// New makes a scaler; Run starts it listening.
func New(cfg Config, d Deps) *Scaler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ReportTTL <= 0 {
		cfg.ReportTTL = DefaultReportTTL
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.OnChange == nil {
		d.OnChange = func(runtime.Ref) {}
	}
	s := &Scaler{cfg: cfg, d: d, now: time.Now, fns: map[runtime.Ref]*fnState{},
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_scaler_decisions_total", Help: "Changes of functions' desired instances, by direction (up, down, from_zero, to_zero, bounds).",
		}, []string{"direction"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventflow_scaler_reports_dropped_total", Help: "Load reports ignored: malformed, or past the per-function bound of reporting processes.",
		}),
	}
	for _, dir := range []string{"up", "down", "from_zero", "to_zero", "bounds"} {
		s.decisions.WithLabelValues(dir) // exported at 0 before the first decision
	}
	if d.Registerer != nil {
		d.Registerer.MustRegister(s.decisions, s.dropped)
	}
	return s
}

// Track registers (or updates) an autoscaled function and returns the
// count it should run. A function seen for the first time starts from
// observed(), the count the runtime has now (so a restarted deployer does
// not wake functions scaled to zero), within the bounds.
func (s *Scaler) Track(ref runtime.Ref, sc function.Scale, observed func() int32) int32 {
	s.mu.Lock()
	_, known := s.fns[ref]
	s.mu.Unlock()
	var found int32
	if !known { // asked outside the lock: it reads the runtime
		found = observed()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.fns[ref]
	if st == nil {
		st = &fnState{sources: map[string]report{}}
		st.win.current = sc.Clamp(found)
		// The count found is where the window starts: it stands for a full
		// IdleAfter, as if just recommended, so a restarted deployer (whose
		// first reports are a second away) or a function that just became
		// autoscaled is not scaled down on its first tick.
		st.win.samples = []sample{{s.now(), st.win.current}}
		s.fns[ref] = st
	}
	st.sc = sc
	if c := sc.Clamp(st.win.current); c != st.win.current {
		st.last = &function.ScaleDecision{From: st.win.current, To: c, Reason: "bounds: min and max changed", At: s.now().UTC()}
		st.win.current = c
		s.decisions.WithLabelValues("bounds").Inc()
	}
	return st.win.current
}

// Forget drops a function that is gone or no longer autoscaled.
func (s *Scaler) Forget(ref runtime.Ref) {
	s.mu.Lock()
	delete(s.fns, ref)
	s.mu.Unlock()
}

// Decision is the last change the scaler made for the function, or nil.
func (s *Scaler) Decision(ref runtime.Ref) *function.ScaleDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.fns[ref]; st != nil && st.last != nil {
		d := *st.last
		return &d
	}
	return nil
}

// Run listens to load reports and evaluates every function each Interval
// until ctx ends.
func (s *Scaler) Run(ctx context.Context) error {
	sub, err := s.d.NC.Subscribe(events.SubjectScale+".>", s.onReport)
	if err != nil {
		return err
	}
	// A burst of wakes must not be dropped as a slow consumer: reports are
	// small and handled quickly.
	_ = sub.SetPendingLimits(64*1024, 16<<20)
	defer func() { _ = sub.Unsubscribe() }()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.evaluateAll(ctx)
		}
	}
}

// onReport records one process's load; a report with held requests is a
// wake, evaluated at once (scaling up only: the tick scales down).
func (s *Scaler) onReport(msg *nats.Msg) {
	tenant, name, err := events.TenantFunction(msg.Subject)
	var l events.Load
	if err == nil {
		l, err = events.ParseLoad(msg.Data)
	}
	if err != nil {
		s.dropped.Inc()
		return
	}
	ref := runtime.Ref{Tenant: tenant, Name: name}
	now := s.now()
	s.mu.Lock()
	st := s.fns[ref]
	if st == nil { // not autoscaled here (fixed, cpu, job mode, or unknown)
		s.mu.Unlock()
		return
	}
	if _, known := st.sources[l.Source]; !known && len(st.sources) >= maxSources {
		s.mu.Unlock()
		s.dropped.Inc()
		return
	}
	st.sources[l.Source] = report{l, now}
	changed := false
	if l.Held > 0 {
		sig := s.signal(st, now)
		if want, _ := recommend(st.sc, sig); want > st.win.current {
			changed = s.decide(st, sig, now)
		}
	}
	s.mu.Unlock()
	if changed {
		s.d.OnChange(ref)
	}
}

// signal sums the fresh reports of st (dropping stale ones). s.mu held.
func (s *Scaler) signal(st *fnState, now time.Time) Signal {
	var sig Signal
	for src, r := range st.sources {
		if now.Sub(r.at) > s.cfg.ReportTTL {
			delete(st.sources, src)
			continue
		}
		sig.InFlight += r.l.InFlight
		sig.Held += r.l.Held
	}
	return sig
}

// decide advances st's window with sig and records a change. s.mu held.
func (s *Scaler) decide(st *fnState, sig Signal, now time.Time) bool {
	from := st.win.current
	to, reason := st.win.next(st.sc, sig, now)
	if to == from {
		return false
	}
	st.last = &function.ScaleDecision{From: from, To: to, Reason: reason, At: now.UTC()}
	dir := "up"
	switch {
	case from == 0:
		dir = "from_zero"
	case to == 0:
		dir = "to_zero"
	case to < from:
		dir = "down"
	}
	s.decisions.WithLabelValues(dir).Inc()
	return true
}

// evaluateAll runs one tick: each function's queue is read (metric queue)
// without the lock, then every window advances.
func (s *Scaler) evaluateAll(ctx context.Context) {
	s.mu.Lock()
	var queued []runtime.Ref
	for ref, st := range s.fns {
		if st.sc.Metric == function.MetricQueue {
			queued = append(queued, ref)
		}
	}
	s.mu.Unlock()
	depth := make(map[runtime.Ref]int64, len(queued))
	for _, ref := range queued {
		if n, err := s.queueDepth(ctx, ref); err == nil {
			depth[ref] = n
		} else if ctx.Err() == nil {
			s.d.Log.Debug("queue depth not read; the count holds", "tenant", ref.Tenant, "function", ref.Name, "err", err)
		}
	}
	now := s.now()
	var changed []runtime.Ref
	s.mu.Lock()
	for ref, st := range s.fns {
		sig := s.signal(st, now)
		sig.Queue, sig.QueueKnown = depth[ref]
		if s.decide(st, sig, now) {
			changed = append(changed, ref)
		}
	}
	s.mu.Unlock()
	for _, ref := range changed {
		s.d.OnChange(ref)
	}
}

// errNoQueue: the function's queue consumer does not exist (yet).
var errNoQueue = errors.New("no queue consumer")

// queueDepth reads the function's queue consumer from the stream's leader:
// messages not yet delivered plus delivered and not yet acknowledged.
func (s *Scaler) queueDepth(ctx context.Context, ref runtime.Ref) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, queueReadTimeout)
	defer cancel()
	c, err := s.d.JS.Consumer(ctx, events.StreamInvocations, events.QueueConsumer(ref.Tenant, ref.Name))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, errNoQueue
	}
	if err != nil {
		return 0, err
	}
	info := c.CachedInfo()
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}
