// Tests of the Helm chart: `helm lint`, then `helm template` with several
// value sets, each checked object by object and applied (releases side by
// side, each in its own namespace) to this test binary's own Kubernetes
// control plane.
package helm_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/deploy/internal/manifest"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

type release struct {
	name, release, namespace string
	args                     []string
	exp                      manifest.Expect
	// operatorSecret is created before the release, as its values say;
	// operatorKeySecret too (secrets.existingSecret, the secrets key).
	operatorSecret, operatorKeySecret string
}

// natsAuth is the Secret of the bus authentication each release expects
// (`eventflow nats-auth init`, created by the operator: helm cannot make
// its keys), with its keys.
func natsAuth(name string) map[string][]string {
	return map[string][]string{name: manifest.NATSAuthKeys()}
}

var oidc = map[string]string{
	"EVENTFLOW_OIDC_ISSUER":       "https://idp.example.com/realms/eventflow",
	"EVENTFLOW_OIDC_AUDIENCE":     "eventflow-api",
	"EVENTFLOW_OIDC_TENANT_CLAIM": "org",
	"EVENTFLOW_OIDC_SCOPES_CLAIM": "scp",
}

func releases(t *testing.T) []release {
	return []release{
		{name: "defaults", release: "eventflow", namespace: "eventflow",
			exp: manifest.Expect{Prefix: "eventflow", ImageTag: "0.1.0", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 2,
				NetworkPolicies: true, GatewayEnvAbsent: []string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT", "EVENTFLOW_OIDC_ISSUER"},
				NATSAuthSecret: "eventflow-nats-auth", ExternalSecrets: natsAuth("eventflow-nats-auth"),
				SecretsKeySecret: "eventflow-secrets-key"}},
		{name: "external-nats", release: "ext", namespace: "ef-ext",
			args: []string{"--set", "nats.url=nats://nats.messaging.svc:4222", "--set", "streamReplicas=3"},
			exp: manifest.Expect{Prefix: "ext-eventflow", ImageTag: "0.1.0", NATSURL: "nats://nats.messaging.svc:4222", StreamReplicas: 3,
				MinGateway: 2, NetworkPolicies: true,
				NATSAuthSecret: "ext-eventflow-nats-auth", ExternalSecrets: natsAuth("ext-eventflow-nats-auth"),
				SecretsKeySecret: "ext-eventflow-secrets-key"}},
		{name: "oidc", release: "oidc", namespace: "ef-oidc",
			args: []string{"--set", "auth.oidc.issuer=" + oidc["EVENTFLOW_OIDC_ISSUER"], "--set", "auth.oidc.audience=" + oidc["EVENTFLOW_OIDC_AUDIENCE"],
				"--set", "auth.oidc.tenantClaim=" + oidc["EVENTFLOW_OIDC_TENANT_CLAIM"], "--set", "auth.oidc.scopesClaim=" + oidc["EVENTFLOW_OIDC_SCOPES_CLAIM"]},
			exp: manifest.Expect{Prefix: "oidc-eventflow", ImageTag: "0.1.0", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 2,
				NetworkPolicies: true, GatewayEnv: oidc, GatewayEnvAbsent: []string{"EVENTFLOW_JWT_SECRET"},
				NATSAuthSecret: "oidc-eventflow-nats-auth", ExternalSecrets: natsAuth("oidc-eventflow-nats-auth"),
				SecretsKeySecret: "oidc-eventflow-secrets-key"}},
		{name: "production", release: "prod", namespace: "ef-prod",
			args: []string{"-f", filepath.Join(manifest.Root(t), "deploy", "helm", "testdata", "production.yaml")},
			exp: manifest.Expect{Prefix: "prod-eventflow", Registry: "registry.example.com/eventflow", ImageTag: "1.2.3", NATSReplicas: 3,
				StreamReplicas: 3, MinGateway: 3, NetworkPolicies: true,
				// nats.auth.secretName: prod-nats-auth
				NATSAuthSecret: "prod-nats-auth",
				// secrets.existingSecret: prod-secrets-key, existingSecretKey: sealing-key
				SecretsKeySecret: "prod-secrets-key", SecretsKeyKey: "sealing-key",
				ExternalSecrets: map[string][]string{"prod-secrets": {"jwt-secret", "callback-secret"}, "prod-nats-auth": manifest.NATSAuthKeys(),
					"prod-secrets-key": {"sealing-key"}}},
			operatorSecret: "prod-secrets", operatorKeySecret: "prod-secrets-key"},
		{name: "dev", release: "dev", namespace: "ef-dev",
			args: []string{"--set", "nats.replicas=1", "--set", "auth.enableTokenEndpoint=true", "--set", "networkPolicy.enabled=false",
				"--set", "auth.jwtSecret=dev-only-change-me-0123456789abcdef", "--set", "logLevel=debug"},
			exp: manifest.Expect{Prefix: "dev-eventflow", ImageTag: "0.1.0", NATSReplicas: 1, StreamReplicas: 1, MinGateway: 2,
				GatewayEnv:     map[string]string{"EVENTFLOW_ENABLE_TOKEN_ENDPOINT": "true"},
				NATSAuthSecret: "dev-eventflow-nats-auth", ExternalSecrets: natsAuth("dev-eventflow-nats-auth"),
				SecretsKeySecret: "dev-eventflow-secrets-key"}},
	}
}

