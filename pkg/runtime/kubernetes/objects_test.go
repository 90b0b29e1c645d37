package kubernetes

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/pkg/function"
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
