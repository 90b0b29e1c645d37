package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// ---------------------------------------------------------------------------
// BenchmarkNATSTrigger: how fast a nats trigger turns messages into
// invocations, against how fast the same messages are merely stored, in
// the same run on the same `eventflow dev`; and how late a message's
// invocation starts, against an invocation published straight onto the
// invocations stream.
//
// Throughput: natsTrigMessages messages are published (async, rawWindow in
// flight, as the raw baseline of the main benchmark publishes) on the
// trigger's subjects; the rate is those messages over the time from the
// first publish until as many invocations are stored on
// EVENTFLOW_INVOCATIONS (its last sequence, polled). The baseline is the
// same publish of the same messages on a subject of EVENTFLOW_TRIGGERS no
// trigger takes: the stream's own write rate. The function is the http
// echo, so each invocation also runs (cheaply) on the same two cores.
//
// Latency: one message every natsTrigPace, each followed half a pace
// later by an invocation of another echo published straight onto
// eventflow.invoke (as a producer on NATS would); both are timed by their
// records (startedAt minus createdAt: the message's stored time for a
// trigger, the publish time for the direct one).

const (
	natsTrigFunction = "bench-nats"
	natsTrigDirect   = "bench-nats-direct"
	natsTrigMessages = 20_000
	natsTrigWarmup   = 1_000
	natsTrigLatency  = 200
	natsTrigLatWarm  = 20
	natsTrigPace     = 20 * time.Millisecond
	natsTrigLimit    = 5 * time.Minute
	natsTrigWait     = 2 * time.Minute // for the invocations of one phase
)

var natsTrigLast benchkit.LastRun[*natsTrigReport]

func BenchmarkNATSTrigger(b *testing.B) {
	natsTrigLast.Get(b, runNATSTrigger).reportMetrics(b)
}

type natsTrigReport struct {
	started time.Time
	phases  benchkit.Phases
	total   time.Duration

	n                   int
	rawPublish          time.Duration // the baseline: publish until every ack
	trigPublish         time.Duration // the trigger phase's publish until every ack
	trigStored          time.Duration // first publish until n invocations stored
	stored              uint64        // invocations stored in the phase (want n)
	trigLat, directLat  []time.Duration
	trigMiss, directMis int
	fires, errors       int64
	cpu                 cpuUse // over the trigger phase
	logWarn, logErr     int
}

func (r *natsTrigReport) rawRate() float64  { return float64(r.n) / r.rawPublish.Seconds() }
func (r *natsTrigReport) trigRate() float64 { return float64(r.n) / r.trigStored.Seconds() }

