package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Deployments is the deployer's side of the Kubernetes runtime. It reads
// from informer caches (watches, not polling) and writes with server-side
// apply. It needs: namespaces (get, create, patch), deployments, services,
// podtemplates and horizontalpodautoscalers (get, list, watch, create,
// patch, delete), deployments/scale (patch: Scale), networkpolicies
// (get, list, watch, create, patch), pods (list, watch), jobs (list,
// delete: a deleted function's runs go too) and secrets (create, patch,
// delete: the functions' Secrets it writes; it never reads a Secret).
type Deployments struct {
	cfg     Config
	client  kubernetes.Interface
	deploys appslisters.DeploymentLister
	temps   corelisters.PodTemplateLister
	svcs    corelisters.ServiceLister
	hpas    autoscalinglisters.HorizontalPodAutoscalerLister
	npols   networkinglisters.NetworkPolicyLister
	pods    corelisters.PodLister
	changes chan runtime.Ref

	nsMu sync.Mutex
	ns   map[string]bool // namespaces known to exist

	scaleMu sync.Mutex
	scaled  map[string]int32 // "<ns>/<name>" → the count Scale last wrote

	secMu   sync.Mutex
	secrets map[string]appliedSecrets // "<ns>/<name>" → the function's Secret as last applied

	specMu sync.Mutex
	specs  map[string]string // "<ns>/<name>" → the spec hash Apply last gave its Deployment
}

// appliedSecrets is what Apply last wrote to a function's Secret: its
// version summary (never a value), and when.
type appliedSecrets struct {
	version string
	at      time.Time
}

// secretsRecheck is how long Apply trusts its record of a function's
// Secret before applying it again: an unchanged Secret is not written on
// every reconcile, and one edited or deleted by hand is repaired within
// this long.
const secretsRecheck = 10 * time.Minute

var _ runtime.Deployments = (*Deployments)(nil)

// NewDeployments starts the informers and waits for their caches.
func NewDeployments(ctx context.Context, client kubernetes.Interface, cfg Config) (*Deployments, error) {
	cfg = cfg.withDefaults()
	f := managedInformers(client, cfg.ResyncPeriod)
	d := &Deployments{
		cfg: cfg, client: client,
		deploys: f.Apps().V1().Deployments().Lister(),
		temps:   f.Core().V1().PodTemplates().Lister(),
		svcs:    f.Core().V1().Services().Lister(),
		hpas:    f.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
		npols:   f.Networking().V1().NetworkPolicies().Lister(),
		pods:    f.Core().V1().Pods().Lister(),
		changes: make(chan runtime.Ref, 1024),
		ns:      map[string]bool{},
		scaled:  map[string]int32{},
		secrets: map[string]appliedSecrets{},
		specs:   map[string]string{},
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    d.notify,
		UpdateFunc: func(_, n any) { d.notify(n) },
		DeleteFunc: d.notify,
	}
	for _, inf := range []cache.SharedIndexInformer{
		f.Apps().V1().Deployments().Informer(), f.Core().V1().PodTemplates().Informer(),
		f.Core().V1().Services().Informer(), f.Core().V1().Pods().Informer(),
		f.Autoscaling().V2().HorizontalPodAutoscalers().Informer(),
	} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, err
		}
	}
	// A tenant's policy belongs to no function: a change to it (deleted or
	// edited by hand) puts the tenant's functions in the queue, whose next
	// Apply writes it again.
	if _, err := f.Networking().V1().NetworkPolicies().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, n any) { d.notifyTenant(n) },
		DeleteFunc: d.notifyTenant,
	}); err != nil {
		return nil, err
	}
	if err := startAndSync(ctx, f); err != nil {
		return nil, err
	}
	return d, nil
}

// startAndSync starts every informer of f and waits until their caches
// hold the cluster's state, so the first reads see what exists.
func startAndSync(ctx context.Context, f informers.SharedInformerFactory) error {
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	return nil
}

// notify tells the deployer a function's objects changed; it never blocks
// the informer (a full channel means a resync will catch up anyway).
func (d *Deployments) notify(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := metaOf(obj)
	if err != nil {
		return
	}
	ref, ok := refOf(m.GetLabels())
	// Invocation Jobs' pods say nothing about the function's deployment:
	// reconciling on each of their events would cost work per invocation.
	if !ok || m.GetLabels()[LabelInvocation] != "" {
		return
	}
	select {
	case d.changes <- ref:
	default:
	}
}

