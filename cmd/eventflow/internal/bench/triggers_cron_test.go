package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
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
// BenchmarkCronTrigger: how late a cron trigger's invocation starts after
// its tick, against how late an API async invocation starts after its
// accept, in the same run on the same `eventflow dev`.
//
// An `@every 1s` trigger runs a job-mode `cat`; between ticks (half a
// second after each) one async invocation of another `cat` is accepted
// through the gateway, so the two never compete. Both latencies are the
// record's own times, taken by the platform on one clock: startedAt minus
// trigger.tick for a tick, startedAt minus createdAt (the gateway's accept)
// for an API call. The tick latency includes the trigger's timer waking up
// and its publish; the API one the gateway's publish; both the invoker's
// pull, record read and process start.

const (
	cronFunction = "bench-cron"
	cronBaseline = "bench-cron-api"
	cronTicks    = 10
	cronWarmup   = 2 // ticks (and accepts) not measured
	cronLimit    = 3 * time.Minute
)

var cronLast benchkit.LastRun[*cronReport]

func BenchmarkCronTrigger(b *testing.B) {
	cronLast.Get(b, runCron).reportMetrics(b)
}

type cronReport struct {
	started       time.Time
	phases        benchkit.Phases
	total         time.Duration
	tick, api     []time.Duration
	ticks, dups   int // tick invocations seen in the window, ticks seen more than once
	missing       int // ticks of the window with no invocation
	notStarted    int // accepted API invocations with no startedAt in time
	fires, errors int64
	logWarn       int
	logErr        int
}

// cronRecord is what the watch keeps of a record.
type cronRecord struct {
	created time.Time
	started time.Time
	tick    time.Time // zero for an API call
}

// cronWatcher follows the invocations bucket and keeps, per id, the first
// record of the given functions that has a startedAt.
type cronWatcher struct {
	mu   sync.Mutex
	recs map[string]cronRecord
	stop func()
}

func cronWatch(ctx context.Context, natsURL string, id []nats.Option) (*cronWatcher, error) {
	rw := &cronWatcher{recs: map[string]cronRecord{}}
	keys := []string{events.InvocationKey(tenant, cronFunction, "*"), events.InvocationKey(tenant, cronBaseline, "*")}
	stop, err := watchPuts(ctx, natsURL, id, "eventflow-bench-cron", events.BucketInvocations, keys, true, func(e jetstream.KeyValueEntry) {
		var r events.InvocationRecord
		if json.Unmarshal(e.Value(), &r) != nil || r.StartedAt == nil {
			return
		}
		c := cronRecord{created: r.CreatedAt, started: *r.StartedAt}
		if r.Trigger != nil {
			c.tick = r.Trigger.Tick
		}
		rw.mu.Lock()
		if _, seen := rw.recs[r.ID]; !seen {
			rw.recs[r.ID] = c
		}
		rw.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	rw.stop = stop
	return rw, nil
}

func (rw *cronWatcher) get(id string) (cronRecord, bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	r, ok := rw.recs[id]
	return r, ok
}

// tickRecords are the started tick invocations with a tick in [from, to].
func (rw *cronWatcher) tickRecords(from, to time.Time) []cronRecord {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	var out []cronRecord
	for _, r := range rw.recs {
		if !r.tick.IsZero() && !r.tick.Before(from) && !r.tick.After(to) {
			out = append(out, r)
		}
	}
	return out
}

func runCron(b *testing.B) (*cronReport, error) {
	r := &cronReport{started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), cronLimit)
	defer cancel()

	s, err := startLoggedIn(ctx, b, &r.phases, 2)
	if err != nil {
		return nil, err
	}
	p, a := s.p, s.a
	t0 := time.Now()
	rw, err := cronWatch(ctx, p.natsURL, p.natsID)
	if err != nil {
		return nil, fmt.Errorf("watch records: %w", err)
	}
	defer rw.stop()
	job := map[string]any{"mode": function.ModeJob}
	if err := deploy(ctx, a, map[string]any{"name": cronBaseline, "command": []string{"cat"}, "invocation": job}); err != nil {
		return nil, err
	}
	trigger := function.Trigger{Type: function.TriggerCron, Schedule: "@every 1s", Body: "tick"}
	if err := deploy(ctx, a, map[string]any{"name": cronFunction, "command": []string{"cat"}, "invocation": job,
		"triggers": []function.Trigger{trigger}}); err != nil {
		return nil, err
	}
	r.phases.Add("deploy 2 functions", t0)

	// One accept half a second after each tick: cronWarmup of each first,
	// then cronTicks measured.
	t0 = time.Now()
	first := time.Now().Truncate(time.Second).Add(time.Second)
	var ids []string
	for i := range cronWarmup + cronTicks {
		at := first.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(at)):
		}
		acc := acceptAsync(ctx, a, cronBaseline, 1, 1, payload, 10*time.Second)
		if len(acc.ids) != 1 {
			return nil, fmt.Errorf("API async accept: %v %v", acc.codes, acc.samples)
		}
		if i >= cronWarmup {
			ids = append(ids, acc.ids...)
		}
	}
	from := first.Add(cronWarmup * time.Second)
	to := first.Add((cronWarmup + cronTicks - 1) * time.Second)

	// Wait (bounded) for every measured invocation to have started.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, id := range ids {
			if _, ok := rw.get(id); ok {
				n++
			}
		}
		if n == len(ids) && len(rw.tickRecords(from, to)) >= cronTicks {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range ids {
		rec, ok := rw.get(id)
		if !ok {
			r.notStarted++
			continue
		}
		r.api = append(r.api, rec.started.Sub(rec.created))
	}
	seen := map[int64]int{}
	for _, rec := range rw.tickRecords(from, to) {
		seen[rec.tick.Unix()]++
		r.tick = append(r.tick, rec.started.Sub(rec.tick))
	}
	r.ticks = len(r.tick)
	for tick := from; !tick.After(to); tick = tick.Add(time.Second) {
		switch n := seen[tick.Unix()]; {
		case n == 0:
			r.missing++
		case n > 1:
			r.dups++
		}
	}
	r.phases.Add(fmt.Sprintf("%d ticks and %d API accepts", cronWarmup+cronTicks, cronWarmup+cronTicks), t0)

	// The trigger's state, as the API shows it.
	if resp, err := a.Do(ctx, "GET", "/v1/functions/"+cronFunction, nil, ""); err == nil {
		var f function.Function
		if json.Unmarshal(resp.Body, &f) == nil && len(f.Status.Triggers) == 1 {
			r.fires, r.errors = f.Status.Triggers[0].Fires, f.Status.Triggers[0].Errors
		}
	}

	t0 = time.Now()
	rw.stop()
	p.stop()
	r.phases.Add("platform shutdown", t0)
	r.logWarn, r.logErr, _ = p.logs.Summary(6)
	r.total = time.Since(r.started)
	r.print(os.Stdout)
	if len(r.tick) == 0 || len(r.api) == 0 {
		return r, fmt.Errorf("nothing measured: %d tick invocations, %d API invocations started", len(r.tick), len(r.api))
	}
	return r, nil
}

