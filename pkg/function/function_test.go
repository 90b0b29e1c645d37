package function

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	ok := Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string
	}{
		{"empty name", Spec{Command: []string{"x"}}, "name"},
		{"upper case", Spec{Name: "Bad_Name!", Command: []string{"x"}}, "name"},
		{"leading dash", Spec{Name: "-x", Command: []string{"x"}}, "name"},
		{"64 chars", Spec{Name: strings.Repeat("a", 64), Command: []string{"x"}}, "name"},
		{"nothing to run", Spec{Name: "a"}, "image"},
		{"empty argv0", Spec{Name: "a", Command: []string{" "}}, "command[0]"},
		{"bad env", Spec{Name: "a", Command: []string{"x"}, Env: map[string]string{"1X": "v"}}, "env"},
		{"reserved env", Spec{Name: "a", Command: []string{"x"}, Env: map[string]string{"EVENTFLOW_TENANT": "other"}}, "env"},
		{"negative replicas", Spec{Name: "a", Command: []string{"x"}, Replicas: ptr[int32](-1)}, "replicas"},
		{"too many replicas", Spec{Name: "a", Command: []string{"x"}, Replicas: ptr[int32](101)}, "replicas"},
		{"bad mode", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: "batch"}}, "invocation.mode"},
		{"timeout too long", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Timeout: Duration(time.Hour)}}, "invocation.timeout"},
		{"bad resource", Spec{Name: "a", Command: []string{"x"}, Resources: &Resources{Limits: map[string]string{"gpu": "1"}}}, "resources.limits"},
		{"bad quantity", Spec{Name: "a", Command: []string{"x"}, Resources: &Resources{Requests: map[string]string{"cpu": "lots"}}}, "resources.requests.cpu"},
		{"autoscaling in job mode", Spec{Name: "a", Command: []string{"x"}, Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 2}}, "autoscaling"},
		{"autoscaling max below min", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Autoscaling: &Autoscaling{MinReplicas: 3, MaxReplicas: 2}}, "autoscaling.maxReplicas"},
		{"autoscaling min 0", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Autoscaling: &Autoscaling{MaxReplicas: 2}}, "autoscaling.minReplicas"},
		{"bad label", Spec{Name: "a", Command: []string{"x"}, Labels: map[string]string{"a b": "c"}}, "labels"},
		{"scale in job mode", Spec{Name: "a", Command: []string{"x"}, Scale: &Scale{Max: 2}}, "scale"},
		{"scale and replicas", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Replicas: ptr[int32](1), Scale: &Scale{Max: 2}}, "scale"},
		{"scale and autoscaling", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Autoscaling: &Autoscaling{MinReplicas: 1, MaxReplicas: 2}, Scale: &Scale{Max: 2}}, "scale"},
		{"scale min negative", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Min: -1, Max: 2}}, "scale.min"},
		{"scale max below min", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Min: 3, Max: 2}}, "scale.max"},
		{"scale max too high", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Max: 101}}, "scale.max"},
		{"scale bad metric", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Max: 2, Metric: "rps"}}, "scale.metric"},
		{"scale negative target", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Max: 2, Target: -1}}, "scale.target"},
		{"scale cpu from zero", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Max: 2, Metric: MetricCPU}}, "scale.min"},
		{"scale cpu over 100%", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Min: 1, Max: 2, Metric: MetricCPU, Target: 150}}, "scale.target"},
		{"scale idleAfter too short", Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Mode: ModeHTTP}, Scale: &Scale{Max: 2, IdleAfter: Duration(time.Millisecond)}}, "scale.idleAfter"},
	} {
		err := tc.spec.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want a FieldError on %q wrapping ErrInvalid", tc.name, err, tc.field)
		}
	}
	if err := ValidateTenant(strings.Repeat("t", 41)); err == nil {
		t.Error("a 41-character tenant must be refused (namespace prefix room)")
	}
}

