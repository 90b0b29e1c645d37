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
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	efruntime "github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process"
)

// ---------------------------------------------------------------------------
// BenchmarkScale: scale to zero and autoscaling (the scaling issue), in
// three parts.
//
//  1. Cold start: an http-mode echo function with scale {min 0, max 1,
//     idleAfter 1s} in `eventflow dev`. Each cycle waits (on the status
//     bucket) until the scaler has taken it to 0 desired and 0 ready, then
//     times one request to its first answer: a sync :invoke and a GET
//     through the HTTP route in turn (the invoker's and the gateway's
//     hold). Baseline, one per cycle at the same moment (the platform idle
//     at zero): the same echo program started directly as a child process
//     with PORT set, timed from fork/exec to its first HTTP answer (dial
//     every millisecond until it listens, then one POST). EventFlow's own
//     share is the difference of the p50s.
//  2. Requests lost while the process runtime scales up and down under
//     load: 16 clients invoke continuously, as the invoker's activator
//     does (Invoke; on ErrNoReadyInstance WaitReady, bounded by the
//     function's timeout, and again), while 1,000 Scale cycles run. This is
//     the runtime's Scale and drain under the activator's contract, not the
//     scaler's decisions (which need idleAfter ≥ 1s per cycle; `make test`
//     covers them): a platform-level cycle would take seconds.
//  3. A burst of queued work: 2,000 async invocations (64 clients) of a
//     function with scale {min 0, max 4, target 10, metric queue,
//     idleAfter 1s} at zero, the echo program waiting 100 ms before each
//     answer (ECHO_DELAY); time from the first accept until the status
//     shows 4 ready instances, and until every invocation is final (all
//     must succeed).

const (
	scaleColdFunction  = "bench-cold"
	scaleBurstFunction = "bench-burst"

	scaleColdDefaultN = 20 // cycles, alternating :invoke and route
	scaleColdMaxN     = 1000
	scaleColdLimit    = 75 * time.Second // all cold cycles
	scaleZeroLimit    = 15 * time.Second // one wait for the function at zero
	scaleAnswerLimit  = 30 * time.Second // one cold request

	scaleCyclesDefault = 1000
	scaleCyclesMax     = 100_000
	scaleClients       = 16
	scaleDrainDelay    = 20 * time.Millisecond
	scaleCountLimit    = 10 * time.Second // one wait for the observed count
	scaleCyclesLimit   = 3 * time.Minute  // all cycles (about 80 s on 2 vCPU)
	scaleCyclesTimeout = 10 * time.Second // the function's timeout: bounds a hold and a run

	scaleBurstN       = 2000
	scaleBurstClients = 64
	scaleBurstMax     = 4
	scaleBurstTarget  = 10
	scaleBurstLimit   = 60 * time.Second
	// scaleBurstDelay is the work of one burst invocation: with the
	// invoker's 64 at once, 2,000 take at least 3 s, longer than the
	// scaler's 1 s tick (with no work one instance drains the queue in
	// about a second, and whether max is reached is a race with the tick).
	scaleBurstDelay = 100 * time.Millisecond

	scaleTotalLimit = 8 * time.Minute

	// targetColdShare is the goal: what EventFlow adds to the
	// start of a small server, p50.
	targetColdShare = 50 * time.Millisecond
)

var lastScale benchkit.LastRun[*scaleReport]

// BenchmarkScale runs the three parts once and prints their tables.
func BenchmarkScale(b *testing.B) {
	lastScale.Get(b, runScale).reportMetrics(b)
}

type scaleReport struct {
	started time.Time
	total   time.Duration
	phases  benchkit.Phases

	// 1. cold start
	coldN                      int
	warm                       int // cold requests answered without a scale-up from zero (not counted)
	coldInvoke, coldRoute      []time.Duration
	direct                     []time.Duration
	pairedInvoke, pairedRoute  []time.Duration // per cycle: cold − that cycle's direct start
	statusZero                 []time.Duration // last answer → status at zero
	coldStartMean              time.Duration   // deployer: scale decision → first instance ready
	coldStartN                 float64
	invokeHeldMean, routeHeldM time.Duration
	invokeHeldN, routeHeldN    float64

	// 2. runtime cycles
	cyc cycleResult

	// 3. burst
	burst burstResult

	logWarn, logErr int
	logKinds        []string
}

