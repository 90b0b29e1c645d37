package service

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFnLabelsCap(t *testing.T) {
	l := newFnLabels(2)
	check := func(tenant, fn, wantT, wantF string) {
		t.Helper()
		if gt, gf := l.labels(tenant, fn); gt != wantT || gf != wantF {
			t.Fatalf("labels(%q, %q) = (%q, %q), want (%q, %q)", tenant, fn, gt, gf, wantT, wantF)
		}
	}
	check("a", "f1", "a", "f1")
	check("b", "g1", "b", "g1")
	check("a", "f1", "a", "f1") // admitted pairs stay
	// Cap reached: a known tenant's new function goes to its _other…
	check("a", "f2", "a", OtherLabel)
	// …an unknown tenant's to _other/_other.
	check("c", "h1", OtherLabel, OtherLabel)
	check("b", "g1", "b", "g1")

	// Deletion frees a place.
	if !l.forget("a", "f1") {
		t.Fatal("forget of an admitted pair reported false")
	}
	if l.forget("a", "f1") || l.forget("c", "h1") {
		t.Fatal("forget of an unknown pair reported true")
	}
	check("c", "h1", "c", "h1")
	// Tenant a has no admitted pair now: cap full, so _other/_other.
	check("a", "f2", OtherLabel, OtherLabel)
	if len(l.pairs) != 2 || len(l.tenants) != 2 {
		t.Fatalf("pairs %v tenants %v, want 2 each", l.pairs, l.tenants)
	}
}

func TestFnLabelsDefault(t *testing.T) {
	if l := newFnLabels(0); l.max != DefaultMaxFunctionSeries {
		t.Fatalf("max = %d, want %d", l.max, DefaultMaxFunctionSeries)
	}
}

func TestForgetFunctionDeletesSeries(t *testing.T) {
	m := newMetrics(Config{MaxFunctionSeries: 1}, Deps{})
	record := func(tenant, fn string) {
		ft, ff := m.fnLabels.labels(tenant, fn)
		m.fnInvocations.WithLabelValues(ft, ff, "sync", "succeeded").Inc()
		m.fnDuration.WithLabelValues(ft, ff, "sync").Observe(0.01)
	}
	record("a", "f")
	record("a", "g") // past the cap: a/_other
	if n := testutil.CollectAndCount(m.fnInvocations); n != 2 {
		t.Fatalf("%d invocation series, want 2", n)
	}
	if got := testutil.ToFloat64(m.fnInvocations.WithLabelValues("a", OtherLabel, "sync", "succeeded")); got != 1 {
		t.Fatalf("a/_other = %v, want 1", got)
	}
	m.forgetFunction("a", "f")
	if n := testutil.CollectAndCount(m.fnInvocations); n != 1 {
		t.Fatalf("%d invocation series after deletion, want 1 (a/_other)", n)
	}
	if n := testutil.CollectAndCount(m.fnDuration); n != 1 {
		t.Fatalf("%d duration series after deletion, want 1", n)
	}
}