func (r *cronReport) reportMetrics(b *testing.B) {
	t, a := benchkit.Summarize(r.tick), benchkit.Summarize(r.api)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(benchkit.Ms(t.P50), "tick-started-p50-ms")
	b.ReportMetric(benchkit.Ms(t.P99), "tick-started-p99-ms")
	b.ReportMetric(benchkit.Ms(a.P50), "accept-started-p50-ms")
	b.ReportMetric(benchkit.Ms(a.P99), "accept-started-p99-ms")
	b.ReportMetric(float64(r.missing+r.dups), "ticks-wrong")
}

func (r *cronReport) print(w io.Writer) {
	t, a := benchkit.Summarize(r.tick), benchkit.Summarize(r.api)
	rows := [][]string{{"measure", "value", "baseline (same run)", "value", "ratio"}}
	for _, q := range []struct {
		name string
		t, a time.Duration
	}{{"p50", t.P50, a.P50}, {"p99", t.P99, a.P99}} {
		rows = append(rows, []string{"cron `@every 1s` tick → invocation started, " + q.name, fmtMs(q.t),
			"API async accept → invocation started, " + q.name, fmtMs(q.a),
			fmt.Sprintf("%.2f× (%+.3f ms)", float64(q.t)/float64(q.a), benchkit.Ms(q.t-q.a))})
	}
	fmt.Fprintf(w, "\nEventFlow cron trigger benchmark (%d CPUs, %s, %s/%s, %s)\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"))
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- ticks: %d invocations started for the %d ticks measured (after %d warm-up ticks); missing %d, more than once %d; "+
		"the trigger's state says %d fires, %d errors (warm-up included).\n", r.ticks, cronTicks, cronWarmup, r.missing, r.dups, r.fires, r.errors)
	fmt.Fprintf(w, "- API: %d async invocations of a job `cat`, one half a second after each tick, sequential; %d not started in time.\n",
		len(r.api), r.notStarted)
	fmt.Fprintf(w, "- means: tick %s, API %s; max: tick %s, API %s. Times are the record's (startedAt, trigger.tick, createdAt): one clock.\n",
		fmtMs(t.Mean), fmtMs(a.Mean), fmtMs(t.Max), fmtMs(a.Max))
	var logs []string
	if r.logWarn+r.logErr > 0 {
		logs = append(logs, fmt.Sprintf("%d warnings, %d errors", r.logWarn, r.logErr))
	}
	fmt.Fprintf(w, "- platform log: %s.\n", strings.Join(append(logs, "(--log-level warn)"), " "))
	r.phases.Print(w, r.total)
}
