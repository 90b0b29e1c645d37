package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

func scale(min, max, target int32, metric string, idle time.Duration) function.Scale {
	return function.Scale{Min: min, Max: max, Target: target, Metric: metric, IdleAfter: function.Duration(idle)}
}

// TestWindowScalesUpAtOnceAndDownAfterIdle walks one function through a
// day: woken from zero by a held request, up with load (capped at max),
// held through a dip shorter than IdleAfter, down to what the window's
// peak needs, and to zero only after IdleAfter with no work.
func TestWindowScalesUpAtOnceAndDownAfterIdle(t *testing.T) {
	sc := scale(0, 4, 10, function.MetricConcurrency, 30*time.Second)
	t0 := time.Unix(1000, 0)
	w := window{current: 0}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	steps := []struct {
		sec    int
		sig    Signal
		want   int32
		reason string // prefix, "" for no change
	}{
		{0, Signal{}, 0, ""},
		{1, Signal{Held: 1}, 1, "from zero"},
		{2, Signal{InFlight: 25}, 3, "up"},
		{3, Signal{InFlight: 500}, 4, "up"}, // capped at max
		{4, Signal{InFlight: 5}, 4, ""},     // a dip: the window still holds 4
		{20, Signal{InFlight: 0}, 4, ""},
		{34, Signal{InFlight: 12}, 2, "down"}, // the 4 left the window: the peak now needs 2
		{40, Signal{}, 2, ""},
		{64, Signal{}, 2, ""}, // 12 in flight at 34 is within 30s
		{65, Signal{}, 0, "to zero"},
		{66, Signal{}, 0, ""},
	}
	for _, s := range steps {
		got, reason := w.next(sc, s.sig, at(s.sec))
		if got != s.want || (s.reason == "" && reason != "") || (s.reason != "" && !strings.HasPrefix(reason, s.reason)) {
			t.Fatalf("at %ds with %+v: got %d %q, want %d %q", s.sec, s.sig, got, reason, s.want, s.reason)
		}
	}
}

// TestWindowQueueMetric: queue depth drives the count; an unreadable queue
// holds the count instead of scaling to zero or to max on a missing
// signal.
func TestWindowQueueMetric(t *testing.T) {
	sc := scale(0, 4, 10, function.MetricQueue, 15*time.Second)
	t0 := time.Unix(1000, 0)
	w := window{current: 0}
	if got, _ := w.next(sc, Signal{Queue: 2000, QueueKnown: true}, t0); got != 4 {
		t.Fatalf("2000 queued: %d, want max 4", got)
	}
	if got, _ := w.next(sc, Signal{}, t0.Add(10*time.Second)); got != 4 {
		t.Fatalf("queue unreadable: %d, want the count held at 4", got)
	}
	if got, _ := w.next(sc, Signal{Queue: 15, QueueKnown: true}, t0.Add(20*time.Second)); got != 4 {
		t.Fatalf("15 queued within the window of the held 4: %d", got)
	}
	if got, _ := w.next(sc, Signal{Queue: 15, QueueKnown: true}, t0.Add(26*time.Second)); got != 2 {
		t.Fatalf("15 queued after the window: %d, want 2", got)
	}
	if got, _ := w.next(sc, Signal{Queue: 0, QueueKnown: true}, t0.Add(42*time.Second)); got != 0 {
		t.Fatalf("empty queue after the window: %d, want 0", got)
	}
}

// TestWindowObeysNewBounds: a spec whose bounds exclude the current count
// moves it at once, down as well as up.
func TestWindowObeysNewBounds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := window{current: 4}
	w.next(scale(0, 4, 10, function.MetricConcurrency, time.Minute), Signal{InFlight: 40}, t0)
	if got, r := w.next(scale(0, 2, 10, function.MetricConcurrency, time.Minute), Signal{InFlight: 40}, t0.Add(time.Second)); got != 2 || !strings.HasPrefix(r, "bounds") {
		t.Fatalf("max lowered to 2: %d %q", got, r)
	}
	if got, r := w.next(scale(3, 5, 10, function.MetricConcurrency, time.Minute), Signal{}, t0.Add(2*time.Second)); got != 3 || !strings.HasPrefix(r, "bounds") {
		t.Fatalf("min raised to 3: %d %q", got, r)
	}
}

// TestWindowIsBounded: a long IdleAfter with a tick per millisecond keeps
// at most maxSamples.
func TestWindowIsBounded(t *testing.T) {
	sc := scale(0, 4, 10, function.MetricConcurrency, time.Hour)
	w := window{}
	t0 := time.Unix(1000, 0)
	for i := range 3 * maxSamples {
		w.next(sc, Signal{InFlight: 1}, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if len(w.samples) > maxSamples {
		t.Fatalf("%d samples kept", len(w.samples))
	}
}
