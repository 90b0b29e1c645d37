package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
)

// readerGrace bounds how long output is read after a process group is gone:
// only a process that left the group (setsid) can hold the pipes longer.
const readerGrace = time.Second

// msgNoCommand is the status of a spec that only names an image.
const msgNoCommand = "the process runtime runs a command; this function has none (image is not run locally)"

// resolve finds the executable for argv0 the way a shell would, but relative
// paths are taken relative to WorkDir, and checks that the function user
// may run it.
func (r *Runtime) resolve(argv0 string) (string, error) {
	p, err := r.lookup(argv0)
	if err != nil {
		return "", err
	}
	if err := r.id.checkExec(p); err != nil {
		return "", err
	}
	return p, nil
}

// resolveTTL is how long a job's resolved command is used without
// resolving it again: resolving walks PATH and every directory above the
// command (a dozen system calls), which was a tenth of the invoker's own
// work per run of a short job. A command changed meanwhile (removed, made
// unrunnable, shadowed earlier in PATH) is seen at most this late; exec
// still fails on a command the function user cannot run, with its
// explanation (explainStart).
const resolveTTL = time.Second

// resolveCache remembers commands resolved for job runs.
type resolveCache struct {
	mu  sync.Mutex
	m   map[resolveKey]resolvedCmd
	now func() time.Time // nil: time.Now (tests set a clock)
}

type resolveKey struct{ argv0, path string } // path: $PATH, for a bare name

type resolvedCmd struct {
	path    string
	expires time.Time
}

// maxResolved bounds the cache; a full one is emptied.
const maxResolved = 1024

// resolveCached is resolve for job runs, each success kept for resolveTTL
// (failures are not kept: a fixed command runs at once).
func (r *Runtime) resolveCached(argv0 string) (string, error) {
	k := resolveKey{argv0: argv0}
	if !strings.ContainsRune(argv0, '/') {
		k.path = os.Getenv("PATH")
	}
	c := &r.resolved
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.path, nil
	}
	p, err := r.resolve(argv0)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxResolved {
		c.m = make(map[resolveKey]resolvedCmd)
	}
	c.m[k] = resolvedCmd{path: p, expires: now.Add(resolveTTL)}
	c.mu.Unlock()
	return p, nil
}

func (r *Runtime) lookup(argv0 string) (string, error) {
	if strings.ContainsRune(argv0, '/') {
		p := argv0
		if !filepath.IsAbs(p) && r.cfg.WorkDir != "" {
			p = filepath.Join(r.cfg.WorkDir, p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("command %q not found", argv0)
		}
		return p, nil
	}
	p, err := exec.LookPath(argv0)
	if err != nil {
		return "", fmt.Errorf("command %q not found in PATH", argv0)
	}
	return p, nil
}

type logMeta struct {
	tenant, function, instance string
}

type procSpec struct {
	path  string
	args  []string
	env   []string
	dir   string // working directory
	stdin []byte // nil or empty: /dev/null
	meta  logMeta
	// output, if set, receives stdout; only the stdout reader writes it.
	output *cappedBuffer
}

// proc is one started process in its own process group, with goroutines
// reading its output into the log buffer.
type proc struct {
	cmd    *exec.Cmd
	pid    int // also the process group id (Setpgid)
	exited chan struct{}
	// waitErr is cmd.Wait's result; read it only after exited is closed.
	waitErr error

	outR, errR *os.File
	readers    chan struct{} // closed when both readers are done
	stdinDone  chan struct{}
	// lastStderr is the last non-empty stderr line; read it after finish.
	lastStderr string
}

// startProc starts ps. Output goes through our own pipes, not exec's copying
// goroutines, so Wait returns when the process exits even if a grandchild
// still holds the pipes. The child's ends of the pipes are plain blocking
// descriptors, never registered with the poller (the child gets them, we
// only close them), and a payload that fits in the stdin pipe is written
// before the start, without a goroutine: a job run is many system calls
// fewer than with exec's StdinPipe and os.Pipe.
func (r *Runtime) startProc(ps procSpec) (*proc, error) {
	outR, outW, err := childPipe(true)
	if err != nil {
		return nil, err
	}
	errR, errW, err := childPipe(true)
	if err != nil {
		closeAll(outR, outW)
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   ps.path,
		Args:   ps.args,
		Env:    ps.env,
		Dir:    ps.dir,
		Stdout: outW,
		Stderr: errW,
		// Own process group: stop and timeout signal the whole tree; run
		// as the function user.
		SysProcAttr: sysProcAttr(r.id.cred),
	}
	var stdinR, stdinW *os.File // stdinW: nil once the whole payload is in the pipe
	var stdinRest []byte
	if len(ps.stdin) > 0 {
		if stdinR, stdinW, stdinRest, err = stdinPipe(ps.stdin); err != nil {
			closeAll(outR, outW, errR, errW)
			return nil, err
		}
		cmd.Stdin = stdinR
	}
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW, errR, errW)
		if stdinR != nil {
			closeAll(stdinR)
		}
		if stdinW != nil {
			closeAll(stdinW)
		}
		return nil, r.id.explainStart(ps.path, err)
	}
	// Our copies of the child's ends must go, or the readers never see EOF
	// (and the process never sees the end of its stdin).
	closeAll(outW, errW)
	if stdinR != nil {
		closeAll(stdinR)
	}

	p := &proc{
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		exited:  make(chan struct{}),
		outR:    outR,
		errR:    errR,
		readers: make(chan struct{}),
	}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		var raw func([]byte)
		if ps.output != nil {
			raw = ps.output.write
		}
		r.readLines(outR, "stdout", ps.meta, raw)
	}()
	go func() {
		p.lastStderr = r.readLines(errR, "stderr", ps.meta, nil)
		<-outDone
		close(p.readers)
	}()
	if stdinW != nil {
		// The rest of a payload larger than the pipe, written as the
		// process reads it.
		p.stdinDone = make(chan struct{})
		go func() {
			defer close(p.stdinDone)
			_, _ = stdinW.Write(stdinRest) // EPIPE just means the process did not read it all
			_ = stdinW.Close()
		}()
	}
	go func() {
		p.waitErr = cmd.Wait()
		if stdinW != nil {
			// Ends a write blocked on a process that never read its stdin
			// (and exited, or left it to a grandchild).
			_ = stdinW.Close()
		}
		close(p.exited)
	}()
	return p, nil
}

