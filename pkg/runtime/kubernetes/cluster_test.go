package kubernetes_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m)) }

var rbacOnce sync.Once

// cluster returns the test cluster with EventFlow's RBAC installed.
func cluster(t *testing.T) *k8stest.Env {
	t.Helper()
	env := k8stest.Start(t)
	rbacOnce.Do(func() { env.InstallRBAC(t) })
	return env
}

// as returns a client authenticated as the service's ServiceAccount.
func as(t *testing.T, env *k8stest.Env, service string) kubernetes.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", env.ServiceKubeconfig(t, service))
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.NewClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testConfig puts every runtime test's tenants under the "rt-" prefix.
var testConfig = kube.Config{NamespacePrefix: "rt-"}

// deployerAs is the runtime's deployer part with the deployer's RBAC.
func deployerAs(ctx context.Context, t *testing.T, env *k8stest.Env) *kube.Deployments {
	t.Helper()
	d, err := kube.NewDeployments(ctx, as(t, env, "deployer"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ready(t *testing.T, d *kube.Deployments, tenant, name string, replicas int32) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, name+" Ready", func() (bool, string) {
		o, found, err := d.Observe(context.Background(), tenant, name)
		return found && err == nil && o.Phase == function.PhaseReady && o.ReadyReplicas == replicas, strings.Join([]string{string(o.Phase), o.Message}, " ")
	})
}

// httpSpec is an http-mode function with a fixed count of instances.
func httpSpec(name string, replicas int32) function.Spec {
	return scaledSpec(name, function.Scale{Min: replicas, Max: replicas})
}

func scaledSpec(name string, sc function.Scale) function.Spec {
	return function.Spec{Name: name, Image: "ghcr.io/acme/" + name + ":1", Command: []string{"/srv", "--port=$(PORT)"},
		Env: map[string]string{"GREETING": "hi"}, Scale: &sc, Labels: map[string]string{"team": "search"},
		Invocation: function.Invocation{Mode: function.ModeHTTP}}.WithDefaults()
}

// replicasOwners are the field managers that own the Deployment's
// spec.replicas, with the subresource they wrote it through
// ("eventflow-scaler/scale").
func replicasOwners(t *testing.T, env *k8stest.Env, ns, name string) []string {
	t.Helper()
	dep, err := env.Admin.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, e := range dep.ManagedFields {
		var f struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if e.FieldsV1 != nil && json.Unmarshal(e.FieldsV1.Raw, &f) == nil {
			if _, ok := f.Spec["f:replicas"]; ok {
				owners = append(owners, e.Manager+"/"+e.Subresource)
			}
		}
	}
	sort.Strings(owners)
	return owners
}

func deploymentReplicas(t *testing.T, env *k8stest.Env, ns, name string) int32 {
	t.Helper()
	dep, err := env.Admin.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *dep.Spec.Replicas
}

// scaleAs sets the Deployment's replicas through its scale subresource as
// another field manager would (an HPA, kubectl scale).
func scaleAs(ctx context.Context, t *testing.T, env *k8stest.Env, ns, name, manager string, replicas int32) {
	t.Helper()
	// The controller updates the Deployment too: retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		scale, err := env.Admin.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		scale.Spec.Replicas = replicas
		_, err = env.Admin.AppsV1().Deployments(ns).UpdateScale(ctx, name, scale, metav1.UpdateOptions{FieldManager: manager})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDeploymentsAsDeployer: with only the deployer's RBAC, functions
// become Deployments + Services (http) or PodTemplates (job), reach Ready,
// are updated, put back after drift, and removed completely.
func TestDeploymentsAsDeployer(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	d := deployerAs(ctx, t, env)
	spec := httpSpec("web", 2)
	if err := d.Apply(ctx, "dep", spec); err != nil {
		t.Fatal(err)
	}
	ready(t, d, "dep", "web", 2)

	ns := "rt-dep"
	nsObj, err := env.Admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil || nsObj.Labels[kube.LabelTenant] != "dep" {
		t.Fatalf("tenant namespace: %v %v", nsObj, err)
	}
	dep, err := env.Admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if *dep.Spec.Replicas != 2 || c.Image != spec.Image || strings.Join(c.Command, " ") != "/srv --port=$(PORT)" ||
		c.Env[0].Name != "GREETING" || dep.Spec.Template.Labels["team"] != "search" || dep.Labels[kube.LabelManagedBy] != "eventflow" {
		t.Fatalf("deployment does not carry the spec: %+v", dep.Spec)
	}
	svc, err := env.Admin.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != kube.HTTPPort || svc.Spec.Selector[kube.LabelFunction] != "web" {
		t.Fatalf("service: %+v %v", svc, err)
	}

	// The Deployment was created with the count, under EventFlow's main
	// field manager (as every EventFlow before the scaler applied it).
	if o := replicasOwners(t, env, ns, "web"); strings.Join(o, ",") != "eventflow/" {
		t.Fatalf("replicas owned by %v after the create", o)
	}

	// Update: the Deployment follows the spec, and its replicas stay: the
	// apply that leaves them out first hands them to the scaler's field
	// manager (else the API server would default them back to one).
	spec.Image = "ghcr.io/acme/web:2"
	if err := d.Apply(ctx, "dep", spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the new image", func() (bool, string) {
		dep, _ := env.Admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return dep.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/web:2", "old image"
	})
	if n := deploymentReplicas(t, env, ns, "web"); n != 2 {
		t.Fatalf("replicas %d after an update, want 2 (kept)", n)
	}
	ready(t, d, "dep", "web", 2)
	if o := replicasOwners(t, env, ns, "web"); strings.Join(o, ",") != "eventflow-scaler/scale" {
		t.Fatalf("replicas owned by %v after the update, want the scaler alone", o)
	}
	// A new fixed count is the scaler's to set (the deployer calls Scale
	// after Apply); Apply alone leaves the count.
	spec = httpSpec("web", 3)
	spec.Image = "ghcr.io/acme/web:2"
	if err := d.Apply(ctx, "dep", spec); err != nil {
		t.Fatal(err)
	}
	if n := deploymentReplicas(t, env, ns, "web"); n != 2 {
		t.Fatalf("Apply changed replicas to %d", n)
	}
	if err := d.Scale(ctx, "dep", "web", 3); err != nil {
		t.Fatal(err)
	}
	ready(t, d, "dep", "web", 3)
	if o, _, _ := d.Observe(ctx, "dep", "web"); o.Replicas != 3 {
		t.Fatalf("Observed.Replicas %d, want 3", o.Replicas)
	}

	// Drift: scaled by hand. Apply leaves it (the count is not its
	// field); Scale, comparing with the cache, puts it back.
	scaleAs(ctx, t, env, ns, "web", "kubectl", 7)
	testkit.Eventually(t, 10*time.Second, "the cache to see the scale", func() (bool, string) {
		o, _, _ := d.Observe(ctx, "dep", "web")
		return o.Replicas == 7, fmt.Sprintf("%+v", o)
	})
	if err := d.Apply(ctx, "dep", spec); err != nil {
		t.Fatal(err)
	}
	if n := deploymentReplicas(t, env, ns, "web"); n != 7 {
		t.Fatalf("Apply changed a scale by hand to %d", n)
	}
	if err := d.Scale(ctx, "dep", "web", 3); err != nil {
		t.Fatal(err)
	}
	ready(t, d, "dep", "web", 3)
	// Deleted by hand: Apply puts it back with the spec's initial count.
	if err := env.Admin.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cache to see the delete", func() (bool, string) {
		_, found, _ := d.Observe(ctx, "dep", "web")
		return !found, "still found"
	})
	if err := d.Scale(ctx, "dep", "web", 3); !errors.Is(err, kube.ErrNotScalable) || !apierrors.IsNotFound(err) {
		t.Fatalf("Scale of a missing Deployment: %v, want ErrNotScalable and NotFound", err)
	}
	if err := d.Apply(ctx, "dep", spec); err != nil {
		t.Fatal(err)
	}
	ready(t, d, "dep", "web", 3)

	// Job mode: a PodTemplate and nothing running; switching modes removes
	// the Deployment and Service.
	job := function.Spec{Name: "web", Image: "busybox", Command: []string{"tr", "a-z", "A-Z"}}.WithDefaults()
	if err := d.Apply(ctx, "dep", job); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "deployment gone after the switch to job mode", func() (bool, string) {
		_, errD := env.Admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		_, errS := env.Admin.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(errD) && apierrors.IsNotFound(errS), "still there"
	})
	if _, err := env.Admin.CoreV1().PodTemplates(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod template: %v", err)
	}
	ready(t, d, "dep", "web", 0)

	refs, _ := d.List(ctx)
	if !containsRef(refs, runtime.Ref{Tenant: "dep", Name: "web"}) {
		t.Fatalf("List = %v", refs)
	}
	if err := d.Remove(ctx, "dep", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CoreV1().PodTemplates(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod template after Remove: %v", err)
	}
	if _, found, _ := d.Observe(ctx, "dep", "web"); found {
		t.Fatal("Observe finds a removed function")
	}
}

