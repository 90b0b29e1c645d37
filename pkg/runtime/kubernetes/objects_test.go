package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares v's JSON with testdata/name.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func httpSpec() function.Spec {
	return function.Spec{
		Name: "web", Image: "ghcr.io/acme/web:1.2", Command: []string{"/app", "--serve"},
		Env: map[string]string{"Z_LAST": "z", "A_FIRST": "a"}, Scale: &function.Scale{Min: 0, Max: 3},
		Invocation: function.Invocation{Mode: function.ModeHTTP, Timeout: function.Duration(10 * time.Second)},
		Resources:  &function.Resources{Requests: map[string]string{"cpu": "100m"}, Limits: map[string]string{"memory": "128Mi"}},
		Labels:     map[string]string{"team": "search", LabelTenant: "spoofed"},
	}.WithDefaults()
}

func jobSpec() function.Spec {
	return function.Spec{Name: "upper", Image: "busybox:1.36", Command: []string{"tr", "a-z", "A-Z"},
		Invocation: function.Invocation{Timeout: function.Duration(1500 * time.Millisecond)}}.WithDefaults()
}

func TestDeploymentGolden(t *testing.T) {
	d, err := NewDeployment("ef-acme", "acme", httpSpec())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "deployment", d)
	// The function's labels cannot take over EventFlow's.
	if got := d.Spec.Template.Labels[LabelTenant]; got != "acme" {
		t.Fatalf("pod template tenant label %q, want acme", got)
	}
	// Replicas belong to the scaler's field manager (or the HPA): applying
	// the Deployment must never carry them.
	if d.Spec.Replicas != nil {
		t.Fatalf("the Deployment sets replicas %d", *d.Spec.Replicas)
	}
	// Drain: the pod leaves the endpoints while its preStop hook sleeps,
	// then has the function's timeout (10s) to finish, and a margin.
	c := d.Spec.Template.Spec.Containers[0]
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || *c.Lifecycle.PreStop.Sleep.Seconds != 3 {
		t.Fatalf("preStop: %+v", c.Lifecycle)
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 3+10+2 {
		t.Fatalf("terminationGracePeriodSeconds %d, want the sleep + the 10s timeout + 2", g)
	}
	long := httpSpec()
	long.Invocation.Timeout = function.Duration(15*time.Minute + 500*time.Millisecond)
	if g := TerminationGracePeriod(long); g != 3+901+2 {
		t.Fatalf("grace for a 15m0.5s timeout: %d", g)
	}
}

func TestCreateReplicas(t *testing.T) {
	three := int32(3)
	for _, tc := range []struct {
		name string
		spec function.Spec
		want int32 // -1: none (nil)
	}{
		{"min 0 starts with one", httpSpec(), 1},
		{"fixed count", function.Spec{Name: "f", Scale: &function.Scale{Min: 2, Max: 2}, Invocation: function.Invocation{Mode: function.ModeHTTP}}, 2},
		{"older replicas", function.Spec{Name: "f", Replicas: &three, Invocation: function.Invocation{Mode: function.ModeHTTP}}, 3},
		{"default", function.Spec{Name: "f", Invocation: function.Invocation{Mode: function.ModeHTTP}}, 1},
		{"queue metric", function.Spec{Name: "f", Scale: &function.Scale{Min: 2, Max: 9, Metric: function.MetricQueue}, Invocation: function.Invocation{Mode: function.ModeHTTP}}, 2},
		{"cpu: the HPA's", function.Spec{Name: "f", Scale: &function.Scale{Min: 2, Max: 9, Metric: function.MetricCPU}, Invocation: function.Invocation{Mode: function.ModeHTTP}}, -1},
		{"job mode", jobSpec(), -1},
	} {
		got := CreateReplicas(tc.spec.WithDefaults())
		if (got == nil) != (tc.want < 0) || (got != nil && *got != tc.want) {
			t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
		}
	}
}

