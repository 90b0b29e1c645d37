package benchkit

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for no values. Nearest rank, not interpolation,
// so every figure reported is one that was actually measured.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// Summary is the distribution of one set of durations, as the benchmarks'
// tables and metrics report it.
type Summary struct {
	N              int
	P50, P90, P99  time.Duration
	Min, Mean, Max time.Duration
	// Negative counts samples below zero: a difference of two observers'
	// timestamps can be, when they see events in either order.
	Negative int
}

// Summarize sorts a copy of d (d itself is left as it is) and summarizes it.
func Summarize(d []time.Duration) Summary {
	s := slices.Clone(d)
	slices.Sort(s)
	out := Summary{N: len(s), P50: Percentile(s, 50), P90: Percentile(s, 90), P99: Percentile(s, 99)}
	if len(s) == 0 {
		return out
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
		if v < 0 {
			out.Negative++
		}
	}
	out.Mean = sum / time.Duration(len(s))
	out.Min, out.Max = s[0], s[len(s)-1]
	return out
}
