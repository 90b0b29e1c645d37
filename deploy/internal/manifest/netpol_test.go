package manifest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The evaluator the manifest checks rely on, against Kubernetes' rules.
func TestAllowed(t *testing.T) {
	tcp := corev1.ProtocolTCP
	port := func(p int32) networkingv1.NetworkPolicyPort {
		v := intstr.FromInt32(p)
		return networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &v}
	}
	named := intstr.FromString("client")
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	own := map[string]string{"part-of": "eventflow"}
	pols := []networkingv1.NetworkPolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "nats", Namespace: "ef"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "nats"}},
			PolicyTypes: ingress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: own}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &named}, port(8222)},
			}, {
				From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ops"}},
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "prometheus"}}}},
				Ports: []networkingv1.NetworkPolicyPort{port(8222)},
			}},
		},
	}}
	nats := map[string]string{"app": "nats"}
	ports := []corev1.ContainerPort{{Name: "client", ContainerPort: 4222}, {Name: "monitor", ContainerPort: 8222}}
	same := Peer{Namespace: "ef", Labels: own}
	for _, c := range []struct {
		name   string
		pod    map[string]string
		port   int32
		peer   Peer
		policy []networkingv1.NetworkPolicy
		want   bool
	}{
		{"own pod, named port", nats, 4222, same, pols, true},
		{"own pod, numbered port", nats, 8222, same, pols, true},
		{"own pod, port not listed", nats, 6222, same, pols, false},
		{"same labels, other namespace", nats, 4222, Peer{Namespace: "tenant", Labels: own}, pols, false},
		{"stranger in the namespace", nats, 4222, Peer{Namespace: "ef", Labels: map[string]string{"x": "y"}}, pols, false},
		{"namespace and pod selector both match", nats, 8222, Peer{Namespace: "mon", NamespaceLabels: map[string]string{"team": "ops"}, Labels: map[string]string{"app": "prometheus"}}, pols, true},
		{"namespace matches, pod does not", nats, 8222, Peer{Namespace: "mon", NamespaceLabels: map[string]string{"team": "ops"}, Labels: map[string]string{"app": "x"}}, pols, false},
		{"pod selected by no policy", map[string]string{"app": "other"}, 1234, Peer{Namespace: "tenant"}, pols, true},
		{"policy of another namespace", nats, 4222, Peer{Namespace: "tenant"}, []networkingv1.NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere"}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: ingress}}}, true},
		{"deny all", nats, 4222, same, []networkingv1.NetworkPolicy{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ef"}, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: ingress}}}, false},
	} {
		if got := Allowed(t, c.policy, "ef", c.pod, ports, c.port, c.peer); got != c.want {
			t.Errorf("%s: allowed=%v, want %v", c.name, got, c.want)
		}
	}
}
