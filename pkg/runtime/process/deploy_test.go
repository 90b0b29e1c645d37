package process

import (
	"context"
	"errors"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

func apply(t testing.TB, r *Runtime, spec function.Spec) {
	t.Helper()
	if err := r.Apply(context.Background(), "acme", spec); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func TestHTTPLifecycle(t *testing.T) {
	r := newTestRuntime(t)
	lines := followLogs(t, r)
	spec := httpSpec("upper", 2, echoServer)

	if _, found, _ := r.Observe(context.Background(), "acme", "upper"); found {
		t.Fatal("found before Apply")
	}
	start := time.Now()
	apply(t, r, spec)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Apply took %v; it must not wait for readiness", took)
	}
	waitReady(t, r, "acme", "upper", 2)
	insts := instances(r, "acme", "upper")
	if len(insts) != 2 || !strings.HasPrefix(insts[0].name, "upper-"+specHash(spec)+"-") || insts[0].port == insts[1].port {
		t.Fatalf("instances = %+v", insts)
	}

	// Invoke, round robin over both instances.
	seen := map[string]bool{}
	for i := range 4 {
		id := "req" + strconv.Itoa(i)
		res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: id, Payload: []byte("hello " + id), ContentType: "text/plain"})
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		if !res.Succeeded || string(res.Output) != "HELLO "+strings.ToUpper(id) || res.ContentType != "text/plain" {
			t.Fatalf("got %+v (want the instance's Content-Type passed on)", res)
		}
		l := waitLogLine(t, lines, "request "+id, func(l events.LogLine) bool { return strings.HasPrefix(l.Line, "request "+id+" ") })
		if l.Stream != "stderr" || l.Function != "upper" || l.Tenant != "acme" {
			t.Errorf("log line %+v", l)
		}
		seen[l.Instance] = true
	}
	if len(seen) != 2 {
		t.Errorf("requests went to %v, want both instances", seen)
	}

	// An HTTP error is a failed result, not an error.
	res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "f", Payload: []byte("fail")})
	if err != nil || res.Succeeded || !strings.HasPrefix(res.Error, "HTTP 500: function failed on purpose") {
		t.Fatalf("got %+v, %v", res, err)
	}

	// Same spec again: nothing changes.
	apply(t, r, spec)
	if again := instances(r, "acme", "upper"); again[0] != insts[0] || again[1] != insts[1] {
		t.Fatalf("re-Apply changed instances: %+v -> %+v", insts, again)
	}

	// Scale to 1: the second instance stops.
	spec.Scale = &function.Scale{Min: 1, Max: 1}
	apply(t, r, spec)
	waitReady(t, r, "acme", "upper", 1)
	waitPortClosed(t, insts[1].port)
	if now := instances(r, "acme", "upper"); len(now) != 1 || now[0] != insts[0] {
		t.Fatalf("after scale down: %+v", now)
	}

	// Killed from outside: restarted, Ready again.
	if err := syscall.Kill(insts[0].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "acme", "upper", "not ready after kill", func(o runtime.Observed, _ bool) bool { return o.ReadyReplicas == 0 })
	waitReady(t, r, "acme", "upper", 1)
	if now := instances(r, "acme", "upper"); now[0].pid == insts[0].pid || now[0].name != insts[0].name {
		t.Fatalf("after restart: %+v (was %+v)", now, insts[0])
	}

	// A changed spec replaces the instances.
	spec.Env = map[string]string{"V": "2"}
	apply(t, r, spec)
	waitFor(t, r, "acme", "upper", "new instance ready", func(o runtime.Observed, _ bool) bool {
		now := instances(r, "acme", "upper")
		return o.Phase == function.PhaseReady && len(now) == 1 && now[0].name == "upper-"+specHash(spec)+"-0"
	})
	insts = instances(r, "acme", "upper")

	if refs, _ := r.List(context.Background()); len(refs) != 1 || refs[0] != (runtime.Ref{Tenant: "acme", Name: "upper"}) {
		t.Errorf("List = %v", refs)
	}

	// Remove stops every process and forgets the function.
	if err := r.Remove(context.Background(), "acme", "upper"); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(insts[0].port)); err == nil {
		c.Close()
		t.Errorf("port %d still accepts after Remove", insts[0].port)
	}
	if _, found, _ := r.Observe(context.Background(), "acme", "upper"); found {
		t.Error("found after Remove")
	}
	if refs, _ := r.List(context.Background()); len(refs) != 0 {
		t.Errorf("List after Remove = %v", refs)
	}
	if err := r.Remove(context.Background(), "acme", "upper"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	_, err = r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "gone"})
	if !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Errorf("Invoke after Remove: %v, want ErrNoReadyInstance", err)
	}
}

func waitPortClosed(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 300; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("port %d still accepts", port)
}

