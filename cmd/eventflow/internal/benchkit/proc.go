package benchkit

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a process the benchmark started and must stop whatever happens:
// it runs in its own process group with a parent-death signal (GroupAttr),
// and Stop asks it to exit with SIGTERM, waits a bounded time for its
// orderly shutdown (which the benchmark reports), and only then kills its
// group. A benchmark that leaves a platform running spoils every later run
// on the machine, so this is shared rather than redone per benchmark.
//
// Set Cmd (and KillChildGroups) and call Start; then Stop, as often as
// convenient (a cleanup and the run's normal end may both call it).
type Proc struct {
	Cmd *exec.Cmd
	// KillChildGroups: on a forced stop, also SIGKILL the direct children
	// that run in process groups of their own (the function processes of
	// `eventflow dev`), as listed when Stop began; a child is killed only
	// if its pid still runs the same program.
	KillChildGroups bool

	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	shutdown time.Duration
	killed   bool
}

// Start starts Cmd with GroupAttr and a 5 s WaitDelay (so a grandchild
// holding its output open cannot block the wait) and waits for it in the
// background. Cmd's Stdout, Stderr and Env are the caller's.
func (p *Proc) Start() error {
	if p.exited != nil {
		return errors.New("benchkit: Proc started twice")
	}
	p.Cmd.SysProcAttr = GroupAttr()
	p.Cmd.WaitDelay = 5 * time.Second
	if err := p.Cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = p.Cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// Pid is the process id (and its process group id).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited is closed once the process has exited and been waited for.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is how the process ended (Cmd.Wait's error) once Exited is closed;
// nil before.
func (p *Proc) Err() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

// Stop ends the process: SIGTERM and a wait of at most timeout for it to
// exit; if it has not, SIGKILL of its process group (and, with
// KillChildGroups, of its children's groups), then a wait for the exit.
// Safe to call more than once and from several goroutines; it returns once
// the process is gone.
func (p *Proc) Stop(timeout time.Duration) {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		pid := p.Pid()
		var children []ChildProc
		if p.KillChildGroups {
			children = ChildProcs(pid) // before SIGTERM: they may be reparented after
		}
		start := time.Now()
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-p.exited:
			p.shutdown = time.Since(start)
			return
		case <-t.C:
		}
		p.shutdown = time.Since(start)
		p.killed = true
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		for _, c := range children {
			// Only if it is still the same program (pids can be reused).
			if comm, ok := readComm(c.PID); ok && comm == c.Comm {
				_ = syscall.Kill(-c.PID, syscall.SIGKILL)
				_ = syscall.Kill(c.PID, syscall.SIGKILL)
			}
		}
		<-p.exited
	})
}

// Shutdown is how long the process took to exit after SIGTERM (the whole
// timeout if it had to be killed). Read it after Stop.
func (p *Proc) Shutdown() time.Duration { return p.shutdown }

// Killed says whether Stop had to kill the process. Read it after Stop.
func (p *Proc) Killed() bool { return p.killed }
