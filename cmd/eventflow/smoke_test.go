package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	cmd.Env = append(cmd.Environ(), append([]string{"SMOKE_TIMEOUT=60"}, env...)...)
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
	for _, want := range []string{"HELLO SMOKE", "QUEUED CALL", "gone (404)", "PASS"} {
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
	t.Run("no gateway fails", func(t *testing.T) {
		out, err := runSmoke(t, "http://"+freeAddr(t))
		if err == nil || !strings.Contains(out, "unreachable") {
			t.Fatalf("want a failure saying the gateway is unreachable, got err=%v:\n%s", err, out)
		}
	})
}
