package bench

import (
	"bufio"
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
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

// Bounds of the platform's life cycle.
const (
	readyTimeout    = 60 * time.Second // banner printed
	shutdownTimeout = 25 * time.Second // SIGTERM until exit (dev allows 15s to stop functions)
	deployTimeout   = 60 * time.Second // function phase Ready
	buildTimeout    = 3 * time.Minute
)

// goTool is the go command that runs this benchmark.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// goBuild builds pkg (a path or import path) into out, from the directory
// of this package.
func goBuild(ctx context.Context, out, pkg string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, pkg)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, buf.String())
	}
	return nil
}

// eventflowBinary returns $EVENTFLOW_BIN/eventflow, or builds one into dir.
func eventflowBinary(ctx context.Context, dir string) (string, error) {
	if bin := os.Getenv("EVENTFLOW_BIN"); bin != "" {
		p := filepath.Join(bin, "eventflow")
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("EVENTFLOW_BIN=%s has no eventflow binary (run make build)", bin)
		}
		return p, nil
	}
	p := filepath.Join(dir, "eventflow")
	return p, goBuild(ctx, p, "github.com/eventflow/eventflow/cmd/eventflow")
}

// platform is one `eventflow dev` subprocess.
type platform struct {
	cmd     *exec.Cmd
	apiURL  string
	natsURL string
	logs    *logSink
	exited  chan struct{}
	waitErr error
	// shutdown is how long the graceful stop took.
	shutdown time.Duration
	stopOnce sync.Once
}

// startPlatform starts `eventflow dev` on loopback with random ports and
// waits (bounded) until it prints where its API and NATS are.
func startPlatform(ctx context.Context, bin, dataDir string) (*platform, error) {
	cmd := exec.Command(bin, "dev",
		"--http-addr", "127.0.0.1:0",
		"--nats-addr", "127.0.0.1:0",
		"--data-dir", dataDir,
		"--log-level", "warn")
	// A clean environment: no EVENTFLOW_* setting of the caller (the
	// flags above win anyway, but e.g. EVENTFLOW_JWT_SECRET would not).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = platformAttr()
	banner := &bannerWriter{found: make(chan struct{})}
	p := &platform{cmd: cmd, logs: &logSink{msgs: map[string]int{}}, exited: make(chan struct{})}
	cmd.Stdout = banner
	cmd.Stderr = p.logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case <-banner.found:
		p.apiURL, p.natsURL = banner.urls()
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("eventflow dev exited before it was ready: %v\nstderr tail:\n%s", p.waitErr, p.logs.tailText())
	case <-t.C:
		p.stop()
		return nil, fmt.Errorf("eventflow dev printed no API/NATS lines in %s\nstderr tail:\n%s", readyTimeout, p.logs.tailText())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// stop ends the platform: SIGTERM and a bounded wait for its orderly
// shutdown; if that does not end it, SIGKILL of its group and of the
// function processes it had started. Safe to call more than once.
func (p *platform) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		pid := p.cmd.Process.Pid
		children := childProcesses(pid) // function processes live in their own groups
		start := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(shutdownTimeout)
		defer t.Stop()
		select {
		case <-p.exited:
			p.shutdown = time.Since(start)
			return
		case <-t.C:
		}
		p.shutdown = time.Since(start)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		for _, c := range children {
			// Only if it is still the same program (pids can be reused).
			if comm, ok := readComm(c.pid); ok && comm == c.comm {
				_ = syscall.Kill(-c.pid, syscall.SIGKILL)
				_ = syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
		<-p.exited
	})
}

type childProc struct {
	pid  int
	comm string
}

// childProcesses lists the direct children of pid from /proc (Linux only;
// elsewhere it finds none).
func childProcesses(pid int) []childProc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []childProc
	for _, e := range entries {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			comm, _ := readComm(cpid)
			out = append(out, childProc{pid: cpid, comm: comm})
		}
	}
	return out
}

func readComm(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// bannerWriter is the subprocess's stdout: it finds the API and NATS lines
// of the banner and discards everything else.
type bannerWriter struct {
	mu       sync.Mutex
	partial  []byte
	api, nat string
	found    chan struct{}
	done     bool
}

func (w *bannerWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		if v, ok := strings.CutPrefix(line, "API:"); ok {
			w.api = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "NATS:"); ok {
			w.nat = strings.TrimSpace(v)
		}
		if w.api != "" && w.nat != "" {
			w.done, w.partial = true, nil
			close(w.found)
			break
		}
	}
	if len(w.partial) > 64<<10 { // no banner in a flood of output: keep memory bounded
		w.partial = w.partial[len(w.partial)-4096:]
	}
	return len(b), nil
}

func (w *bannerWriter) urls() (api, nat string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.api, w.nat
}

// logSink is the subprocess's stderr (JSON log lines at warn and above): it
// counts warnings and errors by message and keeps the last lines.
type logSink struct {
	mu       sync.Mutex
	partial  []byte
	warn     int
	errs     int
	msgs     map[string]int // "LEVEL msg" → count, bounded
	examples map[string]string
	tail     []string
}

const (
	maxLogKinds = 40
	maxLogTail  = 30
)

func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 {
		s.line(string(s.partial))
		s.partial = nil
	}
	return len(b), nil
}