func runScale(b *testing.B) (*scaleReport, error) {
	r := &scaleReport{started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), scaleTotalLimit)
	defer cancel()
	var err error
	if r.coldN, err = envCount("EVENTFLOW_BENCH_SCALE_N", scaleColdDefaultN, 2, scaleColdMaxN); err != nil {
		return nil, err
	}
	cycles, err := envCount("EVENTFLOW_BENCH_SCALE_CYCLES", scaleCyclesDefault, 10, scaleCyclesMax)
	if err != nil {
		return nil, err
	}

	s, err := startLoggedIn(ctx, b, &r.phases, scaleBurstClients)
	if err != nil {
		return nil, err
	}
	p, a, echoBin := s.p, s.a, s.echoBin
	t0 := time.Now()
	sw, err := watchStatus(ctx, p, scaleColdFunction, scaleBurstFunction)
	if err != nil {
		return nil, fmt.Errorf("watch status: %w", err)
	}
	defer sw.stop()
	httpMode := map[string]any{"mode": function.ModeHTTP}
	deployErr := make(chan error, 2)
	go func() {
		deployErr <- deploy(ctx, a, map[string]any{"name": scaleColdFunction, "command": []string{echoBin}, "invocation": httpMode,
			"scale": function.Scale{Min: 0, Max: 1, IdleAfter: function.Duration(time.Second)}})
	}()
	go func() {
		deployErr <- deploy(ctx, a, map[string]any{"name": scaleBurstFunction, "command": []string{echoBin}, "invocation": httpMode,
			"env": map[string]string{"ECHO_DELAY": scaleBurstDelay.String()},
			"scale": function.Scale{Min: 0, Max: scaleBurstMax, Target: scaleBurstTarget, Metric: function.MetricQueue,
				IdleAfter: function.Duration(time.Second)}})
	}()
	for range 2 {
		if err := <-deployErr; err != nil {
			return nil, fmt.Errorf("%w\nplatform stderr tail:\n%s", err, p.logs.TailText())
		}
	}
	r.phases.Add("deploy 2 functions (min 0: each starts with one instance)", t0)

	// 1. Cold start.
	t0 = time.Now()
	atZero := func(st function.Status) bool { return st.Replicas == 0 && st.ReadyReplicas == 0 }
	for _, fn := range []string{scaleBurstFunction, scaleColdFunction} {
		if _, err := sw.latest(ctx, fn, scaleZeroLimit+10*time.Second, atZero); err != nil {
			return nil, fmt.Errorf("%s never at zero after its deploy: %w\nplatform stderr tail:\n%s", fn, err, p.logs.TailText())
		}
	}
	r.phases.Add("both idle to zero", t0)
	t0 = time.Now()
	m0, err := a.Scrape(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.coldStarts(ctx, a, sw, echoBin); err != nil {
		return nil, fmt.Errorf("%w\nplatform stderr tail:\n%s", err, p.logs.TailText())
	}
	if m1, err := a.Scrape(ctx); err == nil {
		r.coldStartMean, r.coldStartN, _ = benchkit.MeanDelta(m0, m1, "eventflow_function_cold_start_seconds")
		r.invokeHeldMean, r.invokeHeldN, _ = benchkit.MeanDelta(m0, m1, "eventflow_function_cold_wait_seconds", `mode="sync"`)
		r.routeHeldM, r.routeHeldN, _ = benchkit.MeanDelta(m0, m1, "eventflow_gateway_route_held_seconds")
	}
	r.phases.Add(fmt.Sprintf("%d cold-start cycles (idle to zero, direct start, cold request)", len(r.coldInvoke)+len(r.coldRoute)), t0)

	// 3. The burst (on the platform, before it stops).
	t0 = time.Now()
	if r.burst, err = burst(ctx, p, a, sw); err != nil {
		return nil, fmt.Errorf("burst: %w\nplatform stderr tail:\n%s", err, p.logs.TailText())
	}
	r.phases.Add(fmt.Sprintf("burst of %s async invocations to max", thousands(scaleBurstN)), t0)

	t0 = time.Now()
	sw.stop()
	p.stop()
	r.phases.Add("platform shutdown", t0)
	r.logWarn, r.logErr, r.logKinds = p.logs.Summary(6)

	// 2. Scale cycles on the runtime alone, the platform stopped.
	t0 = time.Now()
	if r.cyc, err = scaleCycles(ctx, echoBin, cycles); err != nil {
		return nil, fmt.Errorf("scale cycles: %w", err)
	}
	r.phases.Add(fmt.Sprintf("%s Scale cycles under load (process runtime)", thousands(int64(r.cyc.cycles))), t0)

	r.total = time.Since(r.started)
	r.print(os.Stdout)
	if len(r.coldInvoke) == 0 || len(r.coldRoute) == 0 || len(r.direct) == 0 {
		return r, errors.New("cold start: nothing measured")
	}
	return r, nil
}

