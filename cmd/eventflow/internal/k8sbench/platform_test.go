package k8sbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
)

// Bounds of the services' life cycle.
const (
	serviceReadyTimeout = 30 * time.Second
	serviceStopTimeout  = 15 * time.Second
)

var serviceNames = []string{"gateway", "deployer", "invoker", "logstream"}

// binDir is $EVENTFLOW_BIN, which must hold the four service binaries.
func binDir() (string, error) {
	dir := os.Getenv("EVENTFLOW_BIN")
	if dir == "" {
		return "", fmt.Errorf("EVENTFLOW_BIN is not set: run `make build` and set EVENTFLOW_BIN=<repo>/bin")
	}
	for _, s := range serviceNames {
		if fi, err := os.Stat(filepath.Join(dir, s)); err != nil || fi.IsDir() {
			return "", fmt.Errorf("EVENTFLOW_BIN=%s has no %s binary (run make build)", dir, s)
		}
	}
	return dir, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// service is one running service binary.
type service struct {
	name     string
	addr     string // its API (gateway) or ops endpoint
	cmd      *exec.Cmd
	logs     *logSink
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	shutdown time.Duration
	killed   bool
}

// startServices runs the four service binaries against natsURL, each with
// extra[name] added to a clean environment (nothing EVENTFLOW_*, KUBECONFIG
// or NATS_URL of the caller), and waits until each answers /readyz.
func startServices(ctx context.Context, natsURL string, extra map[string][]string) (map[string]*service, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	var base []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "EVENTFLOW_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "NATS_URL=") {
			continue
		}
		base = append(base, kv)
	}
	secret := strings.Repeat("k8sbench-secret-", 3) // 48 bytes
	svcs := map[string]*service{}
	stopAll := func() {
		for _, s := range svcs {
			s.stop()
		}
	}
	for _, name := range serviceNames {
		addr, err := freeAddr()
		if err != nil {
			stopAll()
			return nil, err
		}
		cmd := exec.Command(filepath.Join(dir, name))
		cmd.Env = append(append([]string{}, base...),
			"NATS_URL="+natsURL, "EVENTFLOW_JWT_SECRET="+secret, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true",
			"EVENTFLOW_HTTP_ADDR="+addr, "EVENTFLOW_OPS_ADDR="+addr, "EVENTFLOW_LOG_LEVEL=warn")
		cmd.Env = append(cmd.Env, extra[name]...)
		// Its own process group (a last-resort kill reaches all of it), and
		// SIGTERM if this process dies without stopping it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		s := &service{name: name, addr: addr, cmd: cmd, logs: &logSink{msgs: map[string]int{}}, exited: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = s.logs, s.logs
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			stopAll()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
		svcs[name] = s
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, name := range serviceNames {
		s := svcs[name]
		deadline := time.Now().Add(serviceReadyTimeout)
		last := ""
		for {
			resp, err := hc.Get("http://" + s.addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = fmt.Sprint("HTTP ", resp.StatusCode)
			} else {
				last = err.Error()
			}
			select {
			case <-s.exited:
				stopAll()
				return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", name, s.waitErr, s.logs.tailText())
			case <-ctx.Done():
				stopAll()
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				stopAll()
				return nil, fmt.Errorf("%s not ready within %s (last: %s)\n%s", name, serviceReadyTimeout, last, s.logs.tailText())
			}
		}
	}
	return svcs, nil
}

// stop sends SIGTERM and waits (bounded) for the orderly exit, then kills
// the process group. Safe to call more than once.
func (s *service) stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		start := time.Now()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			s.shutdown = time.Since(start)
			return
		case <-time.After(serviceStopTimeout):
		}
		s.shutdown = time.Since(start)
		s.killed = true
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	})
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// logSink keeps a service's output: counts of warnings and errors by
// message, and the last lines.
type logSink struct {
	mu       sync.Mutex
	partial  []byte
	warn     int
	errs     int
	msgs     map[string]int
	examples map[string]string
	tail     []string
}

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
	if len(s.tail) == 20 {
		s.tail = s.tail[1:]
	}
	s.tail = append(s.tail, truncate(l, 400))
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
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
	if _, ok := s.msgs[kind]; ok || len(s.msgs) < 30 {
		s.msgs[kind]++
		if s.examples == nil {
			s.examples = map[string]string{}
		}
		if _, ok := s.examples[kind]; !ok {
			s.examples[kind] = truncate(l, 300)
		}
	}
}

func (s *logSink) tailText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// summary lists the kinds of lines, most frequent first.
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
		kinds = append(kinds, fmt.Sprintf("%5d × %s   e.g. %s", x.n, x.k, s.examples[x.k]))
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

func newAPIClient(base string, conns int) *apiClient {
	return &apiClient{base: base, hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}}
}

func (a *apiClient) as(token string) *apiClient {
	c := *a
	c.token = token
	return &c
}