func (s *logSink) line(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if len(s.tail) == maxLogTail {
		s.tail = s.tail[1:]
	}
	s.tail = append(s.tail, truncate(l, 400))
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Err   string `json:"err"`
	}
	kind := "OTHER " + truncate(l, 80)
	if json.Unmarshal([]byte(l), &rec) == nil && rec.Level != "" {
		kind = rec.Level + " " + rec.Msg
	}
	switch {
	case strings.HasPrefix(kind, "WARN"):
		s.warn++
	case strings.HasPrefix(kind, "ERROR"):
		s.errs++
	}
	if _, ok := s.msgs[kind]; ok || len(s.msgs) < maxLogKinds {
		s.msgs[kind]++
		if s.examples == nil {
			s.examples = map[string]string{}
		}
		if _, ok := s.examples[kind]; !ok {
			s.examples[kind] = truncate(l, 400)
		}
	}
}

func (s *logSink) tailText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// summary lists the kinds of log lines, most frequent first.
func (s *logSink) summary() (warn, errs int, kinds []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type kc struct {
		k string
		n int
	}
	var all []kc
	for k, n := range s.msgs {
		all = append(all, kc{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	for _, x := range all {
		kinds = append(kinds, fmt.Sprintf("%6d × %s   e.g. %s", x.n, x.k, s.examples[x.k]))
	}
	return s.warn, s.errs, kinds
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// apiClient talks to the gateway as one tenant.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// do sends one request and returns the status and (bounded) body.
func (a *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

func (a *apiClient) login(ctx context.Context, tenant string) error {
	code, b, err := a.do(ctx, http.MethodPost, "/auth/token", []byte(`{"tenant":"`+tenant+`"}`))
	if err != nil {
		return fmt.Errorf("POST /auth/token: %w", err)
	}
	var out struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Token == "" {
		return fmt.Errorf("POST /auth/token: HTTP %d %s", code, truncate(string(b), 300))
	}
	a.token = out.Token
	return nil
}

// deploy creates a function and waits (bounded) until it is Ready.
func (a *apiClient) deploy(ctx context.Context, spec map[string]any) error {
	name, _ := spec["name"].(string)
	body, _ := json.Marshal(spec)
	code, b, err := a.do(ctx, http.MethodPost, "/v1/functions", body)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if code != http.StatusAccepted {
		return fmt.Errorf("create %s: HTTP %d %s", name, code, truncate(string(b), 300))
	}
	deadline := time.Now().Add(deployTimeout)
	var last string
	for time.Now().Before(deadline) {
		code, b, err := a.do(ctx, http.MethodGet, "/v1/functions/"+name, nil)
		if err == nil && code == http.StatusOK {
			var f function.Function
			if json.Unmarshal(b, &f) == nil {
				last = fmt.Sprintf("phase %s readyReplicas %d %s", f.Status.Phase, f.Status.ReadyReplicas, f.Status.Message)
				switch f.Status.Phase {
				case function.PhaseReady:
					if f.Spec.Mode() != function.ModeHTTP || f.Status.ReadyReplicas >= f.Spec.ReplicaCount() {
						return nil
					}
				case function.PhaseFailed:
					return fmt.Errorf("function %s failed to deploy: %s", name, f.Status.Message)
				}
			}
		} else if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d %s", code, truncate(string(b), 200))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("function %s not Ready within %s (last: %s)", name, deployTimeout, last)
}

// promSnapshot is one scrape of /metrics: series ("name{labels}") → value.
type promSnapshot map[string]float64

func scrapeMetrics(ctx context.Context, a *apiClient) (promSnapshot, error) {
	code, b, err := a.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", code)
	}
	snap := promSnapshot{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		snap[l[:i]] = v
	}
	return snap, sc.Err()
}

// sum adds the series of metric name whose labels contain every one of
// labels (each like `mode="sync"`).
func (s promSnapshot) sum(name string, labels ...string) float64 {
	var total float64
	for k, v := range s {
		n, lab, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lab, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// grownSeries returns the increase of metric name between two snapshots, per
// series, for series that grew.
func grownSeries(before, after promSnapshot, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		n, lab, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		if d := v - before[k]; d > 0 {
			out[strings.TrimSuffix(lab, "}")] = d
		}
	}
	return out
}

// meanDelta is the mean of a histogram/summary over the interval between
// two snapshots: Δsum / Δcount.
func meanDelta(before, after promSnapshot, name string, labels ...string) (time.Duration, float64, error) {
	dc := after.sum(name+"_count", labels...) - before.sum(name+"_count", labels...)
	ds := after.sum(name+"_sum", labels...) - before.sum(name+"_sum", labels...)
	if dc <= 0 {
		return 0, 0, errors.New("no observations")
	}
	return time.Duration(ds / dc * float64(time.Second)), dc, nil
}

// cpuSnap is the CPU time used so far by the platform process itself, by
// its children (reaped job processes and live function instances) and by
// this benchmark process. Linux only; ok is false elsewhere.
type cpuSnap struct {
	at                    time.Time
	self, children, bench time.Duration
	ok                    bool
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTick = 10 * time.Millisecond

// procTimes reads utime+stime and cutime+cstime of pid.
func procTimes(pid int) (self, children time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, false
	}
	n := func(k int) time.Duration {
		v, _ := strconv.ParseInt(f[k-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	return n(14) + n(15), n(16) + n(17), true
}

func (p *platform) cpu() cpuSnap {
	s := cpuSnap{at: time.Now()}
	pid := p.cmd.Process.Pid
	s.self, s.children, s.ok = procTimes(pid)
	for _, c := range childProcesses(pid) {
		if cs, cc, ok := procTimes(c.pid); ok {
			s.children += cs + cc
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// cpuUse is CPU time used over an interval.
type cpuUse struct {
	wall, self, children, bench time.Duration
	ok                          bool
}

func cpuBetween(a, b cpuSnap) cpuUse {
	return cpuUse{wall: b.at.Sub(a.at), self: b.self - a.self, children: max(b.children-a.children, 0), bench: b.bench - a.bench, ok: a.ok && b.ok}
}
