package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

type fixture struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	b   bus.Buckets
	reg *prometheus.Registry
	// stop stops the invoker and returns once Run has.
	stop func()
}

func start(t *testing.T) *fixture { return startWith(t, Config{AckWait: 3 * time.Second}) }

func startWith(t *testing.T, cfg Config) *fixture { return startHooked(t, cfg, nil) }

// startHooked is startWith with a hook that may change the invoker (say,
// wrap its bucket) before it runs.
func startHooked(t *testing.T, cfg Config, hook func(*Invoker)) *fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return startOn(t, cfg, process.New(process.Config{Logger: log}), hook)
}

// closer is a runtime the fixture closes when the test ends.
type closer interface {
	runtime.Invoker
	Close(context.Context) error
}

// startOn is startHooked on the runtime given.
func startOn(t *testing.T, cfg Config, rt closer, hook func(*Invoker)) *fixture {
	t.Helper()
	_, nc, js, b := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	iv, err := New(ctx, cfg, Deps{NC: nc, JS: js, Runtime: rt, Log: log, Tracer: noop.NewTracerProvider().Tracer(""), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(iv)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = iv.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(func() {
		stop()
		cctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = rt.Close(cctx)
	})
	// The sync subscription is live once Run has subscribed; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := nc.Request(events.SyncSubject("probe", "probe"), nil, time.Second)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &fixture{nc: nc, js: js, b: b, reg: reg, stop: stop}
}

func (f *fixture) deploy(t *testing.T, tenant string, spec function.Spec) {
	t.Helper()
	raw, _ := json.Marshal(function.Record{Spec: spec.WithDefaults(), Tenant: tenant, Generation: 1})
	if _, err := f.b.Functions.Put(context.Background(), events.FunctionKey(tenant, spec.Name), raw); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) syncInvoke(t *testing.T, tenant, name, payload string) *nats.Msg {
	t.Helper()
	msg := nats.NewMsg(events.SyncSubject(tenant, name))
	id := events.NewInvocationID()
	msg.Header.Set(events.HeaderInvocationID, id)
	msg.Data = []byte(payload)
	reply, err := f.nc.RequestMsg(msg, 20*time.Second)
	if err != nil {
		t.Fatalf("sync request: %v", err)
	}
	return reply
}

func (f *fixture) enqueue(t *testing.T, tenant, name, id, payload string) {
	t.Helper()
	msg := events.Invocation{ID: id, Tenant: tenant, Function: name, Payload: []byte(payload)}.Msg()
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) waitRecord(t *testing.T, id string) events.InvocationRecord {
	t.Helper()
	return f.waitRecordWithin(t, id, 15*time.Second)
}

func (f *fixture) waitRecordWithin(t *testing.T, id string, within time.Duration) events.InvocationRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e, err := f.b.Invocations.Get(context.Background(), f.keyOf(id))
		if err == nil {
			var r events.InvocationRecord
			_ = json.Unmarshal(e.Value(), &r)
			if r.Done() {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("invocation %s not done in %s", id, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSyncInvocation(t *testing.T) {
	f := start(t)
	f.deploy(t, "t", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	reply := f.syncInvoke(t, "t", "upper", "hello")
	if reply.Header.Get(events.HeaderStatus) != events.StatusSucceeded || string(reply.Data) != "HELLO" {
		t.Fatalf("reply %v %q", reply.Header, reply.Data)
	}
	id := reply.Header.Get(events.HeaderInvocationID)
	if r := f.waitRecord(t, id); r.Status != events.StatusSucceeded || r.Output != "HELLO" || r.Async {
		t.Fatalf("record %+v", r)
	}

	reply = f.syncInvoke(t, "t", "missing", "x")
	if reply.Header.Get(events.HeaderErrorCode) != events.ErrorCodeNotFound {
		t.Fatalf("missing function: %v", reply.Header)
	}

	f.deploy(t, "t", function.Spec{Name: "fails", Command: []string{"sh", "-c", "echo bad input >&2; exit 3"}})
	reply = f.syncInvoke(t, "t", "fails", "x")
	if reply.Header.Get(events.HeaderErrorCode) != events.ErrorCodeFunctionFailed || reply.Header.Get(events.HeaderExitCode) != "3" {
		t.Fatalf("failing function: %v", reply.Header)
	}

	f.deploy(t, "t", function.Spec{Name: "slow", Command: []string{"sleep", "5"}, Invocation: function.Invocation{Timeout: function.Duration(200 * time.Millisecond)}})
	start := time.Now()
	reply = f.syncInvoke(t, "t", "slow", "")
	if reply.Header.Get(events.HeaderErrorCode) != events.ErrorCodeTimeout || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout: %v after %s", reply.Header, time.Since(start))
	}
}

func TestAsyncInvocation(t *testing.T) {
	f := start(t)
	f.deploy(t, "t", function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}})
	id := events.NewInvocationID()
	f.enqueue(t, "t", "upper", id, "queued work")
	r := f.waitRecord(t, id)
	if r.Status != events.StatusSucceeded || r.Output != "QUEUED WORK" || !r.Async || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}

	one := function.RetryPolicy{MaxAttempts: 1}
	f.deploy(t, "t", function.Spec{Name: "fails", Command: []string{"sh", "-c", "exit 7"}, Invocation: function.Invocation{Retry: &one}})
	id = events.NewInvocationID()
	f.enqueue(t, "t", "fails", id, "")
	if r := f.waitRecord(t, id); r.Status != events.StatusDeadLettered || r.ExitCode == nil || *r.ExitCode != 7 || r.Attempts != 1 {
		t.Fatalf("failing record %+v", r)
	}
}

// TestRetriesWithBackoffThenDeadLetter: an always-failing function runs
// exactly maxAttempts times, each retry after its backoff, and then sits in
// the dead-letter stream with its payload, attempts and last error.
func TestRetriesWithBackoffThenDeadLetter(t *testing.T) {
	f := start(t)
	policy := function.RetryPolicy{MaxAttempts: 3, InitialDelay: function.Duration(200 * time.Millisecond), MaxDelay: function.Duration(time.Second)}
	marker := filepath.Join(proctest.SharedDir(t), "attempts")
	f.deploy(t, "t", function.Spec{Name: "flaky", Command: []string{"sh", "-c", "date +%s%N >> " + marker + "; echo broken >&2; exit 3"},
		Invocation: function.Invocation{Retry: &policy}})
	id := events.NewInvocationID()
	f.enqueue(t, "t", "flaky", id, "the payload")
	r := f.waitRecord(t, id)
	if r.Status != events.StatusDeadLettered || r.Attempts != 3 || !strings.Contains(r.Error, "broken") {
		t.Fatalf("record %+v", r)
	}
	waitQueueEmpty(t, f.js)
	b, _ := os.ReadFile(marker)
	runs := strings.Fields(string(b))
	if len(runs) != 3 {
		t.Fatalf("ran %d times, want exactly 3", len(runs))
	}
	// Equal jitter: the n-th retry waits at least half of 200ms·2^(n-1).
	for i, min := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		a, _ := strconv.ParseInt(runs[i], 10, 64)
		b, _ := strconv.ParseInt(runs[i+1], 10, 64)
		if gap := time.Duration(b - a); gap < min {
			t.Errorf("retry %d came after %s, want at least %s", i+1, gap, min)
		}
	}
	s, _ := f.js.Stream(context.Background(), events.StreamDeadLetters)
	m, err := s.GetLastMsgForSubject(context.Background(), events.DeadLetterSubject("t", "flaky"))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := events.ParseDeadLetter(m.Subject, m.Header, m.Data)
	if err != nil || string(dl.Payload) != "the payload" || dl.ID != id || dl.Attempts != 3 || !strings.Contains(dl.Error, "exit code 3") {
		t.Fatalf("dead letter %+v %v (%v)", dl, m.Header, err)
	}
}

// TestRecordedResultIsNotRunAgain: a redelivery of an invocation whose
// result is already recorded (crash between record and ack) is acked, not
// run a second time.
func TestRecordedResultIsNotRunAgain(t *testing.T) {
	f := start(t)
	marker := filepath.Join(proctest.SharedDir(t), "ran")
	f.deploy(t, "t", function.Spec{Name: "touch", Command: []string{"sh", "-c", "echo run >> " + marker}})
	id := events.NewInvocationID()
	done := events.InvocationRecord{ID: id, Tenant: "t", Function: "touch", Async: true, Status: events.StatusSucceeded, Attempts: 1, CreatedAt: time.Now()}
	raw, _ := json.Marshal(done)
	if _, err := f.b.Invocations.Put(context.Background(), events.InvocationKey("t", "touch", id), raw); err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, "t", "touch", id, "")
	// A second, fresh invocation behind it proves the first was consumed.
	id2 := events.NewInvocationID()
	f.enqueue(t, "t", "touch", id2, "")
	f.waitRecord(t, id2)
	waitQueueEmpty(t, f.js)
	b, err := os.ReadFile(marker)
	if err != nil || string(b) != "run\n" {
		t.Fatalf("the function ran %q times' worth; want exactly once (only the fresh invocation)", b)
	}
}

