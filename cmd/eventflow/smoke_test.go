package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/testkit"
)

// runSmoke runs scripts/test-function.sh against url with extra env and
// returns its combined output and error.
func runSmoke(t *testing.T, url string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script, err := filepath.Abs("../../scripts/test-function.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, script, url)
	// The script's own settings come only from env: none inherited from
	// whoever runs the tests.
	for _, kv := range cmd.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "EVENTFLOW_URL", "EVENTFLOW_TOKEN", "EVENTFLOW_TENANT", "FUNCTION_IMAGE", "FUNCTION_SHELL", "SMOKE_TIMEOUT":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append([]string{"SMOKE_TIMEOUT=60"}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The smoke test users run against their own gateway (make test-function)
// passes against `eventflow dev`, and fails loudly when it should.
func TestSmokeScript(t *testing.T) {
	dev := startDev(t, t.TempDir())

	out, err := runSmoke(t, dev.URL)
	t.Logf("scripts/test-function.sh %s:\n%s", dev.URL, out)
	if err != nil {
		t.Fatalf("smoke test failed against eventflow dev: %v", err)
	}
	for _, want := range []string{"ok: echo: hello smoke", "succeeded with echo: queued call", "gone (404)", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("smoke output lacks %q", want)
		}
	}

	t.Run("refused token fails", func(t *testing.T) {
		out, err := runSmoke(t, dev.URL, "EVENTFLOW_TOKEN=not-a-token")
		if err == nil || !strings.Contains(out, "FAIL: create answered 401") {
			t.Fatalf("want a failure at create with 401, got err=%v:\n%s", err, out)
		}
	})
	t.Run("an undeployable function fails at once", func(t *testing.T) {
		// Phase Failed ends the wait for Ready with the deployer's reason,
		// not after SMOKE_TIMEOUT with the last answer.
		out, err := runSmoke(t, dev.URL, "FUNCTION_SHELL=/nonexistent/sh", "SMOKE_TIMEOUT=170")
		if err == nil || !strings.Contains(out, "failed to deploy") || !strings.Contains(out, "FUNCTION_SHELL") {
			t.Fatalf("want a failure naming the deploy failure and FUNCTION_SHELL, got err=%v:\n%s", err, out)
		}
	})
	t.Run("no gateway fails", func(t *testing.T) {
		out, err := runSmoke(t, "http://"+testkit.FreeAddr(t))
		if err == nil || !strings.Contains(out, "unreachable") {
			t.Fatalf("want a failure saying the gateway is unreachable, got err=%v:\n%s", err, out)
		}
	})
}
