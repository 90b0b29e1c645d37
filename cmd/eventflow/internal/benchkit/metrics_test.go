package benchkit

import (
	"maps"
	"strings"
	"testing"
	"time"
)

const exposition = `# HELP eventflow_invocations_total Invocations.
# TYPE eventflow_invocations_total counter
eventflow_invocations_total{mode="sync",outcome="succeeded"} 10
eventflow_invocations_total{mode="async",outcome="succeeded"} 5
eventflow_invocations_total{mode="async",outcome="failed"} 1
eventflow_invocation_duration_seconds_sum{mode="sync"} 0.5
eventflow_invocation_duration_seconds_count{mode="sync"} 10
go_goroutines 42
not a number here
`

func TestParseMetricsAndSum(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 6 {
		t.Errorf("parsed %d series, want 6: %v", len(m), m)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventflow_invocations_total", nil, 16},
		{"eventflow_invocations_total", []string{`mode="async"`}, 6},
		{"eventflow_invocations_total", []string{`mode="async"`, `outcome="failed"`}, 1},
		{"go_goroutines", nil, 42},
		{"missing", nil, 0},
	} {
		if got := m.Sum(tc.name, tc.labels...); got != tc.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestGrownSeriesAndMeanDelta(t *testing.T) {
	before := Metrics{
		`c{k="a"}`:              1,
		`c{k="b"}`:              2,
		`h_sum{mode="sync"}`:    1,
		`h_count{mode="sync"}`:  10,
		`h_count{mode="async"}`: 3,
		`h_sum{mode="async"}`:   3,
		`other{k="a"}`:          1,
	}
	// What grew: c{k="a"} by 3, a new c{k="c"}, 20 sync observations
	// taking 1 s in all, and another metric.
	after := maps.Clone(before)
	after[`c{k="a"}`] = 4
	after[`c{k="c"}`] = 1
	after[`h_sum{mode="sync"}`] = 2
	after[`h_count{mode="sync"}`] = 30
	after[`other{k="a"}`] = 9
	g := GrownSeries(before, after, "c")
	if len(g) != 2 || g[`k="a"`] != 3 || g[`k="c"`] != 1 {
		t.Errorf("GrownSeries = %v", g)
	}
	mean, n, err := MeanDelta(before, after, "h", `mode="sync"`)
	if err != nil || n != 20 || mean != 50*time.Millisecond {
		t.Errorf("MeanDelta = %v, %v, %v; want 50ms, 20, nil", mean, n, err)
	}
	if _, _, err := MeanDelta(before, after, "h", `mode="async"`); err == nil {
		t.Error("MeanDelta without observations: no error")
	}
}
