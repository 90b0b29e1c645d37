package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

var rbacOnce sync.Once

// TestKubernetesJourney walks the user journey through the gateway's REST
// API with functions on a real Kubernetes control plane. The deployer,
// invoker and logstream run as separate processes, each with a token of its
// own ServiceAccount (not the admin certificate), so their RBAC is proven
// sufficient; the gateway has no Kubernetes credentials at all.
func TestKubernetesJourney(t *testing.T) {
	env := k8stest.Start(t)
	rbacOnce.Do(func() { env.InstallRBAC(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := natstest.Start(t)
	common := []string{"EVENTFLOW_RUNTIME=kubernetes", "EVENTFLOW_NAMESPACE_PREFIX=e2e-"}
	svcEnv := map[string][]string{}
	for _, s := range []string{"deployer", "invoker", "logstream"} {
		svcEnv[s] = append(common, "KUBECONFIG="+env.ServiceKubeconfig(t, s))
	}
	addrs := startServices(t, ns.ClientURL(), svcEnv)
	base := "http://" + addrs["gateway"]
	a := newClient(t, base, token(t, base, "k8s-a"))
	nsA := "e2e-k8s-a"
	logFile := env.ClusterLogs(t, nsA, "HELLO")
	admin := env.Admin

	// An http-mode function becomes a Deployment and a Service with the spec.
	r := a.do("POST", "/v1/functions", map[string]any{"name": "web", "image": "ghcr.io/acme/web:1", "replicas": 2,
		"command": []string{"/srv"}, "env": map[string]string{"GREETING": "hi"}, "invocation": map[string]any{"mode": "http"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("create web: %d %s", r.Status, r.Body)
	}
	if f := waitPhase(t, a, "web", "Ready"); f.Status.ReadyReplicas != 2 {
		t.Fatalf("web ready with %d replicas", f.Status.ReadyReplicas)
	}
	dep, err := admin.AppsV1().Deployments(nsA).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.Containers[0].Image != "ghcr.io/acme/web:1" ||
		dep.Spec.Template.Spec.Containers[0].Command[0] != "/srv" || dep.Spec.Template.Spec.Containers[0].Env[0].Value != "hi" {
		t.Fatalf("deployment: %+v %v", dep, err)
	}
	if _, err := admin.CoreV1().Services(nsA).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("service: %v", err)
	}
	// Invoked through the gateway, the bytes reach a pod's IP.
	for _, p := range podsOf(t, env, nsA, "k8s-a", "web") {
		k8stest.ServeAsPod(t, p)
	}
	if r := a.do("POST", "/v1/functions/web:invoke", "ping"); r.Status != 200 || !strings.HasPrefix(string(r.Body), "PING from web-") {
		t.Fatalf("http invoke: %d %s", r.Status, r.Body)
	}

	// A job-mode function: each invocation is a Job; its output the pod's log.
	if r := a.do("POST", "/v1/functions", map[string]any{"name": "upper", "image": "busybox", "command": []string{"tr", "a-z", "A-Z"}}); r.Status != 202 {
		t.Fatalf("create upper: %d %s", r.Status, r.Body)
	}
	waitPhase(t, a, "upper", "Ready")
	r = a.do("POST", "/v1/functions/upper:invoke", "hello")
	if r.Status != 200 || string(r.Body) != "HELLO\n" {
		t.Fatalf("sync job invoke: %d %q", r.Status, r.Body)
	}
	syncID := r.Header.Get("X-Invocation-Id")
	if jobs, err := admin.BatchV1().Jobs(nsA).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelInvocation + "=" + syncID}); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("job of sync invocation %s: %v %v", syncID, jobs, err)
	}
	r = a.do("POST", "/v1/functions/upper:invoke?async=true", "hello")
	var acc struct{ ID string }
	r.json(t, &acc)
	if inv := waitInvocation(t, a, acc.ID, 60*time.Second); inv.Status != "succeeded" || inv.Output != "HELLO\n" {
		t.Fatalf("async job invoke: %+v", inv)
	}

	// A function whose pods fail: the invocation fails with the exit code.
	if r := a.do("POST", "/v1/functions", map[string]any{"name": "broken", "image": "busybox", "command": []string{"false"},
		"labels": map[string]string{"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}}); r.Status != 202 {
		t.Fatalf("create broken: %d %s", r.Status, r.Body)
	}
	waitPhase(t, a, "broken", "Ready")
	if r := a.do("POST", "/v1/functions/broken:invoke", "x"); r.Status != http.StatusBadGateway || r.Header.Get("X-Exit-Code") != "1" {
		t.Fatalf("failing job: %d %s exit %q", r.Status, r.Body, r.Header.Get("X-Exit-Code"))
	}

	// Logs stream the pods' lines, live.
	testkit.Eventually(t, 30*time.Second, "web's pod lines in its logs", func() (bool, string) {
		r := a.do("GET", "/v1/functions/web/logs?tail=10", nil)
		return r.Status == 200 && strings.Contains(string(r.Body), "combined HELLO"), string(r.Body)
	})
	followLogs(t, base, a.token, "web", func() { k8stest.AppendLog(t, logFile, "a live line") }, "a live line")

	// Update changes the Deployment.
	if r := a.do("PUT", "/v1/functions/web", map[string]any{"image": "ghcr.io/acme/web:2", "replicas": 3,
		"command": []string{"/srv"}, "invocation": map[string]any{"mode": "http"}}); r.Status != 202 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 30*time.Second, "web at generation 2 with 3 ready", func() (bool, string) {
		var f fnView
		a.do("GET", "/v1/functions/web", nil).json(t, &f)
		return f.Status.ObservedGeneration == 2 && f.Status.Phase == "Ready" && f.Status.ReadyReplicas == 3, fmt.Sprintf("%+v", f.Status)
	})
	if dep, _ := admin.AppsV1().Deployments(nsA).Get(ctx, "web", metav1.GetOptions{}); dep.Spec.Template.Spec.Containers[0].Image != "ghcr.io/acme/web:2" {
		t.Fatal("update did not reach the Deployment")
	}

	// Drift: a Deployment deleted by hand is put back by the deployer.
	if err := admin.AppsV1().Deployments(nsA).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "deleted Deployment put back", func() (bool, string) {
		d, err := admin.AppsV1().Deployments(nsA).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.DeletionTimestamp == nil && *d.Spec.Replicas == 3, fmt.Sprint(err)
	})

	// Two tenants, two namespaces; neither sees the other's function.
	b := newClient(t, base, token(t, base, "k8s-b"))
	if r := b.do("POST", "/v1/functions", map[string]any{"name": "web", "image": "ghcr.io/bob/web:1", "replicas": 1, "invocation": map[string]any{"mode": "http"}}); r.Status != 202 {
		t.Fatalf("bob's web: %d %s", r.Status, r.Body)
	}
	waitPhase(t, b, "web", "Ready")
	if d, err := admin.AppsV1().Deployments("e2e-k8s-b").Get(ctx, "web", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "ghcr.io/bob/web:1" {
		t.Fatalf("bob's deployment: %v", err)
	}
	if r := b.do("GET", "/v1/functions", nil); strings.Contains(string(r.Body), "upper") || strings.Count(string(r.Body), `"name":`) != 1 {
		t.Fatalf("bob sees: %s", r.Body)
	}
	if r := b.do("DELETE", "/v1/functions/upper", nil); r.Status != 404 {
		t.Fatalf("bob deleting alice's function: %d", r.Status)
	}

	// Delete removes every object; the function 404s once they are gone.
	if r := a.do("DELETE", "/v1/functions/web", nil); r.Status != 202 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 60*time.Second, "web gone", func() (bool, string) {
		r := a.do("GET", "/v1/functions/web", nil)
		return r.Status == 404, fmt.Sprint(r.Status)
	})
	_, errD := admin.AppsV1().Deployments(nsA).Get(ctx, "web", metav1.GetOptions{})
	_, errS := admin.CoreV1().Services(nsA).Get(ctx, "web", metav1.GetOptions{})
	pods, _ := admin.CoreV1().Pods(nsA).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.ObjectLabels("k8s-a", "web")).String()})
	if !apierrors.IsNotFound(errD) || !apierrors.IsNotFound(errS) || len(pods.Items) != 0 {
		t.Fatalf("after delete: deployment %v, service %v, %d pods", errD, errS, len(pods.Items))
	}
	if _, err := admin.AppsV1().Deployments("e2e-k8s-b").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("deleting alice's web touched bob's: %v", err)
	}
}

func podsOf(t *testing.T, env *k8stest.Env, ns, tenant, fn string) []corev1.Pod {
	t.Helper()
	pods, err := env.Admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.ObjectLabels(tenant, fn)).String()})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}
