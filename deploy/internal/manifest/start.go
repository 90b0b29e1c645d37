package manifest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// Cluster returns this test binary's control plane (k8stest.Start), started
// while holding a lock that the other deploy test binaries take too: two
// `kwokctl create` at once can pick the same free port for their API
// servers, and one then talks to the other's (seen as "certificate signed
// by unknown authority"). Once a cluster is up its ports are taken, so
// starting them one after the other is safe.
func Cluster(tb testing.TB) *k8stest.Env {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "eventflow-deploy-tests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "cluster-start.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	// Blocks until the other binary's start returned (bounded by its own
	// start-up timeouts in hack/k8s.sh).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return k8stest.Start(tb)
}
