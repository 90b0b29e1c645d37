package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestKubernetesScaleToZero walks scale to zero on the control plane test
// bed with the services as separate processes: a function with min 0 idles
// to a Deployment of 0 replicas (owned by the scaler's field manager); an
// async invocation wakes it (pods come Ready through kwok, a stand-in
// server answers on the pod's IP) and succeeds; load reports scale the
// Deployment up and their end back to zero; a function with metric cpu is
// left to its HPA.
func TestKubernetesScaleToZero(t *testing.T) {
	env := k8stest.Start(t)
	rbacOnce.Do(func() { env.InstallRBAC(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := natstest.Start(t)
	common := []string{"EVENTFLOW_RUNTIME=kubernetes", "EVENTFLOW_NAMESPACE_PREFIX=sz-"}
	svcEnv := map[string][]string{}
	for _, s := range []string{"deployer", "invoker", "logstream"} {
		svcEnv[s] = append(common, "KUBECONFIG="+env.ServiceKubeconfig(t, s))
	}
	svcEnv["deployer"] = append(svcEnv["deployer"], "EVENTFLOW_SCALE_INTERVAL=200ms", "EVENTFLOW_SCALE_REPORT_TTL=1s")
	addrs := startServices(t, ns.ClientURL(), svcEnv)
	base := "http://" + addrs["gateway"]
	a := newClient(t, base, token(t, base, "k8s-z"))
	nsZ := "sz-k8s-z"
	admin := env.Admin

	replicas := func(name string) (spec int32, owner string, err error) {
		d, err := admin.AppsV1().Deployments(nsZ).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, "", err
		}
		for _, m := range d.ManagedFields {
			if m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.Raw), `"f:replicas"`) {
				owner = m.Manager
			}
		}
		if d.Spec.Replicas != nil {
			spec = *d.Spec.Replicas
		}
		return spec, owner, nil
	}
	waitDeployment := func(name string, want int32) {
		t.Helper()
		testkit.Eventually(t, 60*time.Second, fmt.Sprintf("%s at %d replicas and pods", name, want), func() (bool, string) {
			n, owner, err := replicas(name)
			pods := podsOf(t, env, nsZ, "k8s-z", name)
			live := 0
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					live++
				}
			}
			var f fnView
			a.do("GET", "/v1/functions/"+name, nil).json(t, &f)
			return err == nil && n == want && live == int(want) && f.Status.Replicas == want && f.Status.ReadyReplicas == want,
				fmt.Sprintf("deployment %d (owner %s) %v, %d pods, status %+v", n, owner, err, live, f.Status)
		})
	}

	if r := a.do("POST", "/v1/functions", map[string]any{"name": "lazy", "image": "ghcr.io/acme/lazy:1", "command": []string{"/srv"},
		"invocation": map[string]any{"mode": "http", "timeout": "30s"},
		"scale":      map[string]any{"min": 0, "max": 3, "target": 1, "idleAfter": "1s"}}); r.Status != http.StatusAccepted {
		t.Fatalf("create lazy: %d %s", r.Status, r.Body)
	}
	waitPhase(t, a, "lazy", "Ready")
	waitDeployment("lazy", 0)
	if _, owner, _ := replicas("lazy"); owner != "eventflow-scaler" {
		t.Fatalf("spec.replicas owned by %q, want the scaler's field manager", owner)
	}

	// Woken by an async invocation: the pod's stand-in server starts when
	// the pod has its IP (kwok runs no container), so an attempt may find
	// nothing listening and be retried; the invocation succeeds.
	r := a.do("POST", "/v1/functions/lazy:invoke?async=true", "wake up")
	var acc struct{ ID string }
	r.json(t, &acc)
	if r.Status != http.StatusAccepted || acc.ID == "" {
		t.Fatalf("async invoke: %d %s", r.Status, r.Body)
	}
	served := map[string]bool{}
	testkit.Eventually(t, 60*time.Second, "a pod of lazy with an IP", func() (bool, string) {
		for _, p := range podsOf(t, env, nsZ, "k8s-z", "lazy") {
			if p.Status.PodIP != "" && p.DeletionTimestamp == nil && !served[p.Name] {
				k8stest.ServeAsPod(t, p)
				served[p.Name] = true
			}
		}
		return len(served) > 0, fmt.Sprint(served)
	})
	if inv := waitInvocation(t, a, acc.ID, 60*time.Second); inv.Status != "succeeded" || !strings.HasPrefix(inv.Output, "WAKE UP from lazy-") {
		t.Fatalf("the invocation that woke lazy: %+v", inv)
	}
	waitDeployment("lazy", 0)

	// The Deployment follows the scaler: 3 requests in flight at target 1
	// ask for 3 replicas (max); when the reports stop, back to zero.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	load, _ := json.Marshal(events.Load{Source: "test-1", InFlight: 3})
	testkit.Eventually(t, 60*time.Second, "lazy at 3 replicas under load", func() (bool, string) {
		_ = nc.Publish(events.ScaleSubject("k8s-z", "lazy"), load)
		n, owner, err := replicas("lazy")
		return err == nil && n == 3 && owner == "eventflow-scaler", fmt.Sprintf("%d %s %v", n, owner, err)
	})
	var f fnView
	a.do("GET", "/v1/functions/lazy", nil).json(t, &f)
	if d := f.Status.LastScale; d == nil || d.To != 3 || !strings.HasPrefix(d.Reason, "up") && !strings.HasPrefix(d.Reason, "from zero") {
		t.Fatalf("lastScale under load: %+v", d)
	}
	waitDeployment("lazy", 0)

	// Metric cpu: the HPA scales; EventFlow leaves its count alone.
	if r := a.do("POST", "/v1/functions", map[string]any{"name": "busy", "image": "ghcr.io/acme/busy:1", "command": []string{"/srv"},
		"invocation": map[string]any{"mode": "http"}, "scale": map[string]any{"min": 1, "max": 5, "metric": "cpu", "target": 60}}); r.Status != http.StatusAccepted {
		t.Fatalf("create busy: %d %s", r.Status, r.Body)
	}
	waitPhase(t, a, "busy", "Ready")
	hpa, err := admin.AutoscalingV2().HorizontalPodAutoscalers(nsZ).Get(ctx, "busy", metav1.GetOptions{})
	if err != nil || *hpa.Spec.MinReplicas != 1 || hpa.Spec.MaxReplicas != 5 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 {
		t.Fatalf("hpa: %+v %v", hpa, err)
	}
	// As the HPA would: 4 replicas through the scale subresource.
	sc, err := admin.AppsV1().Deployments(nsZ).GetScale(ctx, "busy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = 4
	if _, err := admin.AppsV1().Deployments(nsZ).UpdateScale(ctx, "busy", &autoscalingv1.Scale{ObjectMeta: sc.ObjectMeta, Spec: sc.Spec}, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
	// A change of the spec makes the deployer apply again; the count stays.
	if r := a.do("PUT", "/v1/functions/busy", map[string]any{"image": "ghcr.io/acme/busy:2", "command": []string{"/srv"},
		"invocation": map[string]any{"mode": "http"}, "scale": map[string]any{"min": 1, "max": 5, "metric": "cpu", "target": 60}}); r.Status != http.StatusAccepted {
		t.Fatalf("update busy: %d %s", r.Status, r.Body)
	}
	testkit.Eventually(t, 60*time.Second, "busy updated with the HPA's 4 replicas", func() (bool, string) {
		var f fnView
		a.do("GET", "/v1/functions/busy", nil).json(t, &f)
		d, err := admin.AppsV1().Deployments(nsZ).Get(ctx, "busy", metav1.GetOptions{})
		return err == nil && f.Status.ObservedGeneration == 2 && f.Status.Phase == "Ready" && f.Status.ReadyReplicas == 4 &&
				d.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/busy:2" && *d.Spec.Replicas == 4,
			fmt.Sprintf("%+v %v", f.Status, err)
	})
}