// TestAutoscalingAsDeployer: a spec with scale metric cpu gets an HPA
// that owns the Deployment's replicas: Apply leaves them to it and Scale
// refuses; without it, the HPA goes and the scaler sets the count again.
func TestAutoscalingAsDeployer(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	d := deployerAs(ctx, t, env)
	const ns = "rt-hpa"
	spec := scaledSpec("auto", function.Scale{Min: 3, Max: 6, Metric: function.MetricCPU, Target: 60})
	if err := d.Apply(ctx, "hpa", spec); err != nil {
		t.Fatal(err)
	}
	hpa, err := env.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "auto", metav1.GetOptions{})
	if err != nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 6 || hpa.Spec.ScaleTargetRef.Name != "auto" ||
		len(hpa.Spec.Metrics) != 1 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 {
		t.Fatalf("hpa: %+v %v", hpa, err)
	}
	// The HPA controller raises the Deployment to its minimum.
	ready(t, d, "hpa", "auto", 3)
	testkit.Eventually(t, 10*time.Second, "the cache to see the hpa", func() (bool, string) {
		err := d.Scale(ctx, "hpa", "auto", 1)
		return errors.Is(err, kube.ErrNotScalable), fmt.Sprint(err)
	})

	// The HPA scales (its own field manager, through the scale
	// subresource); a changed spec's Apply leaves the count alone.
	scaleAs(ctx, t, env, ns, "auto", "horizontal-pod-autoscaler", 5)
	ready(t, d, "hpa", "auto", 5)
	spec.Env = map[string]string{"GREETING": "hello"}
	spec.Scale.Max = 7
	if err := d.Apply(ctx, "hpa", spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the hpa's new max", func() (bool, string) {
		hpa, err := env.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "auto", metav1.GetOptions{})
		return err == nil && hpa.Spec.MaxReplicas == 7, fmt.Sprint(err)
	})
	if n := deploymentReplicas(t, env, ns, "auto"); n != 5 {
		t.Fatalf("replicas %d after Apply, want the HPA's 5", n)
	}
	ready(t, d, "hpa", "auto", 5)

	// Back to EventFlow's scaler: the HPA goes, Scale sets the count.
	spec = scaledSpec("auto", function.Scale{Min: 1, Max: 1})
	if err := d.Apply(ctx, "hpa", spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "hpa deleted", func() (bool, string) {
		_, err := env.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "auto", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	// The HPA controller may scale once more while its HPA goes; the
	// deployer's scaler sets the count on every change, as this loop does.
	testkit.Eventually(t, 30*time.Second, "back to the scaler's count", func() (bool, string) {
		if err := d.Scale(ctx, "hpa", "auto", 1); err != nil {
			return false, err.Error()
		}
		o, _, _ := d.Observe(ctx, "hpa", "auto")
		return o.Phase == function.PhaseReady && o.ReadyReplicas == 1, fmt.Sprintf("%+v", o)
	})
	if err := d.Remove(ctx, "hpa", "auto"); err != nil {
		t.Fatal(err)
	}
}

// TestScaleToZeroAsDeployerAndInvoker: the from-zero journey with pods
// coming Ready through kwok. A function with scale {min 0, max 4} starts
// with one pod; Scale(0) leaves a Ready function with none; an invoker
// waiting for it (WaitReady) is woken by the pods of Scale(2) and invokes
// one; Scale(0) again removes the pods. The scaler's field manager owns
// the replicas throughout, and Apply leaves them.
func TestScaleToZeroAsDeployerAndInvoker(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	d := deployerAs(ctx, t, env)
	const ns, tenant = "rt-zero", "zero"
	spec := scaledSpec("cold", function.Scale{Min: 0, Max: 4})
	if err := d.Apply(ctx, tenant, spec); err != nil {
		t.Fatal(err)
	}
	ready(t, d, tenant, "cold", 1) // the initial count
	pods := func() []corev1.Pod {
		t.Helper()
		l, err := env.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.ObjectLabels(tenant, "cold")).String()})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	dep, err := env.Admin.AppsV1().Deployments(ns).Get(ctx, "cold", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := dep.Spec.Template.Spec; ps.Containers[0].Lifecycle == nil || ps.Containers[0].Lifecycle.PreStop == nil ||
		ps.Containers[0].Lifecycle.PreStop.Sleep == nil || *ps.TerminationGracePeriodSeconds != kube.TerminationGracePeriod(spec) {
		t.Fatalf("no drain in the pod spec: %+v", ps)
	}

	toZero := func(what string) {
		t.Helper()
		if err := d.Scale(ctx, tenant, "cold", 0); err != nil {
			t.Fatal(err)
		}
		if n := deploymentReplicas(t, env, ns, "cold"); n != 0 {
			t.Fatalf("%s: replicas %d", what, n)
		}
		testkit.Eventually(t, 60*time.Second, what+": pods gone", func() (bool, string) {
			ps := pods()
			return len(ps) == 0, fmt.Sprintf("%d pods", len(ps))
		})
		testkit.Eventually(t, 10*time.Second, what+": Ready with none", func() (bool, string) {
			o, found, err := d.Observe(ctx, tenant, "cold")
			return found && err == nil && o.Phase == function.PhaseReady && o.ReadyReplicas == 0 && o.Replicas == 0 && len(o.Endpoints) == 0,
				fmt.Sprintf("%+v %v", o, err)
		})
	}
	toZero("scaled to zero")
	// The hand-over of replicas in Apply is a compare-and-set: a scale
	// with a resourceVersion that is not the Deployment's is refused.
	if _, err := env.Admin.AppsV1().Deployments(ns).ApplyScale(ctx, "cold", kube.NewScale(ns, "cold", 3, "1"),
		metav1.ApplyOptions{FieldManager: "eventflow-scaler", Force: true}); !apierrors.IsConflict(err) {
		t.Fatalf("scale with a stale resourceVersion: %v, want a conflict", err)
	}
	if o := replicasOwners(t, env, ns, "cold"); strings.Join(o, ",") != "eventflow-scaler/scale" {
		t.Fatalf("replicas owned by %v, want the scaler alone", o)
	}
	// A changed spec is applied; the count stays zero.
	spec.Env = map[string]string{"GREETING": "hello"}
	if err := d.Apply(ctx, tenant, spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the new env", func() (bool, string) {
		dep, _ := env.Admin.AppsV1().Deployments(ns).Get(ctx, "cold", metav1.GetOptions{})
		return dep.Spec.Template.Spec.Containers[0].Env[0].Value == "hello", "old env"
	})
	if n := deploymentReplicas(t, env, ns, "cold"); n != 0 {
		t.Fatalf("Apply changed the count to %d", n)
	}

	iv, err := kube.NewInvoker(ctx, as(t, env, "invoker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iv.Invoke(ctx, tenant, spec, runtime.InvokeRequest{ID: events.NewInvocationID()}); !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Fatalf("invoke at zero: %v, want ErrNoReadyInstance", err)
	}
	// With no pod, WaitReady waits, and ends with its context.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if err := iv.WaitReady(short, tenant, "cold"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady with no pod: %v", err)
	}
	cancel()
	woken := make(chan error, 1)
	go func() { woken <- iv.WaitReady(ctx, tenant, "cold") }()
	select {
	case err := <-woken:
		t.Fatalf("WaitReady returned before any pod: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	start := time.Now()
	if err := d.Scale(ctx, tenant, "cold", 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woken:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("WaitReady not woken by the pods of Scale(2)")
	}
	t.Logf("from zero to a ready pod in the invoker's cache: %v", time.Since(start).Round(time.Millisecond))
	ready(t, d, tenant, "cold", 2)
	if o := replicasOwners(t, env, ns, "cold"); strings.Join(o, ",") != "eventflow-scaler/scale" {
		t.Fatalf("replicas owned by %v, want the scaler alone", o)
	}
	// Ready already: WaitReady returns at once.
	if err := iv.WaitReady(ctx, tenant, "cold"); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods() {
		k8stest.ServeAsPod(t, p)
	}
	res, err := iv.Invoke(ctx, tenant, spec, runtime.InvokeRequest{ID: events.NewInvocationID(), Payload: []byte("wake")})
	if err != nil || !res.Succeeded || !strings.HasPrefix(string(res.Output), "WAKE from cold-") {
		t.Fatalf("invoke after the wake: %+v %v", res, err)
	}
	// Scaling to a count the cache shows is no write.
	dep, _ = env.Admin.AppsV1().Deployments(ns).Get(ctx, "cold", metav1.GetOptions{})
	testkit.Eventually(t, 10*time.Second, "the cache to see 2", func() (bool, string) {
		o, _, _ := d.Observe(ctx, tenant, "cold")
		return o.Replicas == 2, fmt.Sprintf("%+v", o)
	})
	if err := d.Scale(ctx, tenant, "cold", 2); err != nil {
		t.Fatal(err)
	}
	if again, _ := env.Admin.AppsV1().Deployments(ns).Get(ctx, "cold", metav1.GetOptions{}); again.Generation != dep.Generation {
		t.Fatalf("Scale to the current count wrote: generation %d → %d", dep.Generation, again.Generation)
	}

	toZero("scaled to zero again")
	if _, err := iv.Invoke(ctx, tenant, spec, runtime.InvokeRequest{ID: events.NewInvocationID()}); !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Fatalf("invoke at zero again: %v, want ErrNoReadyInstance", err)
	}
	if err := d.Remove(ctx, tenant, "cold"); err != nil {
		t.Fatal(err)
	}
}

