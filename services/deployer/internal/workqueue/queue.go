// Package workqueue is a keyed work queue in the manner of client-go's: a
// key added many times while waiting is processed once, and a key is never
// processed by two workers at once (added while in flight, it is queued
// again when the worker is done). That is what makes reconciling
// level-triggered and safe under duplicated or reordered commands.
package workqueue

import (
	"sync"
	"time"
)

// Queue of keys of type K, each with a value V kept from its first Add
// since it was last taken (e.g. the trace context that asked for it).
type Queue[K comparable, V any] struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []K
	dirty      map[K]V
	processing map[K]bool
	closed     bool
}

// New returns an empty queue.
func New[K comparable, V any]() *Queue[K, V] {
	q := &Queue[K, V]{dirty: map[K]V{}, processing: map[K]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues k unless it is already waiting.
func (q *Queue[K, V]) Add(k K, v V) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if _, ok := q.dirty[k]; ok {
		return
	}
	q.dirty[k] = v
	if q.processing[k] {
		return // Done will queue it again
	}
	q.order = append(q.order, k)
	q.cond.Signal()
}

// AddAfter queues k after d (for retries with backoff).
func (q *Queue[K, V]) AddAfter(k K, v V, d time.Duration) {
	time.AfterFunc(d, func() { q.Add(k, v) })
}

// Get blocks until a key is ready; ok is false once the queue is closed.
func (q *Queue[K, V]) Get() (k K, v V, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.order) == 0 {
		return k, v, false
	}
	k = q.order[0]
	q.order = q.order[1:]
	v = q.dirty[k]
	delete(q.dirty, k)
	q.processing[k] = true
	return k, v, true
}

// Done marks k processed; if it was added meanwhile it is queued again.
func (q *Queue[K, V]) Done(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, k)
	if _, ok := q.dirty[k]; ok && !q.closed {
		q.order = append(q.order, k)
		q.cond.Signal()
	}
}

// Len is the number of keys waiting.
func (q *Queue[K, V]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// Close wakes every Get; keys still waiting are dropped.
func (q *Queue[K, V]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}
