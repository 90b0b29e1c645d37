package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// output is what the service has printed so far.
func (p *svcProc) output() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return p.out.w.String()
}

// TestStandaloneFunctionLogs: with the four service binaries as separate
// processes on the process runtime (as under docker compose), a function's
// output lines reach GET /v1/functions/{name}/logs: a job's from the
// invoker, an http-mode instance's from the deployer, and a job's last line
// written while the invoker is stopping. Logstream, which has nothing to
// follow there, says so.
func TestStandaloneFunctionLogs(t *testing.T) {
	ns := natstest.Start(t)
	// Info, so the services' start-up messages are in their output.
	info := []string{"EVENTFLOW_LOG_LEVEL=info"}
	gw := startService(t, "gateway", ns.ClientURL(), nil)
	startService(t, "deployer", ns.ClientURL(), nil)
	iv := startService(t, "invoker", ns.ClientURL(), nil)
	ls := startService(t, "logstream", ns.ClientURL(), info)
	base := "http://" + gw.addr
	c := newClient(t, base, token(t, base, "logs"))

	logsOf := func(name string) func() (bool, string) {
		return func() (bool, string) {
			r := c.do("GET", "/v1/functions/"+name+"/logs?tail=100", nil)
			return r.Status == 200, string(r.Body)
		}
	}
	waitLog := func(name, want string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, name+" logs have "+want, func() (bool, string) {
			ok, body := logsOf(name)()
			return ok && strings.Contains(body, want), body
		})
	}

	// Job mode: the invoker runs it and publishes its lines.
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "noisy", "command": []string{"sh", "-c", "echo from-standalone >&2; cat"}}); r.Status != 202 {
		t.Fatalf("create noisy: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "noisy", "Ready")
	if r := c.do("POST", "/v1/functions/noisy:invoke", "payload-line"); r.Status != 200 || string(r.Body) != "payload-line" {
		t.Fatalf("invoke noisy: %d %s", r.Status, r.Body)
	}
	waitLog("noisy", "stderr from-standalone")
	waitLog("noisy", "stdout payload-line")

	// Http mode: the deployer runs the instance and publishes its lines
	// (the instance never serves; its start-up line is enough).
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "served", "invocation": map[string]any{"mode": "http"},
		"command": []string{"sh", "-c", "echo from-deployer >&2; exec sleep 600"}}); r.Status != 202 {
		t.Fatalf("create served: %d %s", r.Status, r.Body)
	}
	waitLog("served", "stderr from-deployer")

	// A job still running when the invoker is told to stop finishes, and
	// the line it writes at its end is published before the invoker exits.
	started := filepath.Join(proctest.SharedDir(t), "started")
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "slow", "env": map[string]string{"STARTED": started},
		"command": []string{"sh", "-c", `: > "$STARTED"; sleep 1; echo last-words >&2`}}); r.Status != 202 {
		t.Fatalf("create slow: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "slow", "Ready")
	if r := c.do("POST", "/v1/functions/slow:invoke?async=true", ""); r.Status != 202 {
		t.Fatalf("invoke slow: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 20*time.Second, "slow job running", func() (bool, string) {
		_, err := os.Stat(started)
		return err == nil, "no " + started
	})
	_ = iv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-iv.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("invoker did not stop:\n%s", iv.output())
	}
	if code := iv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("invoker exited with %d:\n%s", code, iv.output())
	}
	// The invoker is gone: the line is in the stream already, or never.
	if ok, body := logsOf("slow")(); !ok || !strings.Contains(body, "stderr last-words") {
		t.Fatalf("slow's last line was not published before the invoker exited; logs:\n%s\ninvoker:\n%s", body, iv.output())
	}

	if out := ls.output(); !strings.Contains(out, "nothing to follow on the process runtime") {
		t.Errorf("logstream does not say it has nothing to follow:\n%s", out)
	}
}
