// Tests of the kustomize manifests: the base and both overlays are rendered
// with `kubectl kustomize`, checked object by object, then applied one after
// the other (each removed before the next) to this test binary's own
// Kubernetes control plane.
package k8s_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/deploy/internal/manifest"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

const ns = "eventflow"

// The Secret production (and the bare base) expect from the operator.
var operatorSecret = map[string][]string{"eventflow-secrets": {"jwt-secret", "callback-secret"}}

var renderings = []struct {
	name, dir string
	exp       manifest.Expect
}{
	{"base", "base", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "latest", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 2,
		ExternalSecrets: operatorSecret, NetworkPolicies: true,
		GatewayEnvAbsent: []string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT"},
	}},
	{"dev", "overlays/dev", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "dev", NATSReplicas: 1, StreamReplicas: 1, MinGateway: 2,
		NetworkPolicies: true, GatewayEnv: map[string]string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT": "true"},
	}},
	{"production", "overlays/production", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "0.1.0", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 3,
		ExternalSecrets: operatorSecret, NetworkPolicies: true,
		GatewayEnvAbsent: []string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT"},
	}},
}

func dir(t *testing.T, rel string) string {
	return filepath.Join(manifest.Root(t), "deploy", "k8s", rel)
}

// TestRendered checks every object of each rendering without a cluster.
func TestRendered(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			objs := manifest.Parse(t, manifest.Kustomize(t, dir(t, r.dir)))
			manifest.Check(t, objs, r.exp)
			if objs.Get("Namespace", ns) == nil {
				t.Errorf("no Namespace %s", ns)
			}
		})
	}
}

// TestSecrets: dev generates its Secret (marked as a development value to
// change), production and the base render none and name the operator's.
func TestSecrets(t *testing.T) {
	dev := manifest.Parse(t, manifest.Kustomize(t, dir(t, "overlays/dev")))
	if n := len(dev.Of("Secret")); n != 1 {
		t.Fatalf("dev renders %d Secrets, want 1", n)
	}
	if name := dev.Of("Secret")[0].GetName(); !strings.HasPrefix(name, "eventflow-secrets-") {
		t.Errorf("dev's Secret is %s, want the generated eventflow-secrets-<hash>", name)
	}
	src, err := os.ReadFile(dir(t, "overlays/dev/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "CHANGE ME") {
		t.Error("the dev overlay's generated secrets are not marked CHANGE ME")
	}
	for _, d := range []string{"base", "overlays/production"} {
		objs := manifest.Parse(t, manifest.Kustomize(t, dir(t, d)))
		if n := len(objs.Of("Secret")); n != 0 {
			t.Errorf("%s renders %d Secrets: secrets must not be in git", d, n)
		}
	}
}

// TestAppliedToCluster applies each rendering with server-side apply to a
// real API server (etcd, kube-apiserver, controller-manager, scheduler;
// kwok runs the pods), waits until the Deployments are Available and NATS
// is ready, proves each ServiceAccount's rights, and removes it all again.
func TestAppliedToCluster(t *testing.T) {
	env := manifest.Cluster(t)
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			start := time.Now()
			rendered := manifest.Kustomize(t, dir(t, r.dir))
			if r.exp.ExternalSecrets != nil {
				// What the operator does first (deploy/README.md).
				manifest.Namespace(t, env, ns)
				manifest.CreateSecret(t, env, ns, "eventflow-secrets", map[string]string{
					"jwt-secret": strings.Repeat("s", 40), "callback-secret": strings.Repeat("c", 40)})
			}
			manifest.Apply(t, env, rendered)
			pvs := manifest.WaitReady(t, env, ns, 4, 1, 2*time.Minute)
			t.Cleanup(func() { manifest.DeletePVs(t, env, pvs) })
			if len(pvs) != r.exp.NATSReplicas {
				t.Errorf("%d volumes provisioned for NATS, want %d", len(pvs), r.exp.NATSReplicas)
			}
			t.Logf("%s applied and ready in %s", r.name, time.Since(start).Round(time.Millisecond))
			t.Run("pod security restricted is enforced", func(t *testing.T) { podSecurityEnforced(t, env) })
			t.Run("rbac", func(t *testing.T) { manifest.CheckRBACLive(t, env, ns, "eventflow", "eventflow-acme") })
			t.Run("re-applying keeps the HPA's replicas", func(t *testing.T) {
				manifest.ReapplyAfterScaling(t, env, ns, "eventflow-gateway", rendered)
			})
			start = time.Now()
			manifest.Delete(t, env, rendered)
			waitNamespaceGone(t, env)
			t.Logf("%s deleted, namespace gone, in %s", r.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// podSecurityEnforced: the namespace refuses a pod without the restricted
// securityContext (so the services' pods, which run, passed it).
func podSecurityEnforced(t *testing.T, env *k8stest.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lax", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	_, err := env.Admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a pod without securityContext in %s: %v, want refused by PodSecurity restricted", ns, err)
	}
}

func waitNamespaceGone(t *testing.T, env *k8stest.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := env.Admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s still there after delete: %v", ns, err)
		case <-tick.C:
		}
	}
}