// envCount is the number in env var name, or def when it is unset.
func envCount(name string, def, lo, hi int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// ---------------------------------------------------------------------------
// The function's status, as the deployer stores it.

type statusEntry struct {
	at time.Time
	st function.Status
}

// statusWatcher follows the status bucket's keys of some functions and
// keeps every status seen, with when it was seen.
type statusWatcher struct {
	mu      sync.Mutex
	seen    map[string][]statusEntry // by function
	changed chan struct{}            // closed and replaced on every status
	stop    func()
}

func watchStatus(ctx context.Context, p *platform, fns ...string) (*statusWatcher, error) {
	keys := make([]string, len(fns))
	byKey := map[string]string{}
	for i, fn := range fns {
		keys[i] = events.FunctionKey(tenant, fn)
		byKey[keys[i]] = fn
	}
	sw := &statusWatcher{seen: map[string][]statusEntry{}, changed: make(chan struct{})}
	stop, err := watchPuts(ctx, p.natsURL, p.natsID, "eventflow-bench-status", events.BucketStatus, keys, false, func(e jetstream.KeyValueEntry) {
		var st function.Status
		if json.Unmarshal(e.Value(), &st) != nil {
			return
		}
		now := time.Now()
		sw.mu.Lock()
		fn := byKey[e.Key()]
		sw.seen[fn] = append(sw.seen[fn], statusEntry{at: now, st: st})
		close(sw.changed)
		sw.changed = make(chan struct{})
		sw.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	sw.stop = stop
	return sw, nil
}

// wait waits (bounded) until find, called with fn's statuses seen so far
// under the lock, finds one.
func (sw *statusWatcher) wait(ctx context.Context, fn string, limit time.Duration, find func([]statusEntry) (statusEntry, bool)) (statusEntry, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		sw.mu.Lock()
		e, ok := find(sw.seen[fn])
		ch := sw.changed
		var last function.Status
		if n := len(sw.seen[fn]); n > 0 {
			last = sw.seen[fn][n-1].st
		}
		sw.mu.Unlock()
		if ok {
			return e, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return statusEntry{}, fmt.Errorf("not within %s (last status: phase %s, replicas %d, ready %d, %s)",
				limit, last.Phase, last.Replicas, last.ReadyReplicas, last.Message)
		case <-ctx.Done():
			return statusEntry{}, ctx.Err()
		}
	}
}

// latest waits (bounded) until fn's latest status satisfies ok.
func (sw *statusWatcher) latest(ctx context.Context, fn string, limit time.Duration, ok func(function.Status) bool) (statusEntry, error) {
	return sw.wait(ctx, fn, limit, func(es []statusEntry) (statusEntry, bool) {
		if len(es) == 0 || !ok(es[len(es)-1].st) {
			return statusEntry{}, false
		}
		return es[len(es)-1], true
	})
}

// first waits (bounded) for fn's first status seen at or after since that
// satisfies ok.
func (sw *statusWatcher) first(ctx context.Context, fn string, since time.Time, limit time.Duration, ok func(function.Status) bool) (statusEntry, error) {
	return sw.wait(ctx, fn, limit, func(es []statusEntry) (statusEntry, bool) {
		for _, e := range es {
			if !e.at.Before(since) && ok(e.st) {
				return e, true
			}
		}
		return statusEntry{}, false
	})
}

// maxSince is the highest ready and desired count of fn seen at or after
// since.
func (sw *statusWatcher) maxSince(fn string, since time.Time) (ready, desired int32) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, e := range sw.seen[fn] {
		if !e.at.Before(since) {
			ready, desired = max(ready, e.st.ReadyReplicas), max(desired, e.st.Replicas)
		}
	}
	return ready, desired
}

// ---------------------------------------------------------------------------
// 1. Cold start from zero.

func (r *scaleReport) coldStarts(ctx context.Context, a *benchkit.Client, sw *statusWatcher, echoBin string) error {
	ctx, cancel := context.WithTimeout(ctx, scaleColdLimit)
	defer cancel()
	c := &http.Client{Transport: benchkit.NewTransport(2), Timeout: scaleAnswerLimit}
	defer c.CloseIdleConnections()
	auth := "Bearer " + a.Token
	invokeURL := a.Base + "/v1/functions/" + scaleColdFunction + ":invoke"
	routeURL := a.Base + function.RoutePath(tenant, scaleColdFunction)
	var answered time.Time // of the last cold request
	for i := range r.coldN {
		if ctx.Err() != nil {
			break
		}
		// At zero again: the scaler's decision to go there came after the
		// last answer.
		if _, err := sw.latest(ctx, scaleColdFunction, scaleZeroLimit, func(st function.Status) bool {
			return st.Replicas == 0 && st.ReadyReplicas == 0 &&
				(answered.IsZero() || st.LastScale != nil && st.LastScale.To == 0 && st.LastScale.At.After(answered))
		}); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("cycle %d: back to zero: %w", i+1, err)
		}
		if !answered.IsZero() {
			r.statusZero = append(r.statusZero, time.Since(answered))
		}
		// The baseline, at the same moment (the platform idle at zero).
		d, err := directStart(ctx, echoBin)
		if err != nil {
			return fmt.Errorf("cycle %d: direct start: %w", i+1, err)
		}
		r.direct = append(r.direct, d)
		sent := time.Now()
		way, out := "sync invoke", &r.coldInvoke
		if i%2 == 0 {
			d, err = timedEcho(ctx, c, invokeURL, auth, payload)
		} else {
			way, out = "route GET", &r.coldRoute
			d, err = timedRequest(ctx, c, http.MethodGet, routeURL, auth, nil)
		}
		if err != nil {
			return fmt.Errorf("cycle %d: cold %s: %w", i+1, way, err)
		}
		answered = time.Now()
		// Cold indeed: the scaler took the function up from zero for
		// it. (The instance scaled down keeps running DrainDelay after
		// it left the endpoints, for requests already on their way: a
		// route request that beat the gateway's view of the status to it
		// would be answered warm.)
		if _, err := sw.first(ctx, scaleColdFunction, sent, 5*time.Second, func(st function.Status) bool {
			return st.LastScale != nil && st.LastScale.From == 0 && st.LastScale.To > 0 && st.LastScale.At.After(sent)
		}); err != nil {
			r.warm++
			answered = time.Time{} // no scale-down to wait for: it is still at zero
			continue
		}
		*out = append(*out, d)
		if i%2 == 0 {
			r.pairedInvoke = append(r.pairedInvoke, d-r.direct[len(r.direct)-1])
		} else {
			r.pairedRoute = append(r.pairedRoute, d-r.direct[len(r.direct)-1])
		}
	}
	return nil
}

