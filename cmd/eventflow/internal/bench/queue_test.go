package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
)

// ---------------------------------------------------------------------------
// Queue path at a steady offered load (the queues issue's figures).
//
// Async invocations of the http-mode echo function (no process per
// invocation, so the queue path rather than fork/exec is measured), sent
// open loop: a paced sender issues one request every 1/queueRate s with at
// most queueClients in flight, whatever the answers. Every record's own
// times give the queue wait (startedAt − createdAt) and the end-to-end
// latency (finishedAt − createdAt).

const (
	// queueRate is the offered load (invocations/s), for queueDuration;
	// EVENTFLOW_BENCH_QUEUE_RATE overrides it (the platform never sees
	// this process's EVENTFLOW_* variables).
	queueRate     = 1_000
	queueDuration = 10 * time.Second
	queueClients  = 64 // most requests in flight at once
	queueWarmup   = 200
	// queueLimit bounds the wait for the last invocations after the last send.
	queueLimit = 60 * time.Second

	targetQueueRatio = 0.25
)

type queueResult struct {
	fn      string
	offered float64 // requests/s the sender was asked to send
	accept  acceptResult
	maxLag  time.Duration // how far the sender fell behind its schedule, at most
	late    int           // sends more than 10 ms behind schedule
	// final records of the accepted invocations
	done, failed int
	queue, e2e   []time.Duration // startedAt − createdAt, finishedAt − createdAt
	untimed      int             // final records without usable times
	first, last  time.Time       // earliest createdAt, latest finishedAt
	waitedAfter  time.Duration   // from the last answer until the last was final
	invokerRun   time.Duration   // invoker's mean async run (the HTTP call), from /metrics
	counters     map[string]float64
}

func (q queueResult) lost() int { return len(q.accept.ids) - q.done }

// rate is completed invocations per second from the first createdAt to the
// last finishedAt.
func (q queueResult) rate() float64 {
	if q.done == 0 || !q.last.After(q.first) {
		return 0
	}
	return float64(q.done-q.untimed) / q.last.Sub(q.first).Seconds()
}

func queueOfferedRate() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("EVENTFLOW_BENCH_QUEUE_RATE"), 64); err == nil && v > 0 && v <= 100_000 {
		return v
	}
	return queueRate
}

