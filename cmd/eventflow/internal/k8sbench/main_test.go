// Package k8sbench measures EventFlow on the Kubernetes runtime against
// what Kubernetes alone takes, both in the same run on the same test bed (a
// real control plane with kwok nodes, pkg/runtime/kubernetes/k8stest):
//
//   - create → Ready of an http-mode function (1 replica) through the
//     gateway, split by a watch on Deployments into EventFlow's time and
//     Kubernetes' time, against a bare client-go create of an equivalent
//     Deployment;
//   - the round trip of a sync job-mode invocation, split by a watch on
//     Jobs, against a bare client-go Job create → Complete;
//   - the standalone deployer's memory before and after 1,000 functions.
//
// The platform runs as in a cluster: an embedded NATS server in this
// process and the four service binaries ($EVENTFLOW_BIN/{gateway,deployer,
// invoker,logstream}, from `make build`) as separate processes, each with
// its own ServiceAccount's kubeconfig.
//
// Run it (about 3-4 minutes on two cores, most of it the cluster and the
// sequential creates):
//
//	cd /work/main && make build
//	cd cmd/eventflow && EVENTFLOW_BIN=$PWD/../../bin go test -run '^$' -bench Kubernetes -benchtime 1x -timeout 20m ./internal/k8sbench/
//
// The package has no tests: `go test ./...` runs nothing here and starts no
// cluster (k8stest starts one only when the benchmark asks for it).
package k8sbench

import (
	"os"
	"testing"

	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// TestMain deletes the test cluster at the end, on failure and on
// SIGINT/SIGTERM too.
func TestMain(m *testing.M) {
	os.Exit(k8stest.Main(m))
}
