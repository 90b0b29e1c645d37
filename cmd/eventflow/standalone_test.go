package main

import (
	"bytes"
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

	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/natsserver"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// svcProc is one running service binary.
type svcProc struct {
	name   string
	addr   string // the gateway's API, the others' ops endpoints
	cmd    *exec.Cmd
	out    *lockedWriter
	exited chan struct{}
}

const testJWTSecret = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"

// startService runs one service binary against natsURL with env added,
// waits until it is ready, and stops it (SIGTERM) when the test ends.
func startService(t *testing.T, name, natsURL string, env []string) *svcProc {
	t.Helper()
	p := &svcProc{name: name, addr: testkit.FreeAddr(t), out: &lockedWriter{w: new(bytes.Buffer)}, exited: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name))
	p.cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "EVENTFLOW_JWT_SECRET="+testJWTSecret,
		"EVENTFLOW_HTTP_ADDR="+p.addr, "EVENTFLOW_OPS_ADDR="+p.addr, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true", "EVENTFLOW_LOG_LEVEL=warn")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited: // killed by the test
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop on SIGTERM", name)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		busRefusals(t, name, p.out.w.String())
		if code := p.cmd.ProcessState.ExitCode(); (code != 0 && !t.Failed()) || testing.Verbose() {
			if code != 0 {
				t.Errorf("%s exited with %d", name, code)
			}
			t.Logf("%s output:\n%s", name, p.out.w.String())
		}
	})
	base := "http://" + p.addr
	testkit.Eventually(t, 30*time.Second, name+" ready", func() (bool, string) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited during start-up:\n%s", name, p.out.w.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprint(resp.StatusCode)
	})
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %v %v", name, path, err, resp)
		}
		resp.Body.Close()
	}
	return p
}

// kill9 kills the service's process (only it: kill -9, as a crash would).
func (p *svcProc) kill9() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// startServices runs the four service binaries as separate processes
// against one NATS server, as in a cluster, with env[service] added to each
// one's environment, and returns their addresses.
func startServices(t *testing.T, natsURL string, env map[string][]string) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	for _, name := range serviceNames {
		addrs[name] = startService(t, name, natsURL, env[name]).addr
	}
	return addrs
}

// TestStandaloneServices runs the four service binaries against one
// external NATS server on the process runtime, as in a cluster with bus
// authentication (`eventflow nats-auth init`, each service its own
// credentials, the deployer provisioning): each serves its probes and
// metrics, and a job-mode function goes from create to Ready to sync and
// async invocation across them.
func TestStandaloneServices(t *testing.T) {
	bundle := t.TempDir()
	if out, err := exec.Command(binPath, "nats-auth", "init", "--dir", bundle).CombinedOutput(); err != nil {
		t.Fatalf("nats-auth init: %v %s", err, out)
	}
	kit, err := busauth.Load(filepath.Join(bundle, busauth.BundleKeys))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := kit.Server()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), Auth: &trust})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	// The deployer first: the others wait for the streams it creates.
	addrs := map[string]string{}
	for _, name := range []string{"deployer", "gateway", "invoker", "logstream"} {
		creds := "NATS_CREDS=" + filepath.Join(bundle, busauth.BundleSecret, busauth.CredsFile(name))
		addrs[name] = startService(t, name, ns.ClientURL(), []string{creds}).addr
	}
	base := "http://" + addrs["gateway"]
	c := newClient(t, base, token(t, base, "solo"))
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "upper", "command": []string{"tr", "a-z", "A-Z"}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "upper", "Ready")
	if r := c.do("POST", "/v1/functions/upper:invoke", "hello"); r.Status != 200 || string(r.Body) != "HELLO" {
		t.Fatalf("sync invoke: %d %s", r.Status, r.Body)
	}
	r := c.do("POST", "/v1/functions/upper:invoke?async=true", "queued")
	var acc struct{ ID string }
	r.json(t, &acc)
	if inv := waitInvocation(t, c, acc.ID, 20*time.Second); inv.Status != "succeeded" || inv.Output != "QUEUED" {
		t.Fatalf("async: %+v", inv)
	}
}

// TestInvokerKilledMidQueueLosesNothing: kill -9 the invoker (its own
// process, against a NATS server) while 1,000 async invocations are queued
// or running; restart it; every accepted invocation ends succeeded, with
// its own output, recorded once.
func TestInvokerKilledMidQueueLosesNothing(t *testing.T) {
	ns := natstest.Start(t)
	ackWait := []string{"EVENTFLOW_INVOKER_ACK_WAIT=2s"}
	gw := startService(t, "gateway", ns.ClientURL(), nil)
	startService(t, "deployer", ns.ClientURL(), nil)
	iv := startService(t, "invoker", ns.ClientURL(), ackWait)
	base := "http://" + gw.addr
	c := newClient(t, base, token(t, base, "crash"))
	runs := filepath.Join(proctest.SharedDir(t), "runs")
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "work", "env": map[string]string{"RUNS": runs},
		"command": []string{"sh", "-c", `sleep 0.05; echo "$EVENTFLOW_INVOCATION_ID" >> "$RUNS"; tr a-z A-Z`}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "work", "Ready")

	const n = 1000
	ids := make([]string, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := c.do("POST", "/v1/functions/work:invoke?async=true", fmt.Sprintf("job-%d", i))
				if r.Status != 202 {
					t.Errorf("accept %d: %d %s", i, r.Status, r.Body)
					continue
				}
				var acc struct{ ID string }
				r.json(t, &acc)
				ids[i] = acc.ID
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	iv.kill9()
	done := countLines(runs)
	if done >= n {
		t.Fatalf("all %d had run before the kill; the test tested nothing", done)
	}
	t.Logf("%d of %d runs had happened when the invoker was killed", done, n)
	startService(t, "invoker", ns.ClientURL(), ackWait)

	pending := map[int]bool{}
	for i := range n {
		pending[i] = true
	}
	testkit.Eventually(t, 120*time.Second, "all 1,000 succeeded", func() (bool, string) {
		for i := range pending {
			var inv invocationView
			r := c.do("GET", "/v1/invocations/"+ids[i], nil)
			if r.Status != 200 {
				return false, fmt.Sprintf("invocation %d: %d", i, r.Status)
			}
			r.json(t, &inv)
			if inv.Status == "succeeded" {
				if want := fmt.Sprintf("JOB-%d", i); inv.Output != want {
					t.Fatalf("invocation %d output %q, want %q", i, inv.Output, want)
				}
				delete(pending, i)
			} else if inv.Status == "failed" || inv.Status == "dead_lettered" {
				t.Fatalf("invocation %d: %+v", i, inv)
			}
		}
		return len(pending) == 0, fmt.Sprintf("%d pending", len(pending))
	})
	// At-least-once: a run cut short by the kill may have happened twice;
	// everything else exactly once, and nothing never.
	seen := map[string]int{}
	for _, id := range strings.Fields(readFile(runs)) {
		seen[id]++
	}
	twice := 0
	for i, id := range ids {
		switch seen[id] {
		case 0:
			t.Fatalf("invocation %d succeeded without a run", i)
		case 1:
		default:
			twice++
		}
	}
	t.Logf("%d invocations ran twice (cut short by the kill)", twice)
	if twice > 64 { // at most the invoker's concurrency was in flight
		t.Fatalf("%d invocations ran more than once; at most 64 were running at the kill", twice)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func countLines(p string) int { return strings.Count(readFile(p), "\n") }
