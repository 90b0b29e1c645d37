package scaler

import (
	"context"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// TestTrackedCountHoldsForIdleAfter: a function tracked at 4 instances
// (a restarted deployer finding them) is not scaled down before its first
// load reports could arrive: the count found stands for IdleAfter.
func TestTrackedCountHoldsForIdleAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	var changed []runtime.Ref
	s := New(Config{}, Deps{OnChange: func(r runtime.Ref) { changed = append(changed, r) }})
	s.now = func() time.Time { return now }
	ref := runtime.Ref{Tenant: "t", Name: "f"}
	sc := function.Scale{Min: 0, Max: 5, Target: 10, Metric: function.MetricConcurrency, IdleAfter: function.Duration(30 * time.Second)}
	if got := s.Track(ref, sc, func() int32 { return 4 }); got != 4 {
		t.Fatalf("tracked at %d, want the 4 found", got)
	}
	for _, sec := range []int{1, 10, 29} {
		now = time.Unix(1000+int64(sec), 0)
		s.evaluateAll(context.Background())
		if len(changed) != 0 {
			t.Fatalf("scaled %v %ds after being tracked with no report yet", s.Decision(ref), sec)
		}
	}
	now = time.Unix(1031, 0)
	s.evaluateAll(context.Background())
	if d := s.Decision(ref); len(changed) != 1 || d == nil || d.From != 4 || d.To != 0 {
		t.Fatalf("after IdleAfter with no work: %v %+v", changed, d)
	}
}