// directStart starts the echo program as a child process on a free port
// and times it from fork/exec to its first answer: dial every millisecond
// until it listens (the process runtime's probes are 1 ms apart too), then
// one POST on a new connection. The process is killed after.
func directStart(ctx context.Context, bin string) (time.Duration, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=" + port, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = benchkit.HelperAttr()
	c := &http.Client{Transport: benchkit.NewTransport(1), Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()

	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	deadline := t0.Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("echo exited before listening on %s", addr)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("echo not listening on %s within 10s", addr)
		}
	}
	if _, err := timedEcho(ctx, c, "http://"+addr+"/", "", payload); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// ---------------------------------------------------------------------------
// 2. Scale cycles under load, on the process runtime alone.

type cycleResult struct {
	planned, cycles         int
	made, succeeded, failed int64
	held                    int64 // runs that found no ready instance and waited
	samples                 []string
	up3, from0, down        []time.Duration // Scale → count observed
	elapsed                 time.Duration
	stopped                 string // why the cycles stopped early, or ""
	// instance processes alive during the cycles (draining ones
	// included), and after a final Scale(0): how many were left when the
	// wait for them ended, after how long
	peakProcs, leftProcs int
	lifetimes            []time.Duration // of the instance processes that ended, ±100 ms
	peakTCP              int             // lines of /proc/net/tcp
	meanProcs            float64
	goneAfter            time.Duration
	// CPU time over the cycles: this process (the runtime, its drains
	// and the clients), user and system, and its reaped children (the
	// instances stopped)
	user, sys, children time.Duration
}

const cycleFunction = "bench-cycles"

