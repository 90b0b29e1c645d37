package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// ---------------------------------------------------------------------------
// BenchmarkPaths: the accept path and the queue path, each measured alone
// against the least a program must do for the same work (issue 11).
//
// A standalone nats-server (built from the module graph) with the bus
// authentication of `eventflow nats-auth init`, and the service binaries of
// $EVENTFLOW_BIN as separate processes, each with its own credentials:
//
//  1. accept, gateway alone: deployer + gateway, no invoker; 64 clients POST
//     N async invocations of a job-mode function; accepts/s.
//  2. baselines: testdata/minaccept (gin, HS256 bearer check, one awaited
//     JetStream publish; with -kv also a KV record, both awaited), same N
//     and clients.
//  3. queue path: the invoker is started and timed from its start until
//     every accepted invocation is final (its /metrics, then the stream
//     empty); completions/s.
//  4. baseline: 64 workers in this process pulling from a pre-filled
//     work-queue stream, running the same work, one KV put, double ack.
//
// The queue path runs a job-mode function (`cat`): on the process runtime
// the standalone invoker cannot call http-mode instances, which belong to
// the deployer's process ("no ready instance"). So the like-for-like worker
// baseline forks `cat` too, and a second one POSTs to the echo program
// instead (the queue path without a process per invocation), for
// information.

const (
	pathsTenant   = "bench"
	pathsFunction = "bench-cat"
	pathsDefaultN = 20_000
	// pathsMaxN keeps N plus the warm-up under the default per-function
	// queue cap (events.DefaultMaxQueuedPerFunction).
	pathsMaxN        = 90_000
	pathsClients     = 64
	pathsWarmup      = 200
	pathsWorkers     = 64
	pathsPayloadSize = 512

	pathsStartLimit    = 30 * time.Second // a process ready
	pathsStopTimeout   = 15 * time.Second // SIGTERM until exit
	pathsAcceptLimit   = 90 * time.Second
	pathsCompleteLimit = 150 * time.Second
	pathsWorkerLimit   = 120 * time.Second
	pathsTotalLimit    = 12 * time.Minute

	// Goals of the issue.
	targetPathsAccept = 0.90
	targetPathsQueue  = 0.70
)

var lastPaths benchkit.LastRun[*pathsReport]

// BenchmarkPaths runs every phase once and prints the table.
func BenchmarkPaths(b *testing.B) {
	lastPaths.Get(b, runPaths).reportMetrics(b)
}

