package service

import "sync"

// OtherLabel is the label value per-function series fall back to once the
// cap on distinct (tenant, function) pairs is reached.
const OtherLabel = "_other"

// DefaultMaxFunctionSeries is the default cap on distinct (tenant,
// function) label pairs the invoker's per-function metrics carry.
const DefaultMaxFunctionSeries = 1000

// fnLabels bounds the cardinality of per-function metrics: it admits at most
// max distinct (tenant, function) pairs; past the cap, a function of a tenant
// already seen maps to (tenant, "_other"), and one of an unseen tenant to
// ("_other", "_other"). The "_other" pairs do not count against the cap, so
// the series are at most max + tenants-seen + 1 per label set. Forgetting a
// pair (its function was deleted) frees its place.
type fnLabels struct {
	mu      sync.Mutex
	max     int
	pairs   map[[2]string]struct{}
	tenants map[string]int // admitted pairs per tenant
}

func newFnLabels(max int) *fnLabels {
	if max <= 0 {
		max = DefaultMaxFunctionSeries
	}
	return &fnLabels{max: max, pairs: map[[2]string]struct{}{}, tenants: map[string]int{}}
}

// labels returns the (tenant, function) label values to record under.
func (l *fnLabels) labels(tenant, function string) (string, string) {
	k := [2]string{tenant, function}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pairs[k]; ok {
		return tenant, function
	}
	if len(l.pairs) < l.max {
		l.pairs[k] = struct{}{}
		l.tenants[tenant]++
		return tenant, function
	}
	if l.tenants[tenant] > 0 {
		return tenant, OtherLabel
	}
	return OtherLabel, OtherLabel
}

// forget drops a pair, reporting whether it had been admitted (and so has
// series of its own to delete).
func (l *fnLabels) forget(tenant, function string) bool {
	k := [2]string{tenant, function}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.pairs[k]; !ok {
		return false
	}
	delete(l.pairs, k)
	if l.tenants[tenant]--; l.tenants[tenant] <= 0 {
		delete(l.tenants, tenant)
	}
	return true
}
