package workqueue

import (
	"sync"
	"testing"
)

func TestAddDeduplicatesWaitingKeys(t *testing.T) {
	q := New[string, int]()
	q.Add("a", 1)
	q.Add("a", 2)
	q.Add("b", 3)
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2", q.Len())
	}
	k, v, _ := q.Get()
	if k != "a" || v != 1 {
		t.Fatalf("Get = %s,%d; want a,1 (first value kept)", k, v)
	}
}

func TestKeyAddedWhileProcessingIsRequeuedOnDone(t *testing.T) {
	q := New[string, int]()
	q.Add("a", 1)
	k, _, _ := q.Get()
	q.Add("a", 2) // while in flight
	if q.Len() != 0 {
		t.Fatalf("a key in flight must not be handed to a second worker; Len = %d", q.Len())
	}
	q.Done(k)
	if q.Len() != 1 {
		t.Fatalf("Len after Done = %d, want 1", q.Len())
	}
	if _, v, _ := q.Get(); v != 2 {
		t.Fatalf("value = %d, want 2", v)
	}
}

func TestNoKeyProcessedConcurrently(t *testing.T) {
	q := New[int, struct{}]()
	var mu sync.Mutex
	active := map[int]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, _, ok := q.Get()
				if !ok {
					return
				}
				mu.Lock()
				if active[k] {
					t.Errorf("key %d processed by two workers", k)
				}
				active[k] = true
				mu.Unlock()
				mu.Lock()
				active[k] = false
				mu.Unlock()
				q.Done(k)
			}
		}()
	}
	for i := range 2000 {
		q.Add(i%5, struct{}{})
	}
	q.Close()
	wg.Wait()
}