func runNATSTrigger(b *testing.B) (*natsTrigReport, error) {
	r := &natsTrigReport{started: time.Now(), n: natsTrigMessages}
	ctx, cancel := context.WithTimeout(context.Background(), natsTrigLimit)
	defer cancel()

	s, err := startLoggedIn(ctx, b, &r.phases, 2)
	if err != nil {
		return nil, err
	}
	p, a, echoBin := s.p, s.a, s.echoBin
	t0 := time.Now()
	trigger := function.Trigger{Type: function.TriggerNATS, Subject: "orders.>"}
	http := map[string]any{"mode": function.ModeHTTP}
	for _, spec := range []map[string]any{
		{"name": natsTrigFunction, "command": []string{echoBin}, "replicas": 1, "invocation": http, "triggers": []function.Trigger{trigger}},
		{"name": natsTrigDirect, "command": []string{echoBin}, "replicas": 1, "invocation": http},
	} {
		if err := deploy(ctx, a, spec); err != nil {
			return nil, fmt.Errorf("%w\nplatform stderr tail:\n%s", err, p.logs.TailText())
		}
	}
	nc, err := nats.Connect(p.natsURL, append(p.natsID, nats.Name("eventflow-bench-nats-trigger"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(rawWindow), jetstream.WithPublishAsyncTimeout(20*time.Second))
	if err != nil {
		return nil, err
	}
	// The invoker names it with a keyed suffix (fire.go consumerName):
	// found by its readable prefix.
	prefix := "trigger_" + tenant + "_" + natsTrigFunction + "_" + trigger.Key()
	var consumer string
	if err := natsTrigWaitUntil(ctx, 30*time.Second, func() bool {
		stream, err := js.Stream(ctx, events.StreamTriggers)
		if err != nil {
			return false
		}
		names := stream.ConsumerNames(ctx)
		for name := range names.Name() {
			if name == prefix || strings.HasPrefix(name, prefix+"_") {
				consumer = name
			}
		}
		return consumer != ""
	}); err != nil {
		return nil, fmt.Errorf("the trigger's consumer %s…: %w", prefix, err)
	}
	r.phases.Add("deploy 2 functions", t0)

	// The baseline: the same messages, stored on the same stream, taken
	// by no trigger.
	t0 = time.Now()
	if _, err := natsTrigPublish(ctx, js, "raw.w", natsTrigWarmup); err != nil {
		return nil, fmt.Errorf("raw warm-up: %w", err)
	}
	if r.rawPublish, err = natsTrigPublish(ctx, js, "raw.m", r.n); err != nil {
		return nil, fmt.Errorf("raw publish: %w", err)
	}
	r.phases.Add(fmt.Sprintf("raw: publish %d + %d messages", natsTrigWarmup, r.n), t0)

	// The trigger: warm up, then measure.
	t0 = time.Now()
	if _, _, err := natsTrigPhase(ctx, js, consumer, "orders.w", natsTrigWarmup); err != nil {
		return nil, fmt.Errorf("trigger warm-up: %w\nplatform stderr tail:\n%s", err, p.logs.TailText())
	}
	c0 := p.cpu()
	pub, st, err := natsTrigPhase(ctx, js, consumer, "orders.m", r.n)
	r.cpu = cpuBetween(c0, p.cpu())
	if err != nil {
		return nil, fmt.Errorf("trigger: %w\nplatform stderr tail:\n%s", err, p.logs.TailText())
	}
	r.trigPublish, r.trigStored, r.stored = pub, st.Duration, uint64(r.n)+st.extra
	r.phases.Add(fmt.Sprintf("trigger: %d + %d messages to invocations", natsTrigWarmup, r.n), t0)

	// The latency phase starts with the invocations queue empty: its
	// invocations wait behind no backlog.
	t0 = time.Now()
	if err := natsTrigWaitUntil(ctx, natsTrigWait, func() bool {
		st, err := js.Stream(ctx, events.StreamInvocations)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}); err != nil {
		return nil, fmt.Errorf("the invocations queue did not empty: %w", err)
	}
	r.phases.Add("invocations queue emptied", t0)

	t0 = time.Now()
	if err := r.latency(ctx, js, p); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	r.phases.Add(fmt.Sprintf("latency: %d + %d paced messages and direct invocations", natsTrigLatWarm, natsTrigLatency), t0)

	if resp, err := a.Do(ctx, "GET", "/v1/functions/"+natsTrigFunction, nil, ""); err == nil {
		var f function.Function
		if json.Unmarshal(resp.Body, &f) == nil && len(f.Status.Triggers) == 1 {
			r.fires, r.errors = f.Status.Triggers[0].Fires, f.Status.Triggers[0].Errors
		}
	}

	t0 = time.Now()
	nc.Close()
	p.stop()
	r.phases.Add("platform shutdown", t0)
	r.logWarn, r.logErr, _ = p.logs.Summary(6)
	r.total = time.Since(r.started)
	r.print(os.Stdout)
	if r.stored != uint64(r.n) {
		return r, fmt.Errorf("%d messages made %d invocations", r.n, r.stored)
	}
	return r, nil
}

// natsTrigWaitUntil polls cond (bounded) until it holds.
func natsTrigWaitUntil(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// natsTrigPublish publishes n messages on eventflow.in.<tenant>.<rel>.<i>
// with rawWindow in flight and returns the time until every ack.
func natsTrigPublish(ctx context.Context, js jetstream.JetStream, rel string, n int) (time.Duration, error) {
	start := time.Now()
	for i := range n {
		msg := &nats.Msg{Subject: events.TriggerSubject(tenant, rel+"."+strconv.Itoa(i)), Data: payload, Header: nats.Header{}}
		msg.Header.Set("Content-Type", "application/json")
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(10*time.Second)); err != nil {
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, fmt.Errorf("acks: %w", ctx.Err())
	}
	return time.Since(start), nil
}

// natsTrigInvocationsSeq is EVENTFLOW_INVOCATIONS' last sequence: how many
// invocations were ever stored (a work queue: the taken ones are gone).
func natsTrigInvocationsSeq(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, events.StreamInvocations)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// natsTrigPhase publishes n messages on the trigger's subjects and waits
// (bounded) until n more invocations are stored; it returns the publish
// time, the time from the first publish until the n-th invocation was
// stored, and how many more than n were stored once the trigger's consumer
// had acked everything.
func natsTrigPhase(ctx context.Context, js jetstream.JetStream, consumer, rel string, n int) (time.Duration, natsTrigStored, error) {
	before, err := natsTrigInvocationsSeq(ctx, js)
	if err != nil {
		return 0, natsTrigStored{}, err
	}
	start := time.Now()
	pubErr := make(chan error, 1)
	var pub time.Duration
	go func() {
		var err error
		pub, err = natsTrigPublish(ctx, js, rel, n)
		pubErr <- err
	}()
	var last uint64
	err = natsTrigWaitUntil(ctx, natsTrigWait, func() bool {
		last, _ = natsTrigInvocationsSeq(ctx, js)
		return last >= before+uint64(n)
	})
	took := time.Since(start)
	if perr := <-pubErr; perr != nil {
		return 0, natsTrigStored{}, perr
	}
	if err != nil {
		return 0, natsTrigStored{}, fmt.Errorf("%d of %d invocations stored: %w", last-before, n, err)
	}
	// Once the trigger has acked every message, anything stored beyond n
	// would be a message fired twice.
	if err := natsTrigWaitUntil(ctx, 30*time.Second, func() bool {
		c, err := js.Consumer(ctx, events.StreamTriggers, consumer)
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	}); err != nil {
		return 0, natsTrigStored{}, fmt.Errorf("the trigger's consumer not idle: %w", err)
	}
	last, _ = natsTrigInvocationsSeq(ctx, js)
	return pub, natsTrigStored{Duration: took, extra: last - before - uint64(n)}, nil
}

type natsTrigStored struct {
	time.Duration
	extra uint64
}

// latency publishes paced messages and direct invocations and reads each
// one's record.
func (r *natsTrigReport) latency(ctx context.Context, js jetstream.JetStream, p *platform) error {
	kv, err := js.KeyValue(ctx, events.BucketInvocations)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := kv.WatchFiltered(wctx, []string{events.InvocationKey(tenant, natsTrigFunction, "*"), events.InvocationKey(tenant, natsTrigDirect, "*")}, jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	var mu sync.Mutex
	bySeq := map[uint64]time.Duration{}
	byID := map[string]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var rec events.InvocationRecord
			if json.Unmarshal(e.Value(), &rec) != nil || rec.StartedAt == nil {
				continue
			}
			d := rec.StartedAt.Sub(rec.CreatedAt)
			mu.Lock()
			if rec.Trigger != nil {
				if _, ok := bySeq[rec.Trigger.Seq]; !ok {
					bySeq[rec.Trigger.Seq] = d
				}
			} else if _, ok := byID[rec.ID]; !ok {
				byID[rec.ID] = d
			}
			mu.Unlock()
		}
	}()
	var seqs []uint64
	var ids []string
	next := time.Now()
	for i := range natsTrigLatWarm + natsTrigLatency {
		next = next.Add(natsTrigPace)
		ack, err := js.Publish(ctx, events.TriggerSubject(tenant, "orders.lat."+strconv.Itoa(i)), payload)
		if err != nil {
			return err
		}
		time.Sleep(natsTrigPace / 2) // pacing, not synchronization
		id := events.NewInvocationID()
		inv := events.Invocation{ID: id, Tenant: tenant, Function: natsTrigDirect, Payload: payload, AcceptedAt: time.Now()}
		if _, err := js.PublishMsg(ctx, inv.Msg()); err != nil {
			return err
		}
		if i >= natsTrigLatWarm {
			seqs, ids = append(seqs, ack.Sequence), append(ids, id)
		}
		time.Sleep(time.Until(next))
	}
	_ = natsTrigWaitUntil(ctx, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seqs {
			if _, ok := bySeq[s]; !ok {
				return false
			}
		}
		for _, id := range ids {
			if _, ok := byID[id]; !ok {
				return false
			}
		}
		return true
	})
	cancel()
	_ = w.Stop()
	<-done
	for _, s := range seqs {
		if d, ok := bySeq[s]; ok {
			r.trigLat = append(r.trigLat, d)
		} else {
			r.trigMiss++
		}
	}
	for _, id := range ids {
		if d, ok := byID[id]; ok {
			r.directLat = append(r.directLat, d)
		} else {
			r.directMis++
		}
	}
	if len(r.trigLat) == 0 || len(r.directLat) == 0 {
		return errors.New("no invocation started")
	}
	return nil
}

func (r *natsTrigReport) reportMetrics(b *testing.B) {
	t := benchkit.Summarize(r.trigLat)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.trigRate(), "trigger-msgs/s")
	b.ReportMetric(r.rawRate(), "raw-publish-msgs/s")
	b.ReportMetric(r.trigRate()/r.rawRate(), "trigger/raw")
	b.ReportMetric(benchkit.Ms(t.P50), "msg-started-p50-ms")
}

