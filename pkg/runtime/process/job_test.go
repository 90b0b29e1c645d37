package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

func invoke(t *testing.T, r *Runtime, spec function.Spec, req runtime.InvokeRequest) runtime.InvokeResult {
	t.Helper()
	res, err := r.Invoke(context.Background(), "acme", spec, req)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return res
}

func TestJobUppercase(t *testing.T) {
	r := newTestRuntime(t)
	res := invoke(t, r, jobSpec("upper", "tr", "a-z", "A-Z"), runtime.InvokeRequest{ID: "inv1", Payload: []byte("hello")})
	if !res.Succeeded || string(res.Output) != "HELLO" {
		t.Fatalf("got %+v, want Succeeded with HELLO", res)
	}
	if res.ExitCode == nil || *res.ExitCode != 0 {
		t.Errorf("ExitCode = %v, want 0", res.ExitCode)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v", res.Duration)
	}
}

func TestJobFailureAndStderrLog(t *testing.T) {
	r := newTestRuntime(t)
	lines := followLogs(t, r)
	res := invoke(t, r, jobSpec("oops", "sh", "-c", "echo out; echo oops >&2; exit 3"), runtime.InvokeRequest{ID: "inv2"})
	if res.Succeeded || res.ExitCode == nil || *res.ExitCode != 3 {
		t.Fatalf("got %+v, want exit code 3", res)
	}
	if !strings.Contains(res.Error, "exit code 3") || !strings.Contains(res.Error, "oops") {
		t.Errorf("Error = %q, want exit code 3 and oops", res.Error)
	}
	l := waitLogLine(t, lines, "oops on stderr", func(l events.LogLine) bool { return l.Stream == "stderr" })
	want := events.LogLine{Tenant: "acme", Function: "oops", Instance: "oops-inv2", Stream: "stderr", Line: "oops"}
	l.Time = time.Time{}
	if l != want {
		t.Errorf("log line = %+v, want %+v", l, want)
	}
}

func TestJobStdoutGoesToLogsToo(t *testing.T) {
	r := newTestRuntime(t)
	// Lines written before anyone follows stay buffered.
	res := invoke(t, r, jobSpec("two", "sh", "-c", "echo one; printf two"), runtime.InvokeRequest{ID: "x"})
	if string(res.Output) != "one\ntwo" {
		t.Fatalf("Output = %q", res.Output)
	}
	lines := followLogs(t, r)
	for _, want := range []string{"one", "two"} {
		l := waitLogLine(t, lines, want, func(events.LogLine) bool { return true })
		if l.Line != want || l.Stream != "stdout" || l.Instance != "two-x" {
			t.Errorf("got %+v, want stdout line %q", l, want)
		}
	}
}

func TestJobOutputLimit(t *testing.T) {
	r := New(Config{OutputLimit: 1000})
	defer r.Close(context.Background())
	res, err := r.Invoke(context.Background(), "acme", jobSpec("big", "sh", "-c", "head -c 200000 /dev/zero; echo done >&2"), runtime.InvokeRequest{ID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Succeeded || len(res.Output) != 1000 {
		t.Fatalf("Succeeded=%v len(Output)=%d Error=%q, want success with 1000 bytes", res.Succeeded, len(res.Output), res.Error)
	}
}

func TestJobTimeoutKillsProcessGroup(t *testing.T) {
	r := newTestRuntime(t)
	spec := jobSpec("slow", "sh", "-c", "sleep 30 & echo $!; sleep 30")
	start := time.Now()
	res := invoke(t, r, spec, runtime.InvokeRequest{ID: "t", Timeout: 300 * time.Millisecond})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v, want about 300ms", took)
	}
	if res.Succeeded || res.Error != "timed out after 300ms" || !res.TimedOut {
		t.Fatalf("got %+v, want timed out after 300ms", res)
	}
	// The output written before the kill is kept.
	pid, err := strconv.Atoi(strings.TrimSpace(string(res.Output)))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

// waitGone waits until pid no longer runs (a zombie waiting for init to
// reap it counts as gone).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if !alive(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still runs", pid)
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill
	}
	// The state follows the parenthesized command name.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func TestJobContextCancel(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := r.Invoke(ctx, "acme", jobSpec("slow", "sleep", "10"), runtime.InvokeRequest{ID: "c"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if res.Succeeded || time.Since(start) > 3*time.Second {
		t.Errorf("got %+v after %v", res, time.Since(start))
	}
}

