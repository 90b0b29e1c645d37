package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServices runs the four service binaries as separate processes
// against one NATS server, as in a cluster, with env[service] added to each
// one's environment; it waits until each is ready and returns their
// addresses (the gateway's API, the others' ops endpoints).
func startServices(t *testing.T, natsURL string, env map[string][]string) map[string]string {
	t.Helper()
	secret := strings.Repeat("z", 32)
	addrs := map[string]string{}
	for _, name := range serviceNames {
		addrs[name] = freeAddr(t)
		cmd := exec.Command(filepath.Join(binDir, name))
		cmd.Env = append(os.Environ(), "NATS_URL="+natsURL, "EVENTFLOW_JWT_SECRET="+secret,
			"EVENTFLOW_HTTP_ADDR="+addrs[name], "EVENTFLOW_OPS_ADDR="+addrs[name], "EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true", "EVENTFLOW_LOG_LEVEL=warn")
		cmd.Env = append(cmd.Env, env[name]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out := &lockedWriter{w: new(bytes.Buffer)}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				t.Errorf("%s did not stop on SIGTERM", name)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			if code := cmd.ProcessState.ExitCode(); (code != 0 && !t.Failed()) || testing.Verbose() {
				if code != 0 {
					t.Errorf("%s exited with %d", name, code)
				}
				t.Logf("%s output:\n%s", name, out.w.String())
			}
		})
	}
	for _, name := range serviceNames {
		base := "http://" + addrs[name]
		eventually(t, 30*time.Second, name+" ready", func() (bool, string) {
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
	}
	return addrs
}

// TestStandaloneServices runs the four service binaries against one
// external NATS server on the process runtime: each serves its probes and
// metrics, and a job-mode function goes from create to Ready to sync and
// async invocation across them.
func TestStandaloneServices(t *testing.T) {
	ns := natstest.Start(t)
	addrs := startServices(t, ns.ClientURL(), nil)
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