func chart(t *testing.T) string { return manifest.Chart(t) }

// TestLint: `helm lint --strict`, with the defaults and each value set.
func TestLint(t *testing.T) {
	helm := manifest.Helm(t)
	for _, r := range releases(t) {
		args := append([]string{"lint", "--strict", chart(t), "--namespace", r.namespace}, r.args...)
		if out, err := manifest.Run(t, 2*time.Minute, nil, helm, args...); err != nil {
			t.Errorf("%s: %v", r.name, err)
		} else if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("%s: %s", r.name, out)
		}
	}
}

// TestRendered checks every object of each release's `helm template`.
func TestRendered(t *testing.T) {
	for _, r := range releases(t) {
		t.Run(r.name, func(t *testing.T) {
			r.exp.Namespace = r.namespace
			objs := manifest.Parse(t, manifest.HelmTemplate(t, r.release, r.namespace, r.args...))
			manifest.Check(t, objs, r.exp)
			var secrets []string
			for _, u := range objs.Of("Secret") {
				secrets = append(secrets, u.GetName())
			}
			want := []string{}
			if r.operatorSecret == "" {
				want = append(want, r.exp.Prefix+"-secrets")
			}
			if r.operatorKeySecret == "" {
				// The chart's secrets key, kept across upgrades and uninstalls.
				want = append(want, r.exp.SecretsKeySecret)
				u := objs.Get("Secret", r.exp.SecretsKeySecret)
				if u == nil {
					t.Fatalf("no Secret %s", r.exp.SecretsKeySecret)
				}
				if u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
					t.Errorf("Secret %s: annotations %v, want helm.sh/resource-policy: keep (an uninstall would lose every stored secret)", u.GetName(), u.GetAnnotations())
				}
				var sec corev1.Secret
				manifest.Into(t, u, &sec)
				if len(sec.Data) != 1 || len(sec.Data["secrets.key"]) < 32 {
					t.Errorf("Secret %s: %d keys, secrets.key of %d bytes; want only secrets.key, of 32 bytes or more", sec.Name, len(sec.Data), len(sec.Data["secrets.key"]))
				}
			}
			slices.Sort(secrets)
			slices.Sort(want)
			if !slices.Equal(secrets, want) {
				t.Errorf("Secrets rendered %v, want %v (none of the operator's)", secrets, want)
			}
		})
	}
}

// TestBadValuesFail: values the chart must refuse, each for its reason
// (a chart that fails for another one proves nothing).
func TestBadValuesFail(t *testing.T) {
	helm := manifest.Helm(t)
	for name, c := range map[string]struct{ set, why string }{
		"short jwt secret":         {"auth.jwtSecret=too-short", "/auth/jwtSecret"},
		"OIDC without an audience": {"auth.oidc.issuer=https://idp.example.com", "auth.oidc.issuer needs auth.oidc.audience"},
		// values.schema.json
		"an even NATS cluster":              {"nats.replicas=2", "/nats/replicas"},
		"a misspelt value":                  {"gateway.autoscalling.enabled=false", "autoscalling"},
		"an unknown Service type":           {"gateway.service.type=Ingress", "/gateway/service/type"},
		"a prefix no namespace fits":        {"runtime.namespacePrefix=Tenant_", "/runtime/namespacePrefix"},
		"HPA minimum above maximum":         {"invoker.autoscaling.minReplicas=12", "invoker.autoscaling.minReplicas (12) is above maxReplicas"},
		"a PDB blocking drains":             {"gateway.autoscaling.enabled=false,gateway.replicas=1", "gateway.pdb.minAvailable (1) with 1 replica(s) would block"},
		"bus auth not a boolean":            {"nats.auth.enabled=maybe", "/nats/auth/enabled"},
		"a Secret name Kubernetes refuses":  {"nats.auth.secretName=Bus_Auth", "/nats/auth/secretName"},
		"a secrets key Secret name refused": {"secrets.existingSecret=Sealing_Key", "/secrets/existingSecret"},
		"a misspelt secrets value":          {"secrets.existingSecrets=x", "existingSecrets"},
	} {
		_, err := manifest.Run(t, time.Minute, nil, helm, "template", "x", chart(t), "--set", c.set)
		if err == nil {
			t.Errorf("%s: rendered", name)
		} else if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: refused, but not for %q: %v", name, c.why, err)
		}
	}
	// The defaults pass the schema and the chart's own rules.
	if _, err := manifest.Run(t, time.Minute, nil, helm, "template", "x", chart(t)); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestNotes: the install notes say how to reach the gateway and start
