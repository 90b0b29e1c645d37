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
	r := int32(3)
	return function.Spec{
		Name: "web", Image: "ghcr.io/acme/web:1.2", Command: []string{"/app", "--serve"},
		Env: map[string]string{"Z_LAST": "z", "A_FIRST": "a"}, Replicas: &r,
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
}

func TestHPAGolden(t *testing.T) {
	spec := httpSpec()
	if NewHPA("ef-acme", "acme", spec) != nil {
		t.Fatal("no autoscaling asked: no HPA")
	}
	spec.Autoscaling = &function.Autoscaling{MinReplicas: 2, MaxReplicas: 10}
	spec = spec.WithDefaults()
	golden(t, "hpa", NewHPA("ef-acme", "acme", spec))
	d, err := NewDeployment("ef-acme", "acme", spec)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas != nil {
		t.Fatal("with an HPA the Deployment must leave replicas to it")
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
