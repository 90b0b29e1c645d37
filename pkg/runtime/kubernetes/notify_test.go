package kubernetes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// TestInvocationPodsAreNotChanges: the pods of invocation Jobs carry the
// function's labels, but their comings and goings must not make the
// deployer reconcile the function (a reconcile per pod event per
// invocation, seen in the Kubernetes benchmark).
func TestInvocationPodsAreNotChanges(t *testing.T) {
	d := &Deployments{changes: make(chan runtime.Ref, 4)}
	l := ObjectLabels("acme", "upper")
	d.notify(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: l}})
	if len(d.changes) != 1 {
		t.Fatal("a function pod's change must be reported")
	}
	<-d.changes
	l[LabelInvocation] = "0123456789abcdef0123456789abcdef"
	d.notify(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "upper-0123-x", Labels: l}})
	if len(d.changes) != 0 {
		t.Fatal("an invocation pod's change was reported as the function's")
	}
}
