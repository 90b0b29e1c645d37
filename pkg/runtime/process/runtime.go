// Package process is the local process runtime, the embedded default of
// `eventflow dev`: every function instance and every job run is a child
// process of this one. It implements runtime.Deployments, runtime.Invoker
// and runtime.LogSource.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("process runtime is closed")

// Defaults for Config fields left zero.
const (
	DefaultOutputLimit       = 1 << 20
	DefaultLogBuffer         = 10000
	DefaultLogFlushWait      = 5 * time.Second
	DefaultStopGrace         = 5 * time.Second
	DefaultDrainDelay        = time.Second
	DefaultRestartBackoffMin = 100 * time.Millisecond
	DefaultRestartBackoffMax = 10 * time.Second
)

// Config configures a Runtime. Zero fields take the defaults above.
type Config struct {
	Logger *slog.Logger
	// WorkDir is what relative command paths (./fn) are resolved against; ""
	// is the current directory. Processes do not run there: each job run and
	// each instance gets a private working directory under RunDir.
	WorkDir string
	// RunDir holds the private working directories (mode 0700, owned by the
	// function user; an instance's removed with it, a job run's emptied when
	// the run ends and kept for later runs), and beside them the secrets
	// directories of instances and runs (secrets.go; removed when the run
	// ends); "" is a new temporary directory. Close removes what it made.
	RunDir string
	// User is who functions run as. nil: DefaultUser when this process runs
	// as root, else this process's own user (the weaker mode: functions can
	// then read whatever it can, its memory and data dir included).
	User *User
	// Secrets reads the tenant's secrets a function names (Spec.Secrets):
	// each http-mode instance and job run gets them as files in a private
	// directory of its own, $EVENTFLOW_SECRETS_DIR (secrets.go), never in
	// its environment. nil: a function naming secrets fails, Apply and
	// Invoke with ErrSecretsNotConfigured.
	Secrets runtime.SecretReader
	// OutputLimit is the most bytes of output kept per invocation.
	OutputLimit int
	// LogBuffer is how many log lines wait for FollowLogs before new ones are dropped.
	LogBuffer int
	// LogFlushWait bounds how long a stopping FollowLogs waits for room to
	// hand over the lines still buffered: a follower that stopped reading
	// must not hold it forever.
	LogFlushWait time.Duration
	// StopGrace is how long a stopped instance has between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// DrainDelay is how long an instance removed by Scale keeps running
	// after it left the endpoints, for requests already on their way to
	// it (the gateway's route learns of the change from the status); it
	// is then stopped once its invocations have finished.
	DrainDelay time.Duration
	// RestartBackoffMin and RestartBackoffMax bound the delay before an exited
	// instance is restarted; the delay doubles per restart.
	RestartBackoffMin, RestartBackoffMax time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OutputLimit <= 0 {
		c.OutputLimit = DefaultOutputLimit
	}
	if c.LogBuffer <= 0 {
		c.LogBuffer = DefaultLogBuffer
	}
	if c.LogFlushWait <= 0 {
		c.LogFlushWait = DefaultLogFlushWait
	}
	if c.StopGrace <= 0 {
		c.StopGrace = DefaultStopGrace
	}
	if c.DrainDelay <= 0 {
		c.DrainDelay = DefaultDrainDelay
	}
	if c.RestartBackoffMin <= 0 {
		c.RestartBackoffMin = DefaultRestartBackoffMin
	}
	if c.RestartBackoffMax <= 0 {
		c.RestartBackoffMax = DefaultRestartBackoffMax
	}
	if c.RestartBackoffMax < c.RestartBackoffMin {
		c.RestartBackoffMax = c.RestartBackoffMin
	}
	return c
}

// Runtime runs functions as local processes.
type Runtime struct {
	cfg      Config
	log      *slog.Logger
	logs     *logBuffer
	changes  *notifier
	id       identity // who functions run as
	resolved resolveCache

	runDirOnce sync.Once
	runDir     string // RunDir, once made
	runDirErr  error
	ownRunDir  bool // made by us: Close removes it
	dirs       dirPool

	mu      sync.RWMutex
	fns     map[runtime.Ref]*deployment
	closed  bool
	closing chan struct{} // closed by Close so running jobs kill their process
	// wg counts instance supervisors and job runs. Add happens only under mu
	// while !closed, so it never races with Close's Wait.
	wg sync.WaitGroup

	runSeq atomic.Uint64 // names job runs whose request has no ID

	readyMu sync.Mutex
	readyCh chan struct{} // closed when an instance becomes ready (readySignal)
}

var (
	_ runtime.Deployments = (*Runtime)(nil)
	_ runtime.Invoker     = (*Runtime)(nil)
	_ runtime.LogSource   = (*Runtime)(nil)
)

// New returns a Runtime with nothing running.
func New(cfg Config) *Runtime {
	cfg = cfg.withDefaults()
	r := &Runtime{
		cfg:     cfg,
		log:     cfg.Logger,
		logs:    newLogBuffer(cfg.LogBuffer, cfg.LogFlushWait),
		changes: newNotifier(),
		id:      newIdentity(cfg.User),
		fns:     make(map[runtime.Ref]*deployment),
		closing: make(chan struct{}),
		readyCh: make(chan struct{}),
	}
	if r.id.separate() {
		r.log.Info("functions run as their own user", "uid", r.id.UID, "gid", r.id.GID)
	} else {
		r.log.Warn("functions run as this process's own user: they can read its environment, memory and files (the data dir and its secret included); run as root, or set a function user (--function-user, EVENTFLOW_FUNCTION_USER) this process may switch to",
			"uid", r.id.UID, "gid", r.id.GID)
	}
	return r
}

// FunctionUser is who functions run as, and whether that is another user
// than this process's.
func (r *Runtime) FunctionUser() (u User, separate bool) { return r.id.User, r.id.separate() }

// Invoke runs one invocation: a process per call in job mode, a POST to a
// ready instance in http mode.
func (r *Runtime) Invoke(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	switch spec.Mode() {
	case function.ModeJob:
		return r.invokeJob(ctx, tenant, spec, req)
	case function.ModeHTTP:
		return r.invokeHTTP(ctx, tenant, spec, req)
	default:
		return runtime.InvokeResult{}, fmt.Errorf("function %s/%s: unknown invocation mode %q", tenant, spec.Name, spec.Mode())
	}
}

// DroppedLogLines is how many log lines were dropped because the log buffer
// was full.
func (r *Runtime) DroppedLogLines() uint64 { return r.logs.dropped.Load() }

// Close stops every instance (SIGTERM to its process group, SIGKILL after
// StopGrace) and kills every running job, and returns once all are gone or
// ctx ends. Calls after Close fail with ErrClosed.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.closing)
	var all []*instance
	for ref, d := range r.fns {
		all = append(all, d.stopAll()...)
		delete(r.fns, ref)
	}
	r.mu.Unlock()
	for _, in := range all {
		in.stop()
	}

	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
		// Every run and instance has ended: nothing works in RunDir now.
		r.removeRunDir()
	case <-ctx.Done():
		err = fmt.Errorf("process runtime: close: %w", ctx.Err())
	}
	r.changes.close()
	r.readySignal()
	return err
}

func (r *Runtime) isClosed() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

// track registers a job run with wg, or reports that the runtime is closed.
func (r *Runtime) track() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}
