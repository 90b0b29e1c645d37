package function

import (
	"errors"
	"strings"
	"testing"
)

func TestTrafficValidation(t *testing.T) {
	base := func(tr ...TrafficTarget) Spec {
		return Spec{Name: "web", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Traffic: tr}
	}
	ok := []Spec{
		base(),
		base(TrafficTarget{Revision: 1, Percent: 90}, TrafficTarget{Tag: TagLatest, Percent: 10}),
		base(TrafficTarget{Revision: 1, Percent: 0}, TrafficTarget{Tag: TagLatest, Percent: 100}),
		base(TrafficTarget{Revision: 3, Percent: 100}),
	}
	for _, s := range ok {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s.Traffic, err)
		}
	}
	job := base(TrafficTarget{Tag: TagLatest, Percent: 100})
	job.Invocation.Mode = ModeJob
	long := base(TrafficTarget{Tag: TagLatest, Percent: 100})
	long.Name = strings.Repeat("a", 60)
	for what, s := range map[string]Spec{
		"job mode":      job,
		"long name":     long,
		"sum 90":        base(TrafficTarget{Revision: 1, Percent: 80}, TrafficTarget{Tag: TagLatest, Percent: 10}),
		"sum 110":       base(TrafficTarget{Revision: 1, Percent: 100}, TrafficTarget{Tag: TagLatest, Percent: 10}),
		"negative":      base(TrafficTarget{Revision: 1, Percent: -10}, TrafficTarget{Tag: TagLatest, Percent: 110}),
		"unknown tag":   base(TrafficTarget{Tag: "stable", Percent: 100}),
		"both":          base(TrafficTarget{Tag: TagLatest, Revision: 2, Percent: 100}),
		"neither":       base(TrafficTarget{Percent: 100}),
		"revision 0":    base(TrafficTarget{Revision: 0, Percent: 100}),
		"twice":         base(TrafficTarget{Revision: 1, Percent: 50}, TrafficTarget{Revision: 1, Percent: 50}),
		"latest twice":  base(TrafficTarget{Tag: TagLatest, Percent: 50}, TrafficTarget{Tag: TagLatest, Percent: 50}),
		"too many":      base(TrafficTarget{Revision: 1, Percent: 20}, TrafficTarget{Revision: 2, Percent: 20}, TrafficTarget{Revision: 3, Percent: 20}, TrafficTarget{Revision: 4, Percent: 20}, TrafficTarget{Tag: TagLatest, Percent: 20}),
		"huge revision": base(TrafficTarget{Revision: 1 << 40, Percent: 100}),
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want a validation error", what, err)
		}
	}
}

func TestRevisionNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		name string
		rev  int64
		ok   bool
	}{
		{RevisionName("web", 3), "web", 3, true},
		{RevisionName("my--app", 12), "my--app", 12, true},
		{"web", "", 0, false},
		{"web--r", "", 0, false},
		{"web--r0", "", 0, false},
		{"web--r01", "", 0, false},
		{"web--rx", "", 0, false},
		{"--r3", "", 0, false},
	} {
		name, rev, ok := ParseRevisionName(c.in)
		if name != c.name || rev != c.rev || ok != c.ok {
			t.Errorf("ParseRevisionName(%q) = %q %d %v", c.in, name, rev, ok)
		}
	}
}

// TestRoute: picks spread over [0, 1) land on each target in proportion;
// a revision whose spec the record lacks, or a latest share, runs the
// latest; another revision runs under its own runtime name at a fixed
// count, without the traffic and triggers of its spec.
func TestRoute(t *testing.T) {
	old := Spec{Name: "web", Command: []string{"v1"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Min: 0, Max: 5},
		Traffic: []TrafficTarget{{Tag: TagLatest, Percent: 100}}}
	rec := Record{Generation: 7, TrafficSpecs: map[int64]Spec{2: old},
		Spec: Spec{Name: "web", Command: []string{"v3"}, Invocation: Invocation{Mode: ModeHTTP},
			Traffic: []TrafficTarget{{Revision: 2, Percent: 30}, {Revision: 5, Percent: 20}, {Tag: TagLatest, Percent: 50}}}}
	counts := map[int64]int{}
	const n = 1000
	for i := range n {
		spec, rev, extra := rec.Route(float64(i) / n)
		counts[rev]++
		switch rev {
		case 2:
			if !extra || spec.Name != "web--r2" || spec.Command[0] != "v1" || spec.Traffic != nil || spec.Scale.Min != 1 || spec.Scale.Max != 1 {
				t.Fatalf("revision 2 runs %+v (extra %v)", spec, extra)
			}
		case 7:
			if extra || spec.Name != "web" || spec.Command[0] != "v3" {
				t.Fatalf("latest runs %+v (extra %v)", spec, extra)
			}
		default:
			t.Fatalf("pick %d went to revision %d", i, rev)
		}
	}
	// Revision 5's spec is not in the record: its share runs the latest.
	if counts[2] != 300 || counts[7] != 700 {
		t.Errorf("counts %v, want 300 on revision 2 and 700 on the latest", counts)
	}
	if spec, rev, extra := (Record{Generation: 1, Spec: Spec{Name: "a"}}).Route(0.5); extra || rev != 1 || spec.Name != "a" {
		t.Errorf("no traffic: %v %d %v", spec, rev, extra)
	}
}
