package function

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func rolloutSpec(v string, ro *Rollout) Spec {
	return Spec{Name: "web", Command: []string{"./web"}, Env: map[string]string{"V": v},
		Invocation: Invocation{Mode: ModeHTTP}, Rollout: ro}.WithDefaults()
}

func TestRolloutValidation(t *testing.T) {
	ok := []*Rollout{{}, {StepPercent: 100, Interval: Duration(time.Second), MaxErrorPercent: 100, MinRequests: 1}}
	for _, ro := range ok {
		if err := rolloutSpec("1", ro).Validate(); err != nil {
			t.Errorf("%+v: %v", ro, err)
		}
	}
	for _, c := range []struct {
		edit  func(*Spec)
		field string
	}{
		{func(s *Spec) { s.Rollout.StepPercent = 101 }, "rollout.stepPercent"},
		{func(s *Spec) { s.Rollout.StepPercent = -1 }, "rollout.stepPercent"},
		{func(s *Spec) { s.Rollout.Interval = Duration(time.Millisecond) }, "rollout.interval"},
		{func(s *Spec) { s.Rollout.Interval = Duration(2 * time.Hour) }, "rollout.interval"},
		{func(s *Spec) { s.Rollout.MaxErrorPercent = 101 }, "rollout.maxErrorPercent"},
		{func(s *Spec) { s.Rollout.MinRequests = -1 }, "rollout.minRequests"},
		{func(s *Spec) { s.Invocation.Mode = ModeJob; s.HTTP, s.Scale = nil, nil }, "rollout"},
		{func(s *Spec) {
			s.Traffic = []TrafficTarget{{Revision: 1, Percent: 50}, {Tag: TagLatest, Percent: 50}}
		}, "rollout"},
		{func(s *Spec) { s.Name = strings.Repeat("a", MaxNameLen) }, "rollout"},
	} {
		s := rolloutSpec("1", &Rollout{})
		c.edit(&s)
		var fe *FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want a %s error, got %v", c.field, err)
		}
	}
	// Defaults are filled, and stored as such.
	if got := *rolloutSpec("1", &Rollout{}).Rollout; got != (Rollout{StepPercent: 20, Interval: Duration(time.Minute), MaxErrorPercent: 5, MinRequests: 10}) {
		t.Errorf("defaults: %+v", got)
	}
}