// notifyTenant queues every function of the tenant whose namespace holds
// obj; like notify, it never blocks.
func (d *Deployments) notifyTenant(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := metaOf(obj)
	if err != nil || m.GetLabels()[LabelTenant] == "" {
		return
	}
	refs, err := d.refs(m.GetNamespace())
	if err != nil {
		return
	}
	for _, r := range refs {
		select {
		case d.changes <- r:
		default:
			return
		}
	}
}

// Changes delivers functions whose objects changed.
func (d *Deployments) Changes() <-chan runtime.Ref { return d.changes }

func (d *Deployments) namespace(ctx context.Context, tenant string) (string, error) {
	name := NamespaceName(d.cfg.NamespacePrefix, tenant)
	d.nsMu.Lock()
	known := d.ns[name]
	d.nsMu.Unlock()
	opts := metav1.ApplyOptions{FieldManager: d.cfg.FieldManager, Force: true}
	if !known {
		if _, err := d.client.CoreV1().Namespaces().Apply(ctx, NewNamespace(d.cfg.NamespacePrefix, tenant), opts); err != nil {
			return "", fmt.Errorf("namespace %s: %w", name, err)
		}
		d.nsMu.Lock()
		d.ns[name] = true
		d.nsMu.Unlock()
	}
	// The policy is checked on every ensure, against the cache: missing or
	// edited, it is applied again.
	pol := NewNetworkPolicy(name, tenant, d.cfg.ControlNamespace)
	if cur, err := d.npols.NetworkPolicies(name).Get(NetworkPolicyName); err == nil && policyCurrent(cur, pol) {
		return name, nil
	}
	if _, err := d.client.NetworkingV1().NetworkPolicies(name).Apply(ctx, pol, opts); err != nil {
		return "", fmt.Errorf("apply networkpolicy %s/%s: %w", name, NetworkPolicyName, err)
	}
	return name, nil
}

// Apply converges the function's objects to spec. An object whose spec
// hash already matches is not written again; anything else (missing,
// edited) is applied, which repairs drift. Apply never sets the replicas
// of an existing http-mode Deployment: Scale owns them (or the HPA with
// scale.metric cpu); a new Deployment starts with CreateReplicas.
//
// A function naming secrets gets them in a Secret of its own (SecretsName),
// written before the objects that mount it; their version summary is in
// the pod template, so a rotated secret rolls the pods. Once the spec
// names none, the Secret is deleted after the objects stop mounting it. A
// secret the tenant lacks fails Apply with an error wrapping
// runtime.ErrSecretNotFound that names it.
func (d *Deployments) Apply(ctx context.Context, tenant string, spec function.Spec) error {
	if len(spec.Secrets) > 0 && d.cfg.Secrets == nil {
		return fmt.Errorf("function %s/%s names secrets (%s), and secrets are not configured on this Kubernetes runtime (no SecretReader)",
			tenant, spec.Name, strings.Join(spec.Secrets, ", "))
	}
	ns, err := d.namespace(ctx, tenant)
	if err != nil {
		return err
	}
	// Looked at before the objects change (a mode switch deletes one).
	stale := len(spec.Secrets) == 0 && d.hasSecrets(ns, spec.Name)
	version, err := d.applySecrets(ctx, ns, tenant, spec)
	if err != nil {
		return err
	}
	if err := d.applyObjects(ctx, ns, tenant, spec, version); err != nil {
		return err
	}
	if stale {
		return d.deleteSecrets(ctx, ns, spec.Name)
	}
	return nil
}

