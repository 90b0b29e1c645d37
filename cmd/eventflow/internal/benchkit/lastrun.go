package benchkit

import "testing"

// LastRun is the latest run of a benchmark whose work is fixed rather than
// scaled by b.N: minutes of it, against a platform started for the run,
// reported through b.ReportMetric. A call with b.N == 1 (the first, and
// the first of every -count) runs it afresh; a call with b.N > 1 (any
// -benchtime but 1x) reports the latest run again instead of repeating
// minutes of work b.N times.
type LastRun[R any] struct {
	r   R
	err error
	ran bool
}

// Get runs run when b.N == 1 or nothing has run yet, fails b if the latest
// run failed, and returns its result.
func (l *LastRun[R]) Get(b *testing.B, run func(*testing.B) (R, error)) R {
	b.Helper()
	if b.N == 1 || !l.ran {
		l.r, l.err = run(b)
		l.ran = true
	}
	if l.err != nil {
		b.Fatal(l.err)
	}
	return l.r
}