func TestPlanRollout(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ro := &Rollout{StepPercent: 25}
	v1 := Record{Spec: rolloutSpec("1", ro), Tenant: "t", Generation: 3}
	next := func(cur Record, spec Spec) Record {
		return Record{Spec: spec, Tenant: "t", Generation: cur.Generation + 1, Rollout: cur.Rollout, TrafficSpecs: cur.TrafficSpecs}
	}

	// New code: the latest takes a step, the revision serving so far the rest.
	v2 := next(v1, rolloutSpec("2", ro))
	st, specs := PlanRollout(v1, v2, now)
	if st == nil || *st != (RolloutState{Revision: 4, From: 3, Percent: 25, Phase: RolloutProgressing, Message: st.Message, UpdatedAt: now}) {
		t.Fatalf("start: %+v", st)
	}
	if s, found := specs[3]; !found || s.Env["V"] != "1" || s.Rollout != nil || len(specs) != 1 {
		t.Fatalf("start specs: %+v", specs)
	}
	v2.Rollout, v2.TrafficSpecs = st, specs
	if got := v2.Traffic(); len(got) != 2 || got[0] != (TrafficTarget{Revision: 3, Percent: 75}) || got[1] != (TrafficTarget{Tag: TagLatest, Percent: 25}) {
		t.Fatalf("split while rolling out: %+v", got)
	}
	if revs := v2.TrafficRevisions(); len(revs) != 1 || revs[0] != 3 {
		t.Fatalf("revisions beside the latest: %v", revs)
	}

	// Only the scale changes mid-rollout: it goes on where it was.
	scaled := rolloutSpec("2", ro)
	scaled.Scale = &Scale{Min: 2, Max: 2}
	v2.Rollout.Percent = 50
	v3 := next(v2, scaled)
	st, specs = PlanRollout(v2, v3, now.Add(time.Minute))
	if st == nil || st.Revision != 4 || st.From != 3 || st.Percent != 50 || !st.UpdatedAt.Equal(now) || specs[3].Env["V"] != "1" {
		t.Fatalf("scale change mid-rollout: %+v %+v", st, specs)
	}

	// Newer code mid-rollout: a new rollout, still from the revision that
	// served everything.
	st, _ = PlanRollout(v2, next(v2, rolloutSpec("3", ro)), now)
	if st == nil || st.From != 3 || st.Percent != 25 || st.Revision != 5 {
		t.Fatalf("new code mid-rollout: %+v", st)
	}

	// Back to the code that serves everything, a rollback, no rollout in
	// the spec, a fixed split, a first rollout of a job: no rollout.
	rollback := next(v2, rolloutSpec("3", ro))
	rollback.Change.Cause = CauseRollback
	split := v1
	split.Spec.Rollout = nil
	split.Spec.Traffic = []TrafficTarget{{Revision: 1, Percent: 50}, {Tag: TagLatest, Percent: 50}}
	job := Record{Spec: Spec{Name: "web", Command: []string{"./job"}}.WithDefaults(), Generation: 1}
	for name, c := range map[string][2]Record{
		"rollback":            {v2, rollback},
		"no rollout":          {v1, next(v1, rolloutSpec("2", nil))},
		"after a fixed split": {split, next(split, rolloutSpec("2", ro))},
		"after a job":         {job, next(job, rolloutSpec("2", ro))},
		"only the scale":      {v1, next(v1, func() Spec { s := rolloutSpec("1", ro); s.Scale = &Scale{Min: 3, Max: 3}; return s }())},
	} {
		if st, _ := PlanRollout(c[0], c[1], now); st != nil {
			t.Errorf("%s: rollout %+v", name, st)
		}
	}

	// Back to the code that served everything (an update, or a rollback,
	// whatever its spec.rollout): everything stays on that revision until
	// the latest runs its code again (Return).
	for name, back := range map[string]Record{"update": next(v2, rolloutSpec("1", ro)), "rollback": next(v2, rolloutSpec("1", nil))} {
		if name == "rollback" {
			back.Change.Cause = CauseRollback
		}
		st, specs = PlanRollout(v2, back, now)
		if st == nil || st.Phase != RolloutRolledBack || st.Percent != 0 || st.From != 3 || st.Revision != 5 || specs[3].Env["V"] != "1" {
			t.Fatalf("%s back to revision 3's code: %+v", name, st)
		}
		back.Rollout, back.TrafficSpecs = st, specs
		if tr := back.Traffic(); tr[0] != (TrafficTarget{Revision: 3, Percent: 100}) {
			t.Fatalf("%s back: split %+v", name, tr)
		}
		if !back.Returning() {
			t.Fatalf("%s back: not returning", name)
		}
		if done := st.Return(now); done.Phase != RolloutComplete || done.Percent != 100 {
			t.Fatalf("%s back, returned: %+v", name, done)
		}
	}
	// An automatic rollback is not a return: the latest runs the new code.
	failed := v2
	failed.Rollout = &RolloutState{Revision: 4, From: 3, Phase: RolloutRolledBack}
	if failed.Returning() {
		t.Fatal("a rolled-back rollout whose latest runs the new code counts as returning")
	}

	// A complete rollout splits no more: the next starts from the latest.
	done := v2
	done.Rollout = &RolloutState{Revision: 4, From: 3, Percent: 100, Phase: RolloutComplete}
	if got := done.Traffic(); got != nil {
		t.Fatalf("complete rollout still splits: %+v", got)
	}
	st, specs = PlanRollout(done, next(done, rolloutSpec("3", ro)), now)
	if st == nil || st.From != 4 || specs[4].Env["V"] != "2" {
		t.Fatalf("after a complete rollout: %+v", st)
	}
}

func TestRolloutStep(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cfg := Rollout{StepPercent: 40, Interval: Duration(10 * time.Second), MaxErrorPercent: 10, MinRequests: 20}
	st := RolloutState{Revision: 4, From: 3, Percent: 40, Phase: RolloutProgressing, UpdatedAt: t0}
	if due := st.Due(cfg); !due.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("due %s", due)
	}
	t1 := t0.Add(10 * time.Second)
	// 2 of 20 failed (10%): not more than the bound, on to 80%.
	if got := st.Step(cfg, 20, 2, t1); got.Phase != RolloutProgressing || got.Percent != 80 || !got.UpdatedAt.Equal(t1) {
		t.Fatalf("within the bound: %+v", got)
	}
	// Too few requests to judge: on by time.
	if got := st.Step(cfg, 19, 19, t1); got.Phase != RolloutProgressing || got.Percent != 80 {
		t.Fatalf("too few requests: %+v", got)
	}
	// 3 of 20 (15%): back to From.
	back := st.Step(cfg, 20, 3, t1)
	if back.Phase != RolloutRolledBack || back.Percent != 0 || !strings.Contains(back.Message, "3 of revision 4's 20 requests failed") {
		t.Fatalf("over the bound: %+v", back)
	}
	rec := Record{Spec: rolloutSpec("2", &cfg), Generation: 4, Rollout: &back, TrafficSpecs: map[int64]Spec{3: rolloutSpec("1", nil)}}
	if got := rec.Traffic(); got[0] != (TrafficTarget{Revision: 3, Percent: 100}) || got[1].Percent != 0 {
		t.Fatalf("rolled back split: %+v", got)
	}
	if _, rev, extra := rec.Route(0.999); !extra || rev != 3 {
		t.Fatalf("rolled back: routed to %d", rev)
	}
	// The last step completes it, capped at 100.
	st.Percent = 80
	if got := st.Step(cfg, 0, 0, t1); got.Phase != RolloutComplete || got.Percent != 100 {
		t.Fatalf("last step: %+v", got)
	}
}
