// Package catalog reads desired function records from the functions bucket,
// directly or through a watch-fed cache, for every service that needs a
// function's spec.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// ErrNotFound means the function has no record.
var ErrNotFound = errors.New("not found")

// Get reads a function's desired record and its KV revision.
func Get(ctx context.Context, kv jetstream.KeyValue, tenant, name string) (function.Record, uint64, error) {
	e, err := kv.Get(ctx, events.FunctionKey(tenant, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return function.Record{}, 0, ErrNotFound
	}
	if err != nil {
		return function.Record{}, 0, fmt.Errorf("read function %s/%s: %w", tenant, name, err)
	}
	var rec function.Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return function.Record{}, 0, fmt.Errorf("decode function %s/%s: %w", tenant, name, err)
	}
	return rec, e.Revision(), nil
}

// Cache keeps every desired record in memory from a KV watch, so hot paths
// (invoke) do not read KV. A miss falls back to KV, so a function invoked
// right after its creation is found before the watch delivers it.
type Cache struct {
	kv       jetstream.KeyValue
	mu       sync.RWMutex
	recs     map[string]function.Record
	onChange func(Change)
}

// Change is a record that appeared, changed or went (Deleted).
type Change struct {
	Tenant, Name string
	Record       function.Record
	Deleted      bool
}

// NewCache starts watching the functions bucket until ctx ends.
func NewCache(ctx context.Context, kv jetstream.KeyValue) (*Cache, error) {
	return NewCacheWithHook(ctx, kv, nil)
}

// NewCacheWithHook is NewCache that also calls onChange (from the watch's
// goroutine, in order) for every record as it is first seen, changes or
// goes, for services that act on the set of functions.
func NewCacheWithHook(ctx context.Context, kv jetstream.KeyValue, onChange func(Change)) (*Cache, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	c := &Cache{kv: kv, recs: map[string]function.Record{}, onChange: onChange}
	go func() {
		defer func() { _ = w.Stop() }()
		for e := range w.Updates() {
			if e != nil {
				c.apply(e)
			}
		}
	}()
	return c, nil
}

func (c *Cache) apply(e jetstream.KeyValueEntry) {
	ch := Change{}
	ch.Tenant, ch.Name, _ = strings.Cut(e.Key(), ".")
	c.mu.Lock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.recs, e.Key())
		ch.Deleted = true
	} else if json.Unmarshal(e.Value(), &ch.Record) == nil {
		c.recs[e.Key()] = ch.Record
	}
	c.mu.Unlock()
	if c.onChange != nil {
		c.onChange(ch)
	}
}

// Lookup returns a function's desired record.
func (c *Cache) Lookup(ctx context.Context, tenant, name string) (function.Record, error) {
	c.mu.RLock()
	r, ok := c.recs[events.FunctionKey(tenant, name)]
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	r, _, err := Get(ctx, c.kv, tenant, name)
	return r, err
}

// Snapshot returns every record the cache holds now.
func (c *Cache) Snapshot() []Change {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Change, 0, len(c.recs))
	for key, r := range c.recs {
		tenant, name, _ := strings.Cut(key, ".")
		out = append(out, Change{Tenant: tenant, Name: name, Record: r})
	}
	return out
}