// TestNetworkPolicyAsDeployer: with only the deployer's RBAC, a tenant's
// namespace gets the policy that lets only the control namespace's invoker
// pods reach its function pods; deleted or widened by hand, the change is
// reported as the tenant's functions' and the next Apply puts it back.
func TestNetworkPolicyAsDeployer(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	cfg := testConfig
	cfg.ControlNamespace = "ef-control"
	d, err := kube.NewDeployments(ctx, as(t, env, "deployer"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fn := function.Spec{Name: "iso", Image: "busybox", Command: []string{"cat"}}.WithDefaults()
	if err := d.Apply(ctx, "pol", fn); err != nil {
		t.Fatal(err)
	}
	const ns = "rt-pol"
	pols := env.Admin.NetworkingV1().NetworkPolicies(ns)
	want := kube.NewNetworkPolicy(ns, "pol", "ef-control")
	check := func(what string) {
		t.Helper()
		p, err := pols.Get(ctx, kube.NetworkPolicyName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// As the API server stores it (defaults and all), it is the policy
		// the deployer builds: it is not applied again on every reconcile.
		if !kube.PolicyCurrent(p, want) || p.Labels[kube.LabelTenant] != "pol" {
			t.Fatalf("%s: policy %+v", what, p)
		}
		s := p.Spec
		if s.PodSelector.MatchLabels[kube.LabelManagedBy] != kube.ManagedBy || len(s.PolicyTypes) != 1 || s.PolicyTypes[0] != "Ingress" ||
			len(s.Ingress) != 1 || len(s.Ingress[0].From) != 2 || len(s.Ingress[0].Ports) != 1 || s.Ingress[0].Ports[0].Port.IntValue() != kube.HTTPPort {
			t.Fatalf("%s: spec %+v", what, s)
		}
		for i, component := range []string{"invoker", "gateway"} {
			peer := s.Ingress[0].From[i]
			if peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ef-control" ||
				peer.PodSelector == nil || peer.PodSelector.MatchLabels["app.kubernetes.io/component"] != component {
				t.Fatalf("%s: peer %+v", what, peer)
			}
		}
	}
	check("after Apply")
	ref := runtime.Ref{Tenant: "pol", Name: "iso"}
	// Once the cache holds the PodTemplate its events are out: drop them,
	// so only what happens to the policy from here on is seen.
	testkit.Eventually(t, 10*time.Second, "the cache to see the function", func() (bool, string) {
		_, found, err := d.Observe(ctx, "pol", "iso")
		return found, fmt.Sprint(err)
	})
	drain := func() {
		for {
			select {
			case <-d.Changes():
			default:
				return
			}
		}
	}
	// changed waits for the function on Changes (the deployer's queue);
	// the cache has seen the change by then.
	changed := func(what string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case r := <-d.Changes():
				if r == ref {
					return
				}
			case <-deadline:
				t.Fatalf("%s: %v not reported on Changes", what, ref)
			}
		}
	}

	drain()
	if err := pols.Delete(ctx, kube.NetworkPolicyName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	changed("policy deleted")
	if err := d.Apply(ctx, "pol", fn); err != nil {
		t.Fatal(err)
	}
	check("after the delete")

	// Widened by hand to let everything in: reported, and narrowed again.
	drain()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pols.Get(ctx, kube.NetworkPolicyName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		_, err = pols.Update(ctx, p, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	changed("policy widened")
	if err := d.Apply(ctx, "pol", fn); err != nil {
		t.Fatal(err)
	}
	check("after the edit")
	if err := d.Remove(ctx, "pol", "iso"); err != nil {
		t.Fatal(err)
	}
}

func containsRef(refs []runtime.Ref, r runtime.Ref) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

// TestJobInvocationsAsInvoker: a job-mode invocation is one Job, its
// output the pod's log; a retried invocation reuses its Job; large
// payloads go in a Secret owned by the Job; a failing pod gives its exit
// code.
func TestJobInvocationsAsInvoker(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	d := deployerAs(ctx, t, env)
	spec := function.Spec{Name: "upper", Image: "busybox", Command: []string{"tr", "a-z", "A-Z"}}.WithDefaults()
	if err := d.Apply(ctx, "jobs", spec); err != nil {
		t.Fatal(err)
	}
	ns := "rt-jobs"
	env.ClusterLogs(t, ns, "HELLO")
	iv, err := kube.NewInvoker(ctx, as(t, env, "invoker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	id := events.NewInvocationID()
	res, err := iv.Invoke(ctx, "jobs", spec, runtime.InvokeRequest{ID: id, Payload: []byte("hello")})
	if err != nil || !res.Succeeded || string(res.Output) != "HELLO\n" || res.ExitCode == nil || *res.ExitCode != 0 {
		t.Fatalf("invoke: %+v %v", res, err)
	}
	jobs, err := env.Admin.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelInvocation + "=" + id})
	if err != nil || len(jobs.Items) != 1 {
		t.Fatalf("jobs for the invocation: %v %v", jobs, err)
	}
	j := jobs.Items[0]
	env0 := map[string]string{}
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		env0[e.Name] = e.Value
	}
	if *j.Spec.BackoffLimit != 0 || *j.Spec.ActiveDeadlineSeconds != 30 || j.Spec.TTLSecondsAfterFinished == nil ||
		env0["EVENTFLOW_PAYLOAD"] != "hello" || env0["EVENTFLOW_INVOCATION_ID"] != id {
		t.Fatalf("job spec: %+v env %v", j.Spec, env0)
	}
	// The same invocation again (a redelivery) finds its Job: no second run.
	res, err = iv.Invoke(ctx, "jobs", spec, runtime.InvokeRequest{ID: id, Payload: []byte("hello")})
	if err != nil || !res.Succeeded {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	if jobs, _ := env.Admin.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelInvocation + "=" + id}); len(jobs.Items) != 1 {
		t.Fatalf("%d jobs after a repeat, want 1", len(jobs.Items))
	}

	// A payload too large for an env var goes in a Secret owned by the Job.
	big := []byte(strings.Repeat("x", kube.MaxInlinePayload+1))
	id2 := events.NewInvocationID()
	if res, err := iv.Invoke(ctx, "jobs", spec, runtime.InvokeRequest{ID: id2, Payload: big}); err != nil || !res.Succeeded {
		t.Fatalf("large payload: %+v %v", res, err)
	}
	secrets, err := env.Admin.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelInvocation + "=" + id2})
	if err != nil || len(secrets.Items) != 1 || len(secrets.Items[0].Data["payload"]) != len(big) ||
		len(secrets.Items[0].OwnerReferences) != 1 || secrets.Items[0].OwnerReferences[0].Kind != "Job" {
		t.Fatalf("payload secret: %+v %v", secrets, err)
	}

	// A pod that fails (kwok's chaos stage, chosen by a label of the spec).
	failing := spec
	failing.Name = "fails"
	failing.Labels = map[string]string{"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}
	if err := d.Apply(ctx, "jobs", failing); err != nil {
		t.Fatal(err)
	}
	res, err = iv.Invoke(ctx, "jobs", failing, runtime.InvokeRequest{ID: events.NewInvocationID()})
	if err != nil || res.Succeeded || res.ExitCode == nil || *res.ExitCode != 1 || !strings.Contains(res.Error, "BackoffLimitExceeded") {
		t.Fatalf("failing pod: %+v %v", res, err)
	}
}

// TestHTTPInvocationsAsInvoker: an http-mode invocation is a POST to a
// ready pod of the function, round robin.
func TestHTTPInvocationsAsInvoker(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	d := deployerAs(ctx, t, env)
	spec := httpSpec("echo", 2)
	if err := d.Apply(ctx, "web", spec); err != nil {
		t.Fatal(err)
	}
	ready(t, d, "web", "echo", 2)
	pods, err := env.Admin.CoreV1().Pods("rt-web").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.ObjectLabels("web", "echo")).String()})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods: %v %v", pods, err)
	}
	for _, p := range pods.Items {
		k8stest.ServeAsPod(t, p)
	}
	iv, err := kube.NewInvoker(ctx, as(t, env, "invoker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		res, err := iv.Invoke(ctx, "web", spec, runtime.InvokeRequest{ID: events.NewInvocationID(), Payload: []byte("ping")})
		if err != nil || !res.Succeeded || !strings.HasPrefix(string(res.Output), "PING from echo-") || res.ContentType != "text/plain" {
			t.Fatalf("http invoke: %+v %v", res, err)
		}
		seen[strings.TrimPrefix(string(res.Output), "PING from ")] = true
	}
	if len(seen) != 2 {
		t.Fatalf("invocations reached %v; want both pods", seen)
	}
	zero := httpSpec("idle", 0)
	if err := d.Apply(ctx, "web", zero); err != nil {
		t.Fatal(err)
	}
	if _, err := iv.Invoke(ctx, "web", zero, runtime.InvokeRequest{ID: events.NewInvocationID()}); !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Fatalf("no pods: %v, want ErrNoReadyInstance", err)
	}
}