// response is one answer of the gateway.
type response struct {
	code   int
	body   []byte
	header http.Header
}

func (a *apiClient) do(ctx context.Context, method, path string, body []byte, contentType string) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return response{code: resp.StatusCode, body: b, header: resp.Header}, err
}

func (a *apiClient) postJSON(ctx context.Context, path string, v any) (response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return response{}, err
	}
	return a.do(ctx, http.MethodPost, path, b, "application/json")
}

// login returns a client for tenant (POST /auth/token).
func (a *apiClient) login(ctx context.Context, tenant string) (*apiClient, error) {
	r, err := a.postJSON(ctx, "/auth/token", map[string]string{"tenant": tenant})
	if err != nil {
		return nil, fmt.Errorf("POST /auth/token: %w", err)
	}
	var out struct {
		Token string `json:"token"`
	}
	if r.code != http.StatusOK || json.Unmarshal(r.body, &out) != nil || out.Token == "" {
		return nil, fmt.Errorf("POST /auth/token: HTTP %d %s", r.code, truncate(string(r.body), 300))
	}
	return a.as(out.Token), nil
}

// fnView is the part of GET /v1/functions/{name} the benchmark reads.
type fnView struct {
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	Status     struct {
		Phase              string `json:"phase"`
		ReadyReplicas      int32  `json:"readyReplicas"`
		Message            string `json:"message"`
		ObservedGeneration int64  `json:"observedGeneration"`
	} `json:"status"`
}

func (a *apiClient) get(ctx context.Context, name string) (fnView, error) {
	var f fnView
	r, err := a.do(ctx, http.MethodGet, "/v1/functions/"+name, nil, "")
	if err != nil {
		return f, err
	}
	if r.code != http.StatusOK {
		return f, fmt.Errorf("GET %s: HTTP %d %s", name, r.code, truncate(string(r.body), 200))
	}
	return f, json.Unmarshal(r.body, &f)
}

// promSnapshot is one scrape of /metrics: series → value.
type promSnapshot map[string]float64

func scrape(ctx context.Context, addr string) (promSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: HTTP %d", addr, resp.StatusCode)
	}
	snap := promSnapshot{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
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
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			snap[l[:i]] = v
		}
	}
	return snap, sc.Err()
}

// sum adds the series of metric name whose labels contain every one of
// labels (each like `result="ok"`).
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

// ---------------------------------------------------------------------------
// /proc: memory and CPU.

// vmRSS is the resident set of pid in bytes (/proc/<pid>/status VmRSS).
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// clockTick is USER_HZ, the unit of /proc times: 100 on Linux.
const clockTick = 10 * time.Millisecond

// procCPU is utime+stime of pid.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick, true
}

// machineBusy is the CPU time the whole machine spent not idle (all CPUs).
func machineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, true
}

// clusterPIDs are the processes of the test cluster: their command lines
// name its directory (k8stest names the cluster eventflow-test-<our pid>).
func clusterPIDs() []int {
	marker := fmt.Sprintf("/clusters/eventflow-test-%d/", os.Getpid())
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(marker)) {
			out = append(out, pid)
		}
	}
	return out
}

// cpuSnap is CPU time used so far: by the machine, by this benchmark
// process (with the embedded NATS server), by the EventFlow services and by
// the cluster's processes.
type cpuSnap struct {
	at                              time.Time
	machine, bench, eventflow, kube time.Duration
	deployer                        time.Duration
	ok                              bool
}

func takeCPU(svcs map[string]*service) cpuSnap {
	s := cpuSnap{at: time.Now()}
	var ok bool
	s.machine, ok = machineBusy()
	s.bench, _ = procCPU(os.Getpid())
	for name, sv := range svcs {
		c, _ := procCPU(sv.pid())
		s.eventflow += c
		if name == "deployer" {
			s.deployer = c
		}
	}
	for _, pid := range clusterPIDs() {
		c, _ := procCPU(pid)
		s.kube += c
	}
	s.ok = ok
	return s
}

// cpuWindow is CPU use between two snapshots, in shares of one CPU.
type cpuWindow struct {
	name                                   string
	wall                                   time.Duration
	machine, bench, eventflow, kube, other float64
	deployer                               float64
	reconciles                             float64 // by the deployer; -1 if unknown
	ok                                     bool
}

func between(name string, a, b cpuSnap) cpuWindow {
	w := cpuWindow{name: name, wall: b.at.Sub(a.at), ok: a.ok && b.ok}
	if w.wall <= 0 {
		return w
	}
	share := func(d time.Duration) float64 { return 100 * float64(d) / float64(w.wall) }
	w.machine = share(b.machine - a.machine)
	w.bench = share(b.bench - a.bench)
	w.eventflow = share(b.eventflow - a.eventflow)
	w.kube = share(b.kube - a.kube)
	w.deployer = share(b.deployer - a.deployer)
	w.other = max(w.machine-w.bench-w.eventflow-w.kube, 0)
	return w
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
