package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLinksNoRuntime: the gateway binary links neither Kubernetes (k8s.io,
// sigs.k8s.io: client-go alone is some 420 packages) nor a function
// runtime. Runtime selection lives in pkg/runtime/runtimeboot, which only
// the services that run functions import; svcboot, which the gateway
// shares with them, must stay free of it. The dependency list is `go list
// -deps` of this package (its tests' imports excluded).
func TestLinksNoRuntime(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	var bad []string
	sawSvcboot := false
	for _, p := range deps {
		switch {
		case p == "github.com/eventflow/eventflow/pkg/svcboot":
			sawSvcboot = true
		case strings.HasPrefix(p, "k8s.io/"), strings.HasPrefix(p, "sigs.k8s.io/"),
			strings.HasPrefix(p, "github.com/eventflow/eventflow/pkg/runtime/"):
			bad = append(bad, p)
		}
	}
	// The list is the real one: the gateway does start through svcboot.
	if !sawSvcboot {
		t.Fatalf("go list -deps names no pkg/svcboot among %d packages", len(deps))
	}
	if len(bad) > 0 {
		t.Fatalf("the gateway links %d packages it must not (runtime selection belongs in pkg/runtime/runtimeboot, not svcboot), e.g. %v",
			len(bad), bad[:min(len(bad), 10)])
	}
}
