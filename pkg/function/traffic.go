package function

import (
	"fmt"
	"strconv"
	"strings"
)

// TagLatest names the function's current revision in a traffic target.
const TagLatest = "latest"

// MaxTrafficTargets bounds spec.traffic.
const MaxTrafficTargets = 4

// revisionSep joins a function's name and a revision number into the
// runtime name of a revision running beside the latest (RevisionName).
const revisionSep = "--r"

// TrafficTarget is one share of an http-mode function's invocations: a
// kept revision, or the latest (tag "latest"), and its percent.
type TrafficTarget struct {
	Revision int64  `json:"revision,omitempty"`
	Tag      string `json:"tag,omitempty"`
	Percent  int    `json:"percent"`
}

func (t TrafficTarget) latest() bool { return t.Tag == TagLatest }

func (s Spec) validateTraffic() error {
	if len(s.Traffic) == 0 {
		return nil
	}
	if s.Invocation.Mode != ModeHTTP {
		return &FieldError{"traffic", "applies to http mode only (a job runs its latest revision)"}
	}
	if len(s.Traffic) > MaxTrafficTargets {
		return &FieldError{"traffic", fmt.Sprintf("must have at most %d targets", MaxTrafficTargets)}
	}
	if len(s.Name)+len(revisionSep)+6 > MaxNameLen {
		return &FieldError{"traffic", fmt.Sprintf("a function split between revisions has a name of at most %d characters (its other revisions run as <name>%s<revision>)", MaxNameLen-len(revisionSep)-6, revisionSep)}
	}
	sum, latest := 0, false
	seen := map[int64]bool{}
	for i, t := range s.Traffic {
		field := fmt.Sprintf("traffic[%d]", i)
		switch {
		case t.Tag != "" && t.Tag != TagLatest:
			return &FieldError{field + ".tag", fmt.Sprintf("%q is not a tag: the one tag is %q", t.Tag, TagLatest)}
		case t.Tag != "" && t.Revision != 0:
			return &FieldError{field, "names a revision or the tag latest, not both"}
		case t.Tag == "" && t.Revision < 1:
			return &FieldError{field, "needs a revision (1 or more) or the tag latest"}
		case t.Revision >= 1000000:
			return &FieldError{field + ".revision", "must be below 1000000"}
		case t.Percent < 0 || t.Percent > 100:
			return &FieldError{field + ".percent", "must be between 0 and 100"}
		case t.latest() && latest:
			return &FieldError{field, "latest is named twice"}
		case !t.latest() && seen[t.Revision]:
			return &FieldError{field, fmt.Sprintf("revision %d is named twice", t.Revision)}
		}
		latest = latest || t.latest()
		seen[t.Revision] = true
		sum += t.Percent
	}
	if sum != 100 {
		return &FieldError{"traffic", fmt.Sprintf("the percents add up to %d, not 100", sum)}
	}
	return nil
}

// TrafficRevisions are the revisions other than the latest that traffic
// sends a share to (a percent above 0).
func (s Spec) TrafficRevisions() []int64 {
	var revs []int64
	for _, t := range s.Traffic {
		if !t.latest() && t.Percent > 0 {
			revs = append(revs, t.Revision)
		}
	}
	return revs
}

// ForRuntime is the spec a runtime runs: traffic and rollout are the
// routing's, never the instances' (a new split must not restart them).
func (s Spec) ForRuntime() Spec {
	s.Traffic, s.Rollout = nil, nil
	return s
}

// RevisionName is the runtime name of revision rev of function name when
// it runs beside the latest.
func RevisionName(name string, rev int64) string {
	return name + revisionSep + strconv.FormatInt(rev, 10)
}

// ParseRevisionName splits a name RevisionName made.
func ParseRevisionName(n string) (name string, rev int64, ok bool) {
	i := strings.LastIndex(n, revisionSep)
	if i <= 0 {
		return "", 0, false
	}
	rev, err := strconv.ParseInt(n[i+len(revisionSep):], 10, 64)
	if err != nil || rev < 1 || strconv.FormatInt(rev, 10) != n[i+len(revisionSep):] {
		return "", 0, false
	}
	return n[:i], rev, true
}

// RevisionSpec is the spec revision rev runs with beside the latest: its
// own, named for the runtime, at a fixed count (the scaler follows the
// latest only).
func (r Record) RevisionSpec(rev int64) (Spec, bool) {
	s, ok := r.TrafficSpecs[rev]
	if !ok {
		return Spec{}, false
	}
	s = s.ForRuntime()
	s.Name = RevisionName(r.Spec.Name, rev)
	n := max(s.ScaleSpec().Initial(), 1)
	s.Scale, s.Replicas, s.Autoscaling = &Scale{Min: n, Max: n}, nil, nil
	s.Triggers = nil
	return s, true
}

// Route picks where one invocation goes by the traffic split (Traffic: a
// rollout's, or spec.traffic), for pick in
// [0, 1): the latest revision's spec (extra false), or another revision's
// (RevisionSpec, extra true), and the revision number either way.
func (r Record) Route(pick float64) (spec Spec, revision int64, extra bool) {
	at := int(pick * 100)
	for _, t := range r.Traffic() {
		if at >= t.Percent {
			at -= t.Percent
			continue
		}
		if t.latest() {
			break
		}
		if s, ok := r.RevisionSpec(t.Revision); ok {
			return s, t.Revision, true
		}
		break
	}
	return r.Spec, r.Generation, false
}
