package service

import (
	"context"
	"errors"
	"fmt"
	"github.com/nats-io/nats.go/jetstream"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
)

// steps records, in order, what settlement did: its effects and how it
// settled the message.
type steps struct{ got []string }

func (s *steps) add(format string, a ...any) { s.got = append(s.got, fmt.Sprintf(format, a...)) }

// fakeMsg is an acker that records its settlement.
type fakeMsg struct{ s *steps }

func (m fakeMsg) Ack() error                         { m.s.add("ack"); return nil }
func (m fakeMsg) DoubleAck(context.Context) error    { m.s.add("doubleAck"); return nil }
func (m fakeMsg) NakWithDelay(d time.Duration) error { m.s.add("nak %s", d); return nil }
func (m fakeMsg) Term() error                        { m.s.add("term"); return nil }

func isSettlement(step string) bool {
	return slices.Contains([]string{"ack", "doubleAck", "term"}, step) || strings.HasPrefix(step, "nak ")
}

func countSettlements(got []string) (n int) {
	for _, g := range got {
		if isSettlement(g) {
			n++
		}
	}
	return n
}

// fakeEffects fails the effects named in fail.
type fakeEffects struct {
	fail   map[string]error
	stored events.StoredInvocation // what a refused write finds stored
}

func (f fakeEffects) settler(s *steps) settler {
	return settler{
		retryDelay: 7 * time.Second,
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		write: func(_ context.Context, r events.StoredInvocation, from held) (events.StoredInvocation, held, error) {
			s.add("write %s from rev %d", r.Status, from.rev)
			if err := f.fail["write"]; err != nil {
				if errors.Is(err, events.ErrInvalidTransition) {
					return f.stored, held{f.stored, 99}, err
				}
				return from.rec, from, err
			}
			return r, held{r, from.rev + 1}, nil
		},
		publishDeadLetter: func(_ context.Context, dl events.DeadLetter) error {
			s.add("deadLetter %s after %d", dl.ID, dl.Attempts)
			return f.fail["deadLetter"]
		},
		queueCallback: func(_ context.Context, r events.StoredInvocation) error {
			if r.Callback == nil {
				return nil // as iv.queueCallback: nothing asked for
			}
			s.add("callback %s", r.Status)
			return f.fail["callback"]
		},
		emit: func(_ context.Context, typ string, r events.StoredInvocation) {
			s.add("event %s (%s)", strings.TrimPrefix(typ, "io.eventflow.invocation."), r.Status)
		},
	}
}

