package kubernetes

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

func dep(replicas, ready, updated int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: replicas, ReadyReplicas: ready,
			UpdatedReplicas: updated, Conditions: conds},
	}
}

func TestObserveDeployment(t *testing.T) {
	if o := ObserveDeployment(dep(2, 2, 2), nil); o.Phase != function.PhaseReady || o.ReadyReplicas != 2 || o.Replicas != 2 {
		t.Errorf("all ready: %+v", o)
	}
	if o := ObserveDeployment(dep(2, 1, 2), nil); o.Phase != function.PhaseDeploying || o.Message != "1 of 2 replicas ready" {
		t.Errorf("half ready: %+v", o)
	}
	stale := dep(2, 2, 2)
	stale.Generation = 3
	if o := ObserveDeployment(stale, nil); o.Phase != function.PhaseDeploying {
		t.Errorf("controller has not seen the new generation: %+v", o)
	}
	if o := ObserveDeployment(dep(0, 0, 0), nil); o.Phase != function.PhaseReady || o.ReadyReplicas != 0 || o.Replicas != 0 {
		t.Errorf("zero replicas: %+v", o)
	}
	// Scaled to zero while the last pod drains (terminating pods are not
	// in status.replicas): Ready with none, its pod not a failure.
	draining := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-xyz", DeletionTimestamp: &metav1.Time{}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if o := ObserveDeployment(dep(0, 0, 0), []*corev1.Pod{draining}); o.Phase != function.PhaseReady || o.Replicas != 0 || o.Message != "" {
		t.Errorf("scaled to zero, pod draining: %+v", o)
	}
	// Scaled up from zero: Deploying until the new pods are ready.
	if o := ObserveDeployment(dep(2, 0, 2), nil); o.Phase != function.PhaseDeploying || o.Replicas != 2 || o.Message != "0 of 2 replicas ready" {
		t.Errorf("from zero: %+v", o)
	}
	// With no replicas set (never here, but the API's default is one).
	none := dep(1, 1, 1)
	none.Spec.Replicas = nil
	if o := ObserveDeployment(none, nil); o.Phase != function.PhaseReady || o.Replicas != 1 {
		t.Errorf("replicas unset: %+v", o)
	}
	stuck := dep(1, 0, 1, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`})
	if o := ObserveDeployment(stuck, nil); o.Phase != function.PhaseFailed || !strings.Contains(o.Message, "ProgressDeadlineExceeded") {
		t.Errorf("deadline: %+v", o)
	}
	crash := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-abc"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}}}}}
	if o := ObserveDeployment(dep(1, 0, 1), []*corev1.Pod{crash}); o.Phase != function.PhaseFailed || !strings.Contains(o.Message, "web-1-abc: CrashLoopBackOff") {
		t.Errorf("crashing pod: %+v", o)
	}
	failed := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1-def"}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
		ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}}}
	if o := ObserveDeployment(dep(1, 0, 1), []*corev1.Pod{failed}); o.Phase != function.PhaseFailed || !strings.Contains(o.Message, "exit code 2") {
		t.Errorf("failed pod: %+v", o)
	}
}

func TestSplitTimestamp(t *testing.T) {
	ts, line := splitTimestamp("2026-01-01T00:00:00.123456789Z hello world")
	if line != "hello world" || ts.Nanosecond() != 123456789 {
		t.Fatalf("%v %q", ts, line)
	}
	if _, line := splitTimestamp("no timestamp here"); line != "no timestamp here" {
		t.Fatalf("%q", line)
	}
}

// TestBehindApply: a Ready observation of a cached Deployment that does
// not carry the spec hash Apply last gave it (the informer cache lagging
// the API just after an Apply, its replicas those being replaced) is
// Deploying; one that carries it, one this runtime never applied, and one
// that is not Ready are left as they are.
func TestBehindApply(t *testing.T) {
	annotated := func(hash string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationSpecHash: hash}}}
	}
	ready := runtime.Observed{Phase: function.PhaseReady, ReadyReplicas: 2, Replicas: 2}
	if got := behindApply(ready, annotated("old"), "new"); got.Phase != function.PhaseDeploying || got.Message == "" || got.ReadyReplicas != 2 {
		t.Fatalf("stale cache: %+v", got)
	}
	for name, c := range map[string]struct {
		obs     runtime.Observed
		dep     *appsv1.Deployment
		applied string
	}{
		"caught up":     {ready, annotated("new"), "new"},
		"never applied": {ready, annotated("old"), ""},
		"failed":        {runtime.Observed{Phase: function.PhaseFailed, Message: "ReplicaFailure"}, annotated("old"), "new"},
	} {
		if got := behindApply(c.obs, c.dep, c.applied); got.Phase != c.obs.Phase || got.Message != c.obs.Message {
			t.Errorf("%s: %+v, want %+v", name, got, c.obs)
		}
	}
}
