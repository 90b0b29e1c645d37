package manifest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// Apply applies rendered manifests with server-side apply, as kubectl
// would for a user; the API server must accept every object.
func Apply(tb testing.TB, env *k8stest.Env, rendered []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := env.KubectlRun(ctx, string(rendered), "apply", "--server-side", "--field-manager=eventflow-deploy-test", "-f", "-"); err != nil {
		tb.Fatalf("server-side apply refused: %v\n%s", err, out)
	}
}

// Delete deletes rendered manifests and waits until they are gone.
func Delete(tb testing.TB, env *k8stest.Env, rendered []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := env.KubectlRun(ctx, string(rendered), "delete", "--ignore-not-found", "--wait", "--timeout=150s", "-f", "-"); err != nil {
		tb.Fatalf("delete: %v\n%s", err, out)
	}
}

// Namespace creates a namespace (as `helm install --create-namespace`
// would), enforcing the Pod Security "restricted" profile like the
// kustomize base's own namespace does.
func Namespace(tb testing.TB, env *k8stest.Env, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	if _, err := env.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
}

// CreateSecret creates a Secret as an operator would before deploying.
func CreateSecret(tb testing.TB, env *k8stest.Env, ns, name string, data map[string]string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	if _, err := env.Admin.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
}

// WaitReady polls (bounded by timeout) until every Deployment in ns is
// Available with all replicas updated and ready (an autoscaled one scaled
// to its HPA's minimum first), and every StatefulSet has all replicas
// ready. kwok has no volume provisioner, so while waiting it
// provisions statically: each Pending PersistentVolumeClaim gets a
// PersistentVolume bound to it (claimRef), of its class, size and access
// modes, which the controller-manager's PV controller then binds. It
// returns the PersistentVolumes it created.
func WaitReady(tb testing.TB, env *k8stest.Env, ns string, wantDeployments, wantStatefulSets int, timeout time.Duration) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := env.Admin
	var pvs []string
	var last string
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		pvs = append(pvs, provisionPVs(tb, ctx, c, ns)...)
		ready, why := workloadsReady(ctx, c, ns, wantDeployments, wantStatefulSets)
		if ready {
			return pvs
		}
		if ctx.Err() == nil {
			last = why
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("namespace %s not ready within %s: %s\n%s", ns, timeout, last, diagnose(c, ns))
		case <-tick.C:
		}
	}
}

func provisionPVs(tb testing.TB, ctx context.Context, c kubernetes.Interface, ns string) []string {
	tb.Helper()
	pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var made []string
	for _, pvc := range pvcs.Items {
		if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" {
			continue
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		name := fmt.Sprintf("pv-%s-%s", ns, pvc.Name)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"eventflow-test": "static"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   pvc.Spec.AccessModes,
				StorageClassName:              class,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: pvc.Name, UID: pvc.UID},
				// Never mounted: kwok runs no containers.
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
			},
		}
		if _, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err == nil {
			made = append(made, name)
		} else if !apierrors.IsAlreadyExists(err) {
			tb.Fatalf("PersistentVolume for %s/%s: %v", ns, pvc.Name, err)
		}
	}
	return made
}

// DeletePVs removes PersistentVolumes WaitReady created.
func DeletePVs(tb testing.TB, env *k8stest.Env, names []string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		if err := env.Admin.CoreV1().PersistentVolumes().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			tb.Error(err)
		}
	}
}

func workloadsReady(ctx context.Context, c kubernetes.Interface, ns string, wantD, wantS int) (bool, string) {
	ds, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	ss, err := c.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	if len(ds.Items) != wantD || len(ss.Items) != wantS {
		return false, fmt.Sprintf("%d Deployments and %d StatefulSets, want %d and %d", len(ds.Items), len(ss.Items), wantD, wantS)
	}
	hpas, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err.Error()
	}
	// The HPAs own their Deployments' replicas (the manifests set none):
	// ready means scaled to their minimum.
	minOf := map[string]int32{}
	for _, h := range hpas.Items {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" {
			minOf[h.Spec.ScaleTargetRef.Name] = ptrOr(h.Spec.MinReplicas, 1)
		}
	}
	var waiting []string
	for _, d := range ds.Items {
		if min, ok := minOf[d.Name]; ok && ptrOr(d.Spec.Replicas, 1) < min {
			waiting = append(waiting, fmt.Sprintf("deployment %s scaled to %d by its HPA (%d replicas)", d.Name, min, ptrOr(d.Spec.Replicas, 1)))
			continue
		}
		if !deploymentAvailable(d) {
			waiting = append(waiting, fmt.Sprintf("deployment %s (%d/%d ready, %d updated)", d.Name, d.Status.ReadyReplicas, ptrOr(d.Spec.Replicas, 1), d.Status.UpdatedReplicas))
		}
	}
	for _, s := range ss.Items {
		want := ptrOr(s.Spec.Replicas, 1)
		if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != want || s.Status.UpdatedReplicas != want {
			waiting = append(waiting, fmt.Sprintf("statefulset %s (%d/%d ready)", s.Name, s.Status.ReadyReplicas, want))
		}
	}
	return len(waiting) == 0, "waiting for " + strings.Join(waiting, ", ")
}