// TestSettleOutcomes: each outcome becomes its writes in the order the
// guarantees need (dead letter before its record, record before the ack,
// callback queued before the ack), and exactly one settlement of the
// message; a failed write or queueing naks instead of acking.
func TestSettleOutcomes(t *testing.T) {
	const id = "01a24e6700000000000000000000aaaa"
	cb := func(status string) *events.CallbackStatus {
		return &events.CallbackStatus{URL: "https://x.example/hook", Status: status}
	}
	rec := func(status string, c *events.CallbackStatus) events.StoredInvocation {
		return events.StoredInvocation{ID: id, Tenant: "acme", Function: "upper", Async: true, Status: status, Attempts: 3, Callback: c}
	}
	from := held{rec: rec(events.StatusRunning, cb(events.CallbackPending)), rev: 5}
	inv := events.Invocation{ID: id, Tenant: "acme", Function: "upper"}
	refused := fmt.Errorf("%w: the record is succeeded", events.ErrInvalidTransition)
	down := errors.New("bus down")

	for _, c := range []struct {
		name string
		o    outcome
		fx   fakeEffects
		want []string
	}{
		{"done", done(rec(events.StatusSucceeded, cb(events.CallbackPending)), from), fakeEffects{},
			[]string{"write succeeded from rev 5", "event succeeded (succeeded)", "callback succeeded", "doubleAck"}},
		{"done failed, no callback", done(rec(events.StatusFailed, nil), from), fakeEffects{},
			[]string{"write failed from rev 5", "event failed (failed)", "doubleAck"}},
		{"done, record not written", done(rec(events.StatusSucceeded, nil), from), fakeEffects{fail: map[string]error{"write": down}},
			[]string{"write succeeded from rev 5", "nak 7s"}},
		{"done, finished elsewhere", done(rec(events.StatusFailed, cb(events.CallbackPending)), from),
			fakeEffects{fail: map[string]error{"write": refused}, stored: rec(events.StatusSucceeded, cb(events.CallbackPending))},
			[]string{"write failed from rev 5", "callback succeeded", "ack"}},
		{"done, callback not queued", done(rec(events.StatusSucceeded, cb(events.CallbackPending)), from), fakeEffects{fail: map[string]error{"callback": down}},
			[]string{"write succeeded from rev 5", "event succeeded (succeeded)", "callback succeeded", "nak 7s"}},

		{"retry", retryAfter(rec(events.StatusFailed, nil), from, 3*time.Second), fakeEffects{},
			[]string{"write retrying from rev 5", "event retrying (retrying)", "nak 3s"}},
		{"retry, record not written", retryAfter(rec(events.StatusFailed, nil), from, 3*time.Second), fakeEffects{fail: map[string]error{"write": down}},
			[]string{"write retrying from rev 5", "event retrying (retrying)", "nak 3s"}},
		{"retry, finished elsewhere", retryAfter(rec(events.StatusFailed, nil), from, 3*time.Second),
			fakeEffects{fail: map[string]error{"write": refused}, stored: rec(events.StatusSucceeded, cb(events.CallbackDelivered))},
			[]string{"write retrying from rev 5", "ack"}},

		{"dead letter", deadLettered(inv, rec(events.StatusFailed, cb(events.CallbackPending)), from), fakeEffects{},
			[]string{"deadLetter " + id + " after 3", "write dead_lettered from rev 5", "event dead_lettered (dead_lettered)", "callback dead_lettered", "doubleAck"}},
		{"dead letter not stored", deadLettered(inv, rec(events.StatusFailed, cb(events.CallbackPending)), from), fakeEffects{fail: map[string]error{"deadLetter": down}},
			[]string{"deadLetter " + id + " after 3", "nak 7s"}},
		{"dead letter, record not written", deadLettered(inv, rec(events.StatusFailed, nil), from), fakeEffects{fail: map[string]error{"write": down}},
			[]string{"deadLetter " + id + " after 3", "write dead_lettered from rev 5", "event dead_lettered (dead_lettered)", "doubleAck"}},
		{"dead letter, callback not queued", deadLettered(inv, rec(events.StatusFailed, cb(events.CallbackPending)), from), fakeEffects{fail: map[string]error{"callback": down}},
			[]string{"deadLetter " + id + " after 3", "write dead_lettered from rev 5", "event dead_lettered (dead_lettered)", "callback dead_lettered", "nak 7s"}},

		{"redeliver later", redeliverLater(rec("", nil), down), fakeEffects{}, []string{"nak 7s"}},
		{"drop", drop(errors.New("no id")), fakeEffects{}, []string{"term"}},

		{"cold", coldLater(rec(events.StatusRunning, nil), from, false, down), fakeEffects{}, []string{"nak 7s"}},
		{"cold, running mark taken back", coldLater(rec(events.StatusRunning, nil), from, true, down), fakeEffects{},
			[]string{"write running from rev 5", "nak 7s"}},
		{"cold, record not taken back", coldLater(rec(events.StatusRunning, nil), from, true, down), fakeEffects{fail: map[string]error{"write": down}},
			[]string{"write running from rev 5", "nak 7s"}},
		{"cold, finished elsewhere", coldLater(rec(events.StatusRunning, nil), from, true, down),
			fakeEffects{fail: map[string]error{"write": refused}, stored: rec(events.StatusSucceeded, nil)},
			[]string{"write running from rev 5", "ack"}},

		{"already settled, callback pending", alreadySettled(rec(events.StatusSucceeded, cb(events.CallbackPending)), nil), fakeEffects{},
			[]string{"callback succeeded", "ack"}},
		{"already settled, callback not queued", alreadySettled(rec(events.StatusSucceeded, cb(events.CallbackPending)), nil), fakeEffects{fail: map[string]error{"callback": down}},
			[]string{"callback succeeded", "nak 7s"}},
		{"already settled, callback delivered", alreadySettled(rec(events.StatusFailed, cb(events.CallbackDelivered)), nil), fakeEffects{},
			[]string{"ack"}},
		{"already settled, record unknown", alreadySettled(events.StoredInvocation{}, refused), fakeEffects{}, []string{"ack"}},
		{"unknown kind", outcome{}, fakeEffects{}, []string{"nak 7s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &steps{}
			c.fx.settler(s).settle(context.Background(), fakeMsg{s}, c.o)
			if !slices.Equal(s.got, c.want) {
				t.Fatalf("%s:\n got  %q\n want %q", c.o.kind, s.got, c.want)
			}
			if n := countSettlements(s.got); n != 1 {
				t.Fatalf("settled %d times, want exactly once", n)
			}
			if last := s.got[len(s.got)-1]; !isSettlement(last) {
				t.Fatalf("%q after the settlement", last)
			}
		})
	}
}

type deliveredMsg struct {
	acker
	n uint64
}

func (m deliveredMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.n}, nil
}

// TestColdDelayBacksOff: an invocation that keeps finding no instance
// waits longer each time, up to a minute.
func TestColdDelayBacksOff(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {7, time.Minute}, {1000, time.Minute}} {
		if got := coldDelay(time.Second, deliveredMsg{n: c.n}); got != c.want {
			t.Errorf("delivery %d: %s, want %s", c.n, got, c.want)
		}
	}
	if got := coldDelay(time.Second, nil); got != time.Second {
		t.Errorf("without metadata: %s", got)
	}
}
