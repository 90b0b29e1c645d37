package function

import (
	"fmt"
	"reflect"
	"time"
)

// Gradual rollout of an http-mode function's new revisions: an update
// that changes what the function runs does not take every request at
// once. The new revision (the latest) gets StepPercent of the traffic,
// the revision that served everything so far keeps the rest and runs
// beside it (as a traffic split does), and each Interval the deployer
// moves another StepPercent to the new one, or rolls back to the old one
// when too many of the new one's requests failed in that interval.

// Rollout phases (RolloutState.Phase).
const (
	RolloutProgressing = "progressing"
	RolloutComplete    = "complete"
	RolloutRolledBack  = "rolled-back"
)

// Rollout defaults and bounds.
const (
	DefaultRolloutStep        = 20
	DefaultRolloutInterval    = time.Minute
	MinRolloutInterval        = time.Second
	MaxRolloutInterval        = time.Hour
	DefaultRolloutMaxErrors   = 5
	DefaultRolloutMinRequests = 10
	maxRolloutMinRequests     = 1000000
)

// Rollout is how an http-mode function takes in a new revision (spec
// rollout). Zero fields take their defaults.
type Rollout struct {
	// StepPercent is the share moved to the new revision each interval,
	// 1 to 100 (default 20).
	StepPercent int `json:"stepPercent,omitempty"`
	// Interval between steps, 1s to 1h (default 1m).
	Interval Duration `json:"interval,omitempty"`
	// MaxErrorPercent: more of the new revision's requests failing in an
	// interval (a failed run, a 5xx answer, a timeout) rolls it back, 1 to
	// 100 (default 5).
	MaxErrorPercent int `json:"maxErrorPercent,omitempty"`
	// MinRequests is how many requests the new revision must have served in
	// an interval for its error rate to count, 1 to 1000000 (default 10):
	// fewer never roll back, and the rollout goes on by time.
	MinRequests int `json:"minRequests,omitempty"`
}

// WithDefaults fills the zero fields.
func (r Rollout) WithDefaults() Rollout {
	if r.StepPercent == 0 {
		r.StepPercent = DefaultRolloutStep
	}
	if r.Interval == 0 {
		r.Interval = Duration(DefaultRolloutInterval)
	}
	if r.MaxErrorPercent == 0 {
		r.MaxErrorPercent = DefaultRolloutMaxErrors
	}
	if r.MinRequests == 0 {
		r.MinRequests = DefaultRolloutMinRequests
	}
	return r
}

func (s Spec) validateRollout() error {
	r := s.Rollout
	if r == nil {
		return nil
	}
	switch {
	case s.Invocation.Mode != ModeHTTP:
		return &FieldError{"rollout", "applies to http mode only (a job runs its latest revision)"}
	case len(s.Traffic) > 0:
		return &FieldError{"rollout", "a spec sets traffic or rollout, not both: traffic fixes the split, rollout moves it by itself"}
	case len(s.Name)+len(revisionSep)+6 > MaxNameLen:
		return &FieldError{"rollout", fmt.Sprintf("a function rolled out gradually has a name of at most %d characters (its previous revision runs as <name>%s<revision>)", MaxNameLen-len(revisionSep)-6, revisionSep)}
	case r.StepPercent < 0 || r.StepPercent > 100:
		return &FieldError{"rollout.stepPercent", "must be between 1 and 100"}
	case r.Interval != 0 && (time.Duration(r.Interval) < MinRolloutInterval || time.Duration(r.Interval) > MaxRolloutInterval):
		return &FieldError{"rollout.interval", fmt.Sprintf("must be between %s and %s", MinRolloutInterval, MaxRolloutInterval)}
	case r.MaxErrorPercent < 0 || r.MaxErrorPercent > 100:
		return &FieldError{"rollout.maxErrorPercent", "must be between 1 and 100"}
	case r.MinRequests < 0 || r.MinRequests > maxRolloutMinRequests:
		return &FieldError{"rollout.minRequests", fmt.Sprintf("must be between 1 and %d", maxRolloutMinRequests)}
	}
	return nil
}

