package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// snoopScript is a job-mode function that goes looking for the platform's
// secrets: its parent's environment and arguments (/proc/$PPID), PID 1's,
// every process's it can read, and the data dir ($DATA_DIR), and prints
// whatever it finds.
const snoopScript = `
echo "uid=$(id -u)"
echo "--- parent environ"; cat /proc/$PPID/environ 2>&1 | tr '\0' '\n'; echo
echo "--- parent cmdline"; cat /proc/$PPID/cmdline 2>&1 | tr '\0' ' '; echo
echo "--- pid 1 environ"; cat /proc/1/environ 2>&1 | tr '\0' '\n'; echo
echo "--- every environ and cmdline"
n=0
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
	if head -c 16384 "$f" 2>/dev/null | tr '\0' '\n'; then n=$((n+1)); fi
done
echo "read $n"
echo "--- data dir"; ls -la "$DATA_DIR" 2>&1; cat "$DATA_DIR/jwt-secret" 2>&1
echo "--- own env"; env
`

// snoop deploys snoopScript, runs it once and returns what it printed.
func snoop(t *testing.T, p *devProc, dataDir string) string {
	t.Helper()
	c := newClient(t, p.URL, token(t, p.URL, "snoop"))
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "snoop", "command": []string{"sh", "-c", snoopScript},
		"env": map[string]string{"DATA_DIR": dataDir}}); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "snoop", "Ready")
	r := c.do("POST", "/v1/functions/snoop:invoke", "")
	if r.Status != http.StatusOK {
		t.Fatalf("invoke: %d %s", r.Status, r.Body)
	}
	out := string(r.Body)
	// The script ran to its end: this is not a pass by default.
	if !strings.Contains(out, "--- own env") || !strings.Contains(out, "EVENTFLOW_FUNCTION=snoop") {
		t.Fatalf("the function did not run through:\n%s", out)
	}
	return out
}

// section is what snoopScript printed under "--- name".
func section(out, name string) string {
	_, rest, ok := strings.Cut(out, "--- "+name+"\n")
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(rest, "\n--- ")
	return s
}

const e2eSecret = "isolation-test-jwt-secret-5f0c2b9e7d41a3c8"

// TestFunctionsCannotReadThePlatformsSecrets: a function that reads its
// parent's /proc environment and arguments, every other process's it can,
// and the platform's data dir finds the JWT secret (given as
// EVENTFLOW_JWT_SECRET, and, when the test runs as root, also left in the
// data dir by an earlier run) nowhere. As root (as in CI) it runs as
// another user, not 0, and the data dir, found open to others, is made
// private.
func TestFunctionsCannotReadThePlatformsSecrets(t *testing.T) {
	dataDir := t.TempDir()
	root := os.Geteuid() == 0
	if root {
		if err := os.WriteFile(filepath.Join(dataDir, "jwt-secret"), []byte(e2eSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// As an older EventFlow left it: readable by everyone.
		if err := os.Chmod(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := startDev(t, dataDir, "EVENTFLOW_JWT_SECRET="+e2eSecret)
	out := snoop(t, p, dataDir)
	if strings.Contains(out, e2eSecret) {
		t.Errorf("the function found the JWT secret:\n%s", out)
	}
	if !root {
		return
	}
	if strings.Contains(out, "\nuid=0\n") || !strings.Contains(out, "uid=65534\n") {
		t.Errorf("as root, the function should run as nobody (65534):\n%s", out)
	}
	// Refused, rather than not tried.
	for _, sec := range []string{"parent environ", "data dir"} {
		if !strings.Contains(section(out, sec), "Permission denied") {
			t.Errorf("%s: not refused:\n%s", sec, out)
		}
	}
	if fi, err := os.Stat(dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v, want mode 0700", fi.Mode(), err)
	}
}

// TestSecretsLeaveTheProcessEnvironment: when functions run as the
// platform's own user (the weaker mode: here the platform itself runs as
// nobody), they can read its /proc/<pid>/environ and cmdline, which the
// kernel keeps from the exec whatever os.Unsetenv does; eventflow dev
// re-executes itself without the secret in them, so they do not show it
// (given as EVENTFLOW_JWT_SECRET).
func TestSecretsLeaveTheProcessEnvironment(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the platform as another user; TestFunctionsCannotReadThePlatformsSecrets covers this as the test's own user")
	}
	dataDir := filepath.Join(proctest.SharedDir(t), "data") // the platform (nobody) makes it
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	p := startDevAs(t, dataDir, nobody, "EVENTFLOW_JWT_SECRET="+e2eSecret, "HOME=/nonexistent")
	out := snoop(t, p, dataDir)
	if strings.Contains(out, e2eSecret) {
		t.Errorf("the function found the JWT secret:\n%s", out)
	}
	// The same user: it did read the platform's environment.
	if !strings.Contains(out, "uid=65534\n") || !strings.Contains(section(out, "parent environ"), "PATH=") {
		t.Errorf("the function should run as the platform's user and read its environ:\n%s", out)
	}
	if !strings.Contains(p.stderr.String(), "functions run as this process's own user") {
		t.Errorf("no warning about the weaker mode in:\n%s", p.stderr)
	}
}
