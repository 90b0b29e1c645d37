package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Invoker is the invoker's side of the Kubernetes runtime. It needs: jobs
// (get, list, watch, create, patch), secrets (create, patch: payloads it
// writes), pods (get, list, watch) and pods/log (get).
type Invoker struct {
	cfg    Config
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	pods   corelisters.PodLister
	http   *http.Client
	rr     atomic.Uint64

	mu sync.Mutex
	// waiters are woken on every change: "<ns>/<job>" by the Job's and its
	// pods', functionKey by the function's pods'.
	waiters map[string][]chan struct{}
}

var (
	_ runtime.Invoker     = (*Invoker)(nil)
	_ runtime.ReadyWaiter = (*Invoker)(nil)
)

// functionKey is the waiter key of an http-mode function's pods (Job
// names have no ':', so it is never a Job's).
func functionKey(ns, name string) string { return ns + "/function:" + name }

// NewInvoker starts the job and pod informers and waits for their caches.
func NewInvoker(ctx context.Context, client kubernetes.Interface, cfg Config) (*Invoker, error) {
	cfg = cfg.withDefaults()
	f := managedInformers(client, cfg.ResyncPeriod)
	dial := (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	iv := &Invoker{
		cfg: cfg, client: client,
		jobs:    f.Batch().V1().Jobs().Lister(),
		pods:    f.Core().V1().Pods().Lister(),
		http:    &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}},
		waiters: map[string][]chan struct{}{},
	}
	wake := cache.ResourceEventHandlerFuncs{
		AddFunc:    iv.wake,
		UpdateFunc: func(_, n any) { iv.wake(n) },
	}
	if _, err := f.Batch().V1().Jobs().Informer().AddEventHandler(wake); err != nil {
		return nil, err
	}
	// A deleted pod wakes too: its function's waiters look again.
	wake.DeleteFunc = iv.wake
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(wake); err != nil {
		return nil, err
	}
	if err := startAndSync(ctx, f); err != nil {
		return nil, err
	}
	return iv, nil
}

// wake signals whoever waits on the job an object belongs to (the Job
// itself, or a pod with the job-name label), or on the function a pod of
// an http-mode function belongs to.
func (iv *Invoker) wake(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := metaOf(obj)
	if err != nil {
		return
	}
	key := m.GetNamespace() + "/" + m.GetName()
	if _, isPod := obj.(*corev1.Pod); isPod {
		l := m.GetLabels()
		if job := l[batchv1.JobNameLabel]; job != "" {
			key = m.GetNamespace() + "/" + job
		} else if fn := l[LabelFunction]; fn != "" && l[LabelInvocation] == "" {
			key = functionKey(m.GetNamespace(), fn)
		} else {
			return
		}
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for _, ch := range iv.waiters[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitReady returns once the pod cache holds a pod of the http-mode
// function that Invoke would send to (ready, with an address, not being
// deleted): at once if it has one, else when the pod informer brings one
// (each change of the function's pods is looked at, no polling). It
// returns ctx's error when ctx ends first.
func (iv *Invoker) WaitReady(ctx context.Context, tenant, name string) error {
	ns := NamespaceName(iv.cfg.NamespacePrefix, tenant)
	// Subscribed before the first look, so a pod becoming ready between
	// the two is not missed.
	woken, cancel := iv.subscribe(functionKey(ns, name))
	defer cancel()
	for {
		if len(iv.readyPods(ns, tenant, name)) > 0 {
			return nil
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readyPods are the function's pods an http-mode invocation may go to.
func (iv *Invoker) readyPods(ns, tenant, name string) []*corev1.Pod {
	pods, _ := iv.pods.Pods(ns).List(labels.SelectorFromSet(ObjectLabels(tenant, name)))
	var ready []*corev1.Pod
	for _, p := range pods {
		if p.Labels[LabelInvocation] == "" && p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(p) {
			ready = append(ready, p)
		}
	}
	return ready
}

func (iv *Invoker) subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	iv.mu.Lock()
	iv.waiters[key] = append(iv.waiters[key], ch)
	iv.mu.Unlock()
	return ch, func() {
		iv.mu.Lock()
		defer iv.mu.Unlock()
		ws := iv.waiters[key]
		for i, w := range ws {
			if w == ch {
				iv.waiters[key] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(iv.waiters[key]) == 0 {
			delete(iv.waiters, key)
		}
	}
}

// Invoke runs one invocation.
func (iv *Invoker) Invoke(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	if spec.Mode() == function.ModeHTTP {
		return iv.invokeHTTP(ctx, tenant, spec, req)
	}
	return iv.invokeJob(ctx, tenant, spec, req)
}

// invokeJob creates the invocation's Job (applying it is idempotent: a
// redelivered invocation finds its Job instead of running again), waits
// for it to finish by watching it, and reads the output from its pod's log.
func (iv *Invoker) invokeJob(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	start := time.Now()
	ns := NamespaceName(iv.cfg.NamespacePrefix, tenant)
	name := JobName(spec.Name, req.ID)
	key := ns + "/" + name
	woken, cancel := iv.subscribe(key)
	defer cancel()

	run := JobRun{ID: req.ID, Payload: req.Payload, TTL: int32(iv.cfg.JobTTL.Seconds())}
	if !PayloadInline(req.Payload) {
		run.PayloadSecret = name + "-payload"
	}
	job, err := NewJob(ns, tenant, spec, run)
	if err != nil {
		return runtime.InvokeResult{Error: err.Error(), Duration: time.Since(start)}, nil
	}
	opts := metav1.ApplyOptions{FieldManager: iv.cfg.FieldManager, Force: true}
	created, err := iv.client.BatchV1().Jobs(ns).Apply(ctx, job, opts)
	if err != nil {
		return runtime.InvokeResult{Duration: time.Since(start)}, fmt.Errorf("create job %s: %w", key, err)
	}
	if run.PayloadSecret != "" {
		owner := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: created.Name, UID: created.UID}
		if _, err := iv.client.CoreV1().Secrets(ns).Apply(ctx, NewPayloadSecret(ns, tenant, spec.Name, req.ID, req.Payload, owner), opts); err != nil {
			return runtime.InvokeResult{Duration: time.Since(start)}, fmt.Errorf("payload secret for %s: %w", key, err)
		}
	}
	// The Job's own deadline stops it in the cluster; this bounds the wait.
	timeout := spec.Timeout()
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	wait, stop := context.WithTimeout(ctx, timeout+30*time.Second)
	defer stop()
	for {
		if j, err := iv.jobs.Jobs(ns).Get(name); err == nil {
			if done, res := jobOutcome(j); done {
				res.Duration = time.Since(start)
				if pod := iv.jobPod(ns, name); pod != nil {
					if res.ExitCode == nil {
						res.ExitCode = exitCode(pod)
					}
					out, err := iv.logs(ctx, ns, pod.Name)
					if err != nil {
						iv.cfg.Logger.Warn("read job output", "job", key, "err", err)
					}
					res.Output = out
				}
				if !res.Succeeded && res.Error == "" {
					res.Error = "job failed"
				}
				return res, nil
			}
		}
		select {
		case <-woken:
		case <-wait.Done():
			if ctx.Err() != nil {
				return runtime.InvokeResult{Duration: time.Since(start)}, ctx.Err()
			}
			return runtime.InvokeResult{TimedOut: true, Error: "timed out after " + timeout.String(), Duration: time.Since(start)}, nil
		}
	}
}

// jobOutcome reads a finished Job's conditions.
func jobOutcome(j *batchv1.Job) (done bool, res runtime.InvokeResult) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, runtime.InvokeResult{Succeeded: true}
		case batchv1.JobFailed:
			res := runtime.InvokeResult{Error: c.Reason}
			if c.Message != "" {
				res.Error += ": " + c.Message
			}
			if c.Reason == batchv1.JobReasonDeadlineExceeded {
				res.TimedOut = true
				res.Error = "timed out: " + res.Error
			}
			return true, res
		}
	}
	return false, runtime.InvokeResult{}
}

func (iv *Invoker) jobPod(ns, job string) *corev1.Pod {
	pods, _ := iv.pods.Pods(ns).List(labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: job}))
	var last *corev1.Pod
	for _, p := range pods {
		if last == nil || p.CreationTimestamp.After(last.CreationTimestamp.Time) {
			last = p
		}
	}
	return last
}

func exitCode(p *corev1.Pod) *int {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName && cs.State.Terminated != nil {
			c := int(cs.State.Terminated.ExitCode)
			return &c
		}
	}
	return nil
}

