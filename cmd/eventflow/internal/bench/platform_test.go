package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
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
	proc    *benchkit.Proc
	apiURL  string
	natsURL string
	// natsID is an operator's identity on the platform's bus (from the
	// data dir's keys), for the raw baseline and the completion watch.
	natsID []nats.Option
	logs   *benchkit.LogSink
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
	cmd.Env = benchkit.CleanEnv("EVENTFLOW_")
	banner := &bannerWriter{found: make(chan struct{})}
	p := &platform{
		// Function processes live in groups of their own: a forced stop
		// kills them too.
		proc: &benchkit.Proc{Cmd: cmd, KillChildGroups: true},
		logs: benchkit.NewLogSink(benchkit.LogLimits{Tail: 30, Kinds: 40, Example: 400}),
	}
	cmd.Stdout = banner
	cmd.Stderr = p.logs
	if err := p.proc.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case <-banner.found:
		p.apiURL, p.natsURL = banner.urls()
		kit, err := busauth.Load(busauth.DataDirKeys(dataDir))
		if err != nil {
			p.stop()
			return nil, err
		}
		creds, err := kit.AdminCreds(time.Hour, time.Now())
		if err != nil {
			p.stop()
			return nil, err
		}
		if p.natsID, err = busauth.ConnectOptions(creds); err != nil {
			p.stop()
			return nil, err
		}
		return p, nil
	case <-p.proc.Exited():
		return nil, fmt.Errorf("eventflow dev exited before it was ready: %v\nstderr tail:\n%s", p.proc.Err(), p.logs.TailText())
	case <-t.C:
		p.stop()
		return nil, fmt.Errorf("eventflow dev printed no API/NATS lines in %s\nstderr tail:\n%s", readyTimeout, p.logs.TailText())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// stop ends the platform: SIGTERM and a bounded wait for its orderly
// shutdown; if that does not end it, SIGKILL of its group and of the
// function processes it had started. Safe to call more than once.
func (p *platform) stop() { p.proc.Stop(shutdownTimeout) }

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

// deploy creates a function and waits (bounded) until it is Ready.
func deploy(ctx context.Context, a *benchkit.Client, spec map[string]any) error {
	name, _ := spec["name"].(string)
	r, err := a.PostJSON(ctx, "/v1/functions", spec)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if r.Code != http.StatusAccepted {
		return fmt.Errorf("create %s: HTTP %d %s", name, r.Code, benchkit.Truncate(string(r.Body), 300))
	}
	deadline := time.Now().Add(deployTimeout)
	var last string
	for time.Now().Before(deadline) {
		r, err := a.Do(ctx, http.MethodGet, "/v1/functions/"+name, nil, "")
		if err == nil && r.Code == http.StatusOK {
			var f function.Function
			if json.Unmarshal(r.Body, &f) == nil {
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
			last = fmt.Sprintf("HTTP %d %s", r.Code, benchkit.Truncate(string(r.Body), 200))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("function %s not Ready within %s (last: %s)", name, deployTimeout, last)
}

// cpuSnap is the CPU time used so far by the platform process itself, by
// its children (reaped job processes and live function instances) and by
// this benchmark process. Linux only; ok is false elsewhere.
type cpuSnap struct {
	at                    time.Time
	self, children, bench time.Duration
	ok                    bool
}

func (p *platform) cpu() cpuSnap {
	s := cpuSnap{at: time.Now()}
	pid := p.proc.Pid()
	s.self, s.children, s.ok = benchkit.ProcTimes(pid)
	for _, c := range benchkit.ChildProcs(pid) {
		if cs, cc, ok := benchkit.ProcTimes(c.PID); ok {
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

// loggedIn is where most benchmarks start: the eventflow binary and the
// echo function built, `eventflow dev` running on them, a client logged in
// as the bench tenant.
type loggedIn struct {
	p       *platform
	a       *benchkit.Client
	echoBin string
}

// startLoggedIn builds (the phase "build" in phases, if not nil), starts
// the platform ("start platform"; stopped at b's cleanup) and logs in with a client of conns
// connections (idle ones closed at b's cleanup too).
func startLoggedIn(ctx context.Context, b *testing.B, phases *benchkit.Phases, conns int) (loggedIn, error) {
	var s loggedIn
	phase := func(name string, t0 time.Time) {
		if phases != nil {
			phases.Add(name, t0)
		}
	}
	t0 := time.Now()
	tmp := b.TempDir()
	bin, err := eventflowBinary(ctx, tmp)
	if err != nil {
		return s, err
	}
	// The function may run as another user (as root, nobody): not in tmp.
	s.echoBin = filepath.Join(proctest.SharedDir(b), "echo")
	if err := goBuild(ctx, s.echoBin, "./testdata/echo"); err != nil {
		return s, err
	}
	phase("build", t0)
	t0 = time.Now()
	if s.p, err = startPlatform(ctx, bin, filepath.Join(tmp, "data")); err != nil {
		return s, err
	}
	b.Cleanup(s.p.stop) // runs before TempDir's removal (cleanups run last first)
	anon := benchkit.NewClient(s.p.apiURL, conns, 30*time.Second)
	b.Cleanup(anon.HC.CloseIdleConnections)
	s.a, err = anon.Login(ctx, tenant)
	phase("start platform", t0)
	return s, err
}