func deploymentAvailable(d appsv1.Deployment) bool {
	want := ptrOr(d.Spec.Replicas, 1)
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.ReadyReplicas != want || d.Status.AvailableReplicas != want {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// diagnose says what is stuck: workloads, pods, claims and recent events.
func diagnose(c kubernetes.Interface, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	if pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "pod %s: %s node=%q\n", p.Name, p.Status.Phase, p.Spec.NodeName)
		}
	}
	if pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pvcs.Items {
			fmt.Fprintf(&b, "pvc %s: %s volume=%q\n", p.Name, p.Status.Phase, p.Spec.VolumeName)
		}
	}
	if evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
		items := evs.Items
		if len(items) > 30 {
			items = items[len(items)-30:]
		}
		for _, e := range items {
			if e.Type != corev1.EventTypeNormal {
				fmt.Fprintf(&b, "event %s %s: %s %s\n", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// ---- RBAC -------------------------------------------------------------------

// Access is one request a ServiceAccount may or may not make.
type Access struct {
	Verb, Group, Resource, Subresource string
	Namespace                          string // "" = cluster-wide
}

func (a Access) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in " + a.Namespace
	}
	return a.Verb + " " + r + " " + where
}

// Can asks the API server (a SubjectAccessReview, as `kubectl auth can-i
// --as=system:serviceaccount:ns:sa` does) whether the ServiceAccount may.
func Can(tb testing.TB, env *k8stest.Env, ns, sa string, a Access) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace,
		},
	}}
	res, err := env.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("SubjectAccessReview %s as %s: %v", a, sa, err)
	}
	return res.Status.Allowed
}

// Rules returns what the ServiceAccount may do in namespace ns, as the
// API server lists it (SelfSubjectRulesReview, impersonating the account),
// as "verb resource.group[/sub]" strings, leaving out what every
// authenticated user gets (the self-reviews).
func Rules(tb testing.TB, env *k8stest.Env, ns, sa, in string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc := rest.CopyConfig(env.AdminREST)
	rc.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := c.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx,
		&authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: in}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("SelfSubjectRulesReview as %s: %v", sa, err)
	}
	if res.Status.Incomplete {
		tb.Fatalf("rules of %s incomplete: %s", sa, res.Status.EvaluationError)
	}
	var out []string
	for _, r := range res.Status.ResourceRules {
		for _, g := range r.APIGroups {
			if g == "authorization.k8s.io" || g == "authentication.k8s.io" {
				continue
			}
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					name := res
					if g != "" {
						name = strings.Replace(res, "/", "."+g+"/", 1)
						if !strings.Contains(res, "/") {
							name = res + "." + g
						}
					}
					out = append(out, v+" "+name)
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// ReapplyAfterScaling changes the replicas of an autoscaled Deployment the
// way its HorizontalPodAutoscaler does (the scale subresource, under the
// HPA controller's field manager), applies the rendering again, as a second
// `kubectl apply --server-side` of the same manifests does, and checks the
// apply neither conflicts with the HPA over spec.replicas nor resets them.
func ReapplyAfterScaling(tb testing.TB, env *k8stest.Env, ns, deployment string, rendered []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := env.Admin.AppsV1().Deployments(ns)
	scale, err := d.GetScale(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	want := scale.Spec.Replicas + 1
	scale.Spec.Replicas = want
	if _, err := d.UpdateScale(ctx, deployment, scale, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		tb.Fatalf("scale %s as the HPA would: %v", deployment, err)
	}
	Apply(tb, env, rendered)
	got, err := d.Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if r := ptrOr(got.Spec.Replicas, 1); r != want {
		tb.Errorf("re-applying reset %s from the HPA's %d replicas to %d", deployment, want, r)
	}
}