// steadyQueue runs the phase: a warm-up, the paced sends, then a bounded
// wait until every accepted invocation is final.
func (r *report) steadyQueue(ctx context.Context, p *platform, a *benchkit.Client, fn string) (queueResult, error) {
	q := queueResult{fn: fn, offered: queueOfferedRate()}
	n := int(q.offered * queueDuration.Seconds())
	cw, err := watchCompletions(ctx, p.natsURL, p.natsID, fn, true)
	if err != nil {
		return q, fmt.Errorf("watch invocations: %w", err)
	}
	defer cw.stop()
	if err := warmUp(ctx, a, cw, fn, queueWarmup, queueClients/4, "queue"); err != nil {
		return q, err
	}
	k0 := r.mark(ctx, p, a)
	q.accept, q.maxLag, q.late = acceptPaced(ctx, a, fn, n, q.offered, queueClients, payload, queueDuration+30*time.Second)
	if len(q.accept.ids) == 0 {
		return q, fmt.Errorf("queue: nothing accepted: %v %v", q.accept.codes, q.accept.samples)
	}
	var lastSeen time.Time
	q.done, q.failed, lastSeen = cw.waitFor(ctx, q.accept.ids, queueLimit)
	k1 := r.mark(ctx, p, a)
	r.window("async steady load (http echo)", k0, k1)
	if q.done > 0 {
		q.waitedAfter = lastSeen.Sub(q.accept.end)
	}
	if k0.metrics != nil && k1.metrics != nil {
		q.invokerRun, _, _ = benchkit.MeanDelta(k0.metrics, k1.metrics, "eventflow_invocation_duration_seconds", `mode="async"`)
		q.counters = benchkit.GrownSeries(k0.metrics, k1.metrics, "eventflow_invocations_total")
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	for _, id := range q.accept.ids {
		m, ok := cw.done[id]
		if !ok {
			continue
		}
		if m.created.IsZero() || m.started.IsZero() || m.finished.IsZero() {
			q.untimed++
			continue
		}
		q.queue = append(q.queue, m.started.Sub(m.created))
		q.e2e = append(q.e2e, m.finished.Sub(m.created))
		if q.first.IsZero() || m.created.Before(q.first) {
			q.first = m.created
		}
		if m.finished.After(q.last) {
			q.last = m.finished
		}
	}
	return q, nil
}

// acceptPaced POSTs n async invocations of fn open loop: the i-th is due at
// start + i/rate and goes out as soon as one of conc senders is free. It
// returns the answers, the sender's largest lag behind schedule and how
// many sends were more than 10 ms late. Bounded by limit.
func acceptPaced(ctx context.Context, a *benchkit.Client, fn string, n int, rate float64, conc int, payload []byte, limit time.Duration) (acceptResult, time.Duration, int) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	url := a.Base + "/v1/functions/" + fn + ":invoke?async=true"
	auth := "Bearer " + a.Token
	interval := time.Duration(float64(time.Second) / rate)
	res := acceptResult{codes: map[int]int{}}
	var mu sync.Mutex
	slots := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var maxLag time.Duration
	late := 0
	res.start = time.Now()
	for i := range n {
		due := res.start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if lag := time.Since(due); lag > maxLag {
			maxLag = lag
		}
		if time.Since(due) > 10*time.Millisecond {
			late++
		}
		wg.Go(func() {
			defer func() { <-slots }()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Content-Type", "application/json")
			t0 := time.Now()
			resp, err := a.HC.Do(req)
			if err != nil {
				mu.Lock()
				res.transport++
				if len(res.samples) < 5 {
					res.samples = append(res.samples, "transport: "+err.Error())
				}
				mu.Unlock()
				return
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			d := time.Since(t0)
			id := resp.Header.Get("X-Invocation-Id")
			mu.Lock()
			defer mu.Unlock()
			res.latencies = append(res.latencies, d)
			res.codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusAccepted && id != "" {
				res.ids = append(res.ids, id)
			} else if len(res.samples) < 5 {
				res.samples = append(res.samples, fmt.Sprintf("HTTP %d %s", resp.StatusCode, benchkit.Truncate(string(body), 200)))
			}
		})
	}
	wg.Wait()
	res.end = time.Now()
	res.sent = len(res.latencies) + res.transport
	return res, maxLag, late
}

// queueRows are the table's rows for the phase.
func (q queueResult) rows(raw rawResult) [][]string {
	consRate := raw.consRate
	comp := q.rate()
	ratio := comp / consRate
	verdict := benchkit.Verdict(ratio >= targetQueueRatio && q.lost() == 0)
	if q.lost() > 0 {
		verdict += fmt.Sprintf(" (%d lost)", q.lost())
	}
	if rawConsumeSuspect(raw) {
		verdict = "baseline suspect (raw consume stalled?)"
	}
	qs, es := benchkit.Summarize(q.queue), benchkit.Summarize(q.e2e)
	return [][]string{
		{fmt.Sprintf("async accepted/s at a steady offered load (http echo, ≤ %d in flight)", queueClients), fmtRate(q.accept.rate()),
			"offered rate (open loop)", fmtRate(q.offered), pct(q.accept.rate() / q.offered), "—"},
		{"async completed/s at that load (first createdAt → last finishedAt)", fmtRate(comp),
			"raw JetStream pull consume+ack/s", fmtRate(consRate), pct(ratio),
			fmt.Sprintf("≥ %.0f%%, no loss: %s", 100*targetQueueRatio, verdict)},
		{"queue wait p50 / p99 (createdAt → startedAt)", fmtMs(qs.P50) + " / " + fmtMs(qs.P99), "—", "", "", "—"},
		{"end to end p50 / p99 (createdAt → finishedAt)", fmtMs(es.P50) + " / " + fmtMs(es.P99), "—", "", "", "—"},
		{fmt.Sprintf("lost: accepted, not final %s after the last send", queueLimit), thousands(int64(q.lost())), "—", "", "",
			"0: " + benchkit.Verdict(q.lost() == 0)},
	}
}

// rawConsumeSuspect reports a raw consume baseline far below the raw
// publish rate of the same run: nats.go's Consume was seen to stop pulling
// until its pull expired (30 s), which makes any ratio to it meaningless.
func rawConsumeSuspect(raw rawResult) bool {
	return raw.consRate < raw.pubRate/10 || !raw.consumeAckedAtDone
}

// notes are the phase's lines under "Notes".
func (q queueResult) notes(w io.Writer, raw rawResult) {
	a := benchkit.Summarize(q.accept.latencies)
	qs, es := benchkit.Summarize(q.queue), benchkit.Summarize(q.e2e)
	fmt.Fprintf(w, "- steady load: %s async invocations of %s offered at %s for %s (open loop, ≤ %d in flight); %s of %s answered 202 in %s "+
		"(per request p50 %s, p99 %s); sender at most %s behind schedule, %d sends > 10 ms late",
		thousands(int64(q.offered*queueDuration.Seconds())), q.fn, fmtRate(q.offered), queueDuration, queueClients,
		thousands(int64(len(q.accept.ids))), thousands(int64(q.accept.sent)), q.accept.end.Sub(q.accept.start).Round(time.Millisecond),
		fmtMs(a.P50), fmtMs(a.P99), q.maxLag.Round(time.Millisecond), q.late)
	if others := otherCodes(q.accept.codes, http.StatusAccepted); others != "" || q.accept.transport > 0 {
		fmt.Fprintf(w, "; NOT 202: %s, no response: %d; e.g. %s", others, q.accept.transport, strings.Join(q.accept.samples, " | "))
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintf(w, "  %s final (%d failed, %d lost), the last %s after the last answer; completed/s over %s (first createdAt → last finishedAt). "+
		"Queue wait mean %s, max %s; end to end mean %s, max %s",
		thousands(int64(q.done)), q.failed, q.lost(), q.waitedAfter.Round(time.Millisecond), q.last.Sub(q.first).Round(time.Millisecond),
		fmtMs(qs.Mean), fmtMs(qs.Max), fmtMs(es.Mean), fmtMs(es.Max))
	if q.invokerRun > 0 {
		fmt.Fprintf(w, "; the invoker's HTTP call to the function %s mean", fmtMs(q.invokerRun))
	}
	if q.untimed > 0 {
		fmt.Fprintf(w, "; %d final records lacked createdAt/startedAt/finishedAt", q.untimed)
	}
	if qs.Negative > 0 {
		fmt.Fprintf(w, "; %d queue waits were negative (startedAt before createdAt)", qs.Negative)
	}
	fmt.Fprintln(w, ".")
	if len(q.counters) > 0 {
		fmt.Fprintf(w, "  Counters: invoker %s.\n", fmtSeries(q.counters))
	}
	fmt.Fprintf(w, "  While the load is sustained, completed/s equals the offered rate: the ratio says what share of raw consume+ack this load is; "+
		"the %.0f%% target means sustaining about %s.\n", 100*targetQueueRatio, fmtRate(targetQueueRatio*raw.consRate))
	if rawConsumeSuspect(raw) {
		fmt.Fprintf(w, "  WARNING: raw consume (%s, %s) is far below raw publish (%s): the consumer stalled; the ratio to it means nothing in this run.\n",
			fmtRate(raw.consRate), raw.consume.Round(time.Millisecond), fmtRate(raw.pubRate))
	}
}
