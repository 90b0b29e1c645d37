// Tests of the kustomize manifests: the base and both overlays are rendered
// with `kubectl kustomize`, checked object by object, then applied one after
// the other (each removed before the next) to this test binary's own
// Kubernetes control plane.
package k8s_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/deploy/internal/manifest"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

const ns = "eventflow"

// The Secrets production (and the bare base) expect from the operator:
// the service secrets and the bus authentication (`eventflow nats-auth
// init`'s secret/ directory).
var operatorSecret = map[string][]string{
	"eventflow-secrets":   {"jwt-secret", "callback-secret"},
	"eventflow-nats-auth": manifest.NATSAuthKeys(),
	secretsKeySecret:      {"secrets.key"},
}

// The bus authentication's Secret: the operator's, or the dev overlay's
// generated one (eventflow-nats-auth-<hash>).
const natsAuthSecret = "eventflow-nats-auth"

// secretsKeySecret holds the key tenants' secrets are sealed to (key
// secrets.key), the deployer's only.
const secretsKeySecret = "eventflow-secrets-key"

var renderings = []struct {
	name, dir string
	exp       manifest.Expect
}{
	{"base", "base", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "latest", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 2,
		ExternalSecrets: operatorSecret, NetworkPolicies: true,
		GatewayEnvAbsent: []string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT"}, NATSAuthSecret: natsAuthSecret,
		SecretsKeySecret: secretsKeySecret,
	}},
	{"dev", "overlays/dev", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "dev", NATSReplicas: 1, StreamReplicas: 1, MinGateway: 2,
		NetworkPolicies: true, GatewayEnv: map[string]string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT": "true"},
		NATSAuthSecret:   natsAuthSecret,
		SecretsKeySecret: secretsKeySecret,
	}},
	{"production", "overlays/production", manifest.Expect{
		Namespace: ns, Prefix: "eventflow", ImageTag: "0.1.0", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 3,
		ExternalSecrets: operatorSecret, NetworkPolicies: true,
		GatewayEnvAbsent: []string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT"}, NATSAuthSecret: natsAuthSecret,
		SecretsKeySecret: secretsKeySecret,
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

// TestSecrets: dev generates its Secrets (marked as development values to
// change): the service secrets, the secrets key and the bus
// authentication, whose Secret holds exactly the secret/ files of its
// committed `eventflow nats-auth init` bundle and none of its signing
// keys. Production and the base render none and name the operator's.
func TestSecrets(t *testing.T) {
	rendered := manifest.Kustomize(t, dir(t, "overlays/dev"))
	dev := manifest.Parse(t, rendered)
	var names []string
	for _, u := range dev.Of("Secret") {
		names = append(names, u.GetName())
	}
	if len(names) != 3 || !slices.ContainsFunc(names, manifest.GeneratedFrom("eventflow-secrets")) || !slices.ContainsFunc(names, manifest.GeneratedFrom(natsAuthSecret)) ||
		!slices.ContainsFunc(names, manifest.GeneratedFrom(secretsKeySecret)) {
		t.Fatalf("dev renders Secrets %v, want the generated eventflow-secrets-<hash>, %s-<hash> and %s-<hash>", names, natsAuthSecret, secretsKeySecret)
	}
	src, err := os.ReadFile(dir(t, "overlays/dev/kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(src), "CHANGE ME"); n < 3 {
		t.Errorf("the dev overlay's generated secrets are not each marked CHANGE ME (%d marks, want one per generator)", n)
	}
	// The dev secrets key: key material the deployer accepts (32 bytes at
	// least), under the key its mount maps.
	for _, u := range dev.Of("Secret") {
		if !manifest.GeneratedFrom(secretsKeySecret)(u.GetName()) {
			continue
		}
		var sec corev1.Secret
		manifest.Into(t, u, &sec)
		if len(sec.Data) != 1 || len(strings.TrimSpace(string(sec.Data["secrets.key"]))) < 32 {
			t.Errorf("%s: keys %d, secrets.key of %d bytes: want only secrets.key, of 32 bytes or more", sec.Name, len(sec.Data), len(sec.Data["secrets.key"]))
		}
	}
	bundle := dir(t, "overlays/dev/nats-auth")
	for _, u := range dev.Of("Secret") {
		if !strings.HasPrefix(u.GetName(), natsAuthSecret+"-") {
			continue
		}
		var sec corev1.Secret
		manifest.Into(t, u, &sec)
		var keys []string
		for k, v := range sec.Data {
			keys = append(keys, k)
			committed, err := os.ReadFile(filepath.Join(bundle, busauth.BundleSecret, k))
			if err != nil || string(committed) != string(v) {
				t.Errorf("%s key %s is not the committed %s/%s/%s (%v)", sec.Name, k, bundle, busauth.BundleSecret, k, err)
			}
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(manifest.NATSAuthKeys()))
		if !slices.Equal(keys, want) {
			t.Errorf("%s has keys %v, want %v", sec.Name, keys, want)
		}
	}
	// The signing keys stay out of the cluster.
	seeds, err := filepath.Glob(filepath.Join(bundle, busauth.BundleKeys, "*"))
	if err != nil || len(seeds) != 3 {
		t.Fatalf("committed keys %v (%v), want the operator's, system account's and account's", seeds, err)
	}
	for _, f := range seeds {
		seed, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(rendered), strings.TrimSpace(string(seed))) {
			t.Errorf("the dev rendering contains the seed of %s", f)
		}
	}
	for _, d := range []string{"base", "overlays/production"} {
		objs := manifest.Parse(t, manifest.Kustomize(t, dir(t, d)))
		if n := len(objs.Of("Secret")); n != 0 {
			t.Errorf("%s renders %d Secrets: secrets must not be in git", d, n)
		}
	}
}

// TestNATSAuthConfig runs each rendering's NATS configuration in a real
// nats-server (manifest.StartNATS: the files laid out as the pod mounts
// them, the include resolved as the server resolves it): base and
// production with an operator's Secret from `eventflow nats-auth init`,
// dev with its generated Secret. A client without credentials is refused;
// every service's credentials connect and reach JetStream; for dev, those
// are the committed files, and a tenant's credentials minted with the
// committed keys (as deploy/README.md says) connect too, so the committed
// bundle is consistent.
func TestNATSAuthConfig(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			objs := manifest.Parse(t, manifest.Kustomize(t, dir(t, r.dir)))
			files, kit := manifest.NATSAuthBundle(t)
			if r.name == "dev" {
				var err error
				if kit, err = busauth.Load(dir(t, "overlays/dev/nats-auth/"+busauth.BundleKeys)); err != nil {
					t.Fatal(err)
				}
				files = map[string][]byte{}
				for _, k := range manifest.NATSAuthKeys() {
					if files[k], err = os.ReadFile(dir(t, "overlays/dev/nats-auth/"+busauth.BundleSecret+"/"+k)); err != nil {
						t.Fatal(err)
					}
				}
			}
			url := manifest.StartNATS(t, objs, r.exp, map[string]map[string][]byte{natsAuthSecret: files})
			for _, svc := range busauth.Services {
				t.Run(svc, func(t *testing.T) { manifest.CheckBusAuth(t, url, files[busauth.CredsFile(svc)]) })
			}
			creds, err := kit.TenantCreds("demo", time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			opts, err := busauth.ConnectOptions(creds)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(url, append(opts, nats.NoReconnect())...)
			if err != nil {
				t.Fatalf("a tenant's credentials minted with the bundle's keys: %v", err)
			}
			nc.Close()
		})
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
				files, _ := manifest.NATSAuthBundle(t)
				manifest.CreateNATSAuthSecret(t, env, ns, natsAuthSecret, files)
				manifest.CreateSecret(t, env, ns, secretsKeySecret, map[string]string{"secrets.key": strings.Repeat("k", 64)})
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