// applyObjects converges the function's Deployment, Service and HPA
// (http mode) or PodTemplate (job mode); see Apply.
func (d *Deployments) applyObjects(ctx context.Context, ns, tenant string, spec function.Spec, secretsVersion string) error {
	opts := metav1.ApplyOptions{FieldManager: d.cfg.FieldManager, Force: true}
	hash := SpecHash(spec)
	if spec.Mode() == function.ModeHTTP {
		if err := d.deleteIfExists(ctx, ns, spec.Name, kindPodTemplate); err != nil {
			return err
		}
		hpa := NewHPA(ns, tenant, spec)
		if hpa == nil {
			// Before the Deployment: an HPA left in place would go on
			// scaling it while the scaler takes over.
			if err := d.deleteIfExists(ctx, ns, spec.Name, kindHPA); err != nil {
				return err
			}
		}
		if cur, err := d.deploys.Deployments(ns).Get(spec.Name); err != nil || cur.Annotations[AnnotationSpecHash] != hash ||
			cur.Spec.Template.Annotations[AnnotationSecretsVersion] != secretsVersion {
			if err := d.applyDeployment(ctx, ns, tenant, spec, secretsVersion); err != nil {
				return err
			}
		}
		d.specMu.Lock()
		d.specs[ns+"/"+spec.Name] = hash
		d.specMu.Unlock()
		if _, err := d.svcs.Services(ns).Get(spec.Name); err != nil {
			if _, err := d.client.CoreV1().Services(ns).Apply(ctx, NewService(ns, tenant, spec), opts); err != nil {
				return fmt.Errorf("apply service %s/%s: %w", ns, spec.Name, err)
			}
		}
		if hpa == nil {
			return nil
		}
		if cur, err := d.hpas.HorizontalPodAutoscalers(ns).Get(spec.Name); err == nil && cur.Annotations[AnnotationSpecHash] == hash {
			return nil
		}
		if _, err := d.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Apply(ctx, hpa, opts); err != nil {
			return fmt.Errorf("apply hpa %s/%s: %w", ns, spec.Name, err)
		}
		return nil
	}
	for _, k := range []kind{kindDeployment, kindService, kindHPA} {
		if err := d.deleteIfExists(ctx, ns, spec.Name, k); err != nil {
			return err
		}
	}
	if cur, err := d.temps.PodTemplates(ns).Get(spec.Name); err == nil && cur.Annotations[AnnotationSpecHash] == hash &&
		cur.Template.Annotations[AnnotationSecretsVersion] == secretsVersion {
		return nil
	}
	pt, err := NewPodTemplateWithSecrets(ns, tenant, spec, secretsVersion)
	if err != nil {
		return err
	}
	if _, err := d.client.CoreV1().PodTemplates(ns).Apply(ctx, pt, opts); err != nil {
		return fmt.Errorf("apply podtemplate %s/%s: %w", ns, spec.Name, err)
	}
	return nil
}

// applyDeployment writes the function's Deployment. It reads the current
// one from the API server (the cache has no managed fields, and may not
// have seen a Deployment just made): a new one is created with
// CreateReplicas; of an existing one whose spec.replicas the main field
// manager still owns (it created the Deployment, or an EventFlow before
// the scaler applied replicas itself), the replicas are first handed to
// the scale field manager at their current count. Without that, an apply
// leaving replicas out would drop the field, and the API server would
// default it back to one pod.
func (d *Deployments) applyDeployment(ctx context.Context, ns, tenant string, spec function.Spec, secretsVersion string) error {
	dep, err := NewDeploymentWithSecrets(ns, tenant, spec, secretsVersion)
	if err != nil {
		return err
	}
	api := d.client.AppsV1().Deployments(ns)
	// The resourceVersion makes the hand-over a compare-and-set: a count
	// changed since the read (by Scale, by an HPA) is not written back.
	// The controller's status writes change it too: read again and retry.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := api.Get(ctx, spec.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if n := CreateReplicas(spec); n != nil {
				dep.Spec.WithReplicas(*n)
			}
			return nil
		case err != nil:
			return fmt.Errorf("get deployment %s/%s: %w", ns, spec.Name, err)
		case cur.Spec.Replicas == nil || !ownsReplicas(cur.ManagedFields, d.cfg.FieldManager):
			return nil
		}
		sopts := metav1.ApplyOptions{FieldManager: d.cfg.ScaleFieldManager, Force: true}
		_, err = api.ApplyScale(ctx, spec.Name, NewScale(ns, spec.Name, *cur.Spec.Replicas, cur.ResourceVersion), sopts)
		return err
	}); err != nil {
		return fmt.Errorf("hand the replicas of deployment %s/%s to %s: %w", ns, spec.Name, d.cfg.ScaleFieldManager, err)
	}
	if _, err := api.Apply(ctx, dep, metav1.ApplyOptions{FieldManager: d.cfg.FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply deployment %s/%s: %w", ns, spec.Name, err)
	}
	return nil
}