func (r *natsTrigReport) print(w io.Writer) {
	t, d := benchkit.Summarize(r.trigLat), benchkit.Summarize(r.directLat)
	rows := [][]string{{"measure", "value", "baseline (same run)", "value", "ratio"}}
	rows = append(rows, []string{
		fmt.Sprintf("nats trigger: %d messages → invocations stored", r.n), fmtRate(r.trigRate()),
		"raw JetStream publish of the same messages (EVENTFLOW_TRIGGERS)", fmtRate(r.rawRate()),
		fmt.Sprintf("%.2f×", r.trigRate()/r.rawRate())})
	for _, q := range []struct {
		name string
		t, d time.Duration
	}{{"p50", t.P50, d.P50}, {"p99", t.P99, d.P99}} {
		rows = append(rows, []string{"message stored → invocation started, " + q.name, fmtMs(q.t),
			"invocation published on eventflow.invoke → started, " + q.name, fmtMs(q.d),
			fmt.Sprintf("%.2f× (%+.3f ms)", float64(q.t)/float64(q.d), benchkit.Ms(q.t-q.d))})
	}
	fmt.Fprintf(w, "\nEventFlow nats trigger benchmark (%d CPUs, %s, %s/%s, %s)\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"))
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- throughput: %d messages published (async, %d in flight) in %s while the trigger fired them; "+
		"%d invocations stored %s after the first publish (%d more than messages: fired twice); the function (http echo) ran them meanwhile.\n",
		r.n, rawWindow, r.trigPublish.Round(time.Millisecond), r.stored, r.trigStored.Round(time.Millisecond), r.stored-uint64(r.n))
	if r.cpu.ok {
		fmt.Fprintf(w, "- CPU over the trigger phase (%s): platform %.0f%% of one core, its children (echo) %.0f%%, this benchmark (the publisher) %.0f%%.\n",
			r.cpu.wall.Round(time.Millisecond), benchkit.Share(r.cpu.self, r.cpu.wall), benchkit.Share(r.cpu.children, r.cpu.wall), benchkit.Share(r.cpu.bench, r.cpu.wall))
	}
	fmt.Fprintf(w, "- latency: %d messages, one every %s, each followed by a direct invocation half a pace later (%d warm-up pairs); "+
		"not started in time: %d trigger, %d direct. Means: trigger %s, direct %s. Times are the records' (startedAt − createdAt).\n",
		len(r.trigLat)+r.trigMiss, natsTrigPace, natsTrigLatWarm, r.trigMiss, r.directMis, fmtMs(t.Mean), fmtMs(d.Mean))
	fmt.Fprintf(w, "- the trigger's state says %d fires, %d errors (warm-up and latency phases included).\n", r.fires, r.errors)
	var logs []string
	if r.logWarn+r.logErr > 0 {
		logs = append(logs, fmt.Sprintf("%d warnings, %d errors", r.logWarn, r.logErr))
	}
	fmt.Fprintf(w, "- platform log: %s.\n", strings.Join(append(logs, "(--log-level warn)"), " "))
	r.phases.Print(w, r.total)
}
