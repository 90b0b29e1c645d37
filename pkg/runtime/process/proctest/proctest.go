// Package proctest helps tests whose functions run on the process runtime.
// Functions may run as another user than the test (as root, the runtime's
// default is nobody), so what a function executes, reads or writes must be
// reachable by that user: t.TempDir() is not (mode 0700, owned by the test's
// user).
package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SharedDir is a new directory that any user may search, read and write
// (mode 0777, under os.TempDir()), for the binaries, scripts and marker
// files a test's functions use. It is removed when the test ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eventflow-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Chmod, not the umask-filtered mode of a mkdir.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// BuildProgram builds a one-file Go program (standard library only) into
// a SharedDir, where the function user can run it, and returns its path.
func BuildProgram(t testing.TB, src string) string {
	t.Helper()
	dir := SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "fn")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
