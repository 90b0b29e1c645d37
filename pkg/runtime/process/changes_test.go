package process

import (
	"context"
	"testing"

	"github.com/eventflow/eventflow/pkg/function"
)

// TestUnchangedApplyIsNotAChange: the deployer applies on every reconcile
// and reconciles on every change, so an Apply that changes nothing must not
// report a change (it would loop for ever, burning a CPU).
func TestUnchangedApplyIsNotAChange(t *testing.T) {
	r := New(Config{})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	spec := function.Spec{Name: "steady", Command: []string{"cat"}}.WithDefaults()
	apply := func() uint64 {
		t.Helper()
		before := r.changes.notified()
		if err := r.Apply(context.Background(), "t", spec); err != nil {
			t.Fatal(err)
		}
		return r.changes.notified() - before
	}
	if apply() == 0 {
		t.Fatal("the first Apply must report a change")
	}
	if n := apply(); n != 0 {
		t.Fatalf("an Apply of the same spec reported %d changes", n)
	}
	spec.Env = map[string]string{"X": "1"}
	if apply() == 0 {
		t.Fatal("an Apply of a changed spec must report a change")
	}
}
