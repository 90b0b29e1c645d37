package benchkit

import "time"

// Ms is d in milliseconds, the unit of every latency the benchmarks report
// (as b.ReportMetric values and in their tables).
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Share is CPU time used over a wall-clock interval as a percentage of one
// CPU (100 = one CPU busy throughout); 0 for an empty interval. Both
// benchmarks report CPU this way, so that figures from machines with
// different numbers of CPUs read alike.
func Share(used, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(used) / float64(wall)
}
