package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime"
)

func testEvent(i int) *nats.Msg {
	m := nats.NewMsg(events.EventSubject("t", "f"+strconv.Itoa(i), events.TypeFunctionReady))
	m.Header.Set(nats.MsgIdHdr, "ev-"+strconv.Itoa(i))
	m.Data = []byte(strconv.Itoa(i))
	return m
}

func ref(i int) runtime.Ref { return runtime.Ref{Tenant: "t", Name: "f" + strconv.Itoa(i)} }

// requeues records the reconciles a Reconciler asks for.
type requeues struct {
	mu  sync.Mutex
	got []requeued
}

type requeued struct {
	ref   runtime.Ref
	after time.Duration
}

func (q *requeues) add(r runtime.Ref, after time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got = append(q.got, requeued{r, after})
}

func (q *requeues) all() []requeued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.got)
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestUnsentKeepsOrderBacksOffAndIsBounded, on a real server: with the
// events stream gone, events are kept (the oldest let go past the
// limit), none is tried again before its backoff, each failed try waits
// longer and asks for the reconcile of the oldest event's function; once
// the stream is back, one try stores what was kept, oldest first, each
// once. An event the server refuses for good is not kept.
func TestUnsentKeepsOrderBacksOffAndIsBounded(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	ctx := context.Background()
	if err := js.DeleteStream(ctx, events.StreamEvents); err != nil {
		t.Fatal(err)
	}
	// A small limit: a publish with no stream to take it takes its
	// retries' time (about half a second) to fail.
	const limit = 3
	var q requeues
	clk := &clock{t: time.Unix(1_000_000, 0)}
	r := &Reconciler{JS: js, Log: slog.New(slog.DiscardHandler), Requeue: q.add, Now: clk.now}
	r.unsent.limit = limit

	r.sendEvent(ctx, ref(0), events.TypeFunctionReady, testEvent(0))
	for i := 1; i < 9; i++ { // kept behind, not tried: the backoff has not passed
		r.sendEvent(ctx, ref(i), events.TypeFunctionReady, testEvent(i))
	}
	if n := r.UnsentEvents(); n != limit {
		t.Fatalf("%d events kept, want %d", n, limit)
	}
	if got := q.all(); len(got) != 1 || got[0] != (requeued{ref(0), 500 * time.Millisecond}) {
		t.Fatalf("requeues %v after the first failure", got)
	}
	for range 7 {
		r.resend(ctx) // before the backoff: nothing tried, nothing asked
		clk.add(time.Minute)
		r.resend(ctx)
	}
	var waits []time.Duration
	for i, g := range q.all() {
		// The oldest event kept: 0, then (past the limit) 6.
		if want := ref(6); i == 0 && g.ref != ref(0) || i > 0 && g.ref != want {
			t.Fatalf("requeue %d of %v: not the oldest event's function", i, g.ref)
		}
		waits = append(waits, g.after)
	}
	s := time.Second
	if want := []time.Duration{s / 2, s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}

	if err := bus.Provision(ctx, js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	r.resend(ctx)
	if n := r.UnsentEvents(); n != 0 {
		t.Fatalf("%d events still kept with the stream back", n)
	}
	r.resend(ctx) // nothing kept: nothing stored again
	bad := testEvent(100)
	bad.Header.Set("Nats-Expected-Stream", "NOT_THE_EVENTS_STREAM")
	r.sendEvent(ctx, ref(100), events.TypeFunctionReady, bad)
	if n := r.UnsentEvents(); n != 0 {
		t.Fatalf("a refused event was kept (%d kept)", n)
	}
	stream, err := js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != limit {
		t.Fatalf("stream has %d events, want %d", info.State.Msgs, limit)
	}
	for seq := uint64(1); seq <= limit; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(9 - limit + int(seq) - 1); string(m.Data) != want {
			t.Fatalf("event at %d is %s, want %s", seq, m.Data, want)
		}
	}
}

// stuckJS is a JetStream whose PublishMsg fails at once until stuck is
// set, then waits to be released (and succeeds), recording what it got.
type stuckJS struct {
	jetstream.JetStream // only PublishMsg is called

	mu      sync.Mutex
	stuck   bool
	entered chan struct{}
	release chan struct{}
	got     []string
}

func (s *stuckJS) PublishMsg(ctx context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	s.mu.Lock()
	stuck := s.stuck
	s.mu.Unlock()
	if !stuck {
		return nil, errors.New("no stream")
	}
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, string(msg.Data))
	return &jetstream.PubAck{}, nil
}

// TestUnsentTryHoldsUpNobody (pure logic, a stand-in JetStream): while
// one try waits on a stream that does not answer, other reconciles'
// tries, new events and the gauge do not wait for it.
func TestUnsentTryHoldsUpNobody(t *testing.T) {
	js := &stuckJS{entered: make(chan struct{}, 1), release: make(chan struct{})}
	clk := &clock{t: time.Unix(1_000_000, 0)}
	r := &Reconciler{JS: js, Log: slog.New(slog.DiscardHandler), Now: clk.now}
	ctx := context.Background()
	r.sendEvent(ctx, ref(0), events.TypeFunctionReady, testEvent(0)) // fails: kept
	js.mu.Lock()
	js.stuck = true
	js.mu.Unlock()
	clk.add(time.Minute)
	tried := make(chan struct{})
	go func() { defer close(tried); r.resend(ctx) }()
	<-js.entered
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited for the stuck try", what)
		}
	}
	within("the gauge", func() {
		if n := r.UnsentEvents(); n != 1 {
			t.Errorf("%d kept, want 1", n)
		}
	})
	within("another try", func() { r.resend(ctx) })
	within("a new event", func() { r.sendEvent(ctx, ref(1), events.TypeFunctionReady, testEvent(1)) })
	close(js.release)
	<-tried
	if n := r.UnsentEvents(); n != 0 || !slices.Equal(js.got, []string{"0", "1"}) {
		t.Fatalf("published %v, %d left; want [0 1], none", js.got, n)
	}
}
