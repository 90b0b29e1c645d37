package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// writeRevision stores the revision a new generation stands for, and
// forgets the one MaxRevisions older. The record is already stored: a
// failure here is logged by nobody and mended by the deployer, which
// records the revision of every generation it applies (a Create, so it
// never rewrites one). The gateway's Put may replace a revision of the
// same number left by an earlier function of that name.
func (s *Store) writeRevision(ctx context.Context, rec function.Record) {
	if rec.Deleting {
		return
	}
	key := events.RevisionKey(rec.Tenant, rec.Spec.Name, rec.Generation)
	_, _ = s.b.Revisions.Put(ctx, key, mustJSON(function.RevisionOf(rec)))
	// The function may have been deleted (and its revisions forgotten)
	// between its write and this one: then this one goes too, so a new
	// function of the name does not inherit it.
	if _, _, err := s.Record(ctx, rec.Tenant, rec.Spec.Name); errors.Is(err, ErrNotFound) {
		_ = s.b.Revisions.Purge(ctx, key)
	}
	// A revision the split still runs stays listed.
	if old := rec.Generation - function.MaxRevisions; old > 0 && !slices.Contains(rec.TrafficRevisions(), old) {
		_ = s.b.Revisions.Purge(ctx, events.RevisionKey(rec.Tenant, rec.Spec.Name, old))
	}
}

// Revisions lists a function's kept revisions, newest first.
func (s *Store) Revisions(ctx context.Context, tenant, name string) ([]function.Revision, error) {
	prefix := events.FunctionKey(tenant, name) + "."
	lister, err := s.b.Revisions.ListKeysFiltered(ctx, prefix+"*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return []function.Revision{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var nums []int64
	for key := range lister.Keys() {
		if n, err := strconv.ParseInt(strings.TrimPrefix(key, prefix), 10, 64); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	slices.Reverse(nums)
	items := make([]function.Revision, 0, len(nums))
	for _, n := range nums {
		r, err := s.Revision(ctx, tenant, name, n)
		if errors.Is(err, ErrNotFound) { // forgotten meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		items = append(items, r)
	}
	return items, nil
}

// Revision reads one revision of a function.
func (s *Store) Revision(ctx context.Context, tenant, name string, n int64) (function.Revision, error) {
	e, err := s.b.Revisions.Get(ctx, events.RevisionKey(tenant, name, n))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return function.Revision{}, fmt.Errorf("function %q has no revision %d: %w", name, n, ErrNotFound)
	}
	if err != nil {
		return function.Revision{}, fmt.Errorf("read revision %d of %q: %w", n, name, err)
	}
	var r function.Revision
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return function.Revision{}, fmt.Errorf("revision %d of %q: stored record is not valid: %w", n, name, err)
	}
	return r, nil
}
