package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// countingKV counts the invoker's reads and writes of the invocations
// bucket, per operation, for the keys of one invocation id.
type countingKV struct {
	jetstream.KeyValue
	id string
	mu sync.Mutex
	n  map[string]int
}

func (c *countingKV) count(op, key string) {
	if !strings.HasSuffix(key, "."+c.id) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[op]++
}

func (c *countingKV) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.count("get", key)
	return c.KeyValue.Get(ctx, key)
}

func (c *countingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	c.count("create", key)
	return c.KeyValue.Create(ctx, key, value, opts...)
}

func (c *countingKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	c.count("update", key)
	return c.KeyValue.Update(ctx, key, value, rev)
}

func (c *countingKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	c.count("put", key)
	return c.KeyValue.Put(ctx, key, value)
}

// TestCompletionWrites: an async invocation is one read of its record
// and revision-checked writes, each going from the revision of the one
// before, with or without the gateway's queued record before them. A run
// that ends before Config.RunningAfter is one write, straight to its end
// (its record is never running); a longer run's record says running while
// it runs (the write made when RunningAfter has passed), then its end: two
// writes.
func TestCompletionWrites(t *testing.T) {
	for _, c := range []struct {
		name   string
		queued bool // the gateway created the queued record first
		slow   bool // the run outlasts RunningAfter
		want   map[string]int
	}{
		{"short run, no record before", false, false, map[string]int{"get": 1, "create": 1}},
		{"short run, gateway's queued record", true, false, map[string]int{"get": 1, "update": 1}},
		{"long run, no record before", false, true, map[string]int{"get": 1, "create": 1, "update": 1}},
		{"long run, gateway's queued record", true, true, map[string]int{"get": 1, "update": 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := events.NewInvocationID()
			kv := &countingKV{id: id, n: map[string]int{}}
			cfg := Config{AckWait: 3 * time.Second, RunningAfter: 5 * time.Second}
			cmd := []string{"tr", "a-z", "A-Z"}
			want := []string{events.StatusSucceeded}
			if c.slow {
				cfg.RunningAfter = 50 * time.Millisecond
				cmd = []string{"sh", "-c", "sleep 1; tr a-z A-Z"}
				want = []string{events.StatusRunning, events.StatusSucceeded}
			}
			f := startHooked(t, cfg, func(iv *Invoker) {
				kv.KeyValue = iv.records.KV
				iv.records.KV = kv
			})
			f.deploy(t, "t", function.Spec{Name: "upper", Command: cmd})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			key := events.InvocationKey("t", "upper", id)
			if c.queued {
				q := newRecord(id, "t", "upper", true, time.Now().UTC())
				if _, err := f.b.Invocations.Create(ctx, key, mustMarshal(t, q)); err != nil {
					t.Fatal(err)
				}
			}
			// Every revision from now on (the bucket keeps one, so the
			// watch is what sees them all).
			w, err := f.b.Invocations.Watch(ctx, key, jetstream.UpdatesOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = w.Stop() }()

			f.enqueue(t, "t", "upper", id, "once")
			var statuses []string
			var last uint64
			for len(statuses) == 0 || statuses[len(statuses)-1] != events.StatusSucceeded {
				select {
				case e := <-w.Updates():
					if e == nil {
						continue
					}
					var r events.StoredInvocation
					_ = json.Unmarshal(e.Value(), &r)
					statuses = append(statuses, r.Status)
					if e.Revision() <= last {
						t.Fatalf("revision %d after %d", e.Revision(), last)
					}
					last = e.Revision()
				case <-ctx.Done():
					t.Fatalf("revisions %v, and no success", statuses)
				}
			}
			waitQueueEmpty(t, f.js) // acked: nothing more to write
			select {
			case e := <-w.Updates():
				t.Fatalf("a revision after the result: %s", e.Value())
			case <-time.After(300 * time.Millisecond):
			}
			if strings.Join(statuses, ",") != strings.Join(want, ",") {
				t.Fatalf("revisions %v, want %v", statuses, want)
			}
			r := f.waitRecord(t, id)
			if r.Output != "ONCE" || r.Attempts != 1 || r.StartedAt == nil || r.FinishedAt == nil || r.DurationMs == nil || r.ExitCode == nil || *r.ExitCode != 0 {
				t.Fatalf("final record %+v", r)
			}
			if c.slow && *r.DurationMs < 900 {
				t.Fatalf("duration %d ms of a run of 1s", *r.DurationMs)
			}
			got := kv.counts()
			if len(got) != len(c.want) {
				t.Fatalf("operations on the record %v, want %v", got, c.want)
			}
			for op, n := range c.want {
				if got[op] != n {
					t.Fatalf("operations on the record %v, want %v", got, c.want)
				}
			}
		})
	}
}

