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
	"time"

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
	// waits are the change notifications of the functions someone waits
	// on (Changed), by events.FunctionKey: closed at the function's next
	// change, then forgotten.
	waits map[string]*fnWait
	// onRemoved is called when an endpoint of a function went away (a
	// drained or stopped instance).
	onRemoved atomic.Pointer[func()]
}

// OnRemoved sets what to call when an endpoint leaves a function's set:
// the route closes its idle keep-alive connections then, so a draining
// instance sees only connections with requests in flight (the process
// runtime waits for those before stopping it).
func (e *Endpoints) OnRemoved(f func()) { e.onRemoved.Store(&f) }

// fnWait is one function's change notification and how many wait on it.
type fnWait struct {
	ch chan struct{}
	n  int
}

// fnEndpoints is one status revision's endpoints: the latest revision's
// and those of the revisions a traffic split runs beside it, immutable
// but for the round-robin counters.
type fnEndpoints struct {
	rev       uint64
	latest    endpointSet
	revisions map[int64]*endpointSet
}

// endpointSet is one deployment's endpoints and its round-robin counter.
type endpointSet struct {
	urls []*url.URL
	rr   atomic.Uint32
}

// pick is the next endpoint, round robin, or nil when there is none.
func (s *endpointSet) pick() *url.URL {
	if s == nil || len(s.urls) == 0 {
		return nil
	}
	return s.urls[s.rr.Add(1)%uint32(len(s.urls))]
}

// anyHost calls f with every endpoint's host until it returns true, and
// says whether it did.
func (fe *fnEndpoints) anyHost(f func(host string) bool) bool {
	if fe == nil {
		return false
	}
	for _, u := range fe.latest.urls {
		if f(u.Host) {
			return true
		}
	}
	for _, s := range fe.revisions {
		for _, u := range s.urls {
			if f(u.Host) {
				return true
			}
		}
	}
	return false
}

// httpBases keeps the plain http base URLs of raw: the values come from
// the bus, and a malformed one must not send requests elsewhere.
func httpBases(raw []string) []*url.URL {
	var out []*url.URL
	for _, s := range raw {
		if u, err := url.Parse(s); err == nil && u.Scheme == "http" && u.Host != "" && u.User == nil {
			out = append(out, &url.URL{Scheme: u.Scheme, Host: u.Host})
		}
	}
	return out
}

// NewEndpoints starts watching the status bucket until ctx ends.
func NewEndpoints(ctx context.Context, kv jetstream.KeyValue) (*Endpoints, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	e := &Endpoints{kv: kv, fns: map[string]*fnEndpoints{}, waits: map[string]*fnWait{}}
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
			e.notify(key)
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
	fe.latest.urls = httpBases(st.Endpoints)
	for n, raw := range st.RevisionEndpoints {
		if urls := httpBases(raw); len(urls) > 0 {
			if fe.revisions == nil {
				fe.revisions = map[int64]*endpointSet{}
			}
			fe.revisions[n] = &endpointSet{urls: urls}
		}
	}
	e.mu.Lock()
	cur := e.fns[key]
	if cur != nil && cur.rev >= rev {
		e.mu.Unlock()
		return cur
	}
	e.fns[key] = fe
	e.notify(key)
	e.mu.Unlock()
	if removed(cur, fe) {
		if f := e.onRemoved.Load(); f != nil {
			(*f)()
		}
	}
	return fe
}

// removed says whether a host of old (of any revision) is in no
// revision of now.
func removed(old, now *fnEndpoints) bool {
	return old.anyHost(func(o string) bool {
		return !now.anyHost(func(n string) bool { return n == o })
	})
}

// notify wakes whoever waits for a change of key's endpoints; e.mu is held.
func (e *Endpoints) notify(key string) {
	if w := e.waits[key]; w != nil {
		close(w.ch)
		delete(e.waits, key)
	}
}

// Changed returns a channel closed at the function's next change of
// endpoints (a new status revision, or its deletion): a broadcast to every
// request waiting for the function's first instance, without polling.
// Take it before Pick, so a change between the two is not missed; call
// done when no longer waiting (a notification nobody waits for is
// forgotten, so the waits stay bounded by the functions waited on).
func (e *Endpoints) Changed(tenant, name string) (changed <-chan struct{}, done func()) {
	key := events.FunctionKey(tenant, name)
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.waits[key]
	if w == nil {
		w = &fnWait{ch: make(chan struct{})}
		e.waits[key] = w
	}
	w.n++
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if w.n--; w.n == 0 && e.waits[key] == w {
				delete(e.waits, key)
			}
		})
	}
}

// Has says whether host is still one of the function's endpoints (of
// its latest revision or of one running beside it).
func (e *Endpoints) Has(tenant, name, host string) bool {
	e.mu.RLock()
	fe := e.fns[events.FunctionKey(tenant, name)]
	e.mu.RUnlock()
	return fe.anyHost(func(h string) bool { return h == host })
}

// WaitGone waits until host is no longer one of the function's endpoints
// (a status without it arrived), for at most within or until ctx ends,
// and says whether it went.
func (e *Endpoints) WaitGone(ctx context.Context, tenant, name, host string, within time.Duration) bool {
	t := time.NewTimer(within)
	defer t.Stop()
	for {
		changed, done := e.Changed(tenant, name)
		if !e.Has(tenant, name, host) {
			done()
			return true
		}
		select {
		case <-changed:
			done()
		case <-t.C:
			done()
			return false
		case <-ctx.Done():
			done()
			return false
		}
	}
}

// Pick returns one endpoint of the function's latest revision, round
// robin, or nil when it has none ready. A function the watch has not
// delivered yet (just deployed) is read from KV.
func (e *Endpoints) Pick(ctx context.Context, tenant, name string) (*url.URL, error) {
	fe, err := e.lookup(ctx, tenant, name)
	if fe == nil {
		return nil, err
	}
	return fe.latest.pick(), nil
}

// PickRevision is Pick for revision rev running beside the latest (a
// traffic split): nil when it has no ready instance.
func (e *Endpoints) PickRevision(ctx context.Context, tenant, name string, rev int64) (*url.URL, error) {
	fe, err := e.lookup(ctx, tenant, name)
	if fe == nil {
		return nil, err
	}
	return fe.revisions[rev].pick(), nil
}

// lookup is the function's endpoints as kept, or read from KV on a miss
// (nil when it has no status).
func (e *Endpoints) lookup(ctx context.Context, tenant, name string) (*fnEndpoints, error) {
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
		return e.store(key, entry.Revision(), entry.Value()), nil
	}
	return fe, nil
}