func TestHPAGolden(t *testing.T) {
	spec := httpSpec()
	if NewHPA("ef-acme", "acme", spec) != nil {
		t.Fatal("metric concurrency: the scaler's, no HPA")
	}
	spec.Scale = &function.Scale{Min: 2, Max: 10, Metric: function.MetricQueue}
	if NewHPA("ef-acme", "acme", spec.WithDefaults()) != nil {
		t.Fatal("metric queue: the scaler's, no HPA")
	}
	spec.Scale = &function.Scale{Min: 2, Max: 10, Metric: function.MetricCPU, Target: 70}
	spec = spec.WithDefaults()
	h := NewHPA("ef-acme", "acme", spec)
	golden(t, "hpa", h)
	if *h.Spec.MinReplicas != 2 || *h.Spec.MaxReplicas != 10 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Fatalf("hpa bounds and target: %+v", h.Spec)
	}
	// The older autoscaling field maps to metric cpu, default target 80.
	old := httpSpec()
	old.Scale = nil
	old.Autoscaling = &function.Autoscaling{MinReplicas: 2, MaxReplicas: 10}
	if h := NewHPA("ef-acme", "acme", old.WithDefaults()); h == nil || *h.Spec.MinReplicas != 2 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
		t.Fatalf("older autoscaling: %+v", h)
	}
	if NewHPA("ef-acme", "acme", jobSpec()) != nil {
		t.Fatal("job mode: no HPA")
	}
}

func TestScaleObject(t *testing.T) {
	s := NewScale("ef-acme", "web", 0, "")
	if *s.Name != "web" || *s.Namespace != "ef-acme" || *s.Spec.Replicas != 0 || s.ResourceVersion != nil || *s.Kind != "Scale" {
		t.Fatalf("scale: %+v", s)
	}
	if s := NewScale("ef-acme", "web", 2, "42"); *s.ResourceVersion != "42" {
		t.Fatal("the resourceVersion precondition is lost")
	}
}