// applySecrets reads the secrets the spec names and writes them to the
// function's Secret, unless this process wrote the same versions there
// within secretsRecheck. It returns their version summary ("" when the
// spec names none). Values go nowhere but the Secret's data: not in an
// error, a log line, an annotation or a label.
func (d *Deployments) applySecrets(ctx context.Context, ns, tenant string, spec function.Spec) (string, error) {
	if len(spec.Secrets) == 0 {
		return "", nil
	}
	secrets, err := d.cfg.Secrets.ReadSecrets(ctx, tenant, spec.Secrets)
	if err != nil {
		// The reader's error names a missing secret (and wraps
		// runtime.ErrSecretNotFound); it never holds a value.
		return "", fmt.Errorf("secrets of function %s/%s: %w", tenant, spec.Name, err)
	}
	if err := secretsMatch(spec.Secrets, secrets); err != nil {
		return "", fmt.Errorf("secrets of function %s/%s: %w", tenant, spec.Name, err)
	}
	version := runtime.SecretsVersion(secrets)
	key := ns + "/" + spec.Name
	d.secMu.Lock()
	last, ok := d.secrets[key]
	d.secMu.Unlock()
	if ok && last.version == version && time.Since(last.at) < secretsRecheck {
		return version, nil
	}
	opts := metav1.ApplyOptions{FieldManager: d.cfg.FieldManager, Force: true}
	if _, err := d.client.CoreV1().Secrets(ns).Apply(ctx, NewSecret(ns, tenant, spec.Name, secrets), opts); err != nil {
		d.forgetSecrets(key)
		// The API server's error is about the request (a status, a
		// reason); the values are not echoed. Only the name is given.
		return "", fmt.Errorf("apply secret %s/%s: %w", ns, SecretsName(spec.Name), err)
	}
	d.secMu.Lock()
	d.secrets[key] = appliedSecrets{version: version, at: time.Now()}
	d.secMu.Unlock()
	return version, nil
}

// secretsMatch checks a reader's answer holds each name asked for, once:
// the Secret's keys are then exactly the spec's names.
func secretsMatch(names []string, secrets []runtime.Secret) error {
	got := make(map[string]bool, len(secrets))
	for _, s := range secrets {
		if got[s.Name] {
			return fmt.Errorf("the secrets reader returned %q twice", s.Name)
		}
		got[s.Name] = true
	}
	for _, n := range names {
		if !got[n] {
			return fmt.Errorf("secret %q: the secrets reader did not return it: %w", n, runtime.ErrSecretNotFound)
		}
	}
	if len(got) != len(names) {
		return fmt.Errorf("the secrets reader returned %d secrets for %d names", len(got), len(names))
	}
	return nil
}

// hasSecrets reports whether the function's Secret may exist: this process
// wrote it, or the cached Deployment or PodTemplate mounts it.
func (d *Deployments) hasSecrets(ns, name string) bool {
	d.secMu.Lock()
	_, ok := d.secrets[ns+"/"+name]
	d.secMu.Unlock()
	if ok {
		return true
	}
	if dep, err := d.deploys.Deployments(ns).Get(name); err == nil && mountsSecrets(dep.Spec.Template.Spec) {
		return true
	}
	if pt, err := d.temps.PodTemplates(ns).Get(name); err == nil && mountsSecrets(pt.Template.Spec) {
		return true
	}
	return false
}

func mountsSecrets(ps corev1.PodSpec) bool {
	for _, v := range ps.Volumes {
		if v.Name == SecretsVolume {
			return true
		}
	}
	return false
}

func (d *Deployments) forgetSecrets(key string) {
	d.secMu.Lock()
	delete(d.secrets, key)
	d.secMu.Unlock()
}