func TestJobMissingCommand(t *testing.T) {
	r := newTestRuntime(t)
	res := invoke(t, r, jobSpec("nope", "no-such-command-eventflow"), runtime.InvokeRequest{ID: "m"})
	if res.Succeeded || res.Error != `command "no-such-command-eventflow" not found in PATH` {
		t.Fatalf("got %+v", res)
	}
	spec := jobSpec("img")
	spec.Image = "example/img"
	res = invoke(t, r, spec, runtime.InvokeRequest{ID: "m"})
	if res.Succeeded || !strings.Contains(res.Error, "has none") {
		t.Fatalf("got %+v", res)
	}
}

func TestJobEnvironment(t *testing.T) {
	t.Setenv("EVENTFLOW_JWT_SECRET", "s3cret")
	r := newTestRuntime(t)
	spec := jobSpec("env", "sh", "-c", `echo "$GREETING|$EVENTFLOW_JWT_SECRET|$EVENTFLOW_TENANT|$EVENTFLOW_FUNCTION|$EVENTFLOW_INSTANCE|$EVENTFLOW_INVOCATION_ID|$PORT"`)
	spec.Env = map[string]string{"GREETING": "hi", "EVENTFLOW_TENANT": "spoofed"}
	res := invoke(t, r, spec, runtime.InvokeRequest{ID: "e1"})
	if got, want := strings.TrimSpace(string(res.Output)), "hi||acme|env|env-e1|e1|"; got != want {
		t.Fatalf("env = %q, want %q", got, want)
	}
}

