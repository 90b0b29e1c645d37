package benchkit

import (
	"testing"
	"time"
)

func msList(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", msList(7), 50, 7 * time.Millisecond},
		{"one p99", msList(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", msList(hundred...), 50, 50 * time.Millisecond},
		{"p90 of 1..100", msList(hundred...), 90, 90 * time.Millisecond},
		{"p99 of 1..100", msList(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", msList(hundred...), 100, 100 * time.Millisecond},
		{"p50 of four", msList(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four", msList(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"tiny p", msList(1, 2, 3, 4), 0.001, 1 * time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v, %v) = %v, want %v", tc.name, tc.in, tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	in := msList(5, 1, 4, 2, 3)
	s := Summarize(in)
	want := Summary{N: 5, P50: 3 * time.Millisecond, P90: 5 * time.Millisecond, P99: 5 * time.Millisecond,
		Min: time.Millisecond, Mean: 3 * time.Millisecond, Max: 5 * time.Millisecond}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if in[0] != 5*time.Millisecond {
		t.Errorf("Summarize sorted its input: %v", in)
	}
	if s := Summarize(msList(-2, 1, -1)); s.Negative != 2 || s.Min != -2*time.Millisecond {
		t.Errorf("Summarize with negatives = %+v", s)
	}
	if s := Summarize(nil); s != (Summary{}) {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}

func TestShare(t *testing.T) {
	if got := Share(500*time.Millisecond, time.Second); got != 50 {
		t.Errorf("Share = %v, want 50", got)
	}
	if got := Share(time.Second, 0); got != 0 {
		t.Errorf("Share over no time = %v, want 0", got)
	}
}