func TestHTTPCrashLoop(t *testing.T) {
	r := newTestRuntime(t)
	apply(t, r, httpSpec("boom", 1, "sh", "-c", "echo boom >&2; exit 1"))
	obs := waitFor(t, r, "acme", "boom", "Failed", func(o runtime.Observed, _ bool) bool { return o.Phase == function.PhaseFailed })
	if !strings.Contains(obs.Message, "exited with code 1") || !strings.Contains(obs.Message, "boom") || !strings.HasPrefix(obs.Message, "instance boom-") {
		t.Errorf("Message = %q", obs.Message)
	}
	_, err := r.Invoke(context.Background(), "acme", httpSpec("boom", 1), runtime.InvokeRequest{ID: "x"})
	if !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Errorf("Invoke: %v, want ErrNoReadyInstance", err)
	}
	// Fixing the spec brings it back.
	apply(t, r, httpSpec("boom", 1, echoServer))
	waitReady(t, r, "acme", "boom", 1)
}

func TestObserveStatic(t *testing.T) {
	r := newTestRuntime(t)
	cases := []struct {
		spec  function.Spec
		phase function.Phase
		msg   string
	}{
		{function.Spec{Name: "img", Image: "x/y"}.WithDefaults(), function.PhaseFailed, msgNoCommand},
		{httpSpec("missing", 1, "no-such-command-eventflow"), function.PhaseFailed, `command "no-such-command-eventflow" not found in PATH`},
		{jobSpec("job", "cat"), function.PhaseReady, ""},
		{httpSpec("zero", 0, echoServer), function.PhaseReady, ""},
	}
	for _, c := range cases {
		apply(t, r, c.spec)
		obs, found, err := r.Observe(context.Background(), "acme", c.spec.Name)
		if err != nil || !found || obs.Phase != c.phase || obs.Message != c.msg || obs.ReadyReplicas != 0 {
			t.Errorf("%s: got %+v found=%v err=%v, want %s %q", c.spec.Name, obs, found, err, c.phase, c.msg)
		}
	}
	refs, _ := r.List(context.Background())
	if len(refs) != len(cases) {
		t.Errorf("List = %v", refs)
	}
}

func TestHTTPDeploying(t *testing.T) {
	r := newTestRuntime(t)
	// Starts but never listens: Deploying, not Failed.
	apply(t, r, httpSpec("sleepy", 2, "sleep", "30"))
	obs := waitFor(t, r, "acme", "sleepy", "Deploying", func(o runtime.Observed, found bool) bool { return found })
	if obs.Phase != function.PhaseDeploying || obs.Message != "0 of 2 instances ready" {
		t.Errorf("got %+v", obs)
	}
}

func TestHTTPTimeout(t *testing.T) {
	r := newTestRuntime(t)
	spec := httpSpec("hang", 1, echoServer)
	apply(t, r, spec)
	waitReady(t, r, "acme", "hang", 1)
	start := time.Now()
	res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "t", Payload: []byte("hang"), Timeout: 300 * time.Millisecond})
	if err != nil || res.Succeeded || res.Error != "timed out after 300ms" || !res.TimedOut || time.Since(start) > 3*time.Second {
		t.Fatalf("got %+v, %v after %v", res, err, time.Since(start))
	}
}

func TestCloseStopsEverything(t *testing.T) {
	baseline := goruntime.NumGoroutine()
	r := New(Config{StopGrace: time.Second})
	apply(t, r, httpSpec("upper", 2, echoServer))
	// A process that ignores SIGTERM is killed after StopGrace.
	apply(t, r, httpSpec("stubborn", 1, "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`))
	waitReady(t, r, "acme", "upper", 2)
	waitFor(t, r, "acme", "stubborn", "started", func(runtime.Observed, bool) bool {
		in := instances(r, "acme", "stubborn")
		return len(in) == 1 && in[0].pid != 0
	})
	pids := []int{}
	for _, n := range []string{"upper", "stubborn"} {
		for _, in := range instances(r, "acme", n) {
			pids = append(pids, in.pid)
		}
	}
	jobDone := make(chan error, 1)
	go func() {
		_, err := r.Invoke(context.Background(), "acme", jobSpec("slow", "sleep", "30"), runtime.InvokeRequest{ID: "j"})
		jobDone <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the job start

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d alive after Close", pid)
		}
	}
	select {
	case err := <-jobDone:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("job after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("job still running after Close")
	}
	if err := r.Apply(context.Background(), "acme", httpSpec("late", 1, echoServer)); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	// No goroutine of the runtime outlives Close.
	for i := 0; goruntime.NumGoroutine() > baseline; i++ {
		if i == 100 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", goruntime.NumGoroutine(), baseline, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLastLinesAfterClose(t *testing.T) {
	r := New(Config{})
	apply(t, r, httpSpec("polite", 1, "sh", "-c", `trap "echo bye; exit 0" TERM; while :; do sleep 0.05; done`))
	waitFor(t, r, "acme", "polite", "started", func(runtime.Observed, bool) bool {
		in := instances(r, "acme", "polite")
		return len(in) == 1 && in[0].pid != 0
	})
	time.Sleep(100 * time.Millisecond) // let sh install its trap
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := followLogs(t, r)
	l := waitLogLine(t, lines, "bye", func(l events.LogLine) bool { return l.Line == "bye" })
	if l.Stream != "stdout" || !strings.HasPrefix(l.Instance, "polite-") {
		t.Errorf("got %+v", l)
	}
}