func TestOwnsReplicas(t *testing.T) {
	entry := func(manager, sub, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Subresource: sub, Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	withReplicas := `{"f:metadata":{"f:labels":{}},"f:spec":{"f:replicas":{},"f:template":{}}}`
	without := `{"f:metadata":{"f:labels":{}},"f:spec":{"f:template":{}}}`
	for _, tc := range []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		want    bool
	}{
		{"applied with replicas", []metav1.ManagedFieldsEntry{entry("eventflow", "", withReplicas)}, true},
		{"applied without", []metav1.ManagedFieldsEntry{entry("eventflow", "", without), entry("eventflow-scaler", "scale", `{"f:spec":{"f:replicas":{}}}`)}, false},
		{"another manager's", []metav1.ManagedFieldsEntry{entry("kubectl", "", withReplicas)}, false},
		{"updated, not applied", []metav1.ManagedFieldsEntry{func() metav1.ManagedFieldsEntry {
			e := entry("eventflow", "", withReplicas)
			e.Operation = metav1.ManagedFieldsOperationUpdate
			return e
		}()}, false},
		{"none", nil, false},
		{"not JSON", []metav1.ManagedFieldsEntry{entry("eventflow", "", "{")}, false},
	} {
		if got := ownsReplicas(tc.entries, "eventflow"); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServiceGolden(t *testing.T) { golden(t, "service", NewService("ef-acme", "acme", httpSpec())) }

func TestNetworkPolicyGolden(t *testing.T) {
	p := NewNetworkPolicy("ef-acme", "acme", "eventflow-system")
	golden(t, "networkpolicy", p)
	// Both selectors in each peer: invoker and gateway pods of the control
	// namespace only, not every pod there nor every such pod anywhere.
	if n := len(p.Spec.Ingress); n != 1 || len(p.Spec.Ingress[0].From) != 2 {
		t.Fatalf("want one rule with two peers: %+v", p.Spec.Ingress)
	}
	for i, component := range []string{"invoker", "gateway"} {
		peer := p.Spec.Ingress[0].From[i]
		if peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "eventflow-system" ||
			peer.PodSelector == nil || peer.PodSelector.MatchLabels[LabelComponent] != component || peer.PodSelector.MatchLabels[LabelPartOf] != "eventflow" {
			t.Errorf("peer %d: %+v", i, peer)
		}
	}
	var cur networkingv1.NetworkPolicy
	b, _ := json.Marshal(p)
	if err := json.Unmarshal(b, &cur); err != nil {
		t.Fatal(err)
	}
	if !policyCurrent(&cur, p) {
		t.Fatal("the policy as built must be current")
	}
	if policyCurrent(&cur, NewNetworkPolicy("ef-acme", "acme", "other")) {
		t.Fatal("a policy for another control namespace must not be current")
	}
	cur.Spec.Ingress = append(cur.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
	if policyCurrent(&cur, p) {
		t.Fatal("a policy widened by hand (allow all) must not be current")
	}
}

func TestPodTemplateGolden(t *testing.T) {
	pt, err := NewPodTemplate("ef-acme", "acme", jobSpec())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "podtemplate", pt)
}

func TestJobGolden(t *testing.T) {
	id := "019ab3c4d5e6f70123456789abcdef01"
	j, err := NewJob("ef-acme", "acme", jobSpec(), JobRun{ID: id, Payload: []byte("hello"), TTL: 300})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job-inline-payload", j)
	if *j.Spec.ActiveDeadlineSeconds != 2 || *j.Spec.BackoffLimit != 0 {
		t.Fatalf("deadline %d (want the 1.5s timeout rounded up), backoff %d", *j.Spec.ActiveDeadlineSeconds, *j.Spec.BackoffLimit)
	}
	j, err = NewJob("ef-acme", "acme", jobSpec(), JobRun{ID: id, PayloadSecret: "upper-019ab3c4d5e6-payload", TTL: 300})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job-secret-payload", j)
	// The payload's file is there: the mount is on the pod's container
	// (podSpec copies the container; a mount added to the original was lost).
	if m := j.Spec.Template.Spec.Containers[0].VolumeMounts; len(m) != 1 || *m[0].Name != "payload" || *m[0].MountPath != PayloadMountPath {
		t.Fatalf("payload mount: %+v", m)
	}
	s := NewPayloadSecret("ef-acme", "acme", "upper", id, []byte{0, 1, 2}, metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: *j.Name, UID: "uid-1"})
	golden(t, "payload-secret", s)
}

func TestHelpers(t *testing.T) {
	if PayloadInline(make([]byte, MaxInlinePayload+1)) || PayloadInline([]byte{0xff, 0xfe}) || !PayloadInline([]byte("text")) {
		t.Fatal("PayloadInline: large and binary payloads must go in a Secret")
	}
	long := strings.Repeat("f", 63)
	if n := JobName(long, "0123456789abcdef"); len(n) > 63 {
		t.Fatalf("JobName %q longer than 63", n)
	}
	a, b := httpSpec(), httpSpec()
	b.Env = map[string]string{"A_FIRST": "a", "Z_LAST": "changed"}
	if SpecHash(a) != SpecHash(httpSpec()) || SpecHash(a) == SpecHash(b) {
		t.Fatal("SpecHash must be stable for equal specs and differ for changed ones")
	}
	if _, err := NewDeployment("ns", "t", function.Spec{Name: "x", Resources: &function.Resources{Limits: map[string]string{"cpu": "lots"}}}); err == nil {
		t.Fatal("a bad quantity must be an error")
	}
}

// secretsSpec is an http-mode function naming two secrets.
func secretsSpec() function.Spec {
	s := httpSpec()
	s.Secrets = []string{"db-password", "api-key"}
	return s
}

// Values no object but the Secret may hold, in any encoding.
var secretValues = [][]byte{[]byte("s3cr3t-db-VALUE"), []byte("s3cr3t-api-VALUE")}

func testSecrets() []runtime.Secret {
	return []runtime.Secret{{Name: "db-password", Version: 3, Value: secretValues[0]}, {Name: "api-key", Version: 7, Value: secretValues[1]}}
}

// holdsNoValue fails if v's JSON holds a secret value, plain or base64.
func holdsNoValue(t *testing.T, what string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, val := range secretValues {
		if strings.Contains(string(b), string(val)) || strings.Contains(string(b), base64.StdEncoding.EncodeToString(val)) {
			t.Errorf("%s holds the value of a secret: %s", what, b)
		}
	}
}

// checkSecretsMount checks a pod spec mounts the function's Secret and
// says where, with nothing of the values.
func checkSecretsMount(t *testing.T, what string, ps *corev1ac.PodSpecApplyConfiguration, fn string) {
	t.Helper()
	var vol *corev1ac.VolumeApplyConfiguration
	for i := range ps.Volumes {
		if *ps.Volumes[i].Name == SecretsVolume {
			vol = &ps.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || *vol.Secret.SecretName != SecretsName(fn) || *vol.Secret.DefaultMode != 0o444 || vol.Secret.Items != nil {
		t.Fatalf("%s: secrets volume %+v", what, vol)
	}
	c := ps.Containers[0]
	mounts := 0
	for _, m := range c.VolumeMounts {
		if *m.Name == SecretsVolume {
			mounts++
			if *m.MountPath != runtime.SecretsMountPath || m.ReadOnly == nil || !*m.ReadOnly {
				t.Errorf("%s: mount %+v, want read-only at %s", what, m, runtime.SecretsMountPath)
			}
		}
	}
	if mounts != 1 {
		t.Errorf("%s: %d mounts of the secrets volume", what, mounts)
	}
	env := 0
	for _, e := range c.Env {
		if *e.Name == runtime.EnvSecretsDir {
			env++
			if e.Value == nil || *e.Value != runtime.SecretsMountPath {
				t.Errorf("%s: %s=%v", what, runtime.EnvSecretsDir, e.Value)
			}
		}
	}
	if env != 1 {
		t.Errorf("%s: %d %s variables", what, env, runtime.EnvSecretsDir)
	}
}

func TestSecretsObjects(t *testing.T) {
	spec := secretsSpec()
	secrets := testSecrets()
	version := runtime.SecretsVersion(secrets)
	if version != "api-key@7,db-password@3" {
		t.Fatalf("version %q", version)
	}

	s := NewSecret("ef-acme", "acme", spec.Name, secrets)
	if *s.Name != "web-secrets" || *s.Namespace != "ef-acme" || *s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("secret: %+v", s.ObjectMetaApplyConfiguration)
	}
	if len(s.Data) != 2 || string(s.Data["db-password"]) != string(secretValues[0]) || string(s.Data["api-key"]) != string(secretValues[1]) {
		t.Fatalf("secret data keys %v", slices.Sorted(maps.Keys(s.Data)))
	}
	if !maps.Equal(s.Labels, ObjectLabels("acme", "web")) || s.Annotations[AnnotationSecretsVersion] != version {
		t.Fatalf("secret labels %v, annotations %v", s.Labels, s.Annotations)
	}
	// The values are in the data alone: not in its labels or annotations.
	meta := *s
	meta.Data = nil
	holdsNoValue(t, "the Secret beside its data", meta)

	d, err := NewDeploymentWithSecrets("ef-acme", "acme", spec, version)
	if err != nil {
		t.Fatal(err)
	}
	checkSecretsMount(t, "deployment", d.Spec.Template.Spec, "web")
	if got := d.Spec.Template.Annotations[AnnotationSecretsVersion]; got != version {
		t.Fatalf("deployment template annotation %q, want %q", got, version)
	}
	holdsNoValue(t, "the Deployment", d)
	// A rotated secret changes the template (a roll); the spec hash, the
	// same spec's, does not.
	rotated := testSecrets()
	rotated[0].Version, rotated[0].Value = 4, []byte("s3cr3t-db-VALUE")
	d2, _ := NewDeploymentWithSecrets("ef-acme", "acme", spec, runtime.SecretsVersion(rotated))
	if d2.Spec.Template.Annotations[AnnotationSecretsVersion] == version || d2.Annotations[AnnotationSpecHash] != d.Annotations[AnnotationSpecHash] {
		t.Fatalf("rotation: template %v, object %v", d2.Spec.Template.Annotations, d2.Annotations)
	}

	job := jobSpec()
	job.Secrets = spec.Secrets
	pt, err := NewPodTemplateWithSecrets("ef-acme", "acme", job, version)
	if err != nil {
		t.Fatal(err)
	}
	checkSecretsMount(t, "pod template", pt.Template.Spec, "upper")
	if got := pt.Template.Annotations[AnnotationSecretsVersion]; got != version {
		t.Fatalf("pod template annotation %q", got)
	}
	holdsNoValue(t, "the PodTemplate", pt)
	// The invocation Jobs mount the Secret as the template does, beside a
	// payload Secret's volume.
	j, err := NewJob("ef-acme", "acme", job, JobRun{ID: "019ab3c4d5e6f70123456789abcdef01", PayloadSecret: "upper-019ab3c4d5e6-payload", TTL: 300})
	if err != nil {
		t.Fatal(err)
	}
	checkSecretsMount(t, "job", j.Spec.Template.Spec, "upper")
	if len(j.Spec.Template.Spec.Volumes) != 2 {
		t.Fatalf("job volumes %+v, want the secrets' and the payload's", j.Spec.Template.Spec.Volumes)
	}
	holdsNoValue(t, "the Job", j)

	// No secrets named: no volume, mount, variable or annotation (whatever
	// version is passed), so the objects are as before secrets existed.
	plain, _ := NewDeploymentWithSecrets("ef-acme", "acme", httpSpec(), version)
	base, _ := NewDeployment("ef-acme", "acme", httpSpec())
	pb, _ := json.Marshal(plain)
	bb, _ := json.Marshal(base)
	if string(pb) != string(bb) || plain.Spec.Template.Annotations != nil || len(plain.Spec.Template.Spec.Volumes) != 0 {
		t.Fatalf("a function without secrets: %s", pb)
	}
	if strings.Contains(string(pb), runtime.EnvSecretsDir) {
		t.Fatal("a function without secrets gets " + runtime.EnvSecretsDir)
	}
}

func TestSecretsFileMode(t *testing.T) {
	if m := secretsFileMode(podSpec(corev1ac.Container(), corev1.RestartPolicyNever)); m != 0o444 {
		t.Fatalf("no fsGroup: mode %o, want 444", m)
	}
	ps := corev1ac.PodSpec().WithSecurityContext(corev1ac.PodSecurityContext().WithFSGroup(2000))
	if m := secretsFileMode(ps); m != 0o440 {
		t.Fatalf("fsGroup: mode %o, want 440", m)
	}
}

func TestSecretsMatch(t *testing.T) {
	names := []string{"db-password", "api-key"}
	if err := secretsMatch(names, testSecrets()); err != nil {
		t.Fatal(err)
	}
	err := secretsMatch(names, testSecrets()[:1])
	if !errors.Is(err, runtime.ErrSecretNotFound) || !strings.Contains(err.Error(), `"api-key"`) {
		t.Fatalf("a secret left out: %v", err)
	}
	if err := secretsMatch(names, append(testSecrets(), testSecrets()[0])); err == nil {
		t.Fatal("a secret returned twice must be an error")
	}
	holdsNoValue(t, "secretsMatch's error", err.Error())
}

func TestApplyWithoutSecretReader(t *testing.T) {
	d := &Deployments{cfg: Config{}.withDefaults()}
	err := d.Apply(context.Background(), "acme", secretsSpec())
	if err == nil || !strings.Contains(err.Error(), "secrets are not configured") || !strings.Contains(err.Error(), "db-password") {
		t.Fatalf("Apply of a function naming secrets, no reader: %v", err)
	}
}