// childPipe makes a pipe whose end for this process (the read end if
// parentReads) is non-blocking and pollable, and whose end for the child
// is blocking and not registered with the poller. Both are close-on-exec
// (exec dups the child's to its descriptor).
func childPipe(parentReads bool) (parent, child *os.File, err error) {
	fds, err := pipeFDs()
	if err != nil {
		return nil, nil, err
	}
	pfd, cfd := fds[0], fds[1]
	if !parentReads {
		pfd, cfd = cfd, pfd
	}
	if err := syscall.SetNonblock(pfd, true); err != nil {
		_ = syscall.Close(pfd)
		_ = syscall.Close(cfd)
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(pfd), "|parent"), os.NewFile(uintptr(cfd), "|child"), nil
}

// stdinPipe makes the stdin pipe of a process and writes as much of data
// into it as it holds: all of it, usually (a pipe holds 64 KiB, or 4 KiB
// for a user over its pipe pages' soft limit), and then its write end is
// closed at once and w is nil. Otherwise w is the write end and rest what
// is left to write once the process runs.
func stdinPipe(data []byte) (child, w *os.File, rest []byte, err error) {
	fds, err := pipeFDs()
	if err != nil {
		return nil, nil, nil, err
	}
	rfd, wfd := fds[0], fds[1]
	if err := syscall.SetNonblock(wfd, true); err != nil {
		_ = syscall.Close(rfd)
		_ = syscall.Close(wfd)
		return nil, nil, nil, os.NewSyscallError("setnonblock", err)
	}
	rest = data
	for len(rest) > 0 {
		n, err := syscall.Write(wfd, rest)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break // EAGAIN: full; anything else shows again on the write below
		}
		rest = rest[n:]
	}
	child = os.NewFile(uintptr(rfd), "|stdin")
	if len(rest) == 0 {
		if err := syscall.Close(wfd); err != nil {
			_ = child.Close()
			return nil, nil, nil, os.NewSyscallError("close", err)
		}
		return child, nil, nil, nil
	}
	return child, os.NewFile(uintptr(wfd), "|stdin"), rest, nil
}

// readLines turns one output stream into log lines and returns the last
// non-empty one.
func (r *Runtime) readLines(f *os.File, stream string, meta logMeta, raw func([]byte)) (last string) {
	scanLines(f, raw, func(b []byte) {
		l := events.LogLine{
			Time:     time.Now(),
			Tenant:   meta.tenant,
			Function: meta.function,
			Instance: meta.instance,
			Stream:   stream,
			Line:     string(b),
		}
		if l.Line != "" {
			last = l.Line
		}
		r.logs.add(l)
	})
	return last
}

// signal sends sig to the process group. After the leader is reaped its
// group can only still exist if members are left (then the id cannot be
// reused), so signalling the group late is safe in practice.
func (p *proc) signal(sig syscall.Signal) {
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill SIGKILLs the group and waits for the process to exit.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// terminate asks the group to stop with SIGTERM, SIGKILLs it after grace,
// and waits for the process to exit.
func (p *proc) terminate(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.kill()
	}
}

// finish cleans up after the process exited: whatever is left of its group
// is killed (a run or an instance owns its whole tree), the output is read
// to the end (bounded by readerGrace) and the pipes are closed.
func (p *proc) finish() {
	<-p.exited
	p.signal(syscall.SIGKILL)
	t := time.NewTimer(readerGrace)
	select {
	case <-p.readers:
	case <-t.C:
		// Closing the read ends makes the blocked reads return.
		closeAll(p.outR, p.errR)
		<-p.readers
	}
	t.Stop()
	closeAll(p.outR, p.errR)
	if p.stdinDone != nil {
		<-p.stdinDone
	}
}

// describeExit says how a process ended and returns its exit code, or -1 if
// it has none (killed by a signal).
func describeExit(err error) (code int, text string) {
	if err == nil {
		return 0, "exited with code 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, "was killed by signal " + ws.Signal().String()
		}
		return ee.ExitCode(), fmt.Sprintf("exited with code %d", ee.ExitCode())
	}
	return -1, "failed: " + err.Error()
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}
