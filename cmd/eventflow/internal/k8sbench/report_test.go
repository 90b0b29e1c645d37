package k8sbench

import (
	"fmt"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
)

// fmtMs shows d with the digits its size warrants: 0.1 ms below 100 ms,
// whole ms below 10 s, then seconds.
func fmtMs(d time.Duration) string {
	switch {
	case d >= 10*time.Second || d <= -10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 100*time.Millisecond || d <= -100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", benchkit.Ms(d))
	default:
		return fmt.Sprintf("%.1f ms", benchkit.Ms(d))
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}
