package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Endpoints keeps where each http-mode function's ready instances serve
// (function.Status.Endpoints, which the deployer stores from the
// runtime), fed by a watch of the status bucket: the gateway links no
// runtime, and the HTTP route must not read KV on every request.
type Endpoints struct {
	kv jetstream.KeyValue

	mu  sync.RWMutex
	fns map[string]*fnEndpoints // by events.FunctionKey
}

// fnEndpoints is one status revision's endpoints, immutable but for the
// round-robin counter.
type fnEndpoints struct {
	rev  uint64
	urls []*url.URL
	rr   atomic.Uint32
}

// NewEndpoints starts watching the status bucket until ctx ends.
func NewEndpoints(ctx context.Context, kv jetstream.KeyValue) (*Endpoints, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	e := &Endpoints{kv: kv, fns: map[string]*fnEndpoints{}}
	go func() {
		defer func() { _ = w.Stop() }()
		for entry := range w.Updates() {
			if entry != nil {
				e.apply(entry)
			}
		}
	}()
	return e, nil
}

func (e *Endpoints) apply(entry jetstream.KeyValueEntry) {
	key := entry.Key()
	if strings.Count(key, ".") != 1 {
		return // not a function's status
	}
	if entry.Operation() != jetstream.KeyValuePut {
		e.mu.Lock()
		if cur := e.fns[key]; cur == nil || cur.rev < entry.Revision() {
			delete(e.fns, key)
		}
		e.mu.Unlock()
		return
	}
	e.store(key, entry.Revision(), entry.Value())
}

// store keeps the endpoints of a status revision unless a newer one is
// already kept (a KV read on a miss may race with the watch).
func (e *Endpoints) store(key string, rev uint64, value []byte) *fnEndpoints {
	var st function.Status
	if err := json.Unmarshal(value, &st); err != nil {
		return nil
	}
	fe := &fnEndpoints{rev: rev}
	for _, s := range st.Endpoints {
		// Only plain http base URLs: the value comes from the bus, and a
		// malformed one must not send requests elsewhere.
		if u, err := url.Parse(s); err == nil && u.Scheme == "http" && u.Host != "" && u.User == nil {
			fe.urls = append(fe.urls, &url.URL{Scheme: u.Scheme, Host: u.Host})
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.fns[key]; cur != nil && cur.rev >= rev {
		return cur
	}
	e.fns[key] = fe
	return fe
}

// Pick returns one endpoint of the function, round robin, or nil when it
// has none ready. A function the watch has not delivered yet (just
// deployed) is read from KV.
func (e *Endpoints) Pick(ctx context.Context, tenant, name string) (*url.URL, error) {
	key := events.FunctionKey(tenant, name)
	e.mu.RLock()
	fe := e.fns[key]
	e.mu.RUnlock()
	if fe == nil {
		entry, err := e.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read status %s: %w", key, err)
		}
		if fe = e.store(key, entry.Revision(), entry.Value()); fe == nil {
			return nil, nil
		}
	}
	if len(fe.urls) == 0 {
		return nil, nil
	}
	return fe.urls[fe.rr.Add(1)%uint32(len(fe.urls))], nil
}
