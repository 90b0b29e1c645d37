package version

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLinkTimeVersion builds a program the way `make build` does and checks
// that the -X path the Makefile passes really sets Version, and that Commit
// is the checkout's revision.
func TestLinkTimeVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printversion")
	build := func(vcs string) ([]byte, error) {
		return exec.Command("go", "build", "-buildvcs="+vcs, "-o", bin,
			"-ldflags", "-X github.com/eventflow/eventflow/pkg/version.Version=v9.8.7-test",
			"./testdata/printversion").CombinedOutput()
	}
	// Stamping VCS needs a git checkout; a source tarball has none.
	wantCommit := ""
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		wantCommit = strings.TrimSpace(string(out))
	}
	vcs := "true"
	if wantCommit == "" {
		vcs = "false"
	}
	if out, err := build(vcs); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	want := Info{Version: "v9.8.7-test", Commit: wantCommit, GoVersion: runtime.Version()}
	if got != want {
		t.Fatalf("printversion = %+v, want %+v", got, want)
	}
}

func TestGetDefaults(t *testing.T) {
	// A test binary is built without -X and without VCS stamping.
	if got := Get(); got != (Info{Version: "dev", GoVersion: runtime.Version()}) {
		t.Fatalf("Get() = %+v", got)
	}
}
