package reconcile

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestUnsentKeepsOrderBacksOffAndIsBounded: with the events stream gone,
// events are kept (the oldest let go past the limit) and each failed try
// waits longer; once the stream is back, one send stores what was kept,
// oldest first, each once.
func TestUnsentKeepsOrderBacksOffAndIsBounded(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	ctx := context.Background()
	if err := js.DeleteStream(ctx, events.StreamEvents); err != nil {
		t.Fatal(err)
	}
	event := func(i int) *nats.Msg {
		m := nats.NewMsg(events.EventSubject("t", "f", events.TypeFunctionReady))
		m.Header.Set(nats.MsgIdHdr, "ev-"+strconv.Itoa(i))
		m.Data = []byte(strconv.Itoa(i))
		return m
	}
	// A small limit: a publish with no stream to take it takes its
	// retries' time (about half a second) to fail.
	const limit = 3
	u := unsent{limit: limit}
	total, droppedAll := 9, 0
	var waits []int64
	for i := range total {
		retryIn, dropped, err := u.send(ctx, js, event(i))
		if err == nil {
			t.Fatalf("event %d stored with the stream gone", i)
		}
		droppedAll += dropped
		waits = append(waits, retryIn.Milliseconds())
	}
	if want := []int64{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}; !slices.Equal(waits, want) {
		t.Fatalf("waits %v ms, want %v", waits, want)
	}
	if droppedAll != total-limit || len(u.msgs) != limit {
		t.Fatalf("dropped %d and kept %d of %d, want %d and %d", droppedAll, len(u.msgs), total, total-limit, limit)
	}
	if err := bus.Provision(ctx, js, events.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := u.send(ctx, js, nil); err != nil || u.pending() {
		t.Fatalf("resend: %v (pending %v)", err, u.pending())
	}
	// A second send of nothing stores nothing more.
	if _, _, err := u.send(ctx, js, nil); err != nil {
		t.Fatal(err)
	}
	// One the server refuses is let go at once, not tried again.
	bad := event(100)
	bad.Header.Set("Nats-Expected-Stream", "NOT_THE_EVENTS_STREAM")
	if _, dropped, err := u.send(ctx, js, bad); err != nil || dropped != 1 || u.pending() {
		t.Fatalf("refused event: err %v, dropped %d, pending %v", err, dropped, u.pending())
	}
	s, err := js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != limit {
		t.Fatalf("stream has %d events, want %d", info.State.Msgs, limit)
	}
	for _, c := range []struct {
		seq  uint64
		want int
	}{{1, total - limit}, {limit, total - 1}} {
		m, err := s.GetMsg(ctx, c.seq)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) != strconv.Itoa(c.want) {
			t.Fatalf("event at %d is %s, want %d", c.seq, m.Data, c.want)
		}
	}
}
