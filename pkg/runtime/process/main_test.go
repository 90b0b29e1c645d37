package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// echoServer is the path of testdata/echoserver, built once in TestMain.
var echoServer string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "eventflow-process-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Functions may run as another user (as root, nobody): the server must
	// be reachable by it, as a deployed command must be.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	echoServer = filepath.Join(dir, "echoserver")
	build := exec.Command("go", "build", "-o", echoServer, "./testdata/echoserver/main.go")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test echo server:", err)
		return 1
	}
	return m.Run()
}

// newTestRuntime returns a runtime with short backoffs, closed at the end of
// the test.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	r := New(Config{
		StopGrace:         2 * time.Second,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func ptr[T any](v T) *T { return &v }

func jobSpec(name string, command ...string) function.Spec {
	return function.Spec{Name: name, Command: command}.WithDefaults()
}

func httpSpec(name string, replicas int32, command ...string) function.Spec {
	return function.Spec{
		Name:       name,
		Command:    command,
		Replicas:   ptr(replicas),
		Invocation: function.Invocation{Mode: function.ModeHTTP},
	}.WithDefaults()
}

// waitFor polls Observe (waking on Changes) until cond holds or the deadline
// passes, and returns the last observation.
func waitFor(t testing.TB, r *Runtime, tenant, name string, what string, cond func(runtime.Observed, bool) bool) runtime.Observed {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		obs, found, err := r.Observe(context.Background(), tenant, name)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if cond(obs, found) {
			return obs
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; last observed found=%v %+v", what, found, obs)
		case <-r.Changes():
		case <-tick.C:
		}
	}
}

func waitReady(t testing.TB, r *Runtime, tenant, name string, replicas int32) runtime.Observed {
	t.Helper()
	return waitFor(t, r, tenant, name, fmt.Sprintf("Ready with %d replicas", replicas), func(o runtime.Observed, found bool) bool {
		return found && o.Phase == function.PhaseReady && o.ReadyReplicas == replicas
	})
}

// followLogs collects log lines in the background until the test ends.
func followLogs(t testing.TB, r *Runtime) <-chan events.LogLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan events.LogLine, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.FollowLogs(ctx, out)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// waitLogLine waits for a line matching match.
func waitLogLine(t testing.TB, lines <-chan events.LogLine, what string, match func(events.LogLine) bool) events.LogLine {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l := <-lines:
			if match(l) {
				return l
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for log line %s", what)
			return events.LogLine{}
		}
	}
}

// instanceInfo is a test's view of the runtime's current instances.
type instanceInfo struct {
	name      string
	pid, port int
}

func instances(r *Runtime, tenant, name string) []instanceInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.fns[runtime.Ref{Tenant: tenant, Name: name}]
	if d == nil {
		return nil
	}
	var out []instanceInfo
	for _, in := range d.instances {
		st := in.status()
		out = append(out, instanceInfo{name: in.name, pid: st.pid, port: st.port})
	}
	return out
}
