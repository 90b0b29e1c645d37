package k8sbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
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

// service is one running service binary.
type service struct {
	name string
	addr string // its API (gateway) or ops endpoint
	proc *benchkit.Proc
	logs *benchkit.LogSink
}

// startServices runs the four service binaries against natsURL, each with
// extra[name] added to a clean environment (nothing EVENTFLOW_*, KUBECONFIG
// or NATS_URL of the caller), and waits until each answers /readyz.
func startServices(ctx context.Context, natsURL string, extra map[string][]string) (map[string]*service, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	base := benchkit.CleanEnv("EVENTFLOW_", "KUBECONFIG=", "NATS_URL=")
	secret := strings.Repeat("k8sbench-secret-", 3) // 48 bytes
	svcs := map[string]*service{}
	stopAll := func() {
		for _, s := range svcs {
			s.stop()
		}
	}
	for _, name := range serviceNames {
		addr, err := benchkit.FreeAddr()
		if err != nil {
			stopAll()
			return nil, err
		}
		cmd := exec.Command(filepath.Join(dir, name))
		cmd.Env = append(append([]string{}, base...),
			"NATS_URL="+natsURL, "EVENTFLOW_JWT_SECRET="+secret, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true",
			"EVENTFLOW_HTTP_ADDR="+addr, "EVENTFLOW_OPS_ADDR="+addr, "EVENTFLOW_LOG_LEVEL=warn")
		cmd.Env = append(cmd.Env, extra[name]...)
		// benchkit.Proc: its own process group (a last-resort kill reaches
		// all of it), and SIGTERM if this process dies without stopping it.
		s := &service{name: name, addr: addr, proc: &benchkit.Proc{Cmd: cmd},
			logs: benchkit.NewLogSink(benchkit.LogLimits{Tail: 20, Kinds: 30, Example: 300})}
		cmd.Stdout, cmd.Stderr = s.logs, s.logs
		if err := s.proc.Start(); err != nil {
			stopAll()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
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
			case <-s.proc.Exited():
				stopAll()
				return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", name, s.proc.Err(), s.logs.TailText())
			case <-ctx.Done():
				stopAll()
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				stopAll()
				return nil, fmt.Errorf("%s not ready within %s (last: %s)\n%s", name, serviceReadyTimeout, last, s.logs.TailText())
			}
		}
	}
	return svcs, nil
}

// stop sends SIGTERM and waits (bounded) for the orderly exit, then kills
// the process group. Safe to call more than once.
func (s *service) stop() { s.proc.Stop(serviceStopTimeout) }

func (s *service) pid() int { return s.proc.Pid() }

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

func getFunction(ctx context.Context, a *benchkit.Client, name string) (fnView, error) {
	var f fnView
	r, err := a.Do(ctx, http.MethodGet, "/v1/functions/"+name, nil, "")
	if err != nil {
		return f, err
	}
	if r.Code != http.StatusOK {
		return f, fmt.Errorf("GET %s: HTTP %d %s", name, r.Code, benchkit.Truncate(string(r.Body), 200))
	}
	return f, json.Unmarshal(r.Body, &f)
}

// scrape reads the /metrics of a service's ops endpoint, bounded by 5 s.
func scrape(ctx context.Context, addr string) (benchkit.Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return (&benchkit.Client{Base: "http://" + addr, HC: http.DefaultClient}).Scrape(ctx)
}

// ---------------------------------------------------------------------------
// CPU by window.

// clusterPIDs are the processes of the test cluster: their command lines
// name its directory (k8stest names the cluster eventflow-test-<our pid>).
func clusterPIDs() []int {
	marker := []byte(fmt.Sprintf("/clusters/eventflow-test-%d/", os.Getpid()))
	var out []int
	for _, pid := range benchkit.PIDs() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && bytes.Contains(b, marker) {
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
	s.machine, ok = benchkit.MachineBusy()
	s.bench, _, _ = benchkit.ProcTimes(os.Getpid())
	for name, sv := range svcs {
		c, _, _ := benchkit.ProcTimes(sv.pid())
		s.eventflow += c
		if name == "deployer" {
			s.deployer = c
		}
	}
	for _, pid := range clusterPIDs() {
		c, _, _ := benchkit.ProcTimes(pid)
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
	share := func(d time.Duration) float64 { return benchkit.Share(d, w.wall) }
	w.machine = share(b.machine - a.machine)
	w.bench = share(b.bench - a.bench)
	w.eventflow = share(b.eventflow - a.eventflow)
	w.kube = share(b.kube - a.kube)
	w.deployer = share(b.deployer - a.deployer)
	w.other = max(w.machine-w.bench-w.eventflow-w.kube, 0)
	return w
}