// waitQueueEmpty waits until the invocations work queue holds nothing:
// every message taken and acked.
func waitQueueEmpty(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	waitQueueEmptyWithin(t, js, 10*time.Second)
}

func waitQueueEmptyWithin(t *testing.T, js jetstream.JetStream, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := js.Stream(context.Background(), events.StreamInvocations)
		if err == nil {
			if info, err := st.Info(context.Background()); err == nil && info.State.Msgs == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("invocation queue not drained in %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLongRunIsNotRedelivered: a run three times longer than the ack wait
// is executed once: in-progress acks keep JetStream from handing it to
// another attempt meanwhile.
func TestLongRunIsNotRedelivered(t *testing.T) {
	f := startWith(t, Config{AckWait: time.Second})
	marker := filepath.Join(proctest.SharedDir(t), "runs")
	f.deploy(t, "t", function.Spec{Name: "slow", Command: []string{"sh", "-c", "echo run >> " + marker + "; sleep 3; echo done"}})
	id := events.NewInvocationID()
	f.enqueue(t, "t", "slow", id, "")
	r := f.waitRecord(t, id)
	waitQueueEmpty(t, f.js)
	if b, _ := os.ReadFile(marker); string(b) != "run\n" || r.Status != events.StatusSucceeded || r.Attempts != 1 {
		t.Fatalf("ran %q; record %+v: want one run, one attempt", b, r)
	}
}

// TestFairnessAcrossFunctions: with 5,000 invocations queued for function
// A, an invocation of function B still runs at once: each function has a
// queue of its own. (With one queue for all, B would wait behind A's
// 5,000: about two minutes here.)
func TestFairnessAcrossFunctions(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second, MaxConcurrent: 8})
	f.deploy(t, "t", function.Spec{Name: "flood", Command: []string{"sleep", "0.2"}})
	f.deploy(t, "t", function.Spec{Name: "urgent", Command: []string{"cat"}})
	ctx := context.Background()
	for i := range 5000 {
		msg := events.Invocation{ID: events.NewInvocationID(), Tenant: "t", Function: "flood"}.Msg()
		if _, err := f.js.PublishMsgAsync(msg); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("5,000 invocations not stored in 30s")
	}
	// Let the flood get going before the urgent one arrives.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := f.js.Stream(ctx, events.StreamInvocations)
		info, _ := st.Info(ctx)
		c, err := f.js.Consumer(ctx, events.StreamInvocations, events.QueueConsumer("t", "flood"))
		if err == nil {
			if ci, err := c.Info(ctx); err == nil && ci.NumAckPending > 0 && info.State.Msgs > 4000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the flood did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	id := events.NewInvocationID()
	f.enqueue(t, "t", "urgent", id, "now")
	r := f.waitRecord(t, id)
	took := time.Since(start)
	if r.Status != events.StatusSucceeded || took > 5*time.Second {
		t.Fatalf("the urgent invocation took %s behind the flood (%+v)", took, r)
	}
	t.Logf("urgent invocation done %s after it was queued behind 5,000 others", took)
}

// TestMaxConcurrencyPerFunction: a function's maxConcurrency bounds its
// runs at once, though the invoker has slots to spare.
func TestMaxConcurrencyPerFunction(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second, MaxConcurrent: 16})
	log := filepath.Join(proctest.SharedDir(t), "runs")
	f.deploy(t, "t", function.Spec{Name: "narrow", Command: []string{"sh", "-c",
		`echo "+ $(date +%s%N)" >> ` + log + `; sleep 0.3; echo "- $(date +%s%N)" >> ` + log},
		Invocation: function.Invocation{MaxConcurrency: 2}})
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = events.NewInvocationID()
		f.enqueue(t, "t", "narrow", ids[i], "")
	}
	for _, id := range ids {
		f.waitRecord(t, id)
	}
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, log)), "\n") {
		sign, ts, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(ts, 10, 64)
		d := 1
		if sign == "-" {
			d = -1
		}
		edges = append(edges, edge{n, d})
	}
	sort.Slice(edges, func(i, j int) bool {
		return edges[i].at < edges[j].at || (edges[i].at == edges[j].at && edges[i].delta < edges[j].delta)
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	if most != 2 {
		t.Fatalf("at most %d ran at once; want exactly maxConcurrency 2", most)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyOf finds the record key of an invocation id, whatever its function.
func (f *fixture) keyOf(id string) string {
	lister, err := f.b.Invocations.ListKeysFiltered(context.Background(), "*.*."+id)
	if err != nil {
		return id
	}
	defer func() { _ = lister.Stop() }()
	for k := range lister.Keys() {
		return k
	}
	return id
}

// TestMoreThanAThousandFunctions: every function gets its queue, past the
// 1,000 consumers nats-server allows a stream unless told otherwise.
func TestMoreThanAThousandFunctions(t *testing.T) {
	f := start(t)
	const n = 1050
	for i := range n {
		f.deploy(t, "many", function.Spec{Name: fmt.Sprintf("f%d", i), Command: []string{"cat"}})
	}
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, _ := f.js.Stream(ctx, events.StreamInvocations)
		info, err := st.Info(ctx)
		if err == nil && info.State.Consumers >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d function queues after 90s", info.State.Consumers, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	id := events.NewInvocationID()
	f.enqueue(t, "many", fmt.Sprintf("f%d", n-1), id, "last")
	if r := f.waitRecord(t, id); r.Status != events.StatusSucceeded || r.Output != "last" {
		t.Fatalf("the last function's invocation: %+v", r)
	}
}

// TestQueueDoesNotStall: invocations arriving steadily while others run
// all complete without pauses. (With pull batches of a few messages,
// nats.go's Consume was seen to stop pulling with work queued, until its
// pull expired 30 s later: this bound catches that.)
func TestQueueDoesNotStall(t *testing.T) {
	f := startWith(t, Config{AckWait: 30 * time.Second, MaxConcurrent: 64})
	f.deploy(t, "t", function.Spec{Name: "quick", Command: []string{"true"}})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				msg := events.Invocation{ID: events.NewInvocationID(), Tenant: "t", Function: "quick"}.Msg()
				msg.Header.Del(nats.MsgIdHdr) // as a producer that sets none
				if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
					t.Errorf("enqueue %d/%d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitQueueEmptyWithin(t, f.js, 25*time.Second)
}