func TestDefaults(t *testing.T) {
	s := Spec{Name: "a", Command: []string{"x"}}.WithDefaults()
	if s.Replicas != nil || s.Scale != nil || s.Invocation.Mode != ModeJob || time.Duration(s.Invocation.Timeout) != 30*time.Second {
		t.Fatalf("defaults: %+v", s)
	}
	http := Invocation{Mode: ModeHTTP}
	want := func(name string, got *Scale, w Scale) {
		t.Helper()
		if got == nil || *got != w {
			t.Fatalf("%s: scale %+v, want %+v", name, got, w)
		}
	}
	idle := Duration(DefaultIdleAfter)
	d := Spec{Name: "a", Invocation: http}.WithDefaults()
	want("default", d.Scale, Scale{Min: 1, Max: 1, Target: DefaultScaleTarget, Metric: MetricConcurrency, IdleAfter: idle})
	z := Spec{Name: "a", Replicas: ptr[int32](0), Invocation: http}.WithDefaults()
	want("replicas 0", z.Scale, Scale{Min: 0, Max: 0, Target: DefaultScaleTarget, Metric: MetricConcurrency, IdleAfter: idle})
	if z.Replicas != nil || z.ReplicaCount() != 0 {
		t.Fatalf("replicas 0 is mapped, not stored: %+v", z)
	}
	a := Spec{Name: "a", Invocation: http, Autoscaling: &Autoscaling{MinReplicas: 2, MaxReplicas: 5}}.WithDefaults()
	want("autoscaling", a.Scale, Scale{Min: 2, Max: 5, Target: DefaultCPUTarget, Metric: MetricCPU, IdleAfter: idle})
	if a.Autoscaling != nil || a.Scale.Autoscaled() || a.ReplicaCount() != 2 {
		t.Fatalf("autoscaling maps to metric cpu, left to the HPA: %+v", a)
	}
	sz := Spec{Name: "a", Command: []string{"x"}, Invocation: http, Scale: &Scale{Max: 4, Metric: MetricQueue}}.WithDefaults()
	want("scale to zero", sz.Scale, Scale{Min: 0, Max: 4, Target: DefaultScaleTarget, Metric: MetricQueue, IdleAfter: idle})
	if !sz.Scale.Autoscaled() || sz.ReplicaCount() != 1 {
		t.Fatalf("min 0 starts with one instance and is autoscaled: %+v", sz.Scale)
	}
	if fixed := (&Scale{Min: 3, Max: 3}); fixed.Autoscaled() || fixed.Initial() != 3 || fixed.Clamp(7) != 3 {
		t.Fatal("min == max is a fixed count")
	}
	if err := sz.Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var inv Invocation
	if err := json.Unmarshal([]byte(`{"timeout":"1m30s"}`), &inv); err != nil || time.Duration(inv.Timeout) != 90*time.Second {
		t.Fatalf("string duration: %v %v", inv.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":5}`), &inv); err != nil || time.Duration(inv.Timeout) != 5*time.Second {
		t.Fatalf("number duration: %v %v", inv.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":"soon"}`), &inv); err == nil {
		t.Fatal("bad duration accepted")
	}
	b, _ := json.Marshal(Invocation{Timeout: Duration(2 * time.Second)})
	if string(b) != `{"timeout":"2s"}` {
		t.Fatalf("marshal: %s", b)
	}
}

func TestViewPhase(t *testing.T) {
	rec := Record{Spec: Spec{Name: "a"}, Generation: 2}
	if p := View(rec, nil).Status.Phase; p != PhasePending {
		t.Errorf("no status: %s, want Pending", p)
	}
	if p := View(rec, &Status{Phase: PhaseReady, ObservedGeneration: 1}).Status.Phase; p != PhasePending {
		t.Errorf("older status: %s, want Pending (read-your-writes)", p)
	}
	if p := View(rec, &Status{Phase: PhaseReady, ObservedGeneration: 2}).Status.Phase; p != PhaseReady {
		t.Errorf("current status: %s, want Ready", p)
	}
	rec.Deleting = true
	if p := View(rec, &Status{Phase: PhaseReady, ObservedGeneration: 2}).Status.Phase; p != PhaseDeleting {
		t.Errorf("deleting: %s, want Deleting", p)
	}
}

// TestViewMapsOlderRecords: a record stored before scale existed (replicas
// or autoscaling, as WithDefaults used to store them) answers with the
// scale they map to, never the older fields.
func TestViewMapsOlderRecords(t *testing.T) {
	http := Invocation{Mode: ModeHTTP}
	old := Record{Tenant: "t", Generation: 1, Spec: Spec{Name: "a", Command: []string{"x"}, Invocation: http, Replicas: ptr[int32](3)}}
	if v := View(old, nil); v.Replicas != nil || v.Scale == nil || v.Scale.Min != 3 || v.Scale.Max != 3 {
		t.Fatalf("replicas 3 shown as %+v / %+v", v.Replicas, v.Scale)
	}
	hpa := Record{Tenant: "t", Generation: 1, Spec: Spec{Name: "a", Command: []string{"x"}, Invocation: http,
		Replicas: ptr[int32](1), Autoscaling: &Autoscaling{MinReplicas: 2, MaxReplicas: 6, TargetCPUUtilization: 70}}}
	if v := View(hpa, nil); v.Autoscaling != nil || v.Replicas != nil || v.Scale == nil || *v.Scale != (Scale{Min: 2, Max: 6, Target: 70, Metric: MetricCPU, IdleAfter: Duration(DefaultIdleAfter)}) {
		t.Fatalf("autoscaling shown as %+v", v.Scale)
	}
	job := Record{Tenant: "t", Generation: 1, Spec: Spec{Name: "a", Command: []string{"x"}, Replicas: ptr[int32](1)}}
	if v := View(job, nil); v.Replicas != nil || v.Scale != nil {
		t.Fatalf("a job's stored replicas shown: %+v %+v", v.Replicas, v.Scale)
	}
	if err := View(hpa, nil).Spec.Validate(); err != nil {
		t.Fatalf("what the API shows must be valid to send back: %v", err)
	}
}

func TestPaused(t *testing.T) {
	http := Invocation{Mode: ModeHTTP}
	for _, c := range []struct {
		spec Spec
		want bool
	}{
		{Spec{Invocation: http, Scale: &Scale{Max: 0}}, true},
		{Spec{Invocation: http, Scale: &Scale{Max: 2}}, false},
		{Spec{Invocation: http, Replicas: ptr[int32](0)}, true},
		{Spec{Invocation: http, Replicas: ptr[int32](1)}, false},
		{Spec{Invocation: http}, false},
		{Spec{Replicas: ptr[int32](0)}, false}, // job mode runs per invocation
	} {
		if got := c.spec.Paused(); got != c.want {
			t.Errorf("%+v: Paused() = %v", c.spec, got)
		}
		if sc := c.spec.ScaleSpec(); c.spec.Mode() == ModeHTTP && (sc.Max == 0) != c.want {
			t.Errorf("%+v: Paused disagrees with ScaleSpec %+v", c.spec, sc)
		}
	}
}