// TestLogsAsLogstream: logstream follows a function's pods and sends their
// lines, tagged with the pod, and new lines as they are written.
func TestLogsAsLogstream(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	file := env.ClusterLogs(t, "rt-logs", "first line")
	ls := kube.NewLogSource(as(t, env, "logstream"), testConfig)
	lines := make(chan events.LogLine, 100)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ls.FollowLogs(fctx, lines) }()
	defer func() { stop(); <-done }()

	d := deployerAs(ctx, t, env)
	if err := d.Apply(ctx, "logs", httpSpec("talker", 1)); err != nil {
		t.Fatal(err)
	}
	want := func(text string) events.LogLine {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l := <-lines:
				if l.Line == text {
					return l
				}
			case <-deadline:
				t.Fatalf("no log line %q within 30s", text)
			}
		}
	}
	l := want("first line")
	if l.Tenant != "logs" || l.Function != "talker" || !strings.HasPrefix(l.Instance, "talker-") || l.Stream != kube.StreamCombined {
		t.Fatalf("line %+v", l)
	}
	k8stest.AppendLog(t, file, "live line")
	if l2 := want("live line"); l2.Instance != l.Instance {
		t.Fatalf("live line from %s, want %s", l2.Instance, l.Instance)
	}
}

// TestRBACRefusesWhatIsNotNeeded: each service account is refused what its
// service does not need (the tests above prove what it has is enough).
func TestRBACRefusesWhatIsNotNeeded(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		service, verb, group, resource, sub string
		allowed                             bool
	}{
		{"gateway", "list", "", "pods", "", false},
		{"gateway", "get", "apps", "deployments", "", false},
		{"deployer", "patch", "apps", "deployments", "", true},
		{"deployer", "patch", "apps", "deployments", "scale", true},
		{"deployer", "update", "apps", "deployments", "scale", false},
		{"invoker", "patch", "apps", "deployments", "scale", false},
		{"deployer", "get", "", "pods", "log", false},
		{"deployer", "create", "batch", "jobs", "", false},
		{"deployer", "get", "", "secrets", "", false},
		{"deployer", "list", "", "secrets", "", false},
		{"deployer", "watch", "", "secrets", "", false},
		{"deployer", "create", "", "secrets", "", true},
		{"deployer", "patch", "", "secrets", "", true},
		{"deployer", "delete", "", "secrets", "", true},
		{"deployer", "patch", "networking.k8s.io", "networkpolicies", "", true},
		{"deployer", "delete", "networking.k8s.io", "networkpolicies", "", false},
		{"invoker", "create", "batch", "jobs", "", true},
		{"invoker", "create", "", "secrets", "", true},
		{"invoker", "get", "", "secrets", "", false},
		{"invoker", "list", "", "secrets", "", false},
		{"invoker", "delete", "apps", "deployments", "", false},
		{"invoker", "create", "", "namespaces", "", false},
		{"logstream", "get", "", "pods", "log", true},
		{"logstream", "create", "batch", "jobs", "", false},
		{"logstream", "list", "", "secrets", "", false},
		{"logstream", "delete", "", "pods", "", false},
	} {
		sar, err := env.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:eventflow:eventflow-" + tc.service,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:eventflow", "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "rt-anything", Verb: tc.verb, Group: tc.group,
				Resource: tc.resource, Subresource: tc.sub},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s %s %s/%s %s: allowed=%v, want %v", tc.service, tc.verb, tc.group, tc.resource, tc.sub, sar.Status.Allowed, tc.allowed)
		}
	}
}