// RolloutState is where a function's gradual rollout stands (Record.Rollout,
// shown as status.rollout): the gateway starts one when an update changes
// what the function runs, the deployer moves it on.
type RolloutState struct {
	// Revision is the revision being rolled out (the first with its code:
	// a later one that changed only, say, its scale goes on with it); From
	// the one that served everything before, which keeps 100 - Percent.
	Revision int64  `json:"revision"`
	From     int64  `json:"from"`
	Percent  int    `json:"percent"`
	Phase    string `json:"phase"`
	Message  string `json:"message,omitempty"`
	// UpdatedAt is when Percent (or the phase) last changed: the next step
	// is due an interval later.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Splits says whether the state sends any traffic to From: a rollout
// in progress, or one rolled back (until the next update).
func (r *RolloutState) Splits() bool {
	return r != nil && (r.Phase == RolloutProgressing || r.Phase == RolloutRolledBack)
}

// Progressing says whether a rollout is under way (the deployer steps it,
// and the new revision's outcomes are counted).
func (r *RolloutState) Progressing() bool { return r != nil && r.Phase == RolloutProgressing }

// Traffic is the split the record's invocations follow: the rollout's
// while it splits, else spec.traffic (none: all to the latest).
func (r Record) Traffic() []TrafficTarget {
	if ro := r.Rollout; ro.Splits() {
		return []TrafficTarget{{Revision: ro.From, Percent: 100 - ro.Percent}, {Tag: TagLatest, Percent: ro.Percent}}
	}
	return r.Spec.Traffic
}

// TrafficRevisions are the revisions other than the latest that the
// record's split (Traffic) sends a share to.
func (r Record) TrafficRevisions() []int64 {
	return Spec{Traffic: r.Traffic()}.TrafficRevisions()
}

// SameCode says whether two specs run the same thing: equal but for how
// many instances run, what invokes them, and how traffic reaches them (a
// change of those alone is no new code to roll out).
func SameCode(a, b Spec) bool {
	strip := func(s Spec) Spec {
		s = s.ForRuntime()
		s.Scale, s.Replicas, s.Autoscaling, s.Triggers = nil, nil, nil, nil
		return s
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// PlanRollout is the rollout state of next, the record about to replace
// cur (a new generation), and the specs of the revisions it splits with
// (Record.TrafficSpecs), when it rolls out. nil: next starts none
// and ends any under way (no rollout in its spec, a traffic split, not
// http mode, a rollback or a change of no code), and keeps its own
// TrafficSpecs.
//
// Going back to the code of the revision a rollout is from (a rollback,
// or an update) keeps everything on that revision until the latest runs
// its code again: the deployer then completes the rollout (Return), so
// the way back never sends requests to the code left behind.
func PlanRollout(cur, next Record, now time.Time) (state *RolloutState, specs map[int64]Spec) {
	if next.Spec.Mode() != ModeHTTP || len(next.Spec.Traffic) > 0 {
		return nil, nil
	}
	var from int64
	var fromSpec Spec
	switch {
	case cur.Rollout.Splits():
		from = cur.Rollout.From
		s, found := cur.TrafficSpecs[from]
		if !found {
			return nil, nil
		}
		fromSpec = s
		if SameCode(next.Spec, fromSpec) {
			return &RolloutState{Revision: next.Generation, From: from, Percent: 0, Phase: RolloutRolledBack,
				Message:   fmt.Sprintf("back to revision %d's code: revision %d serves everything until revision %d runs it", from, from, next.Generation),
				UpdatedAt: now.UTC()}, map[int64]Spec{from: fromSpec}
		}
	case len(cur.Spec.Traffic) > 0 || cur.Spec.Mode() != ModeHTTP:
		// A fixed split (or a job until now) has no one revision that
		// served everything: the update takes over at once.
		return nil, nil
	default:
		from, fromSpec = cur.Generation, cur.Spec.ForRuntime()
	}
	cfg := next.Spec.Rollout
	if cfg == nil || next.Change.Cause == CauseRollback {
		return nil, nil
	}
	if SameCode(next.Spec, fromSpec) {
		return nil, nil // what serves already: nothing to roll out
	}
	specs = map[int64]Spec{from: fromSpec}
	if cur.Rollout.Splits() && SameCode(next.Spec, cur.Spec) {
		// The same new code (its scale, say, changed): the rollout goes
		// on where it was.
		st := *cur.Rollout
		return &st, specs
	}
	step := cfg.WithDefaults().StepPercent
	return &RolloutState{Revision: next.Generation, From: from, Percent: step, Phase: RolloutProgressing,
		Message:   fmt.Sprintf("revision %d takes %d%%, revision %d the rest", next.Generation, step, from),
		UpdatedAt: now.UTC()}, specs
}

// Step moves a rollout in progress on by one interval, given how many
// requests the new revision served in it and how many of them failed:
// back to From when too many failed, else StepPercent further (complete at
// 100). The result's UpdatedAt is now.
func (r RolloutState) Step(cfg Rollout, served, failed int, now time.Time) RolloutState {
	cfg = cfg.WithDefaults()
	r.UpdatedAt = now.UTC()
	if served >= cfg.MinRequests && failed*100 > cfg.MaxErrorPercent*served {
		r.Phase, r.Percent = RolloutRolledBack, 0
		r.Message = fmt.Sprintf("rolled back to revision %d: %d of revision %d's %d requests failed in the last interval (%d%%, more than %d%%)",
			r.From, failed, r.Revision, served, failed*100/served, cfg.MaxErrorPercent)
		return r
	}
	r.Percent = min(r.Percent+cfg.StepPercent, 100)
	if r.Percent == 100 {
		r.Phase = RolloutComplete
		r.Message = fmt.Sprintf("revision %d takes all traffic", r.Revision)
		return r
	}
	r.Message = fmt.Sprintf("revision %d takes %d%%, revision %d the rest (%d of its %d requests failed in the last interval)", r.Revision, r.Percent, r.From, failed, served)
	return r
}

// Returning says whether the record goes back to the code of the revision
// its rollout is from (PlanRollout), so that the deployer completes the
// rollout once the latest runs that code (Return).
func (r Record) Returning() bool {
	ro := r.Rollout
	if ro == nil || ro.Phase != RolloutRolledBack || ro.Revision != r.Generation {
		return false
	}
	from, ok := r.TrafficSpecs[ro.From]
	return ok && SameCode(r.Spec, from)
}

// Return completes the rollout of a record going back to the code of the
// revision it was from, once the latest runs that code: the latest takes
// everything again.
func (r RolloutState) Return(now time.Time) RolloutState {
	r.Phase, r.Percent, r.UpdatedAt = RolloutComplete, 100, now.UTC()
	r.Message = fmt.Sprintf("revision %d runs revision %d's code again and takes all traffic", r.Revision, r.From)
	return r
}

// Due is when the next step of a rollout in progress is.
func (r RolloutState) Due(cfg Rollout) time.Time {
	return r.UpdatedAt.Add(time.Duration(cfg.WithDefaults().Interval))
}
