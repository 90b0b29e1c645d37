package process

import (
	"sync"
	"sync/atomic"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// notifier feeds Changes without ever blocking the runtime: notify only
// queues the Ref (once, however often it changes before delivery) and a pump
// goroutine delivers the queue. Nothing is lost, repeated changes coalesce.
type notifier struct {
	out  chan runtime.Ref
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once

	calls atomic.Uint64

	mu      sync.Mutex
	pending []runtime.Ref
	queued  map[runtime.Ref]bool
}

func newNotifier() *notifier {
	n := &notifier{
		out:    make(chan runtime.Ref, 64),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		queued: make(map[runtime.Ref]bool),
	}
	go n.run()
	return n
}

func (n *notifier) notify(ref runtime.Ref) {
	n.calls.Add(1)
	n.mu.Lock()
	if !n.queued[ref] {
		n.queued[ref] = true
		n.pending = append(n.pending, ref)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default: // the pump is already woken
	}
}

func (n *notifier) next() (runtime.Ref, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		n.pending = n.pending[:0]
		return runtime.Ref{}, false
	}
	ref := n.pending[0]
	n.pending = n.pending[1:]
	delete(n.queued, ref)
	return ref, true
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.quit:
			return
		case <-n.wake:
		}
		for ref, ok := n.next(); ok; ref, ok = n.next() {
			select {
			case n.out <- ref:
			case <-n.quit:
				return
			}
		}
	}
}

// close stops the pump. The channel stays open (never closed) so a consumer
// selecting on it does not spin on zero Refs.
func (n *notifier) close() {
	n.once.Do(func() { close(n.quit) })
	<-n.done
}

// Changes delivers a function's Ref after Apply, Remove and every change of
// one of its instances (started, ready, exited). The channel is never closed.
func (r *Runtime) Changes() <-chan runtime.Ref { return r.changes.out }

// notified counts notify calls (for tests of what counts as a change).
func (n *notifier) notified() uint64 { return n.calls.Load() }
