package logship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// fakeSource delivers its lines, then waits for ctx like a real source.
type fakeSource struct {
	lines     []events.LogLine
	err       error
	delivered chan struct{} // closed once every line is handed over
}

func (f fakeSource) FollowLogs(ctx context.Context, out chan<- events.LogLine) error {
	if f.err != nil {
		return f.err
	}
	for _, l := range f.lines {
		select {
		case out <- l:
		case <-ctx.Done():
			return nil
		}
	}
	close(f.delivered)
	<-ctx.Done()
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStopPublishesEveryLine: lines the source delivered before stop are
// all in the logs stream, on their function's subject, once stop returns.
func TestStopPublishesEveryLine(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	const n = 500
	src := fakeSource{delivered: make(chan struct{})}
	for i := range n {
		src.lines = append(src.lines, events.LogLine{Time: time.Now().UTC(), Tenant: "acme", Function: "fn", Instance: "job-1", Stream: "stderr", Line: fmt.Sprintf("line-%d", i)})
	}
	reg := prometheus.NewRegistry()
	s := New(Deps{JS: js, Source: src, Log: quietLog(), Registerer: reg})
	stop := s.Start(context.Background())
	// Stop as soon as the source has handed over every line: lines still
	// queued or unacknowledged must be published and settled by stop.
	select {
	case <-src.delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("the source never handed over its lines")
	}
	stop()
	if got := testutil.ToFloat64(s.published); got != n {
		t.Fatalf("published counter = %v after stop, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamLogs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("logs stream holds %d messages, want %d", info.State.Msgs, n)
	}
	msg, err := st.GetLastMsgForSubject(ctx, events.LogSubject("acme", "fn", "job-1"))
	if err != nil {
		t.Fatal(err)
	}
	var last events.LogLine
	if err := json.Unmarshal(msg.Data, &last); err != nil || last.Line != fmt.Sprintf("line-%d", n-1) {
		t.Fatalf("last message %s (%v), want line-%d", msg.Data, err, n-1)
	}
	if got := testutil.ToFloat64(s.failed); got != 0 {
		t.Errorf("failed counter = %v", got)
	}
}

// TestRunReportsSourceError: a source that cannot be followed (e.g. the
// process runtime's second follower) ends Run with its error.
func TestRunReportsSourceError(t *testing.T) {
	_, _, js, _ := natstest.Provisioned(t)
	boom := errors.New("already followed")
	s := New(Deps{JS: js, Source: fakeSource{err: boom}, Log: quietLog(), Registerer: prometheus.NewRegistry()})
	if err := s.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
}
