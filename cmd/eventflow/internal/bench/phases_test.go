package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/events"
)

// ---------------------------------------------------------------------------
// Baselines 1 and 2: raw JetStream on the platform's own embedded server.

const (
	rawStream  = "BENCH_RAW"
	rawSubject = "bench.raw.bench.fn" // as many tokens as eventflow.invoke.<tenant>.<fn>
	// rawWindow bounds async publishes in flight.
	rawWindow = 256
	// Like the invoker's consumer: MaxAckPending = 4 × 64, pulls of 64.
	rawMaxAckPending = 256
	rawPullBatch     = 64
	rawPhaseTimeout  = 60 * time.Second
)

type rawResult struct {
	n                  int
	publish, consume   time.Duration
	pubRate, consRate  float64
	consumeAckedAtDone bool // the server confirmed every ack (consumer drained)
}

// rawJetStream measures, on a stream configured like EVENTFLOW_INVOCATIONS
// (work queue, file storage, 2 min de-duplication, a Nats-Msg-Id per
// message): PublishAsync of n messages with rawWindow in flight until every
// ack is in; then a pull consumer that acks each message until the server
// reports nothing pending and nothing unacked.
func rawJetStream(ctx context.Context, natsURL string, id []nats.Option, n, warmup int, payload []byte) (rawResult, error) {
	ctx, cancel := context.WithTimeout(ctx, rawPhaseTimeout)
	defer cancel()
	res := rawResult{n: n}
	nc, err := nats.Connect(natsURL, append(id, nats.Name("eventflow-bench-raw"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return res, fmt.Errorf("connect %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(rawWindow),
		jetstream.WithPublishAsyncTimeout(20*time.Second))
	if err != nil {
		return res, err
	}
	opts := events.DefaultOptions()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       rawStream,
		Subjects:   []string{"bench.raw.>"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    opts.Storage,
		Replicas:   opts.Replicas,
		Duplicates: opts.DedupeWindow,
		// EVENTFLOW_INVOCATIONS' per-function cap (one subject here).
		MaxMsgsPerSubject:    int64(opts.MaxQueuedPerFunction),
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
	}); err != nil {
		return res, fmt.Errorf("create stream %s: %w", rawStream, err)
	}
	defer func() {
		dctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = js.DeleteStream(dctx, rawStream)
	}()
	cons, err := js.CreateOrUpdateConsumer(ctx, rawStream, jetstream.ConsumerConfig{
		Durable:       "bench",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: rawMaxAckPending,
		FilterSubject: "bench.raw.>",
	})
	if err != nil {
		return res, fmt.Errorf("create consumer: %w", err)
	}

	// Warm-up: the same publish and consume, not measured.
	if _, err := publishAsync(ctx, js, warmup, payload, "w"); err != nil {
		return res, fmt.Errorf("warm-up publish: %w", err)
	}
	if _, _, err := consumeAll(ctx, cons, warmup, warmup); err != nil {
		return res, fmt.Errorf("warm-up consume: %w", err)
	}

	if res.publish, err = publishAsync(ctx, js, n, payload, "m"); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	res.pubRate = float64(n) / res.publish.Seconds()
	if res.consume, res.consumeAckedAtDone, err = consumeAll(ctx, cons, n, warmup+n); err != nil {
		return res, fmt.Errorf("consume: %w", err)
	}
	res.consRate = float64(n) / res.consume.Seconds()
	return res, nil
}

// publishAsync publishes n messages with a bounded window and waits for
// every ack; it returns the time from the first publish to the last ack.
func publishAsync(ctx context.Context, js jetstream.JetStream, n int, payload []byte, idPrefix string) (time.Duration, error) {
	futures := make([]jetstream.PubAckFuture, 0, n)
	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		msg := &nats.Msg{Subject: rawSubject, Data: payload, Header: nats.Header{}}
		msg.Header.Set(nats.MsgIdHdr, idPrefix+strconv.Itoa(i))
		f, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(10*time.Second))
		if err != nil {
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, fmt.Errorf("acks: %w", ctx.Err())
	}
	elapsed := time.Since(start)
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				return 0, fmt.Errorf("message %d was a duplicate", i)
			}
		case err := <-f.Err():
			return 0, fmt.Errorf("message %d: %w", i, err)
		default:
			return 0, fmt.Errorf("message %d: no ack after PublishAsyncComplete", i)
		}
	}
	return elapsed, nil
}