// scaleCycles runs cycles Scale cycles of an echo function (1→3→1, every
// tenth 1→0→1), each waited for until the runtime observes the count
// ready, while scaleClients clients invoke it without pause as the
// invoker's activator does; every run that does not end with the payload
// echoed is lost.
func scaleCycles(ctx context.Context, echoBin string, cycles int) (cycleResult, error) {
	res := cycleResult{planned: cycles}
	rt := process.New(process.Config{
		DrainDelay:        scaleDrainDelay,
		StopGrace:         2 * time.Second,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
	})
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		_ = rt.Close(cctx)
	}()
	spec := function.Spec{Name: cycleFunction, Command: []string{echoBin},
		Invocation: function.Invocation{Mode: function.ModeHTTP, Timeout: function.Duration(scaleCyclesTimeout)},
		Scale:      &function.Scale{Min: 0, Max: 4}}.WithDefaults()
	if err := spec.Validate(); err != nil {
		return res, err
	}
	if err := rt.Apply(ctx, tenant, spec); err != nil {
		return res, err
	}

	// Changes wake the count waits.
	var mu sync.Mutex
	changed := make(chan struct{})
	pumpDone := make(chan struct{})
	pctx, pcancel := context.WithCancel(ctx)
	go func() {
		defer close(pumpDone)
		for {
			select {
			case <-pctx.Done():
				return
			case <-rt.Changes():
				mu.Lock()
				close(changed)
				changed = make(chan struct{})
				mu.Unlock()
			}
		}
	}()
	defer func() { pcancel(); <-pumpDone }()
	waitCount := func(n int32) error {
		t := time.NewTimer(scaleCountLimit)
		defer t.Stop()
		for {
			mu.Lock()
			ch := changed
			mu.Unlock()
			obs, found, err := rt.Observe(ctx, tenant, cycleFunction)
			if err != nil {
				return err
			}
			if found && obs.Replicas == n && obs.ReadyReplicas == n {
				return nil
			}
			select {
			case <-ch:
			case <-t.C:
				return fmt.Errorf("%d of %d instances ready after %s (%s)", obs.ReadyReplicas, n, scaleCountLimit, obs.Message)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := waitCount(1); err != nil {
		return res, fmt.Errorf("first instance: %w", err)
	}

	// The clients.
	var made, ok, failed, held atomic.Int64
	var smu sync.Mutex
	sample := func(s string) {
		smu.Lock()
		if len(res.samples) < 5 {
			res.samples = append(res.samples, s)
		}
		smu.Unlock()
	}
	var stop atomic.Bool
	cctx, ccancel := context.WithCancel(context.WithoutCancel(ctx))
	defer ccancel()
	var wg sync.WaitGroup
	for w := range scaleClients {
		wg.Go(func() {
			for k := 0; !stop.Load(); k++ {
				made.Add(1)
				if err := activatorRun(cctx, rt, spec, fmt.Sprintf("c%d-%d", w, k), &held); err != nil {
					failed.Add(1)
					sample(err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}

	// How many instance processes live (draining ones included) and how
	// long each lived, sampled every 100 ms; how long the machine's TCP
	// table is (what a drain reads), every second.
	comm := filepath.Base(echoBin)
	instancePIDs := func() []int {
		var out []int
		for _, c := range benchkit.ChildProcs(os.Getpid()) {
			if c.Comm == comm {
				out = append(out, c.PID)
			}
		}
		return out
	}
	countProcs := func() int { return len(instancePIDs()) }
	var procSum, procSamples int
	sampled := make(chan struct{})
	sctx, scancel := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		seen := map[int]time.Time{}
		for {
			select {
			case <-sctx.Done():
				return
			case now := <-t.C:
				pids := instancePIDs()
				res.peakProcs = max(res.peakProcs, len(pids))
				procSum += len(pids)
				procSamples++
				for _, pid := range pids {
					if _, ok := seen[pid]; !ok {
						seen[pid] = now
					}
				}
				for pid, first := range seen {
					if !slices.Contains(pids, pid) {
						res.lifetimes = append(res.lifetimes, now.Sub(first))
						delete(seen, pid)
					}
				}
				// The table is large: read it once a second only, this
				// process's reads cost CPU the runtime's drains need.
				if procSamples%10 == 1 {
					if b, err := os.ReadFile("/proc/net/tcp"); err == nil {
						res.peakTCP = max(res.peakTCP, bytes.Count(b, []byte("\n"))-1)
					}
				}
			}
		}
	}()

	// The cycles, bounded.
	lctx, lcancel := context.WithTimeout(ctx, scaleCyclesLimit)
	defer lcancel()
	start := time.Now()
	self0, children0 := rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
	scale := func(n int32, out *[]time.Duration) error {
		t0 := time.Now()
		if err := rt.Scale(lctx, tenant, cycleFunction, n); err != nil {
			return err
		}
		if err := waitCount(n); err != nil {
			return err
		}
		*out = append(*out, time.Since(t0))
		return nil
	}
	var cycleErr error
	for i := 1; i <= cycles; i++ {
		if lctx.Err() != nil {
			res.stopped = fmt.Sprintf("time limit %s reached", scaleCyclesLimit)
			break
		}
		var err error
		if i%10 == 0 {
			if err = scale(0, &res.down); err == nil {
				err = scale(1, &res.from0)
			}
		} else {
			if err = scale(3, &res.up3); err == nil {
				err = scale(1, &res.down)
			}
		}
		if err != nil {
			if lctx.Err() != nil && ctx.Err() == nil {
				res.stopped = fmt.Sprintf("time limit %s reached", scaleCyclesLimit)
				break
			}
			cycleErr = fmt.Errorf("cycle %d: %w", i, err)
			break
		}
		res.cycles = i
	}
	res.elapsed = time.Since(start)
	self1, children1 := rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
	res.user, res.sys = self1[0]-self0[0], self1[1]-self0[1]
	res.children = children1[0] + children1[1] - children0[0] - children0[1]
	stop.Store(true)
	wg.Wait()
	scancel()
	<-sampled
	if procSamples > 0 {
		res.meanProcs = float64(procSum) / float64(procSamples)
	}
	// How long the drained instances take to be gone, bounded.
	if err := rt.Scale(ctx, tenant, cycleFunction, 0); err == nil {
		t0 := time.Now()
		for countProcs() > 0 && time.Since(t0) < 2*scaleCyclesTimeout && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		res.leftProcs, res.goneAfter = countProcs(), time.Since(t0)
	}
	res.made, res.succeeded, res.failed, res.held = made.Load(), ok.Load(), failed.Load(), held.Load()
	return res, cycleErr
}

// rusage is the user and system CPU time of who (syscall.RUSAGE_*).
func rusage(who int) [2]time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return [2]time.Duration{}
	}
	return [2]time.Duration{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// activatorRun is one run as the invoker's activator makes it: Invoke;
// while the function has no ready instance, wait with WaitReady (the whole
// hold bounded by the function's timeout) and Invoke again. Anything but
// the payload echoed is an error.
func activatorRun(ctx context.Context, rt *process.Runtime, spec function.Spec, id string, held *atomic.Int64) error {
	var hold context.Context
	for {
		res, err := rt.Invoke(ctx, tenant, spec, efruntime.InvokeRequest{ID: id, Payload: payload, ContentType: "application/json"})
		if errors.Is(err, efruntime.ErrNoReadyInstance) {
			if hold == nil {
				held.Add(1)
				var cancel context.CancelFunc
				hold, cancel = context.WithTimeout(ctx, spec.Timeout())
				defer cancel()
			}
			if werr := rt.WaitReady(hold, tenant, spec.Name); werr != nil {
				return fmt.Errorf("%s: held: %w (then %v)", id, err, werr)
			}
			continue
		}
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", id, err)
		case !res.Succeeded:
			return fmt.Errorf("%s: %s", id, res.Error)
		case !bytes.Equal(res.Output, payload):
			return fmt.Errorf("%s: echoed %q", id, benchkit.Truncate(string(res.Output), 100))
		}
		return nil
	}
}

// ---------------------------------------------------------------------------
// 3. A burst of queued work.

type burstResult struct {
	accept                        acceptResult
	toReady1, toDesiredMax, toMax time.Duration // from the first accept; 0: not seen
	toDone                        time.Duration
	done, failed                  int
	peakReady, peakDesired        int32
	maxErr                        string
}

func burst(ctx context.Context, p *platform, a *benchkit.Client, sw *statusWatcher) (burstResult, error) {
	var res burstResult
	cw, err := watchCompletions(ctx, p.natsURL, p.natsID, scaleBurstFunction, false)
	if err != nil {
		return res, err
	}
	defer cw.stop()
	if _, err := sw.latest(ctx, scaleBurstFunction, scaleZeroLimit, func(st function.Status) bool {
		return st.Replicas == 0 && st.ReadyReplicas == 0
	}); err != nil {
		return res, fmt.Errorf("not at zero: %w", err)
	}
	res.accept = acceptAsync(ctx, a, scaleBurstFunction, scaleBurstN, scaleBurstClients, payload, scaleBurstLimit)
	start := res.accept.start
	if len(res.accept.ids) == 0 {
		return res, fmt.Errorf("nothing accepted: %v %v", res.accept.codes, res.accept.samples)
	}
	var last time.Time
	res.done, res.failed, last = cw.waitFor(ctx, res.accept.ids, scaleBurstLimit)
	if res.done > 0 {
		res.toDone = last.Sub(start)
	}
	// The status may have reached max before the work was done, or (a
	// short burst) not at all: looked up once everything is final.
	at := func(ok func(function.Status) bool, limit time.Duration) time.Duration {
		e, err := sw.first(ctx, scaleBurstFunction, start, limit, ok)
		if err != nil {
			return 0
		}
		return e.at.Sub(start)
	}
	res.toReady1 = at(func(st function.Status) bool { return st.ReadyReplicas >= 1 }, time.Second)
	res.toDesiredMax = at(func(st function.Status) bool { return st.Replicas >= scaleBurstMax }, time.Second)
	e, err := sw.first(ctx, scaleBurstFunction, start, 5*time.Second, func(st function.Status) bool { return st.ReadyReplicas >= scaleBurstMax })
	if err != nil {
		res.maxErr = err.Error()
	} else {
		res.toMax = e.at.Sub(start)
	}
	res.peakReady, res.peakDesired = sw.maxSince(scaleBurstFunction, start)
	return res, nil
}

// ---------------------------------------------------------------------------
// Output.

func (r *scaleReport) coldShare(cold []time.Duration) time.Duration {
	return benchkit.Summarize(cold).P50 - benchkit.Summarize(r.direct).P50
}

func (r *scaleReport) reportMetrics(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	ci, cr, d := benchkit.Summarize(r.coldInvoke), benchkit.Summarize(r.coldRoute), benchkit.Summarize(r.direct)
	b.ReportMetric(benchkit.Ms(d.P50), "direct-start-p50-ms")
	b.ReportMetric(benchkit.Ms(ci.P50), "cold-invoke-p50-ms")
	b.ReportMetric(benchkit.Ms(ci.P99), "cold-invoke-p99-ms")
	b.ReportMetric(benchkit.Ms(cr.P50), "cold-route-p50-ms")
	b.ReportMetric(benchkit.Ms(cr.P99), "cold-route-p99-ms")
	b.ReportMetric(benchkit.Ms(ci.P50-d.P50), "cold-invoke-share-p50-ms")
	b.ReportMetric(benchkit.Ms(cr.P50-d.P50), "cold-route-share-p50-ms")
	b.ReportMetric(float64(r.cyc.cycles), "scale-cycles")
	b.ReportMetric(float64(r.cyc.failed), "requests-lost")
	b.ReportMetric(r.burst.toMax.Seconds(), "burst-to-max-s")
	b.ReportMetric(r.burst.toDone.Seconds(), "burst-done-s")
}

func fmtSec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (r *scaleReport) print(w io.Writer) {
	fmt.Fprintf(w, "\nEventFlow scaling benchmark (%d CPUs, %s, %s/%s, %s)\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"))

	// 1.
	d := benchkit.Summarize(r.direct)
	fmt.Fprintf(w, "\n1. Cold start from zero to the first answer (process runtime, `eventflow dev`)\n\n")
	rows := [][]string{{"measure", "value", "baseline (same run)", "value", "EventFlow's share", "target"}}
	for _, way := range []struct {
		name string
		cold []time.Duration
	}{
		{"sync :invoke", r.coldInvoke},
		{"GET via HTTP route /fn/", r.coldRoute},
	} {
		c := benchkit.Summarize(way.cold)
		share := c.P50 - d.P50
		rows = append(rows,
			[]string{fmt.Sprintf("zero → first answer, %s, p50 (n=%d)", way.name, c.N), fmtMs(c.P50),
				fmt.Sprintf("echo started directly → first answer, p50 (n=%d)", d.N), fmtMs(d.P50),
				fmt.Sprintf("%+.1f ms", benchkit.Ms(share)),
				fmt.Sprintf("< %g ms: %s", benchkit.Ms(targetColdShare), benchkit.Verdict(share < targetColdShare))},
			[]string{fmt.Sprintf("zero → first answer, %s, p99", way.name), fmtMs(c.P99),
				"echo started directly → first answer, p99", fmtMs(d.P99),
				fmt.Sprintf("%+.1f ms", benchkit.Ms(c.P99-d.P99)), "—"})
	}
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- %d cycles, alternating a sync :invoke (POST, %d-byte body echoed) and a GET through the route; each waits until the status "+
		"bucket shows 0 desired and 0 ready after a scale-down decided after the last answer (idleAfter 1s; last answer → at zero p50 %s), "+
		"then runs the baseline, then the cold request (on a warm keep-alive connection to the gateway); a sample counts only if the status "+
		"shows a scale-up from zero decided after it was sent (%d did not, left out).\n",
		len(r.coldInvoke)+len(r.coldRoute)+r.warm, len(payload), fmtSec(benchkit.Summarize(r.statusZero).P50), r.warm)
	fmt.Fprintf(w, "- EventFlow's share is the difference of the two p50s (p99s); with so few samples a p99 is the slowest of them. "+
		"Paired per cycle (cold − the direct start just before it), the median is %+.1f ms for :invoke, %+.1f ms for the route.\n",
		benchkit.Ms(benchkit.Summarize(r.pairedInvoke).P50), benchkit.Ms(benchkit.Summarize(r.pairedRoute).P50))
	fmt.Fprintf(w, "- baseline: fork/exec of the same echo program (PORT set, its own process group, output discarded), "+
		"dialled every 1 ms until it listens, then one POST on a new connection; min %s, max %s.\n", fmtMs(d.Min), fmtMs(d.Max))
	metric := func(name string, mean time.Duration, n float64) string {
		if n <= 0 {
			return name + ": not observed"
		}
		return fmt.Sprintf("%s mean %s (%.0f)", name, fmtMs(mean), n)
	}
	fmt.Fprintf(w, "- from /metrics over the cycles: %s; %s; %s.\n",
		metric("deployer eventflow_function_cold_start_seconds (scale-up decision → first instance ready)", r.coldStartMean, r.coldStartN),
		metric("invoker eventflow_function_cold_wait_seconds (sync holds)", r.invokeHeldMean, r.invokeHeldN),
		metric("gateway eventflow_gateway_route_held_seconds", r.routeHeldM, r.routeHeldN))

	// 2.
	c := r.cyc
	fmt.Fprintf(w, "\n2. Requests lost while scaling up and down under load (process runtime's Scale + drain, activator contract)\n\n")
	lost := c.failed
	complete := c.cycles == c.planned
	verdict := benchkit.Verdict(lost == 0 && complete)
	if !complete {
		verdict += fmt.Sprintf(" (%d of %d cycles)", c.cycles, c.planned)
	}
	up3, from0, down := benchkit.Summarize(c.up3), benchkit.Summarize(c.from0), benchkit.Summarize(c.down)
	lt := benchkit.Summarize(c.lifetimes)
	rows = [][]string{
		{"measure", "value", "target"},
		{fmt.Sprintf("Scale cycles under load (%d × 1→3→1, %d × 1→0→1)", len(c.up3), len(c.from0)), thousands(int64(c.cycles)) + " in " + fmtSec(c.elapsed),
			thousands(int64(c.planned))},
		{fmt.Sprintf("requests made (%d clients, continuous)", scaleClients), thousands(c.made), "—"},
		{"requests succeeded (payload echoed)", thousands(c.succeeded), "—"},
		{"requests lost (any failure)", thousands(lost), "0: " + verdict},
		{"requests held at zero (ErrNoReadyInstance → WaitReady → again)", thousands(c.held), "—"},
		{"Scale(3) → 3 observed ready, p50 / p99", fmtMs(up3.P50) + " / " + fmtMs(up3.P99), "—"},
		{"Scale(1) from 0 → 1 observed ready, p50 / p99", fmtMs(from0.P50) + " / " + fmtMs(from0.P99), "—"},
		{"Scale down → observed, p50 / p99", fmtMs(down.P50) + " / " + fmtMs(down.P99), "—"},
		{"instance processes alive (draining included), mean / peak", fmt.Sprintf("%.1f / %d", c.meanProcs, c.peakProcs), "—"},
		{fmt.Sprintf("instance process lifetime, p50 / p90 / max (n=%d, ±0.1 s)", len(c.lifetimes)),
			fmt.Sprintf("%s / %s / %s", fmtSec(lt.P50), fmtSec(lt.P90), fmtSec(lt.Max)), "—"},
		{"final Scale(0) → every instance process gone", fmt.Sprintf("%s (%d left)", fmtSec(c.goneAfter), c.leftProcs), "—"},
	}
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- runtime level, not the platform: a process runtime (DrainDelay %s) in the benchmark's process, the echo program applied "+
		"with scale {min 0, max 4} and timeout %s; the clients call Invoke and, on ErrNoReadyInstance, WaitReady (the hold bounded by the timeout) "+
		"and Invoke again, as the invoker's activator does. It exercises Scale and the drain (an instance leaves the endpoints, stops once its "+
		"invocations and connections are done), not the scaler's decisions (idleAfter ≥ 1s per cycle; `make test` covers them).\n",
		scaleDrainDelay, scaleCyclesTimeout)
	fmt.Fprintf(w, "- CPU over the cycles (%s wall, %d CPUs): this process (runtime, drains, clients) %s user + %s system; the instances it reaped %s.\n",
		fmtSec(c.elapsed), runtime.NumCPU(), fmtSec(c.user), fmtSec(c.sys), fmtSec(c.children))
	fmt.Fprintf(w, "- the machine's TCP table (/proc/net/tcp, which a draining instance reads for the connections still open on its port) peaked at %s entries.\n",
		thousands(int64(c.peakTCP)))
	if c.stopped != "" {
		fmt.Fprintf(w, "- cycles stopped early: %s.\n", c.stopped)
	}
	if len(c.samples) > 0 {
		fmt.Fprintf(w, "- failures, e.g.: %s\n", strings.Join(c.samples, " | "))
	}

	// 3.
	bu := r.burst
	fmt.Fprintf(w, "\n3. A burst of queued work to max instances (`eventflow dev`, scale {min 0, max %d, target %d, metric queue, idleAfter 1s}, %s of work per invocation)\n\n",
		scaleBurstMax, scaleBurstTarget, scaleBurstDelay)
	seen := func(d time.Duration) string {
		if d == 0 {
			return "not seen"
		}
		return fmtSec(d)
	}
	allOK := len(bu.accept.ids) == scaleBurstN && bu.done == len(bu.accept.ids) && bu.failed == 0
	rows = [][]string{
		{"measure", "value", "target"},
		{fmt.Sprintf("async invocations accepted (%d clients)", scaleBurstClients),
			fmt.Sprintf("%s of %s in %s", thousands(int64(len(bu.accept.ids))), thousands(scaleBurstN), fmtSec(bu.accept.end.Sub(bu.accept.start))), "—"},
		{"first accept → first instance ready (status)", seen(bu.toReady1), "—"},
		{fmt.Sprintf("first accept → desired %d (status)", scaleBurstMax), seen(bu.toDesiredMax), "—"},
		{fmt.Sprintf("first accept → readyReplicas %d (status)", scaleBurstMax), seen(bu.toMax), "—"},
		{fmt.Sprintf("first accept → all %s final", thousands(int64(len(bu.accept.ids)))), seen(bu.toDone), "—"},
		{"invocations succeeded / failed / not final", fmt.Sprintf("%s / %d / %d", thousands(int64(bu.done-bu.failed)), bu.failed, len(bu.accept.ids)-bu.done),
			"all succeed: " + benchkit.Verdict(allOK)},
	}
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- the echo program waits %s before each answer (ECHO_DELAY); the invoker runs at most %d async invocations at once, "+
		"so the %s take at least %s however many instances run.\n", scaleBurstDelay, invokerConcurrency, thousands(scaleBurstN),
		fmtSec((scaleBurstN+invokerConcurrency-1)/invokerConcurrency*scaleBurstDelay))
	fmt.Fprintf(w, "- times are when the benchmark saw the status (status bucket watch) or the final record (invocations bucket watch); "+
		"peak readyReplicas %d, desired %d.\n", bu.peakReady, bu.peakDesired)
	if bu.maxErr != "" {
		fmt.Fprintf(w, "- readyReplicas %d: %s\n", scaleBurstMax, bu.maxErr)
	}
	if others := otherCodes(bu.accept.codes, http.StatusAccepted); others != "" || bu.accept.transport > 0 {
		fmt.Fprintf(w, "- NOT 202: %s, no response: %d; e.g. %s\n", others, bu.accept.transport, strings.Join(bu.accept.samples, " | "))
	}
	logs := []string{fmt.Sprintf("%d warnings, %d errors", r.logWarn, r.logErr)}
	if len(r.logKinds) > 0 {
		logs = append(logs, slices.Clone(r.logKinds)...)
	}
	fmt.Fprintf(w, "- platform log (--log-level warn): %s.\n", strings.Join(logs, "; "))
	fmt.Fprintln(w)
	r.phases.Print(w, r.total)
}