// (helm renders them only for an install, which asks a cluster its version
// even in a dry run).
func TestNotes(t *testing.T) {
	env := manifest.Cluster(t)
	helm := manifest.Helm(t)
	out, err := manifest.Run(t, 2*time.Minute, nil, helm, "install", "eventflow", chart(t), "--namespace", "eventflow",
		"--dry-run=client", "--kubeconfig", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	notes := notesOf(t, out)
	for _, want := range []string{"port-forward service/eventflow-gateway 8080:80", "/v1/functions", "eventflow token --tenant demo", "rollout status statefulset/eventflow-nats",
		// The bus authentication's Secret, which helm cannot make.
		"eventflow nats-auth init --dir nats-auth",
		"kubectl -n eventflow create secret generic eventflow-nats-auth --from-file=nats-auth/secret",
		"eventflow nats-creds --keys nats-auth/keys --tenant demo"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "WARNING") {
		t.Errorf("NOTES warn with the defaults:\n%s", notes)
	}
	// The insecure opt-out says so.
	out, err = manifest.Run(t, 2*time.Minute, nil, helm, "install", "eventflow", chart(t), "--namespace", "eventflow",
		"--dry-run=client", "--kubeconfig", env.Kubeconfig, "--set", "nats.auth.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if notes := notesOf(t, out); !strings.Contains(notes, "WARNING: the bus has NO authentication") || strings.Contains(notes, "nats-auth init") {
		t.Errorf("NOTES with nats.auth.enabled=false do not warn (or still ask for the Secret):\n%s", notes)
	}
	// With an external NATS, the notes say it must trust the bundle.
	out, err = manifest.Run(t, 2*time.Minute, nil, helm, "install", "eventflow", chart(t), "--namespace", "eventflow",
		"--dry-run=client", "--kubeconfig", env.Kubeconfig, "--set", "nats.url=nats://nats.messaging:4222")
	if err != nil {
		t.Fatal(err)
	}
	if notes := notesOf(t, out); !strings.Contains(notes, "must trust it: include nats-auth/secret/auth.conf") {
		t.Errorf("NOTES with nats.url do not say the server must include auth.conf:\n%s", notes)
	}
}

func notesOf(t *testing.T, out []byte) string {
	t.Helper()
	i := strings.Index(string(out), "NOTES:")
	if i < 0 {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	return string(out[i:])
}

// TestAppliedToCluster applies every release, side by side, with
// server-side apply to a real API server, waits until the Deployments are
// Available and NATS is ready, and proves each ServiceAccount's rights.
func TestAppliedToCluster(t *testing.T) {
	env := manifest.Cluster(t)
	var mu sync.Mutex
	var pvs []string
	t.Cleanup(func() { manifest.DeletePVs(t, env, pvs) })
	for _, r := range releases(t) {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			rendered := manifest.HelmTemplate(t, r.release, r.namespace, r.args...)
			manifest.Namespace(t, env, r.namespace) // helm install --create-namespace
			if r.operatorSecret != "" {
				manifest.CreateSecret(t, env, r.namespace, r.operatorSecret, map[string]string{
					"jwt-secret": strings.Repeat("s", 40), "callback-secret": strings.Repeat("c", 40)})
			}
			if r.operatorKeySecret != "" {
				manifest.CreateSecret(t, env, r.namespace, r.operatorKeySecret, map[string]string{r.exp.SecretsKeyKey: strings.Repeat("k", 64)})
			}
			// What NOTES.txt tells the operator to make first.
			files, _ := manifest.NATSAuthBundle(t)
			manifest.CreateNATSAuthSecret(t, env, r.namespace, r.exp.NATSAuthSecret, files)
			manifest.Apply(t, env, rendered)
			wantSTS := 0
			if r.exp.NATSReplicas > 0 {
				wantSTS = 1
			}
			made := manifest.WaitReady(t, env, r.namespace, 4, wantSTS, 2*time.Minute)
			mu.Lock()
			pvs = append(pvs, made...)
			mu.Unlock()
			if len(made) != r.exp.NATSReplicas {
				t.Errorf("%d volumes provisioned for NATS, want %d", len(made), r.exp.NATSReplicas)
			}
			t.Logf("%s applied and ready in %s", r.name, time.Since(start).Round(time.Millisecond))
			manifest.CheckRBACLive(t, env, r.namespace, r.exp.Prefix, "eventflow-acme")
		})
	}
}