// mapSecrets is a SecretReader over a map (tenant → name → secret): the
// test's input, as the deployer's reader of the secrets bucket would give.
type mapSecrets struct {
	mu sync.Mutex
	m  map[string]map[string]runtime.Secret
}

func (r *mapSecrets) ReadSecrets(_ context.Context, tenant string, names []string) ([]runtime.Secret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Secret, 0, len(names))
	for _, n := range names {
		s, ok := r.m[tenant][n]
		if !ok {
			return nil, fmt.Errorf("secret %q of tenant %s: %w", n, tenant, runtime.ErrSecretNotFound)
		}
		out = append(out, s)
	}
	return out, nil
}

func (r *mapSecrets) put(tenant string, s runtime.Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[tenant] == nil {
		r.m[tenant] = map[string]runtime.Secret{}
	}
	r.m[tenant][s.Name] = s
}

// noSecretValue fails if the JSON of v holds one of the values (plain or
// base64, as a Secret's data would be).
func noSecretValue(t *testing.T, what string, v any, values ...string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, val := range values {
		if strings.Contains(string(b), val) || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte(val))) {
			t.Errorf("%s holds a secret's value", what)
		}
	}
}

// secretsMount returns the secrets volume's Secret name and mode, whether
// the function container mounts it read-only at the secrets path, and its
// EVENTFLOW_SECRETS_DIR.
func secretsMount(ps corev1.PodSpec) (secret string, mode int32, readOnly bool, dir string) {
	for _, v := range ps.Volumes {
		if v.Name == kube.SecretsVolume && v.Secret != nil {
			secret = v.Secret.SecretName
			if v.Secret.DefaultMode != nil {
				mode = *v.Secret.DefaultMode
			}
		}
	}
	c := ps.Containers[0]
	for _, m := range c.VolumeMounts {
		if m.Name == kube.SecretsVolume && m.MountPath == runtime.SecretsMountPath {
			readOnly = m.ReadOnly
		}
	}
	for _, e := range c.Env {
		if e.Name == runtime.EnvSecretsDir {
			dir = e.Value
		}
	}
	return secret, mode, readOnly, dir
}

