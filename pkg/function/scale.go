package function

import (
	"fmt"
	"time"
)

// Scaling metrics of Scale.Metric.
const (
	// MetricConcurrency scales on requests in flight per instance (sync
	// invocations, HTTP-route requests and running async invocations).
	MetricConcurrency = "concurrency"
	// MetricQueue scales on the function's queued async invocations per
	// instance (its queue consumer's pending plus unacknowledged messages).
	MetricQueue = "queue"
	// MetricCPU leaves the count to Kubernetes' HorizontalPodAutoscaler on
	// CPU use (target in percent of the CPU request); the process runtime
	// runs min instances.
	MetricCPU = "cpu"
)

// Scale defaults and bounds.
const (
	DefaultScaleTarget = 10
	DefaultCPUTarget   = 80
	MaxScaleTarget     = 10000
	DefaultIdleAfter   = 30 * time.Second
	MinIdleAfter       = time.Second
	MaxIdleAfter       = time.Hour
)

// Scale is how many instances an http-mode function runs: between Min and
// Max, aiming at Target units of Metric per instance. Min 0 scales the
// function to zero after IdleAfter without work; the first request wakes
// it again. Min == Max is a fixed count.
type Scale struct {
	Min    int32  `json:"min"`
	Max    int32  `json:"max"`
	Target int32  `json:"target,omitempty"`
	Metric string `json:"metric,omitempty"`
	// IdleAfter is how long the load must stay below what the current
	// count serves before instances are removed (the stable window).
	IdleAfter Duration `json:"idleAfter,omitempty"`
}

// ScaleDecision is the last change of a function's desired instances, as
// the deployer's scaler made it.
type ScaleDecision struct {
	From   int32     `json:"from"`
	To     int32     `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ScaleSpec returns the function's scale with the defaults applied and the
// older fields mapped: replicas N is {min: N, max: N}; autoscaling is
// metric cpu with its bounds and target. Job mode has none (nil).
func (s Spec) ScaleSpec() *Scale {
	if s.Mode() != ModeHTTP {
		return nil
	}
	var sc Scale
	switch {
	case s.Scale != nil:
		sc = *s.Scale
	case s.Autoscaling != nil:
		a := s.Autoscaling
		sc = Scale{Min: a.MinReplicas, Max: a.MaxReplicas, Target: a.TargetCPUUtilization, Metric: MetricCPU}
	default:
		r := int32(DefaultReplicas)
		if s.Replicas != nil {
			r = *s.Replicas
		}
		sc = Scale{Min: r, Max: r}
	}
	if sc.Metric == "" {
		sc.Metric = MetricConcurrency
	}
	if sc.Target == 0 {
		sc.Target = DefaultScaleTarget
		if sc.Metric == MetricCPU {
			sc.Target = DefaultCPUTarget
		}
	}
	if sc.IdleAfter == 0 {
		sc.IdleAfter = Duration(DefaultIdleAfter)
	}
	return &sc
}

// Counted says whether EventFlow sets the function's count (http mode,
// any metric but cpu, whose count Kubernetes' HPA sets).
func (sc *Scale) Counted() bool { return sc != nil && sc.Metric != MetricCPU }

// Autoscaled says whether EventFlow's scaler sets the function's count
// (http mode, concurrency or queue metric, min below max).
func (sc *Scale) Autoscaled() bool { return sc.Counted() && sc.Min < sc.Max }

// Initial is the count a function starts with before the scaler has seen
// any load: min, but at least one instance when max allows, so a new
// function shows it can start (then idles down to min), as Knative's
// initial scale of 1.
func (sc *Scale) Initial() int32 {
	if sc == nil {
		return 0
	}
	if sc.Min == 0 && sc.Max > 0 {
		return 1
	}
	return sc.Min
}

// Paused says whether the function may run no instance at all (http mode
// with a max of 0, or the older replicas 0): nothing will ever serve it,
// so no request should wait for one. It reads the spec without building
// its scale (the invocation path asks on every call).
func (s Spec) Paused() bool {
	switch {
	case s.Mode() != ModeHTTP:
		return false
	case s.Scale != nil:
		return s.Scale.Max == 0
	case s.Autoscaling != nil:
		return s.Autoscaling.MaxReplicas == 0
	default:
		return s.Replicas != nil && *s.Replicas == 0
	}
}

// Clamp bounds n to [min, max].
func (sc *Scale) Clamp(n int32) int32 { return max(sc.Min, min(sc.Max, n)) }

func (s Spec) validateScale() error {
	sc := s.Scale
	if sc == nil {
		return nil
	}
	switch {
	case s.Mode() != ModeHTTP:
		return &FieldError{"scale", "applies to http mode only (job mode runs a process or pod per invocation)"}
	case s.Replicas != nil || s.Autoscaling != nil:
		return &FieldError{"scale", "give scale or the older replicas/autoscaling, not both"}
	case sc.Min < 0 || sc.Min > MaxReplicas:
		return &FieldError{"scale.min", fmt.Sprintf("must be between 0 and %d", MaxReplicas)}
	case sc.Max < sc.Min || sc.Max > MaxReplicas:
		return &FieldError{"scale.max", fmt.Sprintf("must be between min (%d) and %d", sc.Min, MaxReplicas)}
	case sc.Target < 0 || sc.Target > MaxScaleTarget:
		return &FieldError{"scale.target", fmt.Sprintf("must be between 1 and %d (0: the default)", MaxScaleTarget)}
	}
	switch sc.Metric {
	case "", MetricConcurrency, MetricQueue:
	case MetricCPU:
		if sc.Min < 1 {
			return &FieldError{"scale.min", "must be at least 1 with metric cpu (Kubernetes' HorizontalPodAutoscaler does not scale to zero)"}
		}
		if sc.Target > 100 {
			return &FieldError{"scale.target", "is a percentage of the CPU request with metric cpu: 1 to 100"}
		}
	default:
		return &FieldError{"scale.metric", fmt.Sprintf("%q is not a metric: use %q, %q or %q", sc.Metric, MetricConcurrency, MetricQueue, MetricCPU)}
	}
	if d := time.Duration(sc.IdleAfter); d != 0 && (d < MinIdleAfter || d > MaxIdleAfter) {
		return &FieldError{"scale.idleAfter", fmt.Sprintf("must be between %s and %s", MinIdleAfter, MaxIdleAfter)}
	}
	return nil
}