// logs reads the function container's log, capped. Kubernetes' log API
// interleaves stdout and stderr, so on this runtime the output is both.
func (iv *Invoker) logs(ctx context.Context, ns, pod string) ([]byte, error) {
	limit := iv.cfg.OutputLimit
	rc, err := iv.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: ContainerName, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		if apierrors.IsBadRequest(err) { // no log (yet) for the pod
			return nil, nil
		}
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// invokeHTTP POSTs to one ready pod of the function (round robin), found
// in the pod cache: the pods behind its Service.
func (iv *Invoker) invokeHTTP(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	start := time.Now()
	ns := NamespaceName(iv.cfg.NamespacePrefix, tenant)
	ready := iv.readyPods(ns, tenant, spec.Name)
	if len(ready) == 0 {
		return runtime.InvokeResult{}, fmt.Errorf("function %s/%s: %w", tenant, spec.Name, runtime.ErrNoReadyInstance)
	}
	pod := ready[iv.rr.Add(1)%uint64(len(ready))]
	timeout := spec.Timeout()
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method, u, h, err := req.HTTPTarget(net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(HTTPPort)))
	if err != nil {
		return runtime.InvokeResult{Error: err.Error(), Duration: time.Since(start)}, nil
	}
	hreq, err := http.NewRequestWithContext(cctx, method, u.String(), bytes.NewReader(req.Payload))
	if err != nil {
		return runtime.InvokeResult{}, err
	}
	hreq.Header = h
	resp, err := iv.http.Do(hreq)
	if err != nil {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return runtime.InvokeResult{TimedOut: true, Error: "timed out after " + timeout.String(), Duration: time.Since(start)}, nil
		}
		return runtime.InvokeResult{Duration: time.Since(start)}, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, iv.cfg.OutputLimit))
	if err != nil {
		return runtime.InvokeResult{Duration: time.Since(start)}, fmt.Errorf("pod %s: reading response: %w", pod.Name, err)
	}
	return runtime.HTTPResult(resp.StatusCode, body, resp.Header.Get("Content-Type"), time.Since(start)), nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
