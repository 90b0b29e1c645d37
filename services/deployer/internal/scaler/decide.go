// Package scaler decides how many instances each autoscaled http-mode
// function runs, from the platform's own signals: requests in flight and
// held (load reports of the gateway and the invokers) and the depth of the
// function's queue (its consumer on the invocations stream). The decision
// is pure (decide.go); the Scaler (scaler.go) gathers the signals and
// hands decisions to the deployer, which alone applies them and writes
// the status.
package scaler

import (
	"fmt"
	"math"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

// Signal is a function's load at one moment.
type Signal struct {
	// InFlight is requests running on its instances, Held those waiting
	// for a ready instance, summed over every reporting process.
	InFlight, Held int
	// Queue is its queued async invocations: the consumer's pending plus
	// unacknowledged messages. QueueKnown is false when the consumer could
	// not be read: the queue then neither scales up nor down.
	Queue      int64
	QueueKnown bool
}

// sample is one raw recommendation, kept for the stable window.
type sample struct {
	at   time.Time
	want int32
}

// window is one function's decision state: the count in force and the
// recommendations of the last IdleAfter.
type window struct {
	current int32
	samples []sample
}

// maxSamples bounds a window (one sample per tick; a tick is a second by
// default and IdleAfter at most an hour).
const maxSamples = 4096

// load is what the metric measures, in requests.
func load(sc function.Scale, s Signal) (float64, string) {
	if sc.Metric == function.MetricQueue {
		q := float64(0)
		if s.QueueKnown {
			q = float64(s.Queue)
		}
		return q + float64(s.Held), fmt.Sprintf("queue depth %d", s.Queue)
	}
	return float64(s.InFlight + s.Held), fmt.Sprintf("%d requests in flight", s.InFlight+s.Held)
}

// recommend is the count the signal asks for now: enough instances for
// Target units each, at least one while any request waits or runs,
// within [Min, Max].
func recommend(sc function.Scale, s Signal) (int32, string) {
	l, what := load(sc, s)
	want := int32(math.Min(math.Ceil(l/float64(max(sc.Target, 1))), float64(function.MaxReplicas)))
	return sc.Clamp(want), what
}

// next advances the window by one signal at now and returns the count to
// run and, when it changed, why. Scaling up is immediate (a request held
// while cold wakes the function at once); scaling down goes only as low
// as the highest recommendation of the last IdleAfter (the stable window,
// as Knative's and the HPA's), so a function idles to Min only after
// IdleAfter without work and a dip in load does not make it flap.
func (w *window) next(sc function.Scale, s Signal, now time.Time) (to int32, reason string) {
	want, what := recommend(sc, s)
	if !s.QueueKnown && sc.Metric == function.MetricQueue && s.Held == 0 {
		// No reading of the queue: hold the current count rather than
		// act on a missing signal (scaling to max or to zero on it).
		want = w.current
	}
	w.samples = append(w.samples, sample{now, want})
	cut := 0
	for cut < len(w.samples)-1 && now.Sub(w.samples[cut].at) > time.Duration(sc.IdleAfter) {
		cut++
	}
	if len(w.samples)-cut > maxSamples {
		cut = len(w.samples) - maxSamples
	}
	w.samples = append(w.samples[:0], w.samples[cut:]...)
	from := w.current
	if c := sc.Clamp(from); c != from {
		// Bounds changed under the current count (a new spec): obey them.
		w.current = c
		return c, fmt.Sprintf("bounds: min %d, max %d", sc.Min, sc.Max)
	}
	switch {
	case want > from:
		w.current = want
		if from == 0 {
			return want, fmt.Sprintf("from zero: %s (target %d per instance)", what, sc.Target)
		}
		return want, fmt.Sprintf("up: %s (target %d per instance)", what, sc.Target)
	case want < from:
		peak := want
		for _, p := range w.samples {
			peak = max(peak, p.want)
		}
		peak = sc.Clamp(peak)
		if peak >= from {
			return from, ""
		}
		w.current = peak
		if peak == 0 {
			return 0, fmt.Sprintf("to zero: no work for %s", time.Duration(sc.IdleAfter))
		}
		return peak, fmt.Sprintf("down: %s, the most in the last %s needs %d (target %d per instance)", what, time.Duration(sc.IdleAfter), peak, sc.Target)
	}
	return from, ""
}