// pathsN is N: EVENTFLOW_BENCH_PATHS_N or the default.
func pathsN() (int, error) {
	v := os.Getenv("EVENTFLOW_BENCH_PATHS_N")
	if v == "" {
		return pathsDefaultN, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > pathsMaxN {
		return 0, fmt.Errorf("EVENTFLOW_BENCH_PATHS_N=%q: want a number from 100 to %d", v, pathsMaxN)
	}
	return n, nil
}

// pathsPayload is a JSON body of exactly pathsPayloadSize bytes.
func pathsPayload() []byte {
	head, tail := `{"hello":"eventflow","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", pathsPayloadSize-len(head)-len(tail)) + tail)
}

type pathsReport struct {
	started time.Time
	total   time.Duration
	phases  benchkit.Phases
	n       int
	payload int

	gateway, minimal, minimalKV acceptResult
	gatewayHandler              time.Duration // server-side mean, from /metrics
	gatewayObserved             float64       // requests in that mean
	gatewayCodes                map[string]float64
	queued                      int // accepted by the gateway, warm-up included

	// writes: messages each stream stored over the gateway's accepts
	// (the records and events written after the 202 included).
	writes map[string]uint64

	queue                  queueRun
	workerFork, workerHTTP workerResult
	cpu                    []pathsWindow
	logs                   []string
	notes                  []string
}

// ---------------------------------------------------------------------------
// Processes.

// pathsProc is one process the benchmark started.
type pathsProc struct {
	name string
	proc *benchkit.Proc
	logs *benchkit.LogSink
	addr string // the gateway's API, the others' ops endpoints, minaccept's HTTP
}

func (p *pathsProc) stop() { p.proc.Stop(pathsStopTimeout) }

// startPathsProc starts bin with args and env (added to a clean
// environment), its output to a log sink, and stops it when b ends.
func startPathsProc(b *testing.B, name, addr, bin string, args, env []string, killChildren bool) (*pathsProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(benchkit.CleanEnv("EVENTFLOW_", "NATS_", "MINACCEPT_"), env...)
	p := &pathsProc{name: name, addr: addr,
		proc: &benchkit.Proc{Cmd: cmd, KillChildGroups: killChildren},
		logs: benchkit.NewLogSink(benchkit.LogLimits{Tail: 20, Kinds: 20, Example: 300})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := p.proc.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.Cleanup(p.stop)
	return p, nil
}

// waitReady polls check every 20 ms until it succeeds, the process exits
// or pathsStartLimit passes.
func (p *pathsProc) waitReady(ctx context.Context, check func() error) error {
	deadline := time.Now().Add(pathsStartLimit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-p.proc.Exited():
			return fmt.Errorf("%s exited during start-up: %v\n%s", p.name, p.proc.Err(), p.logs.TailText())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %v\n%s", p.name, pathsStartLimit, err, p.logs.TailText())
		}
	}
}

func dialCheck(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

func readyzCheck(addr string) func() error {
	return func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// serviceBinary is $EVENTFLOW_BIN/<name>, or one built into dir.
func serviceBinary(ctx context.Context, dir, name string) (string, error) {
	if bin := os.Getenv("EVENTFLOW_BIN"); bin != "" {
		p := filepath.Join(bin, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("EVENTFLOW_BIN=%s has no %s binary (run make build)", bin, name)
		}
		return p, nil
	}
	p := filepath.Join(dir, name)
	return p, goBuild(ctx, p, "github.com/eventflow/eventflow/services/"+name)
}

// ---------------------------------------------------------------------------
// CPU per phase.

// pathsWindow is the CPU time each process used over one phase.
type pathsWindow struct {
	name string
	wall time.Duration
	use  []procUse
}

type procUse struct {
	name           string
	self, children time.Duration // children: reaped ones (the invoker's jobs, the bench's `cat`s)
}

type cpuPoint struct {
	at      time.Time
	procs   map[string]procUse
	machine time.Duration // busy time of the whole machine, all CPUs
	ok      bool          // machine read
}

func cpuNow(procs []*pathsProc) cpuPoint {
	pt := cpuPoint{at: time.Now(), procs: map[string]procUse{}}
	for _, p := range procs {
		select {
		case <-p.proc.Exited():
			continue
		default:
		}
		if s, c, ok := benchkit.ProcTimes(p.proc.Pid()); ok {
			pt.procs[p.name] = procUse{name: p.name, self: s, children: c}
		}
	}
	var ru, rc syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil && syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc) == nil {
		u := procUse{name: "benchmark",
			self:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
			children: time.Duration(rc.Utime.Nano() + rc.Stime.Nano())}
		// Live children that are not the processes above: the echo
		// server, running `cat`s.
		known := map[int]bool{}
		for _, p := range procs {
			known[p.proc.Pid()] = true
		}
		for _, c := range benchkit.ChildProcs(os.Getpid()) {
			if known[c.PID] {
				continue
			}
			if s, cc, ok := benchkit.ProcTimes(c.PID); ok {
				u.children += s + cc
			}
		}
		pt.procs["benchmark"] = u
	}
	pt.machine, pt.ok = benchkit.MachineBusy()
	return pt
}

func (r *pathsReport) window(name string, procs []*pathsProc, from, to cpuPoint) {
	w := pathsWindow{name: name, wall: to.at.Sub(from.at)}
	names := []string{}
	for _, p := range procs {
		names = append(names, p.name)
	}
	var ours time.Duration
	for _, n := range append(names, "benchmark") {
		a := from.procs[n] // zero for a process started in the window
		z, ok := to.procs[n]
		if !ok {
			continue
		}
		u := procUse{name: n, self: z.self - a.self, children: max(z.children-a.children, 0)}
		ours += u.self + u.children
		w.use = append(w.use, u)
	}
	if from.ok && to.ok {
		w.use = append(w.use, procUse{name: "rest of the machine", self: max(to.machine-from.machine-ours, 0)})
	}
	r.cpu = append(r.cpu, w)
}

// ---------------------------------------------------------------------------
// The run.

func runPaths(b *testing.B) (*pathsReport, error) {
	n, err := pathsN()
	if err != nil {
		return nil, err
	}
	body := pathsPayload()
	r := &pathsReport{started: time.Now(), n: n, payload: len(body)}
	ctx, cancel := context.WithTimeout(context.Background(), pathsTotalLimit)
	defer cancel()
	phase := r.phases.Add

	// Build: nats-server and minaccept from the module graph, the echo
	// program; the service binaries from $EVENTFLOW_BIN.
	t0 := time.Now()
	tmp := b.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"eventflow", "deployer", "gateway", "invoker"} {
		var p string
		if name == "eventflow" {
			p, err = eventflowBinary(ctx, tmp)
		} else {
			p, err = serviceBinary(ctx, tmp, name)
		}
		if err != nil {
			return nil, err
		}
		bins[name] = p
	}
	builds := map[string]string{
		"nats-server": "github.com/nats-io/nats-server/v2",
		"minaccept":   "./testdata/minaccept",
		"echo":        "./testdata/echo",
	}
	buildErr := make(chan error, len(builds))
	for name, pkg := range builds {
		bins[name] = filepath.Join(tmp, name)
		go func() { buildErr <- goBuild(ctx, bins[name], pkg) }()
	}
	for range builds {
		if e := <-buildErr; e != nil {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		return nil, err
	}
	phase("build", t0)

	// Bus auth and the NATS server.
	t0 = time.Now()
	bundle := filepath.Join(tmp, "bus")
	if out, err := exec.CommandContext(ctx, bins["eventflow"], "nats-auth", "init", "--dir", bundle).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nats-auth init: %v %s", err, out)
	}
	secretDir := filepath.Join(bundle, busauth.BundleSecret)
	kit, err := busauth.Load(filepath.Join(bundle, busauth.BundleKeys))
	if err != nil {
		return nil, err
	}
	adminCreds, err := kit.AdminCreds(time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	adminCredsFile := filepath.Join(tmp, "admin.creds")
	if err := os.WriteFile(adminCredsFile, adminCreds, 0o600); err != nil {
		return nil, err
	}
	adminID, err := busauth.ConnectOptions(adminCreds)
	if err != nil {
		return nil, err
	}
	natsAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	natsURL := "nats://" + natsAddr
	host, port, _ := net.SplitHostPort(natsAddr)
	conf := filepath.Join(tmp, "nats.conf")
	// auth.conf holds operator, system_account, resolver: MEMORY and the
	// account JWTs (resolver_preload); include is relative to this file.
	if err := os.WriteFile(conf, fmt.Appendf(nil, "host: %s\nport: %s\njetstream {\n  store_dir: %q\n}\ninclude %q\n",
		host, port, filepath.Join(tmp, "jetstream"), filepath.Join("bus", busauth.BundleSecret, busauth.AuthConfFile)), 0o600); err != nil {
		return nil, err
	}
	ns, err := startPathsProc(b, "nats-server", natsAddr, bins["nats-server"], []string{"-c", conf}, nil, false)
	if err != nil {
		return nil, err
	}
	if err := ns.waitReady(ctx, dialCheck(natsAddr)); err != nil {
		return nil, err
	}

	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	jwtSecret := hex.EncodeToString(secret) // 48 bytes
	svcEnv := func(name, addr string) []string {
		env := []string{"NATS_URL=" + natsURL, "NATS_CREDS=" + filepath.Join(secretDir, busauth.CredsFile(name)),
			"EVENTFLOW_LOG_LEVEL=warn", "EVENTFLOW_OPS_ADDR=" + addr}
		if name == "gateway" {
			// No per-tenant request rate: the load is one tenant's.
			env = append(env, "EVENTFLOW_HTTP_ADDR="+addr, "EVENTFLOW_JWT_SECRET="+jwtSecret,
				"EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true", "EVENTFLOW_TENANT_RATE=0")
		}
		return env
	}
	// The deployer first: it provisions the streams the others wait for.
	var procs []*pathsProc
	procs = append(procs, ns)
	for _, name := range []string{"deployer", "gateway"} {
		addr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := startPathsProc(b, name, addr, bins[name], nil, svcEnv(name, addr), name == "deployer")
		if err != nil {
			return nil, err
		}
		if err := p.waitReady(ctx, readyzCheck(addr)); err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	gw := procs[2]
	anon := benchkit.NewClient("http://"+gw.addr, pathsClients, 30*time.Second)
	defer anon.HC.CloseIdleConnections()
	a, err := anon.Login(ctx, pathsTenant)
	if err != nil {
		return nil, err
	}
	if err := deploy(ctx, a, map[string]any{"name": pathsFunction, "command": []string{"cat"},
		"replicas": 1, "invocation": map[string]any{"mode": function.ModeJob}}); err != nil {
		return nil, fmt.Errorf("%w\ndeployer log tail:\n%s", err, procs[1].logs.TailText())
	}
	phase("start nats-server, deployer, gateway; deploy", t0)

	// An operator's connection: stream states here, pre-fills and the
	// minimal workers later.
	nc, err := nats.Connect(natsURL, append(adminID, nats.Name("eventflow-bench-paths"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(rawWindow), jetstream.WithPublishAsyncTimeout(20*time.Second))
	if err != nil {
		return nil, err
	}

	// Phase 1: accepts through the gateway alone.
	t0 = time.Now()
	warm := acceptAsync(ctx, a, pathsFunction, pathsWarmup, pathsClients/4, body, 30*time.Second)
	if len(warm.ids) != pathsWarmup {
		return nil, fmt.Errorf("gateway warm-up: %d of %d accepted: %v %v", len(warm.ids), pathsWarmup, warm.codes, warm.samples)
	}
	m0, err0 := a.Scrape(ctx)
	s0 := storedWrites(ctx, js)
	c0 := cpuNow(procs)
	r.gateway = acceptAsync(ctx, a, pathsFunction, n, pathsClients, body, pathsAcceptLimit)
	c1 := cpuNow(procs)
	m1, err1 := a.Scrape(ctx)
	r.window("accept, gateway alone", procs, c0, c1)
	r.writes = settledWrites(ctx, js, s0)
	if err := errors.Join(err0, err1); err != nil {
		r.notes = append(r.notes, "gateway /metrics: "+err.Error())
	} else {
		r.gatewayHandler, r.gatewayObserved, _ = benchkit.MeanDelta(m0, m1, "eventflow_http_request_duration_seconds", `method="POST"`, `route="/v1/functions/:name"`)
		r.gatewayCodes = benchkit.GrownSeries(m0, m1, "eventflow_http_requests_total")
	}
	r.queued = len(warm.ids) + len(r.gateway.ids)
	if len(r.gateway.ids) == 0 {
		return nil, fmt.Errorf("gateway: nothing accepted: %v %v", r.gateway.codes, r.gateway.samples)
	}
	phase("accept via gateway (incl. warm-up)", t0)

	// Phase 2: the minimal accept handler, plain and with a KV record.
	for _, v := range []struct {
		label string
		args  []string
		res   *acceptResult
	}{
		{"accept, minimal handler", []string{"-stream", "BENCH_MIN", "-subject", "bench.min"}, &r.minimal},
		{"accept, minimal handler -kv", []string{"-stream", "BENCH_MIN_REC", "-subject", "bench.minrec", "-kv", "-bucket", "BENCH_MIN_REC_KV"}, &r.minimalKV},
	} {
		t0 = time.Now()
		addr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		args := append([]string{"-addr", addr, "-nats", natsURL, "-creds", adminCredsFile}, v.args...)
		p, err := startPathsProc(b, "minaccept", addr, bins["minaccept"], args, []string{"MINACCEPT_JWT_SECRET=" + jwtSecret}, false)
		if err != nil {
			return nil, err
		}
		if err := p.waitReady(ctx, dialCheck(addr)); err != nil {
			return nil, err
		}
		mc := benchkit.NewClient("http://"+addr, pathsClients, 30*time.Second).As(a.Token)
		if w := acceptAsync(ctx, mc, pathsFunction, pathsWarmup, pathsClients/4, body, 30*time.Second); len(w.ids) != pathsWarmup {
			p.stop()
			return nil, fmt.Errorf("%s warm-up: %d of %d accepted: %v %v\n%s", v.label, len(w.ids), pathsWarmup, w.codes, w.samples, p.logs.TailText())
		}
		wprocs := append(procs[:len(procs):len(procs)], p)
		c0 := cpuNow(wprocs)
		*v.res = acceptAsync(ctx, mc, pathsFunction, n, pathsClients, body, pathsAcceptLimit)
		c1 := cpuNow(wprocs)
		r.window(v.label, wprocs, c0, c1)
		mc.HC.CloseIdleConnections()
		p.stop()
		r.logSummary(p)
		if len(v.res.ids) == 0 {
			return nil, fmt.Errorf("%s: nothing accepted: %v %v", v.label, v.res.codes, v.res.samples)
		}
		phase(v.label+" (incl. start, warm-up)", t0)
	}

	// Phase 3: the invoker, from its start until every accepted
	// invocation is final.
	t0 = time.Now()
	invAddr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	c0 = cpuNow(procs)
	invStart := time.Now()
	inv, err := startPathsProc(b, "invoker", invAddr, bins["invoker"], nil, svcEnv("invoker", invAddr), true)
	if err != nil {
		return nil, err
	}
	procs = append(procs, inv)
	r.queue, err = waitQueue(ctx, js, inv, r.queued, invStart)
	c1 = cpuNow(procs)
	r.window("queue path: invoker start → all final", procs, c0, c1)
	if err != nil {
		return nil, err
	}
	phase("queue path (invoker)", t0)

	// Phase 4: the minimal workers, forking `cat` as the invoker does, and
	// POSTing to a copy of the echo program.
	t0 = time.Now()
	cat, err := exec.LookPath("cat")
	if err != nil {
		return nil, err
	}
	// The environment the process runtime passes a function (PATH, LANG,
	// LC_ALL, TZ from its own, which is the benchmark's): a locale alone
	// costs cat a measurable 150-200 µs of start-up.
	var env []string
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	forkCat := func(ctx context.Context, in []byte) ([]byte, error) {
		var out, stderr bytes.Buffer
		cmd := &exec.Cmd{Path: cat, Args: []string{"cat"}, Env: env,
			Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &stderr,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true}, WaitDelay: 5 * time.Second}
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
	c0 = cpuNow(procs)
	r.workerFork, err = minimalWorker(ctx, js, "BENCH_WORK_FORK", "bench.work.fork", r.queued, body, forkCat)
	c1 = cpuNow(procs)
	r.window("minimal worker, fork/exec cat (incl. pre-fill)", procs, c0, c1)
	if err != nil {
		return nil, fmt.Errorf("minimal worker (fork): %w", err)
	}
	phase("minimal worker, fork/exec cat", t0)

	t0 = time.Now()
	echoAddr, stopEcho, err := startEcho(ctx, bins["echo"])
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	defer stopEcho()
	hc := &http.Client{Transport: benchkit.NewTransport(pathsWorkers), Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	echoURL := "http://" + echoAddr + "/"
	postEcho := func(ctx context.Context, in []byte) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, echoURL, bytes.NewReader(in))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return out, err
	}
	c0 = cpuNow(procs)
	r.workerHTTP, err = minimalWorker(ctx, js, "BENCH_WORK_HTTP", "bench.work.http", r.queued, body, postEcho)
	c1 = cpuNow(procs)
	r.window("minimal worker, HTTP echo (incl. pre-fill)", procs, c0, c1)
	stopEcho()
	if err != nil {
		return nil, fmt.Errorf("minimal worker (HTTP): %w", err)
	}
	phase("minimal worker, HTTP echo", t0)

	// Stop everything, the server last; log warnings are part of the
	// report.
	t0 = time.Now()
	nc.Close()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
		r.logSummary(procs[i])
	}
	phase("stop", t0)
	r.total = time.Since(r.started)
	r.print(os.Stdout)
	return r, nil
}

func (r *pathsReport) logSummary(p *pathsProc) {
	if p.name == "nats-server" {
		return // not JSON; its own lines say nothing about the figures
	}
	warn, errs, kinds := p.logs.Summary(5)
	note := ""
	if p.proc.Killed() {
		note = " (killed: no exit within " + pathsStopTimeout.String() + ")"
	} else if err := p.proc.Err(); err != nil {
		note = " (exited with " + err.Error() + ")"
	}
	if warn+errs == 0 && note == "" {
		return
	}
	r.logs = append(r.logs, fmt.Sprintf("%s: %d warnings, %d errors%s", p.name, warn, errs, note))
	for i, k := range kinds {
		if i == 5 {
			break
		}
		r.logs = append(r.logs, "  "+k)
	}
}

// ---------------------------------------------------------------------------
// The queue path.

type queueRun struct {
	want                       int
	elapsed                    time.Duration // invoker start → all final and the stream empty
	ready                      time.Duration // invoker start → first /metrics answer
	counted                    time.Duration // invoker start → the counters reached want
	succeeded, failed, errored int           // eventflow_invocations_total{mode="async"} by outcome
	meanRun                    time.Duration // the invoker's mean async run (spawn `cat`, feed, wait)
	left                       uint64        // messages still in the stream at the end
}

func (q queueRun) rate() float64 {
	if q.elapsed <= 0 {
		return 0
	}
	return float64(q.succeeded+q.failed) / q.elapsed.Seconds()
}

// waitQueue polls the invoker's /metrics every 50 ms until its async
// succeeded + failed count reaches want, then the invocations stream until
// it is empty (every ack landed), bounded by pathsCompleteLimit.
func waitQueue(ctx context.Context, js jetstream.JetStream, inv *pathsProc, want int, started time.Time) (queueRun, error) {
	q := queueRun{want: want}
	t0 := started
	mc := benchkit.NewClient("http://"+inv.addr, 1, 5*time.Second)
	defer mc.HC.CloseIdleConnections()
	deadline := t0.Add(pathsCompleteLimit)
	var last benchkit.Metrics
	for {
		if m, err := mc.Scrape(ctx); err == nil {
			if q.ready == 0 {
				q.ready = time.Since(t0)
			}
			last = m
			q.succeeded = int(m.Sum("eventflow_invocations_total", `mode="async"`, `outcome="succeeded"`))
			q.failed = int(m.Sum("eventflow_invocations_total", `mode="async"`, `outcome="failed"`))
			q.errored = int(m.Sum("eventflow_invocations_total", `mode="async"`, `outcome="error"`))
			if q.succeeded+q.failed >= want {
				q.counted = time.Since(t0)
				break
			}
		}
		select {
		case <-inv.proc.Exited():
			return q, fmt.Errorf("invoker exited: %v\n%s", inv.proc.Err(), inv.logs.TailText())
		case <-ctx.Done():
			return q, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return q, fmt.Errorf("queue path: %d succeeded, %d failed, %d errors of %d within %s\n%s",
				q.succeeded, q.failed, q.errored, want, pathsCompleteLimit, inv.logs.TailText())
		}
	}
	q.meanRun, _, _ = benchkit.MeanDelta(benchkit.Metrics{}, last, "eventflow_invocation_duration_seconds", `mode="async"`)
	// The counter moves when a run ends; the final record and the ack
	// follow: the stream is empty once every ack has landed.
	for {
		info, err := js.Stream(ctx, events.StreamInvocations)
		if err == nil {
			si, err := info.Info(ctx)
			if err == nil {
				q.left = si.State.Msgs
				if q.left == 0 {
					break
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	q.elapsed = time.Since(t0)
	return q, nil
}

// ---------------------------------------------------------------------------
// The minimal worker.

type workerResult struct {
	n            int
	prefill      time.Duration
	elapsed      time.Duration // first pull → last double ack
	done, errors int
	errorSamples []string
}

func (w workerResult) rate() float64 {
	if w.elapsed <= 0 {
		return 0
	}
	return float64(w.done) / w.elapsed.Seconds()
}

// minimalWorker fills a work-queue stream (configured like
// EVENTFLOW_INVOCATIONS) with n messages of payload, then runs
// pathsWorkers workers on one pull consumer (MaxAckPending 4 × workers,
// pulls of 64, as the invoker): each runs work on the message, checks the
// output, puts a small JSON record in a KV bucket and double-acks. It
// returns the time from the first pull to the last ack.
func minimalWorker(ctx context.Context, js jetstream.JetStream, stream, subject string, n int, payload []byte,
	work func(context.Context, []byte) ([]byte, error)) (workerResult, error) {
	res := workerResult{n: n}
	ctx, cancel := context.WithTimeout(ctx, pathsWorkerLimit)
	defer cancel()
	o := events.DefaultOptions()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: o.Storage, Replicas: o.Replicas, Duplicates: o.DedupeWindow,
		MaxMsgsPerSubject: int64(o.MaxQueuedPerFunction), Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
	}); err != nil {
		return res, fmt.Errorf("stream %s: %w", stream, err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: stream + "_KV", History: 1, TTL: o.InvocationsTTL, Storage: o.Storage, Replicas: o.Replicas,
	})
	if err != nil {
		return res, fmt.Errorf("bucket %s_KV: %w", stream, err)
	}
	defer func() {
		dctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = js.DeleteStream(dctx, stream)
		_ = js.DeleteKeyValue(dctx, stream+"_KV")
	}()

	// Pre-fill, not measured.
	t0 := time.Now()
	subj := subject + "." + pathsTenant + "." + pathsFunction
	for i := range n {
		msg := &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{}}
		msg.Header.Set(nats.MsgIdHdr, "w"+strconv.Itoa(i))
		if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(10*time.Second)); err != nil {
			return res, fmt.Errorf("pre-fill message %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return res, fmt.Errorf("pre-fill acks: %w", ctx.Err())
	}
	res.prefill = time.Since(t0)
	if s, err := js.Stream(ctx, stream); err != nil {
		return res, err
	} else if si, err := s.Info(ctx); err != nil {
		return res, err
	} else if si.State.Msgs != uint64(n) {
		return res, fmt.Errorf("pre-fill: %d messages in %s, want %d", si.State.Msgs, stream, n)
	}

	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       "worker",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 4 * pathsWorkers,
	})
	if err != nil {
		return res, fmt.Errorf("consumer: %w", err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	jobs := make(chan jetstream.Msg, pathsWorkers)
	var done, errs atomic.Int64
	var mu sync.Mutex
	var lastAck time.Time
	finished := make(chan struct{})
	var once sync.Once
	fail := func(err error) {
		errs.Add(1)
		mu.Lock()
		if len(res.errorSamples) < 3 {
			res.errorSamples = append(res.errorSamples, err.Error())
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range pathsWorkers {
		wg.Go(func() {
			for {
				var m jetstream.Msg
				select {
				case m = <-jobs:
				case <-wctx.Done():
					return
				}
				meta, err := m.Metadata()
				if err != nil {
					fail(err)
					_ = m.Nak()
					continue
				}
				id := strconv.FormatUint(meta.Sequence.Stream, 10)
				out, err := work(wctx, m.Data())
				if err == nil && !bytes.Equal(out, m.Data()) {
					err = errors.New("the work's output is not its input")
				}
				if err != nil {
					fail(err)
					_ = m.Nak()
					continue
				}
				rec := fmt.Appendf(nil, `{"id":%q,"tenant":%q,"function":%q,"status":"succeeded","output":%q}`, id, pathsTenant, pathsFunction, out)
				if _, err := kv.Put(wctx, pathsTenant+"."+pathsFunction+"."+id, rec); err != nil {
					fail(err)
					_ = m.Nak()
					continue
				}
				if err := m.DoubleAck(wctx); err != nil {
					fail(err)
					continue
				}
				if done.Add(1) == int64(n) {
					mu.Lock()
					lastAck = time.Now()
					mu.Unlock()
					once.Do(func() { close(finished) })
				}
			}
		})
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case jobs <- m:
		case <-wctx.Done():
		}
	}, jetstream.PullMaxMessages(rawPullBatch))
	if err != nil {
		stop()
		wg.Wait()
		return res, err
	}
	select {
	case <-finished:
	case <-ctx.Done():
	}
	cc.Stop()
	stop()
	wg.Wait()
	res.done, res.errors = int(done.Load()), int(errs.Load())
	if res.done < n {
		return res, fmt.Errorf("%d of %d done within %s (%d errors: %v)", res.done, n, pathsWorkerLimit, res.errors, res.errorSamples)
	}
	res.elapsed = lastAck.Sub(start)
	return res, nil
}

// ---------------------------------------------------------------------------
// Output.

func (r *pathsReport) reportMetrics(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.gateway.rate(), "gateway-accepts/s")
	b.ReportMetric(r.minimal.rate(), "minimal-accepts/s")
	b.ReportMetric(r.minimalKV.rate(), "minimal-kv-accepts/s")
	b.ReportMetric(r.gateway.rate()/r.minimal.rate(), "gateway/minimal")
	b.ReportMetric(float64(r.gateway.sent-len(r.gateway.ids)), "gateway-non202")
	b.ReportMetric(r.queue.rate(), "queue-completions/s")
	b.ReportMetric(r.workerFork.rate(), "worker-fork/s")
	b.ReportMetric(r.workerHTTP.rate(), "worker-http/s")
	b.ReportMetric(r.queue.rate()/r.workerFork.rate(), "queue/worker")
}

func non202(a acceptResult) int { return a.sent - len(a.ids) }

func (r *pathsReport) print(w io.Writer) {
	gw, mn, mk := r.gateway.rate(), r.minimal.rate(), r.minimalKV.rate()
	acceptOK := gw/mn >= targetPathsAccept && non202(r.gateway) == 0
	acceptVerdict := fmt.Sprintf("≥ %.0f%%: %s", 100*targetPathsAccept, benchkit.Verdict(acceptOK))
	if k := non202(r.gateway); k > 0 {
		acceptVerdict += fmt.Sprintf(" (%d not 202)", k)
	}
	q, wf, wh := r.queue.rate(), r.workerFork.rate(), r.workerHTTP.rate()
	queueOK := q/wf >= targetPathsQueue && r.queue.succeeded == r.queued
	gm := benchkit.Summarize(r.gateway.latencies)
	rows := [][]string{
		{"measure", "value", "baseline (same run)", "value", "ratio", "goal"},
		{fmt.Sprintf("async accepts/s, gateway alone (%d clients, %d B, no invoker)", pathsClients, r.payload), fmtRate(gw),
			"minimal accept handler: gin, HS256, 1 awaited JetStream publish", fmtRate(mn), pct(gw / mn), acceptVerdict},
		{"async accepts/s, gateway alone", fmtRate(gw),
			"minimal handler -kv: publish + KV record, both awaited", fmtRate(mk), pct(gw / mk), "— (information)"},
		{"not 202: gateway / minimal / minimal -kv", fmt.Sprintf("%d / %d / %d", non202(r.gateway), non202(r.minimal), non202(r.minimalKV)),
			"—", "", "", "0: " + benchkit.Verdict(non202(r.gateway)+non202(r.minimal)+non202(r.minimalKV) == 0)},
		{"gateway mean request time, server side (/metrics)", fmtMs(r.gatewayHandler),
			"the same requests, client side", fmtMs(gm.Mean), "", "—"},
		{"queue path completions/s (invoker start → all final, job `cat`)", fmtRate(q),
			fmt.Sprintf("minimal worker: pull, fork/exec `cat`, KV put, double ack (%d)", pathsWorkers), fmtRate(wf), pct(q / wf),
			fmt.Sprintf("≥ %.0f%%: %s", 100*targetPathsQueue, benchkit.Verdict(queueOK))},
		{"queue path completions/s", fmtRate(q),
			fmt.Sprintf("minimal worker: pull, HTTP POST to echo, KV put, double ack (%d)", pathsWorkers), fmtRate(wh), pct(q / wh), "— (information)"},
		{"queue path: succeeded of accepted", fmt.Sprintf("%s of %s", thousands(int64(r.queue.succeeded)), thousands(int64(r.queued))),
			"—", "", "", "all: " + benchkit.Verdict(r.queue.succeeded == r.queued)},
	}
	fmt.Fprintf(w, "\nEventFlow paths benchmark (%d CPUs, %s, %s/%s, %s; N = %s)\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"), thousands(int64(r.n)))
	benchkit.PrintTable(w, rows)

	fmt.Fprintln(w, "\nNotes")
	for _, x := range []struct {
		name string
		a    acceptResult
	}{{"gateway", r.gateway}, {"minimal", r.minimal}, {"minimal -kv", r.minimalKV}} {
		s := benchkit.Summarize(x.a.latencies)
		fmt.Fprintf(w, "- accept, %s: %s of %s answered 202 in %s (per request p50 %s, p99 %s, mean %s)",
			x.name, thousands(int64(len(x.a.ids))), thousands(int64(x.a.sent)), x.a.end.Sub(x.a.start).Round(time.Millisecond),
			fmtMs(s.P50), fmtMs(s.P99), fmtMs(s.Mean))
		if others := otherCodes(x.a.codes, http.StatusAccepted); others != "" || x.a.transport > 0 {
			fmt.Fprintf(w, "; NOT 202: %s, no response: %d; e.g. %s", others, x.a.transport, strings.Join(x.a.samples, " | "))
		}
		fmt.Fprintln(w, ".")
	}
	if len(r.gatewayCodes) > 0 {
		fmt.Fprintf(w, "  Gateway counters over the measured accepts: %s; server-side mean %s over %.0f requests.\n",
			fmtSeries(r.gatewayCodes), fmtMs(r.gatewayHandler), r.gatewayObserved)
	}
	fmt.Fprintf(w, "  Each accept run had a warm-up of %d (16 clients) first; the gateway's %d are in the queue path's work.\n", pathsWarmup, pathsWarmup)
	fmt.Fprintf(w, "- queue path: %s queued invocations (%s + %d warm-up); the invoker answered /metrics %s after its start, ran them all %s after it "+
		"(mean run %s), the stream was empty %s after it: %d succeeded, %d failed, %d runs ended in an error (retried); %d messages left.\n",
		thousands(int64(r.queued)), thousands(int64(len(r.gateway.ids))), pathsWarmup, r.queue.ready.Round(time.Millisecond),
		r.queue.counted.Round(time.Millisecond), fmtMs(r.queue.meanRun), r.queue.elapsed.Round(time.Millisecond),
		r.queue.succeeded, r.queue.failed, r.queue.errored, r.queue.left)
	for _, x := range []struct {
		name string
		w    workerResult
	}{{"fork/exec `cat`", r.workerFork}, {"HTTP echo", r.workerHTTP}} {
		fmt.Fprintf(w, "- minimal worker, %s: %s messages pre-filled in %s; %s done in %s, %d errors",
			x.name, thousands(int64(x.w.n)), x.w.prefill.Round(time.Millisecond), thousands(int64(x.w.done)), x.w.elapsed.Round(time.Millisecond), x.w.errors)
		if len(x.w.errorSamples) > 0 {
			fmt.Fprintf(w, " (e.g. %s)", strings.Join(x.w.errorSamples, " | "))
		}
		fmt.Fprintln(w, ".")
	}
	fmt.Fprintln(w, "- The queue path runs a job-mode function: standalone on the process runtime the invoker cannot call http-mode instances "+
		"(they are the deployer's children; it answers \"no ready instance\"), so the goal is set against the worker that forks `cat` too.")
	r.printCostPerAccept(w)
	for _, n := range r.notes {
		fmt.Fprintf(w, "- %s\n", n)
	}

	fmt.Fprintf(w, "\nCPU by phase (%% of one CPU over the phase; %d CPUs; +children = child processes: the invoker's jobs, the benchmark's `cat`s and echo server; rest of the machine = busy time of all CPUs minus all of these)\n", runtime.NumCPU())
	for _, win := range r.cpu {
		var parts []string
		for _, u := range win.use {
			s := fmt.Sprintf("%s %.0f%%", u.name, benchkit.Share(u.self, win.wall))
			if u.children > 0 {
				s += fmt.Sprintf(" (+children %.0f%%)", benchkit.Share(u.children, win.wall))
			}
			parts = append(parts, s)
		}
		fmt.Fprintf(w, "- %-48s %7s wall: %s\n", win.name, win.wall.Round(10*time.Millisecond), strings.Join(parts, ", "))
	}
	if len(r.logs) > 0 {
		fmt.Fprintln(w, "\nProcess logs (warn and above)")
		for _, l := range r.logs {
			fmt.Fprintln(w, l)
		}
	} else {
		fmt.Fprintln(w, "\nProcess logs (warn and above): none.")
	}
	r.phases.Print(w, r.total)
}

// acceptStreams are the streams an async accept may write to: the work
// queue (the one write the 202 waits for), the invocation records' bucket
// and the lifecycle events.
var acceptStreams = []string{events.StreamInvocations, "KV_" + events.BucketInvocations, events.StreamEvents}

// storedWrites is the last sequence of each accept stream (0 when it
// cannot be read).
func storedWrites(ctx context.Context, js jetstream.JetStream) map[string]uint64 {
	seqs := map[string]uint64{}
	for _, name := range acceptStreams {
		if st, err := js.Stream(ctx, name); err == nil {
			if info, err := st.Info(ctx); err == nil {
				seqs[name] = info.State.LastSeq
			}
		}
	}
	return seqs
}

// settledWrites is what each accept stream stored since from, once the
// writes sent after the 202s have landed (bounded: 5 s).
func settledWrites(ctx context.Context, js jetstream.JetStream, from map[string]uint64) map[string]uint64 {
	var last map[string]uint64
	for range 50 {
		now := storedWrites(ctx, js)
		if maps.Equal(now, last) {
			break
		}
		last = now
		time.Sleep(100 * time.Millisecond)
	}
	d := map[string]uint64{}
	for k, v := range last {
		d[k] = v - from[k]
	}
	return d
}

// printCostPerAccept explains an accept's cost: the durable writes it made
// (from the streams' own sequences) and the CPU each process spent per
// accepted request in each accept phase.
func (r *pathsReport) printCostPerAccept(w io.Writer) {
	acc := len(r.gateway.ids)
	if acc == 0 {
		return
	}
	if len(r.writes) > 0 {
		parts := []string{}
		total := 0.0
		for _, name := range acceptStreams {
			per := float64(r.writes[name]) / float64(acc)
			total += per
			parts = append(parts, fmt.Sprintf("%s %.2f", name, per))
		}
		fmt.Fprintf(w, "- stored writes per gateway accept: %.2f (%s); the 202 waits for the first only.\n", total, strings.Join(parts, ", "))
	}
	for _, x := range []struct {
		window string
		n      int
	}{{"accept, gateway alone", acc}, {"accept, minimal handler", len(r.minimal.ids)}, {"accept, minimal handler -kv", len(r.minimalKV.ids)}} {
		for _, win := range r.cpu {
			if win.name != x.window || x.n == 0 {
				continue
			}
			parts := []string{}
			var sum time.Duration
			for _, u := range win.use {
				d := u.self + u.children
				if d <= 0 || u.name == "rest of the machine" {
					continue
				}
				sum += d
				parts = append(parts, fmt.Sprintf("%s %.0f", u.name, float64(d.Microseconds())/float64(x.n)))
			}
			fmt.Fprintf(w, "- CPU µs per accept, %s: %.0f in all (%s).\n", strings.TrimPrefix(x.window, "accept, "),
				float64(sum.Microseconds())/float64(x.n), strings.Join(parts, ", "))
		}
	}
}