// TestInstallUpgradeKeepsSecrets: a real `helm install` and `helm upgrade`
// against the API server. Generated secrets (no auth values given) are read
// back on upgrade, so tokens and callback signatures stay valid.
func TestInstallUpgradeKeepsSecrets(t *testing.T) {
	env := manifest.Cluster(t)
	helm := manifest.Helm(t)
	const ns = "ef-install"
	install := func() {
		t.Helper()
		if _, err := manifest.Run(t, 3*time.Minute, nil, helm, "upgrade", "--install", "keep", chart(t), "--namespace", ns, "--create-namespace",
			"--kubeconfig", env.Kubeconfig, "--set", "nats.url=nats://nats.example:4222", "--wait", "--timeout", "2m"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) map[string][]byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := env.Admin.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Data
	}
	secret := func() map[string][]byte { t.Helper(); return get("keep-eventflow-secrets") }
	sealingKey := func() string { t.Helper(); return string(get("keep-eventflow-secrets-key")["secrets.key"]) }
	// The bus authentication's Secret, made first as NOTES.txt says.
	manifest.Namespace(t, env, ns)
	files, _ := manifest.NATSAuthBundle(t)
	manifest.CreateNATSAuthSecret(t, env, ns, "keep-eventflow-nats-auth", files)
	install()
	first := secret()
	firstKey := sealingKey()
	if len(firstKey) < 32 {
		t.Fatalf("generated secrets key of %d bytes, want 32 or more", len(firstKey))
	}
	if len(first["jwt-secret"]) < 32 || len(first["callback-secret"]) < 32 {
		t.Fatalf("generated secrets too short: %d and %d bytes", len(first["jwt-secret"]), len(first["callback-secret"]))
	}
	install()
	second := secret()
	for _, k := range []string{"jwt-secret", "callback-secret"} {
		if string(first[k]) != string(second[k]) {
			t.Errorf("%s changed on upgrade", k)
		}
	}
	if sealingKey() != firstKey {
		t.Error("the secrets key changed on upgrade: every stored secret would stop opening")
	}
	uninstall := func() {
		t.Helper()
		if _, err := manifest.Run(t, 3*time.Minute, nil, helm, "uninstall", "keep", "--namespace", ns, "--kubeconfig", env.Kubeconfig, "--wait"); err != nil {
			t.Fatal(err)
		}
	}
	// The secrets key outlives the release (helm.sh/resource-policy: keep),
	// as the sealed secrets in NATS's volumes do, and a reinstall of the
	// same release adopts it unchanged.
	uninstall()
	if sealingKey() != firstKey {
		t.Error("the secrets key changed on uninstall")
	}
	install()
	if sealingKey() != firstKey {
		t.Error("a reinstall replaced the kept secrets key: every stored secret would stop opening")
	}
	uninstall()
	// Only the deployer mounts it.
	for _, w := range manifest.Workloads(t, manifest.Parse(t, manifest.HelmTemplate(t, "keep", ns, "--set", "nats.url=nats://nats.example:4222"))) {
		mounts := slices.ContainsFunc(w.Template.Spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "keep-eventflow-secrets-key"
		})
		if mounts != (w.Name == "keep-eventflow-deployer") {
			t.Errorf("%s mounts the secrets key: %v", w.Name, mounts)
		}
	}
}