// TestSecretsAsDeployer: a function naming secrets gets them in a Secret
// of its own, mounted read-only in its pods; a rotated secret rolls the
// Deployment; a missing one fails Apply; secrets no longer named, or the
// function removed, take the Secret with them. Job mode too: the
// PodTemplate and the invocation Jobs mount it.
func TestSecretsAsDeployer(t *testing.T) {
	env := cluster(t)
	ctx := testCtx(t)
	const dbValue, apiValue, dbRotated = "db-VALUE-one", "api-VALUE-one", "db-VALUE-two"
	reader := &mapSecrets{m: map[string]map[string]runtime.Secret{}}
	reader.put("sec", runtime.Secret{Name: "db-password", Version: 1, Value: []byte(dbValue)})
	reader.put("sec", runtime.Secret{Name: "api-key", Version: 5, Value: []byte(apiValue)})
	cfg := testConfig
	cfg.Secrets = reader
	d, err := kube.NewDeployments(ctx, as(t, env, "deployer"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := "rt-sec"
	spec := httpSpec("vault", 1)
	spec.Secrets = []string{"db-password", "api-key"}
	if err := d.Apply(ctx, "sec", spec); err != nil {
		t.Fatal(err)
	}
	sec, err := env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Data) != 2 || string(sec.Data["db-password"]) != dbValue || string(sec.Data["api-key"]) != apiValue ||
		sec.Type != corev1.SecretTypeOpaque || sec.Labels[kube.LabelFunction] != "vault" || sec.Labels[kube.LabelTenant] != "sec" ||
		sec.Labels[kube.LabelManagedBy] != kube.ManagedBy {
		t.Fatalf("the function's Secret: keys %d, type %s, labels %v", len(sec.Data), sec.Type, sec.Labels)
	}
	meta := sec.DeepCopy()
	meta.Data, meta.ManagedFields = nil, nil
	noSecretValue(t, "the Secret beside its data", meta, dbValue, apiValue)

	dep, err := env.Admin.AppsV1().Deployments(ns).Get(ctx, "vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if name, mode, ro, dir := secretsMount(dep.Spec.Template.Spec); name != "vault-secrets" || mode != 0o444 || !ro || dir != runtime.SecretsMountPath {
		t.Fatalf("deployment mounts %q mode %o readOnly %v, %s=%q", name, mode, ro, runtime.EnvSecretsDir, dir)
	}
	if v := dep.Spec.Template.Annotations[kube.AnnotationSecretsVersion]; v != "api-key@5,db-password@1" {
		t.Fatalf("secrets version %q", v)
	}
	noSecretValue(t, "the Deployment", dep, dbValue, apiValue)
	ready(t, d, "sec", "vault", 1)

	// Rotation: a new version of one secret, the same spec. The Secret
	// holds the new value and the template a new version: a roll.
	gen := dep.Generation
	reader.put("sec", runtime.Secret{Name: "db-password", Version: 2, Value: []byte(dbRotated)})
	if err := d.Apply(ctx, "sec", spec); err != nil {
		t.Fatal(err)
	}
	sec, err = env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-secrets", metav1.GetOptions{})
	if err != nil || string(sec.Data["db-password"]) != dbRotated || string(sec.Data["api-key"]) != apiValue {
		t.Fatalf("the Secret after the rotation: %v", err)
	}
	dep, err = env.Admin.AppsV1().Deployments(ns).Get(ctx, "vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := dep.Spec.Template.Annotations[kube.AnnotationSecretsVersion]; v != "api-key@5,db-password@2" || dep.Generation == gen {
		t.Fatalf("after the rotation: secrets version %q, generation %d (was %d)", v, dep.Generation, gen)
	}
	noSecretValue(t, "the Deployment", dep, dbValue, apiValue, dbRotated)
	ready(t, d, "sec", "vault", 1)

	// A secret the tenant lacks: Apply fails, naming it.
	missing := spec
	missing.Secrets = []string{"db-password", "nope"}
	err = d.Apply(ctx, "sec", missing)
	if !errors.Is(err, runtime.ErrSecretNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Apply with a missing secret: %v", err)
	}
	noSecretValue(t, "the error", err.Error(), dbValue, apiValue, dbRotated)

	// No secrets named any more: the volume goes, then the Secret.
	none := spec
	none.Secrets = nil
	if err := d.Apply(ctx, "sec", none); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-secrets", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret once no secret is named: %v", err)
	}
	dep, err = env.Admin.AppsV1().Deployments(ns).Get(ctx, "vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if name, _, _, dir := secretsMount(dep.Spec.Template.Spec); name != "" || dir != "" || len(dep.Spec.Template.Spec.Volumes) != 0 ||
		dep.Spec.Template.Annotations[kube.AnnotationSecretsVersion] != "" {
		t.Fatalf("deployment without secrets: volumes %+v, annotations %v", dep.Spec.Template.Spec.Volumes, dep.Spec.Template.Annotations)
	}

	// Named again, then removed: nothing of the function is left.
	if err := d.Apply(ctx, "sec", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-secrets", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Secret once named again: %v", err)
	}
	if err := d.Remove(ctx, "sec", "vault"); err != nil {
		t.Fatal(err)
	}
	sel := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(kube.ObjectLabels("sec", "vault")).String()}
	if s, err := env.Admin.CoreV1().Secrets(ns).List(ctx, sel); err != nil || len(s.Items) != 0 {
		t.Fatalf("secrets after Remove: %d %v", len(s.Items), err)
	}
	if _, err := env.Admin.AppsV1().Deployments(ns).Get(ctx, "vault", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment after Remove: %v", err)
	}
	if _, err := env.Admin.CoreV1().Services(ns).Get(ctx, "vault", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("service after Remove: %v", err)
	}

	// Job mode: the PodTemplate mounts the Secret, and so does an
	// invocation's Job (the invoker builds it from the spec).
	job := function.Spec{Name: "vault-job", Image: "busybox", Command: []string{"tr", "a-z", "A-Z"},
		Secrets: []string{"api-key"}}.WithDefaults()
	if err := d.Apply(ctx, "sec", job); err != nil {
		t.Fatal(err)
	}
	pt, err := env.Admin.CoreV1().PodTemplates(ns).Get(ctx, "vault-job", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if name, mode, ro, dir := secretsMount(pt.Template.Spec); name != "vault-job-secrets" || mode != 0o444 || !ro || dir != runtime.SecretsMountPath {
		t.Fatalf("pod template mounts %q mode %o readOnly %v, %s=%q", name, mode, ro, runtime.EnvSecretsDir, dir)
	}
	if v := pt.Template.Annotations[kube.AnnotationSecretsVersion]; v != "api-key@5" {
		t.Fatalf("pod template secrets version %q", v)
	}
	sec, err = env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-job-secrets", metav1.GetOptions{})
	if err != nil || len(sec.Data) != 1 || string(sec.Data["api-key"]) != apiValue {
		t.Fatalf("the job function's Secret: %v", err)
	}
	env.ClusterLogs(t, ns, "HELLO")
	iv, err := kube.NewInvoker(ctx, as(t, env, "invoker"), testConfig)
	if err != nil {
		t.Fatal(err)
	}
	id := events.NewInvocationID()
	if res, err := iv.Invoke(ctx, "sec", job, runtime.InvokeRequest{ID: id, Payload: []byte("hello")}); err != nil || !res.Succeeded {
		t.Fatalf("invoke: %+v %v", res, err)
	}
	jobs, err := env.Admin.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelInvocation + "=" + id})
	if err != nil || len(jobs.Items) != 1 {
		t.Fatalf("jobs for the invocation: %v", err)
	}
	if name, _, ro, dir := secretsMount(jobs.Items[0].Spec.Template.Spec); name != "vault-job-secrets" || !ro || dir != runtime.SecretsMountPath {
		t.Fatalf("the invocation's Job mounts %q readOnly %v, %s=%q", name, ro, runtime.EnvSecretsDir, dir)
	}
	if err := d.Remove(ctx, "sec", "vault-job"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Admin.CoreV1().Secrets(ns).Get(ctx, "vault-job-secrets", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the job function's Secret after Remove: %v", err)
	}

	// A runtime with no SecretReader refuses a function naming secrets.
	plain := deployerAs(ctx, t, env)
	if err := plain.Apply(ctx, "sec", spec); err == nil || !strings.Contains(err.Error(), "secrets are not configured") {
		t.Fatalf("Apply without a SecretReader: %v", err)
	}
}
