package process

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

const (
	// stableRun is how long a run must last to count as healthy: it resets
	// the restart backoff and the crash count.
	stableRun = 10 * time.Second
	// probeInterval is how often a starting instance's port is tried at
	// most: tries start probeFirst apart and double, so a server that
	// listens within milliseconds (a cold start from zero) is found within
	// milliseconds, and a slow one costs few dials.
	probeInterval = 50 * time.Millisecond
	probeFirst    = time.Millisecond
)

// instance is one supervised replica of an http function, restarted with
// backoff whenever its process exits, like a pod of a ReplicaSet.
type instance struct {
	r    *Runtime
	d    *deployment
	ref  runtime.Ref
	name string
	path string
	args []string
	// dir is the instance's private working directory, made by its first
	// run and kept across restarts (like a pod's emptyDir); env is built
	// with it, without PORT, which changes per run. Only the supervisor
	// touches them.
	dir, tenant string
	spec        function.Spec
	env         []string
	// secrets are written to a new secrets directory for every run of
	// the process (what an earlier run did to its files is gone), removed
	// when the run ends.
	secrets []runtime.Secret

	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{} // closed when the supervisor has returned

	// ep is where the instance serves while it is ready, else nil; the
	// invoke path reads it without locks.
	ep atomic.Pointer[endpoint]
	// inflight counts invocations running on the instance (drain.go).
	inflight atomic.Int64
	// transport carries this instance's invocations (keep-alive).
	transport *http.Transport

	mu sync.Mutex
	st instanceStatus
	// draining is set (under mu) once Scale removed the instance: it never
	// becomes ready again.
	draining bool
}

type instanceStatus struct {
	running    bool
	pid, port  int
	crashes    int // bad exits in a row: never ready, or ran < stableRun
	restarts   int
	lastExit   string // "exited with code 1"
	lastStderr string
}

func (r *Runtime) newInstance(d *deployment, tenant string, index int) *instance {
	name := d.spec.Name + "-" + d.hash + "-" + strconv.Itoa(index)
	return &instance{
		r:         r,
		d:         d,
		ref:       d.ref,
		name:      name,
		path:      d.path,
		args:      d.spec.Command,
		tenant:    tenant,
		spec:      d.spec,
		secrets:   d.secrets,
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		transport: newTransport(),
	}
}

func (in *instance) status() instanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st
}

// stop asks the supervisor to stop the instance; it does not wait.
func (in *instance) stop() { in.stopOnce.Do(func() { close(in.stopCh) }) }

func (in *instance) stopping() bool {
	select {
	case <-in.stopCh:
		return true
	default:
		return false
	}
}

// supervise runs the instance until stop, restarting it after every exit
// with a doubling backoff that resets after a stable run.
func (in *instance) supervise() {
	defer in.r.wg.Done()
	defer func() {
		in.transport.CloseIdleConnections()
		in.r.removeDir(in.dir)
		in.r.mu.Lock()
		delete(in.d.retiring, in)
		in.r.mu.Unlock()
		close(in.done)
	}()
	minB, maxB := in.r.cfg.RestartBackoffMin, in.r.cfg.RestartBackoffMax
	backoff := minB
	for !in.stopping() {
		started := time.Now()
		if stopped := in.runOnce(); stopped {
			return
		}
		if time.Since(started) >= stableRun {
			backoff = minB
		}
		t := time.NewTimer(backoff)
		select {
		case <-in.stopCh:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxB)
	}
}

// runOnce runs one process of the instance until it exits or the instance
// is stopped, and reports whether it was stopped.
func (in *instance) runOnce() (stopped bool) {
	log := in.r.log.With("tenant", in.ref.Tenant, "function", in.ref.Name, "instance", in.name)
	started := time.Now()
	var err error
	if in.dir == "" {
		if in.dir, err = in.r.privateDir(in.tenant + "." + in.name + "-"); err == nil {
			in.env = buildEnv(in.spec, in.tenant, in.name, in.dir)
		}
	}
	var secretsDir string
	if err == nil && len(in.secrets) > 0 {
		if secretsDir, err = in.r.secretsDir(in.tenant+"."+in.name+"-", in.secrets); err == nil {
			// After the process is gone (finish): no secret stays on disk
			// between runs, or once the instance stopped.
			defer in.r.removeDir(secretsDir)
		}
	}
	var port int
	if err == nil {
		port, err = freePort()
	}
	var p *proc
	if err == nil {
		env := append(in.env[:len(in.env):len(in.env)], "PORT="+strconv.Itoa(port))
		if secretsDir != "" {
			env = append(env, runtime.EnvSecretsDir+"="+secretsDir)
		}
		p, err = in.r.startProc(procSpec{
			path: in.path,
			args: in.args,
			env:  env,
			dir:  in.dir,
			meta: logMeta{tenant: in.ref.Tenant, function: in.ref.Name, instance: in.name},
		})
	}
	if err != nil {
		log.Warn("instance failed to start", "err", err)
		in.exited(false, false, started, "failed to start: "+err.Error(), "")
		return false
	}

	in.mu.Lock()
	in.st.running, in.st.pid, in.st.port = true, p.pid, port
	in.mu.Unlock()
	log.Info("instance started", "pid", p.pid, "port", port)
	in.r.changes.notify(in.ref)

	var becameReady atomic.Bool
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		if in.probe(p, newEndpoint(in, port)) {
			becameReady.Store(true)
			log.Info("instance ready", "pid", p.pid, "port", port)
			in.r.changes.notify(in.ref)
			in.r.readySignal()
		}
	}()

	select {
	case <-p.exited:
	case <-in.stopCh:
		stopped = true
		p.terminate(in.r.cfg.StopGrace)
	}
	<-probeDone
	in.ep.Store(nil) // after the probe is done, so it cannot mark us ready again
	p.finish()
	_, how := describeExit(p.waitErr)
	log.Info("instance ended", "pid", p.pid, "exit", how, "ran", time.Since(started).Round(time.Millisecond), "stopped", stopped)
	in.exited(stopped, becameReady.Load(), started, how, p.lastStderr)
	return stopped
}

// exited records the end of a run; a stopped run is not a crash.
func (in *instance) exited(stopped, wasReady bool, started time.Time, how, lastStderr string) {
	in.mu.Lock()
	in.st.running, in.st.pid, in.st.port = false, 0, 0
	in.st.lastExit, in.st.lastStderr = how, lastStderr
	if !stopped {
		in.st.restarts++
		if !wasReady || time.Since(started) < stableRun {
			in.st.crashes++
		} else {
			in.st.crashes = 0
		}
	}
	in.mu.Unlock()
	in.r.changes.notify(in.ref)
}

// probe tries the port until a TCP connect succeeds (then the instance is
// ready) or the run ends.
func (in *instance) probe(p *proc, ep *endpoint) bool {
	wait := probeFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if c, err := net.DialTimeout("tcp", ep.addr, 2*probeInterval); err == nil {
			c.Close()
			select {
			case <-p.exited:
				return false
			default:
			}
			in.mu.Lock()
			defer in.mu.Unlock()
			if in.draining {
				return false
			}
			in.ep.Store(ep)
			return true
		}
		select {
		case <-p.exited:
			return false
		case <-in.stopCh:
			return false
		case <-t.C:
		}
		wait = min(wait*2, probeInterval)
		t.Reset(wait)
	}
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the instance listens; the instance then fails and restarts
// on a new port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