func TestJobConcurrent(t *testing.T) {
	r := newTestRuntime(t)
	spec := jobSpec("cat", "cat")
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			p := []byte(strings.Repeat(strconv.Itoa(i), 100000))
			res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: strconv.Itoa(i), Payload: p})
			switch {
			case err != nil:
				errs <- err
			case !res.Succeeded || string(res.Output) != string(p):
				errs <- errors.New("run " + strconv.Itoa(i) + ": " + res.Error)
			default:
				errs <- nil
			}
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestLogBufferDrops(t *testing.T) {
	r := New(Config{LogBuffer: 5})
	defer r.Close(context.Background())
	res, err := r.Invoke(context.Background(), "acme", jobSpec("many", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; done"), runtime.InvokeRequest{ID: "d"})
	if err != nil || !res.Succeeded {
		t.Fatalf("%v %+v", err, res)
	}
	if got := r.DroppedLogLines(); got != 5 {
		t.Errorf("DroppedLogLines = %d, want 5", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan events.LogLine, 10)
	go r.FollowLogs(ctx, out)
	if l := <-out; l.Line != "1" {
		t.Errorf("first buffered line = %q, want 1", l.Line)
	}
	// Only one follower at a time.
	if err := r.FollowLogs(ctx, make(chan events.LogLine)); err == nil {
		t.Error("second FollowLogs succeeded")
	}
}

func TestLongLinesAreCapped(t *testing.T) {
	r := newTestRuntime(t)
	lines := followLogs(t, r)
	res := invoke(t, r, jobSpec("long", "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo short"), runtime.InvokeRequest{ID: "l"})
	if !res.Succeeded || len(res.Output) != 100000+1+6 {
		t.Fatalf("Succeeded=%v len(Output)=%d", res.Succeeded, len(res.Output))
	}
	if l := waitLogLine(t, lines, "long", func(events.LogLine) bool { return true }); len(l.Line) != maxLogLine {
		t.Errorf("long line has %d bytes, want %d", len(l.Line), maxLogLine)
	}
	if l := waitLogLine(t, lines, "short", func(events.LogLine) bool { return true }); l.Line != "short" {
		t.Errorf("next line = %q, want short", l.Line)
	}
}

// closedAfterLines is a closed runtime whose one job wrote n lines
// (line-0 …) to stderr, all of them still buffered for a follower.
func closedAfterLines(t *testing.T, n int) *Runtime {
	t.Helper()
	r := New(Config{})
	script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo line-$i >&2; i=$((i+1)); done", n)
	res, err := r.Invoke(context.Background(), "acme", jobSpec("lines", "sh", "-c", script), runtime.InvokeRequest{ID: "l"})
	if err != nil || !res.Succeeded {
		t.Fatalf("%v %+v", err, res)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFollowLogsAfterCancelFlushesBuffered: ending FollowLogs's context
// after Close still delivers every line the stopped processes left in the
// buffer, so a service that stops its functions and then its follower
// publishes their last lines.
func TestFollowLogsAfterCancelFlushesBuffered(t *testing.T) {
	const n = 200
	r := closedAfterLines(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the follower starts only as the service stops
	out := make(chan events.LogLine, n)
	if err := r.FollowLogs(ctx, out); err != nil {
		t.Fatal(err)
	}
	if len(out) != n {
		t.Fatalf("FollowLogs delivered %d of the %d buffered lines", len(out), n)
	}
	for i := range n {
		if l := <-out; l.Line != "line-"+strconv.Itoa(i) {
			t.Fatalf("line %d is %q", i, l.Line)
		}
	}
}

// TestFollowLogsAfterCancelWaitsForReader: the buffered lines are handed
// over even when out has no room for them at once, as when the follower is
// busy publishing: a reader that keeps reading until FollowLogs returns
// gets every line and none is dropped.
func TestFollowLogsAfterCancelWaitsForReader(t *testing.T) {
	const n = 200
	r := closedAfterLines(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := make(chan events.LogLine) // no room: every line waits for the reader
	done := make(chan error, 1)
	go func() { done <- r.FollowLogs(ctx, out) }()
	var got []string
	for following := true; following; {
		select {
		case l := <-out:
			got = append(got, l.Line)
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			following = false
		case <-time.After(10 * time.Second):
			t.Fatalf("FollowLogs still running after %d lines", len(got))
		}
	}
	if len(got) != n || r.DroppedLogLines() != 0 {
		t.Fatalf("reader got %d of %d lines, %d dropped", len(got), n, r.DroppedLogLines())
	}
	for i, l := range got {
		if l != "line-"+strconv.Itoa(i) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
}

// TestFollowLogsAfterCancelGivesUp: a follower that stops reading does not
// hold FollowLogs past LogFlushWait; the line in hand counts as dropped.
func TestFollowLogsAfterCancelGivesUp(t *testing.T) {
	r := New(Config{LogFlushWait: 50 * time.Millisecond})
	res, err := r.Invoke(context.Background(), "acme", jobSpec("stuck", "sh", "-c", "echo a; echo b; echo c"), runtime.InvokeRequest{ID: "g"})
	if err != nil || !res.Succeeded {
		t.Fatalf("%v %+v", err, res)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := make(chan events.LogLine, 1) // room for one line, never read
	done := make(chan error, 1)
	go func() { done <- r.FollowLogs(ctx, out) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FollowLogs blocked on a reader that stopped reading")
	}
	if len(out) != 1 || r.DroppedLogLines() != 1 {
		t.Errorf("out holds %d lines, %d dropped; want 1 and 1", len(out), r.DroppedLogLines())
	}
}

// TestJobStdinAndDescriptors: the payload reaches stdin whole whether it
// fits in the pipe (written before the start) or not (the rest written as
// the process reads); a process that never reads a large payload still
// ends; a run's process has only stdin, stdout and stderr open; and runs
// leave no descriptor of theirs open in this process.
func TestJobStdinAndDescriptors(t *testing.T) {
	r := newTestRuntime(t)
	openFDs := func() int {
		names, err := readDirNames("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd:", err)
		}
		return len(names)
	}
	before := openFDs()
	cat := jobSpec("cat", "cat")
	for _, n := range []int{1, 4095, 4096, 4097, 65535, 65536, 65537, 300 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + i%26)
		}
		res := invoke(t, r, cat, runtime.InvokeRequest{ID: "cat" + strconv.Itoa(n), Payload: p})
		if !res.Succeeded || string(res.Output) != string(p) {
			t.Errorf("%d bytes: got %d bytes back, %+v", n, len(res.Output), res.Error)
		}
	}
	start := time.Now()
	res := invoke(t, r, jobSpec("deaf", "true"), runtime.InvokeRequest{ID: "deaf", Payload: make([]byte, 1<<20)})
	if !res.Succeeded || time.Since(start) > 5*time.Second {
		t.Errorf("a process that does not read its stdin: %+v after %s", res, time.Since(start))
	}
	// ls's own descriptors: 0, 1 and 2 our pipes, and whatever this
	// process inherited without close-on-exec (not ours to close); no pipe
	// of a run leaked into it.
	inherited := map[string]bool{}
	if names, err := readDirNames("/proc/self/fd"); err == nil {
		for _, n := range names {
			if l, err := os.Readlink("/proc/self/fd/" + n); err == nil {
				inherited[l] = true
			}
		}
	}
	res = invoke(t, r, jobSpec("fds", "sh", "-c", "exec ls -l /proc/self/fd"), runtime.InvokeRequest{ID: "fds", Payload: []byte("x")})
	pipes := 0
	for _, line := range strings.Split(string(res.Output), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[len(f)-2] != "->" {
			continue
		}
		fd, target := f[len(f)-3], f[len(f)-1]
		switch {
		case fd == "0" || fd == "1" || fd == "2":
			if strings.HasPrefix(target, "pipe:") {
				pipes++
			}
		case (strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "socket:")) && !inherited[target]:
			t.Errorf("descriptor %s -> %s leaked into the run", fd, target)
		}
	}
	if !res.Succeeded || pipes != 3 {
		t.Errorf("the run's descriptors:\n%s(%+v)", res.Output, res)
	}
	// The readers' goroutines close their ends as the run returns.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFDs(); after > before {
		t.Errorf("%d descriptors open before the runs, %d after", before, after)
	}
}

// TestJobCommandResolvedAgain: a job's command is resolved once per
// resolveTTL, not per run, and a change is seen: a removed command fails
// at once (exec's error), and once the TTL has passed it is resolved anew.
func TestJobCommandResolvedAgain(t *testing.T) {
	r := newTestRuntime(t)
	// The cache's clock, moved by hand: the runs take what they take.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	r.resolved.now = func() time.Time { return time.Unix(0, clock.Load()) }
	dir := proctest.SharedDir(t)
	fn := filepath.Join(dir, "fn")
	if err := os.WriteFile(fn, []byte("#!/bin/sh\necho one\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := jobSpec("fn", fn)
	if res := invoke(t, r, spec, runtime.InvokeRequest{ID: "1"}); !res.Succeeded || strings.TrimSpace(string(res.Output)) != "one" {
		t.Fatalf("first run: %+v", res)
	}
	if err := os.Remove(fn); err != nil {
		t.Fatal(err)
	}
	if res := invoke(t, r, spec, runtime.InvokeRequest{ID: "2"}); res.Succeeded || !strings.Contains(res.Error, "no such file") {
		t.Fatalf("run of a removed command: %+v", res)
	}
	clock.Add(int64(resolveTTL + time.Millisecond))
	if res := invoke(t, r, spec, runtime.InvokeRequest{ID: "3"}); res.Succeeded || !strings.Contains(res.Error, "not found") {
		t.Fatalf("run of a removed command after the TTL: %+v", res)
	}
	if err := os.WriteFile(fn, []byte("#!/bin/sh\necho two\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if res := invoke(t, r, spec, runtime.InvokeRequest{ID: "4"}); !res.Succeeded || strings.TrimSpace(string(res.Output)) != "two" {
		t.Fatalf("run of the command made again: %+v", res)
	}
}