// deleteSecrets deletes the function's Secret; a missing one is no error.
func (d *Deployments) deleteSecrets(ctx context.Context, ns, name string) error {
	d.forgetSecrets(ns + "/" + name)
	err := d.client.CoreV1().Secrets(ns).Delete(ctx, SecretsName(name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %s/%s: %w", ns, SecretsName(name), err)
	}
	return nil
}

// ErrNotScalable is the error of Scale for a function that has no
// Deployment (not applied yet, or in job mode) or whose count is left to
// its HorizontalPodAutoscaler (scale.metric cpu).
var ErrNotScalable = errors.New("function cannot be scaled")

// Scale sets the function's Deployment's replicas through its scale
// subresource, with server-side apply under the scale field manager,
// which then owns the field (taken from whoever had it: a hand-made scale
// is undone by the next Scale). No write when the cache already shows
// the count. A function without a Deployment, or with an HPA, is an error
// wrapping ErrNotScalable (and the API server's NotFound when it has no
// Deployment): the deployer retries after its next Apply.
func (d *Deployments) Scale(ctx context.Context, tenant, name string, replicas int32) error {
	ns := NamespaceName(d.cfg.NamespacePrefix, tenant)
	if replicas < 0 {
		return fmt.Errorf("scale %s/%s to %d: a count is not negative", ns, name, replicas)
	}
	if h, err := d.hpas.HorizontalPodAutoscalers(ns).Get(name); err == nil && h.DeletionTimestamp == nil {
		return fmt.Errorf("scale %s/%s: its replicas are left to its HorizontalPodAutoscaler (scale.metric cpu): %w", ns, name, ErrNotScalable)
	}
	key := ns + "/" + name
	d.scaleMu.Lock()
	last, wrote := d.scaled[key]
	d.scaleMu.Unlock()
	// The cache may not have seen this process's last write yet: when
	// that write was another count, a cache agreeing with this one may be
	// showing the count from before it.
	if cur, err := d.deploys.Deployments(ns).Get(name); err == nil && cur.Spec.Replicas != nil && *cur.Spec.Replicas == replicas &&
		(!wrote || last == replicas) {
		return nil
	}
	opts := metav1.ApplyOptions{FieldManager: d.cfg.ScaleFieldManager, Force: true}
	if _, err := d.client.AppsV1().Deployments(ns).ApplyScale(ctx, name, NewScale(ns, name, replicas, ""), opts); err != nil {
		d.scaleMu.Lock()
		delete(d.scaled, key)
		d.scaleMu.Unlock()
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("scale %s/%s: no Deployment (the function is not applied yet, or runs in job mode): %w: %w", ns, name, ErrNotScalable, err)
		}
		return fmt.Errorf("scale deployment %s/%s to %d: %w", ns, name, replicas, err)
	}
	d.scaleMu.Lock()
	d.scaled[key] = replicas
	d.scaleMu.Unlock()
	return nil
}

type kind int

const (
	kindDeployment kind = iota
	kindService
	kindPodTemplate
	kindHPA
)

func (d *Deployments) exists(ns, name string, k kind) bool {
	var err error
	switch k {
	case kindDeployment:
		_, err = d.deploys.Deployments(ns).Get(name)
	case kindService:
		_, err = d.svcs.Services(ns).Get(name)
	case kindHPA:
		_, err = d.hpas.HorizontalPodAutoscalers(ns).Get(name)
	default:
		_, err = d.temps.PodTemplates(ns).Get(name)
	}
	return err == nil
}

func (d *Deployments) deleteIfExists(ctx context.Context, ns, name string, k kind) error {
	if !d.exists(ns, name, k) {
		return nil
	}
	fg := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &fg}
	var err error
	switch k {
	case kindDeployment:
		err = d.client.AppsV1().Deployments(ns).Delete(ctx, name, opts)
	case kindService:
		err = d.client.CoreV1().Services(ns).Delete(ctx, name, opts)
	case kindHPA:
		err = d.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(ctx, name, opts)
	default:
		err = d.client.CoreV1().PodTemplates(ns).Delete(ctx, name, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s/%s: %w", ns, name, err)
	}
	return nil
}

// Remove deletes the function's objects and its runs, and returns once the
// caches show no object and no pod of it left.
func (d *Deployments) Remove(ctx context.Context, tenant, name string) error {
	ns := NamespaceName(d.cfg.NamespacePrefix, tenant)
	d.scaleMu.Lock()
	delete(d.scaled, ns+"/"+name)
	d.scaleMu.Unlock()
	d.specMu.Lock()
	delete(d.specs, ns+"/"+name)
	d.specMu.Unlock()
	for _, k := range []kind{kindHPA, kindDeployment, kindService, kindPodTemplate} {
		if err := d.deleteIfExists(ctx, ns, name, k); err != nil {
			return err
		}
	}
	// After the objects that mount it. Deleted whether or not the spec
	// named secrets (one request): Remove has no spec to go by.
	if err := d.deleteSecrets(ctx, ns, name); err != nil {
		return err
	}
	bg := metav1.DeletePropagationBackground
	sel := labels.SelectorFromSet(ObjectLabels(tenant, name)).String()
	if err := d.client.BatchV1().Jobs(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg},
		metav1.ListOptions{LabelSelector: sel}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete jobs of %s/%s: %w", ns, name, err)
	}
	podSel := labels.SelectorFromSet(ObjectLabels(tenant, name))
	// The caches are fed by watches; this waits on them, not on the API.
	for {
		pods, _ := d.pods.Pods(ns).List(podSel)
		if len(pods) == 0 && !d.exists(ns, name, kindDeployment) && !d.exists(ns, name, kindService) && !d.exists(ns, name, kindPodTemplate) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove %s/%s: %d pods still there: %w", ns, name, len(pods), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Observe reports the function's state from the caches.
func (d *Deployments) Observe(_ context.Context, tenant, name string) (runtime.Observed, bool, error) {
	ns := NamespaceName(d.cfg.NamespacePrefix, tenant)
	if _, err := d.temps.PodTemplates(ns).Get(name); err == nil {
		return runtime.Observed{Phase: function.PhaseReady}, true, nil
	}
	dep, err := d.deploys.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return runtime.Observed{}, false, nil
	}
	if err != nil {
		return runtime.Observed{}, false, err
	}
	pods, _ := d.pods.Pods(ns).List(labels.SelectorFromSet(ObjectLabels(tenant, name)))
	obs := ObserveDeployment(dep, pods)
	d.specMu.Lock()
	applied := d.specs[ns+"/"+name]
	d.specMu.Unlock()
	obs = behindApply(obs, dep, applied)
	if obs.ReadyReplicas > 0 {
		// The gateway's route goes through the Service (kube-proxy
		// balances across the ready pods), so one URL stands for all.
		obs.Endpoints = []string{ServiceURL(ns, name)}
	}
	return obs, true, nil
}

