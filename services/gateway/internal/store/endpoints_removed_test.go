package store

import (
	"encoding/json"
	"testing"

	"github.com/eventflow/eventflow/pkg/function"
)

// endpointsOf is what store keeps of a status with these endpoints.
func endpointsOf(t *testing.T, latest []string, revisions map[int64][]string) *fnEndpoints {
	t.Helper()
	b, err := json.Marshal(function.Status{Endpoints: latest, RevisionEndpoints: revisions})
	if err != nil {
		t.Fatal(err)
	}
	e := &Endpoints{fns: map[string]*fnEndpoints{}, waits: map[string]*fnWait{}}
	return e.store("t.f", 1, b)
}

func TestRemoved(t *testing.T) {
	l := func(hosts ...string) []string {
		var out []string
		for _, h := range hosts {
			out = append(out, "http://"+h)
		}
		return out
	}
	for _, c := range []struct {
		old, now       []string
		oldRev, nowRev map[int64][]string
		want           bool
	}{
		{old: l("a:1", "b:2"), now: l("a:1"), want: true},
		{old: l("a:1"), now: l("a:1", "b:2"), want: false},
		{old: l("a:1"), now: l("b:2"), want: true},
		{old: nil, now: l("a:1"), want: false},
		{old: l("a:1"), now: nil, want: true},
		// A revision's endpoints count as the latest's do.
		{old: l("a:1"), oldRev: map[int64][]string{1: l("r:1")}, now: l("a:1"), want: true},
		{old: l("a:1"), now: l("a:1"), nowRev: map[int64][]string{1: l("r:1")}, want: false},
		// An instance that moved from a revision to the latest is not gone.
		{oldRev: map[int64][]string{1: l("r:1")}, now: l("r:1"), want: false},
	} {
		old, now := endpointsOf(t, c.old, c.oldRev), endpointsOf(t, c.now, c.nowRev)
		if got := removed(old, now); got != c.want {
			t.Errorf("removed(%v %v, %v %v) = %v", c.old, c.oldRev, c.now, c.nowRev, got)
		}
	}
}

// TestPickRevision: the route finds a revision's endpoints beside the
// latest's, round robin, and none for a revision without any; endpoints
// that are not plain http base URLs are never kept.
func TestPickRevision(t *testing.T) {
	fe := endpointsOf(t, []string{"http://a:1"}, map[int64][]string{
		1: {"http://r:1", "http://r:2"},
		2: {"https://x:1", "http://u@y:1", "ftp://z:1"},
	})
	if got := fe.latest.pick(); got == nil || got.Host != "a:1" {
		t.Fatalf("latest: %v", got)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[fe.revisions[1].pick().Host] = true
	}
	if !seen["r:1"] || !seen["r:2"] || len(seen) != 2 {
		t.Fatalf("revision 1 picked %v", seen)
	}
	if got := fe.revisions[2].pick(); got != nil {
		t.Fatalf("revision 2 (no valid endpoint) picked %v", got)
	}
	if got := fe.revisions[3].pick(); got != nil {
		t.Fatalf("revision 3 (not running) picked %v", got)
	}
}
