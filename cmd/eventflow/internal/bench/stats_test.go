package bench

import (
	"math"
	"slices"
	"testing"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// summary is the distribution of one set of latencies.
type summary struct {
	n             int
	p50, p90, p99 time.Duration
	mean, max     time.Duration
}

func summarize(d []time.Duration) summary {
	s := slices.Clone(d)
	slices.Sort(s)
	out := summary{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99)}
	if len(s) > 0 {
		var sum time.Duration
		for _, v := range s {
			sum += v
		}
		out.mean = sum / time.Duration(len(s))
		out.max = s[len(s)-1]
	}
	return out
}

// TestPercentile checks the pure percentile helper; it is the only test in
// this package, so `go test ./...` stays fast.
func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
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
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p90 of 1..100", ms(hundred...), 90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p50 of four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of four", ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"tiny p", ms(1, 2, 3, 4), 0.001, 1 * time.Millisecond},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tc.name, tc.in, tc.p, got, tc.want)
		}
	}
	s := summarize(ms(5, 1, 4, 2, 3))
	if s.n != 5 || s.p50 != 3*time.Millisecond || s.max != 5*time.Millisecond || s.mean != 3*time.Millisecond {
		t.Errorf("summarize = %+v", s)
	}
}