// ObserveDeployment turns a Deployment's status (and its pods') into a
// phase: Ready when every replica is updated and ready (a function scaled
// to zero is Ready with none, even while its last pods drain); Failed when
// the rollout exceeded its progress deadline or a pod cannot run; else
// Deploying. Replicas is the desired count, spec.replicas. It is pure, so
// it is tested without a cluster.
func ObserveDeployment(dep *appsv1.Deployment, pods []*corev1.Pod) runtime.Observed {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	obs := runtime.Observed{Phase: function.PhaseDeploying, ReadyReplicas: st.ReadyReplicas, Replicas: want}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			obs.Phase, obs.Message = function.PhaseFailed, "ProgressDeadlineExceeded: "+c.Message
			return obs
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			obs.Phase, obs.Message = function.PhaseFailed, "ReplicaFailure: "+c.Message
			return obs
		}
	}
	if msg := podFailure(pods); msg != "" {
		obs.Phase, obs.Message = function.PhaseFailed, msg
		return obs
	}
	if st.ObservedGeneration >= dep.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		obs.Phase = function.PhaseReady
		return obs
	}
	obs.Message = fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)
	return obs
}

// behindApply keeps a Ready observation from a cached Deployment that
// does not carry the spec Apply last gave it (applied, its hash; "" when
// this runtime applied none since it started): the informer cache lags
// the API a moment after an Apply, and its Deployment, all replicas ready,
// is the one being replaced. Deploying until the cache catches up.
func behindApply(obs runtime.Observed, dep *appsv1.Deployment, applied string) runtime.Observed {
	if applied == "" || obs.Phase != function.PhaseReady || dep.Annotations[AnnotationSpecHash] == applied {
		return obs
	}
	obs.Phase, obs.Message = function.PhaseDeploying, "the applied spec is not observed yet"
	return obs
}

// podFailure describes the first pod that cannot run, or "".
func podFailure(pods []*corev1.Pod) string {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodFailed {
			return fmt.Sprintf("pod %s failed: %s", p.Name, containerMessage(p))
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
					return fmt.Sprintf("pod %s: %s: %s", p.Name, w.Reason, w.Message)
				}
			}
		}
	}
	return ""
}

func containerMessage(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("exit code %d (%s) %s", t.ExitCode, t.Reason, t.Message)
		}
	}
	if p.Status.Message != "" {
		return p.Status.Reason + ": " + p.Status.Message
	}
	return p.Status.Reason
}

// List returns every function that has objects.
func (d *Deployments) List(context.Context) ([]runtime.Ref, error) {
	return d.refs(metav1.NamespaceAll)
}

// refs are the functions with objects in ns (every namespace: NamespaceAll).
func (d *Deployments) refs(ns string) ([]runtime.Ref, error) {
	seen := map[runtime.Ref]bool{}
	deps, err := d.deploys.Deployments(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, o := range deps {
		if r, ok := refOf(o.Labels); ok {
			seen[r] = true
		}
	}
	temps, err := d.temps.PodTemplates(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, o := range temps {
		if r, ok := refOf(o.Labels); ok {
			seen[r] = true
		}
	}
	out := make([]runtime.Ref, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	return out, nil
}

func refOf(l map[string]string) (runtime.Ref, bool) {
	t, n := l[LabelTenant], l[LabelFunction]
	return runtime.Ref{Tenant: t, Name: n}, t != "" && n != ""
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}
