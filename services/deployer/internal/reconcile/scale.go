package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Scaler is the deployer's scaler (package scaler), as the reconciler
// uses it.
type Scaler interface {
	// Track registers an autoscaled function and returns the count it
	// should run; observed, asked only for a function it does not know
	// yet, is what the runtime runs now.
	Track(ref runtime.Ref, sc function.Scale, observed func() int32) int32
	Forget(ref runtime.Ref)
	Decision(ref runtime.Ref) *function.ScaleDecision
}

// scale sets the runtime's count of an http-mode function: its fixed count,
// or the scaler's for an autoscaled one. Metric cpu is left to the HPA.
func (r *Reconciler) scale(ctx context.Context, ref runtime.Ref, spec function.Spec) error {
	sc := spec.ScaleSpec()
	if r.Scaler != nil && !sc.Autoscaled() {
		r.Scaler.Forget(ref)
	}
	if !sc.Counted() {
		return nil
	}
	want := sc.Min
	if sc.Autoscaled() {
		want = sc.Initial()
		if r.Scaler != nil {
			want = r.Scaler.Track(ref, *sc, func() int32 {
				if obs, found, err := r.Runtime.Observe(ctx, ref.Tenant, ref.Name); err == nil && found {
					return obs.Replicas
				}
				return sc.Initial()
			})
		}
	}
	if err := r.Runtime.Scale(ctx, ref.Tenant, ref.Name, want); err != nil {
		return fmt.Errorf("scale %s/%s to %d: %w", ref.Tenant, ref.Name, want, err)
	}
	return nil
}

func sameDecision(a, b *function.ScaleDecision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.From == b.From && a.To == b.To && a.Reason == b.Reason && a.At.Equal(b.At)
}

func (r *Reconciler) publishScaled(ctx context.Context, ref runtime.Ref, d function.ScaleDecision) error {
	return r.publishEvent(ctx, ref, events.TypeFunctionScaled, events.ScaledEventData{
		Tenant: ref.Tenant, Name: ref.Name, From: d.From, To: d.To, Reason: d.Reason,
	})
}

// Metrics are the deployer's per-function scaling metrics: one series per
// function and state, removed with the function (so their number is twice
// the number of functions).
type Metrics struct {
	Replicas  *prometheus.GaugeVec // tenant, function, state (desired, ready)
	ColdStart prometheus.Histogram // scaled from zero → first instance ready
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventflow_function_replicas", Help: "Instances of each http-mode function, by state: desired (the scaler's or fixed count) and ready.",
		}, []string{"tenant", "function", "state"}),
		ColdStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventflow_function_cold_start_seconds", Help: "Time from the decision to scale a function up from zero until its first instance is ready.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
	}
	reg.MustRegister(m.Replicas, m.ColdStart)
	return m
}

// observe updates the gauges for st and times a cold start that ended.
func (m *Metrics) observe(ref runtime.Ref, prev *function.Status, st function.Status) {
	if m == nil {
		return
	}
	m.set(ref, st)
	if d := st.LastScale; d != nil && d.From == 0 && st.ReadyReplicas > 0 && prev != nil && prev.ReadyReplicas == 0 && !d.At.IsZero() {
		m.ColdStart.Observe(time.Since(d.At).Seconds())
	}
}

func (m *Metrics) set(ref runtime.Ref, st function.Status) {
	m.Replicas.WithLabelValues(ref.Tenant, ref.Name, "desired").Set(float64(st.Replicas))
	m.Replicas.WithLabelValues(ref.Tenant, ref.Name, "ready").Set(float64(st.ReadyReplicas))
}

func (m *Metrics) forget(ref runtime.Ref) {
	if m == nil {
		return
	}
	m.Replicas.DeleteLabelValues(ref.Tenant, ref.Name, "desired")
	m.Replicas.DeleteLabelValues(ref.Tenant, ref.Name, "ready")
}
