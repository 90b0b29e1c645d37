package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
// still holds the pipes.
func (r *Runtime) startProc(ps procSpec) (*proc, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
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
	var stdin io.WriteCloser
	if len(ps.stdin) > 0 {
		// Wait closes this pipe after the process exits, which also ends a
		// write blocked on a process that never reads its stdin.
		if stdin, err = cmd.StdinPipe(); err != nil {
			closeAll(outR, outW, errR, errW)
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		closeAll(outR, outW, errR, errW)
		if stdin != nil {
			stdin.Close()
		}
		return nil, r.id.explainStart(ps.path, err)
	}
	// Our copies of the write ends must go, or the readers never see EOF.
	closeAll(outW, errW)

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
	if stdin != nil {
		p.stdinDone = make(chan struct{})
		go func() {
			defer close(p.stdinDone)
			_, _ = stdin.Write(ps.stdin) // EPIPE just means the process did not read it all
			_ = stdin.Close()
		}()
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
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
