package benchkit

import (
	"fmt"
	"io"
	"time"
)

// Phase is one step of a benchmark run and how long it took.
type Phase struct {
	Name string
	D    time.Duration
}

// Phases are the steps of a run in order. A report ends with them, so that
// a slow run shows where its time went (building, starting a cluster, …)
// apart from what was measured.
type Phases []Phase

// Add records the step name as having taken the time since start.
func (ps *Phases) Add(name string, start time.Time) {
	*ps = append(*ps, Phase{Name: name, D: time.Since(start)})
}

// Print writes the closing "Phases: … total …." line.
func (ps Phases) Print(w io.Writer, total time.Duration) {
	fmt.Fprint(w, "\nPhases:")
	for _, ph := range ps {
		fmt.Fprintf(w, " %s %s;", ph.Name, ph.D.Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, " total %s.\n\n", total.Round(100*time.Millisecond))
}