// TestToggles: the HPA, PDB and NetworkPolicy switches remove exactly
// their objects, and replicas come from the values then.
func TestToggles(t *testing.T) {
	objs := manifest.Parse(t, manifest.HelmTemplate(t, "eventflow", "eventflow",
		"--set", "gateway.autoscaling.enabled=false", "--set", "gateway.replicas=4",
		"--set", "invoker.pdb.enabled=false", "--set", "nats.pdb.enabled=false", "--set", "networkPolicy.enabled=false"))
	if objs.Get("HorizontalPodAutoscaler", "eventflow-gateway") != nil {
		t.Error("gateway HPA rendered with gateway.autoscaling.enabled=false")
	}
	if objs.Get("HorizontalPodAutoscaler", "eventflow-invoker") == nil {
		t.Error("invoker HPA gone with only the gateway's switched off")
	}
	if objs.Get("PodDisruptionBudget", "eventflow-invoker") != nil || objs.Get("PodDisruptionBudget", "eventflow-nats") != nil {
		t.Error("PDBs rendered with pdb.enabled=false")
	}
	if objs.Get("PodDisruptionBudget", "eventflow-gateway") == nil {
		t.Error("gateway PDB gone with only the others switched off")
	}
	if n := len(objs.Of("NetworkPolicy")); n != 0 {
		t.Errorf("%d NetworkPolicies with networkPolicy.enabled=false", n)
	}
	for _, w := range manifest.Workloads(t, objs) {
		if w.Name == "eventflow-gateway" && w.Replicas != 4 {
			t.Errorf("gateway replicas %d, want gateway.replicas=4", w.Replicas)
		}
	}

	// nats.auth: the documented insecure opt-out renders no credentials,
	// no NATS_CREDS and no include; a Secret name of the operator's is
	// the one every pod mounts.
	exp := manifest.Expect{Namespace: "eventflow", Prefix: "eventflow", ImageTag: "0.1.0", NATSReplicas: 3, StreamReplicas: 3, MinGateway: 2, NetworkPolicies: true,
		SecretsKeySecret: "eventflow-secrets-key"}
	t.Run("nats.auth.enabled=false", func(t *testing.T) {
		objs := manifest.Parse(t, manifest.HelmTemplate(t, "eventflow", "eventflow", "--set", "nats.auth.enabled=false"))
		manifest.Check(t, objs, exp)
		for _, w := range manifest.Workloads(t, objs) {
			for _, v := range w.Template.Spec.Volumes {
				if v.Secret != nil && v.Secret.SecretName != exp.SecretsKeySecret {
					t.Errorf("%s mounts Secret %s without bus authentication", w.Name, v.Secret.SecretName)
				}
			}
		}
	})
	t.Run("invoker.maxFunctionSeries", func(t *testing.T) {
		envOf := func(objs manifest.Objects, workload string) map[string]string {
			env := map[string]string{}
			for _, w := range manifest.Workloads(t, objs) {
				if w.Name == workload {
					for _, c := range w.Template.Spec.Containers {
						for _, e := range c.Env {
							env[e.Name] = e.Value
						}
					}
				}
			}
			return env
		}
		const name = "EVENTFLOW_INVOKER_MAX_FUNCTION_SERIES"
		objs := manifest.Parse(t, manifest.HelmTemplate(t, "eventflow", "eventflow", "--set", "invoker.maxFunctionSeries=250"))
		if got := envOf(objs, "eventflow-invoker")[name]; got != "250" {
			t.Errorf("invoker %s = %q, want 250", name, got)
		}
		if _, ok := envOf(objs, "eventflow-gateway")[name]; ok {
			t.Errorf("gateway has %s", name)
		}
		if _, ok := envOf(manifest.Parse(t, manifest.HelmTemplate(t, "eventflow", "eventflow")), "eventflow-invoker")[name]; ok {
			t.Errorf("invoker has %s with the default (0)", name)
		}
	})
	t.Run("nats.auth.secretName", func(t *testing.T) {
		objs := manifest.Parse(t, manifest.HelmTemplate(t, "eventflow", "eventflow", "--set", "nats.auth.secretName=bus-auth"))
		exp := exp
		exp.NATSAuthSecret, exp.ExternalSecrets = "bus-auth", natsAuth("bus-auth")
		manifest.Check(t, objs, exp)
	})
}

// TestNATSAuthConfig runs the chart's NATS configuration (3 servers, and
// 1) in a real nats-server, its files laid out as the pod mounts them with
// an operator's Secret from `eventflow nats-auth init` (manifest.StartNATS):
// a client without credentials is refused, every service's credentials
// connect and reach JetStream.
func TestNATSAuthConfig(t *testing.T) {
	for _, r := range releases(t) {
		if r.exp.NATSReplicas == 0 {
			continue // no bundled NATS
		}
		t.Run(r.name, func(t *testing.T) {
			r.exp.Namespace = r.namespace
			objs := manifest.Parse(t, manifest.HelmTemplate(t, r.release, r.namespace, r.args...))
			files, _ := manifest.NATSAuthBundle(t)
			url := manifest.StartNATS(t, objs, r.exp, map[string]map[string][]byte{r.exp.NATSAuthSecret: files})
			for _, svc := range busauth.Services {
				t.Run(svc, func(t *testing.T) { manifest.CheckBusAuth(t, url, files[busauth.CredsFile(svc)]) })
			}
		})
	}
}