// consumeAll receives n messages, acking each, and returns the time until
// the server reports the consumer drained (ack floor at wantFloor) — so the
// acks have landed, as the invoker's double acks have.
func consumeAll(ctx context.Context, cons jetstream.Consumer, n int, wantFloor int) (time.Duration, bool, error) {
	var got atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			once.Do(func() { close(done) })
		}
	}, jetstream.PullMaxMessages(rawPullBatch))
	if err != nil {
		return 0, false, err
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		return 0, false, fmt.Errorf("received %d of %d: %w", got.Load(), n, ctx.Err())
	}
	// Until the server has processed every ack (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, false, err
		}
		if info.AckFloor.Consumer >= uint64(wantFloor) && info.NumAckPending == 0 {
			return time.Since(start), true, nil
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), false, nil
}

// ---------------------------------------------------------------------------
// Process spawn baseline.

type execResult struct {
	n, conc int
	elapsed time.Duration
	rate    float64
	errors  int
}

// execRate runs `cat` n times with conc at once, each with payload on stdin
// and stdout/stderr captured, in its own process group — what the process
// runtime does per job-mode invocation, minus the platform.
func execRate(ctx context.Context, n, conc int, payload []byte) (execResult, error) {
	res := execResult{n: n, conc: conc}
	cat, err := exec.LookPath("cat")
	if err != nil {
		return res, err
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	one := func() error {
		var out, stderr bytes.Buffer
		cmd := &exec.Cmd{Path: cat, Args: []string{"cat"}, Env: env,
			Stdin: bytes.NewReader(payload), Stdout: &out, Stderr: &stderr,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true}, WaitDelay: 5 * time.Second}
		if err := cmd.Run(); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), payload) {
			return errors.New("cat echoed something else")
		}
		return nil
	}
	for range 20 { // warm-up
		if err := one(); err != nil {
			return res, fmt.Errorf("exec cat: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var next, errs, ran atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if one() != nil {
					errs.Add(1)
				}
				ran.Add(1)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = int(ran.Load())
	res.errors = int(errs.Load())
	res.rate = float64(res.n) / res.elapsed.Seconds()
	return res, nil
}

// ---------------------------------------------------------------------------
// Async invocations through the gateway.

// completionWatcher follows the invocations bucket and notes when each
// invocation of one function reached a final status.
type completionWatcher struct {
	mu      sync.Mutex
	done    map[string]doneMark
	updates atomic.Int64
	stop    func()
}

type doneMark struct {
	at        time.Time
	succeeded bool
	// The record's own times, parsed only by a timed watcher (zero if
	// absent or unparsable).
	created, started, finished time.Time
}

// watchCompletions follows fn's invocations; if timed, it also parses each
// final record's createdAt, startedAt and finishedAt.
func watchCompletions(ctx context.Context, natsURL string, id []nats.Option, fn string, timed bool) (*completionWatcher, error) {
	cw := &completionWatcher{done: map[string]doneMark{}}
	fnMark := []byte(`"function":"` + fn + `"`)
	okMark := []byte(`"status":"` + events.StatusSucceeded + `"`)
	failMark := []byte(`"status":"` + events.StatusFailed + `"`)
	stop, err := watchPuts(ctx, natsURL, id, "eventflow-bench-watch", events.BucketInvocations, nil, true, func(e jetstream.KeyValueEntry) {
		cw.updates.Add(1)
		v := e.Value()
		if !bytes.Contains(v, fnMark) {
			return
		}
		succeeded := bytes.Contains(v, okMark)
		if !succeeded && !bytes.Contains(v, failMark) {
			return
		}
		m := doneMark{at: time.Now(), succeeded: succeeded}
		if timed {
			var rec struct {
				CreatedAt  time.Time  `json:"createdAt"`
				StartedAt  *time.Time `json:"startedAt"`
				FinishedAt *time.Time `json:"finishedAt"`
			}
			if json.Unmarshal(v, &rec) == nil {
				m.created = rec.CreatedAt
				if rec.StartedAt != nil {
					m.started = *rec.StartedAt
				}
				if rec.FinishedAt != nil {
					m.finished = *rec.FinishedAt
				}
			}
		}
		cw.mu.Lock()
		// Keys are <tenant>.<function>.<id>.
		id := e.Key()[strings.LastIndexByte(e.Key(), '.')+1:]
		if _, seen := cw.done[id]; !seen {
			cw.done[id] = m
		}
		cw.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	cw.stop = stop
	return cw, nil
}

// waitFor waits (bounded) until every id is done and returns how many are,
// how many of those failed, and when the last one was seen done.
func (cw *completionWatcher) waitFor(ctx context.Context, ids []string, limit time.Duration) (done, failed int, last time.Time) {
	pending := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		pending[id] = struct{}{}
	}
	deadline := time.Now().Add(limit)
	for {
		cw.mu.Lock()
		for id := range pending {
			if m, ok := cw.done[id]; ok {
				delete(pending, id)
				done++
				if !m.succeeded {
					failed++
				}
				if m.at.After(last) {
					last = m.at
				}
			}
		}
		cw.mu.Unlock()
		if len(pending) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return done, failed, last
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type acceptResult struct {
	sent       int
	ids        []string
	codes      map[int]int
	transport  int      // requests that got no HTTP response
	samples    []string // a few non-202 answers
	start, end time.Time
	latencies  []time.Duration
}

func (r acceptResult) rate() float64 {
	return float64(len(r.ids)) / r.end.Sub(r.start).Seconds()
}

// acceptAsync POSTs n async invocations of fn from conc concurrent clients
// sharing one transport, bounded by limit.
func acceptAsync(ctx context.Context, a *benchkit.Client, fn string, n, conc int, payload []byte, limit time.Duration) acceptResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	url := a.Base + "/v1/functions/" + fn + ":invoke?async=true"
	auth := "Bearer " + a.Token
	type local struct {
		ids       []string
		codes     map[int]int
		transport int
		samples   []string
		lat       []time.Duration
	}
	locals := make([]local, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	res := acceptResult{codes: map[int]int{}, start: time.Now()}
	for w := range conc {
		wg.Go(func() {
			l := &locals[w]
			l.codes = map[int]int{}
			l.ids = make([]string, 0, n/conc+1)
			l.lat = make([]time.Duration, 0, n/conc+1)
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
				req.Header.Set("Authorization", auth)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := a.HC.Do(req)
				if err != nil {
					l.transport++
					if len(l.samples) < 2 {
						l.samples = append(l.samples, "transport: "+err.Error())
					}
					continue
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				l.lat = append(l.lat, time.Since(t0))
				l.codes[resp.StatusCode]++
				id := resp.Header.Get("X-Invocation-Id")
				if resp.StatusCode == http.StatusAccepted && id != "" {
					l.ids = append(l.ids, id)
				} else if len(l.samples) < 2 {
					l.samples = append(l.samples, fmt.Sprintf("HTTP %d %s", resp.StatusCode, benchkit.Truncate(string(body), 200)))
				}
			}
		})
	}
	wg.Wait()
	res.end = time.Now()
	for _, l := range locals {
		res.ids = append(res.ids, l.ids...)
		res.latencies = append(res.latencies, l.lat...)
		res.transport += l.transport
		for c, k := range l.codes {
			res.codes[c] += k
		}
		for _, s := range l.samples {
			if len(res.samples) < 5 {
				res.samples = append(res.samples, s)
			}
		}
	}
	res.sent = len(res.latencies) + res.transport
	return res
}

// ---------------------------------------------------------------------------
// Sync latency: direct against through the gateway.

// startEcho runs a copy of the echo function on a free loopback port and
// waits (bounded) until it accepts connections.
func startEcho(ctx context.Context, bin string) (addr string, stop func(), err error) {
	addr, err = benchkit.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + port, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = benchkit.HelperAttr() // never outlive the benchmark
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("echo server exited before listening on %s", addr)
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("echo server not listening on %s within 10s", addr)
		}
	}
}

type syncResult struct {
	direct, gateway       []time.Duration
	directErr, gatewayErr int
	samples               []string
	elapsed               time.Duration
}

// syncLatency times n sequential POSTs directly to the echo server and n
// through the gateway, interleaved one for one (alternating which goes
// first) so both see the same machine noise, after warmup of each;
// afterWarmup runs between the two.
func syncLatency(ctx context.Context, a *benchkit.Client, fn, directAddr string, n, warmup int, payload []byte, limit time.Duration, afterWarmup func()) (syncResult, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res := syncResult{direct: make([]time.Duration, 0, n), gateway: make([]time.Duration, 0, n)}
	directC := &http.Client{Transport: benchkit.NewTransport(2), Timeout: 10 * time.Second}
	gwC := &http.Client{Transport: benchkit.NewTransport(2), Timeout: 40 * time.Second}
	defer directC.CloseIdleConnections()
	defer gwC.CloseIdleConnections()
	directURL := "http://" + directAddr + "/"
	gwURL := a.Base + "/v1/functions/" + fn + ":invoke"
	auth := "Bearer " + a.Token

	call := func(c *http.Client, url string, withAuth bool) (time.Duration, error) {
		if !withAuth {
			return timedEcho(ctx, c, url, "", payload)
		}
		return timedEcho(ctx, c, url, auth, payload)
	}
	sample := func(who string, err error) {
		if len(res.samples) < 5 {
			res.samples = append(res.samples, who+": "+err.Error())
		}
	}
	for range warmup {
		if _, err := call(directC, directURL, false); err != nil {
			return res, fmt.Errorf("warm-up direct: %w", err)
		}
		if _, err := call(gwC, gwURL, true); err != nil {
			return res, fmt.Errorf("warm-up gateway: %w", err)
		}
	}
	if afterWarmup != nil {
		afterWarmup()
	}
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		for k := range 2 {
			if (i+k)%2 == 0 {
				if d, err := call(directC, directURL, false); err != nil {
					res.directErr++
					sample("direct", err)
				} else {
					res.direct = append(res.direct, d)
				}
			} else {
				if d, err := call(gwC, gwURL, true); err != nil {
					res.gatewayErr++
					sample("gateway", err)
				} else {
					res.gateway = append(res.gateway, d)
				}
			}
		}
		if res.directErr+res.gatewayErr > 50 {
			return res, fmt.Errorf("too many failed requests: %v", res.samples)
		}
	}
	res.elapsed = time.Since(start)
	return res, nil
}

// warmUp accepts n async invocations of fn and waits until all completed,
// so a measured phase starts on a warm platform.
func warmUp(ctx context.Context, a *benchkit.Client, cw *completionWatcher, fn string, n, clients int, label string) error {
	warm := acceptAsync(ctx, a, fn, n, clients, payload, 30*time.Second)
	if len(warm.ids) == 0 {
		return fmt.Errorf("%s warm-up: nothing accepted: %v %v", label, warm.codes, warm.samples)
	}
	if d, _, _ := cw.waitFor(ctx, warm.ids, 60*time.Second); d < len(warm.ids) {
		return fmt.Errorf("%s warm-up: %d of %d invocations completed in 60s", label, d, len(warm.ids))
	}
	return nil
}

// timedEcho POSTs payload to an echo function at url (with an
// Authorization header when auth is not empty) and times the exchange;
// an answer other than 200 with the payload echoed is an error.
func timedEcho(ctx context.Context, c *http.Client, url, auth string, payload []byte) (time.Duration, error) {
	return timedRequest(ctx, c, http.MethodPost, url, auth, payload)
}

// timedRequest is timedEcho with any method (a GET sends no body and gets
// none back).
func timedRequest(ctx context.Context, c *http.Client, method, url, auth string, payload []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, payload) {
		return 0, fmt.Errorf("HTTP %d %s", resp.StatusCode, benchkit.Truncate(string(body), 200))
	}
	return d, nil
}
