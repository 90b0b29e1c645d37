package service

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// betweenReadAndWrite wraps the invocations bucket: the first time a
// dead-lettered record is read (by the callback delivery, the only reader
// of such a record here), it runs between before handing it back, so
// whatever between writes lands after the read and before the reader's
// own write.
type betweenReadAndWrite struct {
	jetstream.KeyValue
	once    sync.Once
	between func(key string)
}

func (w *betweenReadAndWrite) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	e, err := w.KeyValue.Get(ctx, key)
	if err == nil {
		var r events.InvocationRecord
		if json.Unmarshal(e.Value(), &r) == nil && r.Status == events.StatusDeadLettered {
			w.once.Do(func() { w.between(key) })
		}
	}
	return e, err
}

// TestRedriveIsNotLostToALateCallbackWrite reproduces the race of a redrive
// with the callback delivery of the same invocation's dead letter: the
// callback's outcome is written after the redrive set the record back to
// queued, from a read made before. A writer that puts its whole record
// back restores dead_lettered, and the invoker, taking the redriven
// message, sees a finished invocation and drops it. Revision-checked
// writes that change only the callback part keep the redrive: the
// function runs again and the record ends with the new run's result.
func TestRedriveIsNotLostToALateCallbackWrite(t *testing.T) {
	dir := proctest.SharedDir(t)
	runs, flag := filepath.Join(dir, "runs"), filepath.Join(dir, "fixed")
	var kv *betweenReadAndWrite
	redrove := make(chan struct{})
	f := startHooked(t, Config{AckWait: 3 * time.Second, CallbackRetryDelay: 100 * time.Millisecond,
		CallbackDestinations: egress.Policy{AllowPrivate: true}}, func(iv *Invoker) {
		kv = &betweenReadAndWrite{KeyValue: iv.records.KV}
		iv.records.KV = kv
	})
	// The redrive's first step, as the gateway takes it: the record back
	// to queued (from then on the function may succeed).
	kv.between = func(key string) {
		defer close(redrove)
		ctx := context.Background()
		e, err := kv.KeyValue.Get(ctx, key)
		if err != nil {
			t.Error(err)
			return
		}
		var r events.StoredInvocation
		_ = json.Unmarshal(e.Value(), &r)
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			t.Error(err)
		}
		redriven, ok := events.Redriven(r)
		if !ok {
			t.Errorf("record %+v cannot be redriven", r)
			return
		}
		if _, err := kv.KeyValue.Update(ctx, key, mustMarshal(t, redriven), e.Revision()); err != nil {
			t.Error(err)
		}
	}
	f.deploy(t, "acme", function.Spec{Name: "once", Command: []string{"sh", "-c", "echo run >> " + runs + " && test -f " + flag},
		Invocation: function.Invocation{Retry: &function.RetryPolicy{MaxAttempts: 1}}})
	h := newHook(t, http.StatusServiceUnavailable) // the first callback attempt fails, the retry waits
	id := events.NewInvocationID()
	f.enqueueWithCallback(t, "acme", "once", id, h.URL+"/hook")

	select {
	case <-redrove:
	case <-time.After(20 * time.Second):
		t.Fatal("the invocation was not dead-lettered and called back")
	}
	// Let the callback's retry run before the redriven message is queued,
	// so every write of the old end has landed.
	deadline := time.Now().Add(20 * time.Second)
	for len(h.requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("callback retried %d times", len(h.requests()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The redrive's second step: the dead letter queued again.
	dl := events.Invocation{ID: id, Tenant: "acme", Function: "once", Payload: []byte("hi"), PriorAttempts: 1}
	msg := dl.Msg()
	msg.Header.Set(nats.MsgIdHdr, id+"-redrive-1")
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}

	deadline = time.Now().Add(15 * time.Second)
	for {
		e, err := f.b.Invocations.Get(context.Background(), events.InvocationKey("acme", "once", id))
		var r events.InvocationRecord
		if err == nil {
			_ = json.Unmarshal(e.Value(), &r)
		}
		if r.Status == events.StatusSucceeded && r.Attempts == 2 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(runs)
			t.Fatalf("the redriven invocation did not run: record %+v, the function ran %d times", r, strings.Count(string(b), "run"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b := readFile(t, runs); strings.Count(b, "run") != 2 {
		t.Fatalf("the function ran %d times, want 2", strings.Count(b, "run"))
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