// TestRedeliveredEndQueuesItsPendingCallback: a redelivery of an invocation
// whose end is recorded but whose callback is still pending (a crash after
// the record, before the queueing) does not run it again, and does queue
// the callback, of the recorded end, before it acks.
func TestRedeliveredEndQueuesItsPendingCallback(t *testing.T) {
	f := startWith(t, Config{AckWait: 3 * time.Second, CallbackRetryDelay: 50 * time.Millisecond,
		CallbackDestinations: egress.Policy{AllowPrivate: true}})
	marker := filepath.Join(proctest.SharedDir(t), "ran")
	f.deploy(t, "acme", function.Spec{Name: "touch", Command: []string{"sh", "-c", "echo run >> " + marker}})
	h := newHook(t)
	id := events.NewInvocationID()
	ended := events.StoredInvocation{ID: id, Tenant: "acme", Function: "touch", Async: true, Status: events.StatusSucceeded,
		Attempts: 1, Output: "recorded", CreatedAt: time.Now().UTC(),
		Callback: &events.CallbackStatus{URL: h.URL + "/hook", Status: events.CallbackPending}}
	if _, err := f.b.Invocations.Create(context.Background(), events.InvocationKey("acme", "touch", id), mustMarshal(t, ended)); err != nil {
		t.Fatal(err)
	}
	f.enqueueWithCallback(t, "acme", "touch", id, h.URL+"/hook")
	if cb := f.waitCallback(t, id); cb.Status != events.CallbackDelivered {
		t.Fatalf("callback %+v, want delivered", cb)
	}
	waitQueueEmpty(t, f.js)
	got := h.requests()
	var body events.InvocationRecord
	if len(got) != 1 || json.Unmarshal(got[0].body, &body) != nil || body.Output != "recorded" || body.Status != events.StatusSucceeded {
		t.Fatalf("callbacks %d, body %+v: want the recorded end's, once", len(got), body)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the function ran again (%v)", err)
	}
}

// TestEndRecordedElsewhereIsNotOverwritten: while a run goes on, another
// writer records the invocation's end (as another delivery of it would).
// Whether that happens after the running write, before it, or with no
// running write at all (a run shorter than RunningAfter as far as the
// record goes), the invoker's own end does not overwrite it: the message
// is acked and the record stays the other writer's.
func TestEndRecordedElsewhereIsNotOverwritten(t *testing.T) {
	for _, c := range []struct {
		name         string
		runningAfter time.Duration
	}{
		{"after the running write", 50 * time.Millisecond},
		{"before the running write", 700 * time.Millisecond},
		{"no running write", 10 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startWith(t, Config{AckWait: 5 * time.Second, RunningAfter: c.runningAfter})
			marker := filepath.Join(proctest.SharedDir(t), "started")
			f.deploy(t, "t", function.Spec{Name: "slow", Command: []string{"sh", "-c", "echo started > " + marker + "; sleep 1.5; echo mine"}})
			ctx := context.Background()
			id := events.NewInvocationID()
			key := events.InvocationKey("t", "slow", id)
			if _, err := f.b.Invocations.Create(ctx, key, mustMarshal(t, newRecord(id, "t", "slow", true, time.Now().UTC()))); err != nil {
				t.Fatal(err)
			}
			f.enqueue(t, "t", "slow", id, "x")
			deadline := time.Now().Add(15 * time.Second)
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the function did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			other := newRecord(id, "t", "slow", true, time.Now().UTC())
			other.Status, other.Attempts, other.Output = events.StatusSucceeded, 1, "theirs"
			if _, err := f.b.Invocations.Put(ctx, key, mustMarshal(t, other)); err != nil {
				t.Fatal(err)
			}
			waitQueueEmpty(t, f.js)
			time.Sleep(300 * time.Millisecond)
			e, err := f.b.Invocations.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			var r events.StoredInvocation
			_ = json.Unmarshal(e.Value(), &r)
			if r.Status != events.StatusSucceeded || r.Output != "theirs" {
				t.Fatalf("record %+v, want the other writer's end", r)
			}
		})
	}
}
