package k8sbench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
)

// timeline records when each event was first seen for each key, and counts
// first sightings per group (e.g. a tenant).
type timeline struct {
	mu      sync.Mutex
	at      map[string]time.Time // key \x00 event
	counts  map[string]int       // group \x00 event
	last    map[string]time.Time // group \x00 event: the latest first sighting
	changed chan struct{}        // closed (and replaced) on every new sighting
}

func newTimeline() *timeline {
	return &timeline{at: map[string]time.Time{}, counts: map[string]int{}, last: map[string]time.Time{}, changed: make(chan struct{})}
}

// mark records ev for key at t unless it was seen before.
func (tl *timeline) mark(group, key, ev string, t time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	k := key + "\x00" + ev
	if _, ok := tl.at[k]; ok {
		return
	}
	tl.at[k] = t
	g := group + "\x00" + ev
	tl.counts[g]++
	tl.last[g] = t
	close(tl.changed)
	tl.changed = make(chan struct{})
}

func (tl *timeline) get(key, ev string) (time.Time, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	t, ok := tl.at[key+"\x00"+ev]
	return t, ok
}

// waitAny waits until one of evs was seen for key and says which (the
// first in evs order if several were).
func (tl *timeline) waitAny(ctx context.Context, key string, evs ...string) (string, time.Time, error) {
	for {
		tl.mu.Lock()
		ch := tl.changed
		for _, ev := range evs {
			if t, ok := tl.at[key+"\x00"+ev]; ok {
				tl.mu.Unlock()
				return ev, t, nil
			}
		}
		tl.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", time.Time{}, fmt.Errorf("waiting for %s to be %s: %w", key, strings.Join(evs, " or "), ctx.Err())
		}
	}
}

func (tl *timeline) wait(ctx context.Context, key, ev string) (time.Time, error) {
	_, t, err := tl.waitAny(ctx, key, ev)
	return t, err
}

// count is how many keys of group have seen ev, and when the last of them
// first did.
func (tl *timeline) count(group, ev string) (int, time.Time, <-chan struct{}) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	g := group + "\x00" + ev
	return tl.counts[g], tl.last[g], tl.changed
}

// waitCount waits until n keys of group have seen ev.
func (tl *timeline) waitCount(ctx context.Context, group, ev string, n int) (time.Time, error) {
	for {
		c, last, ch := tl.count(group, ev)
		if c >= n {
			return last, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d %s in %s: %w", c, n, ev, group, ctx.Err())
		}
	}
}

// ---------------------------------------------------------------------------
// Kubernetes watches.

// kwatch is a client-go watch kept open (re-opened from the last resource
// version if the server ends it) until stopped. Each event is timed the
// moment it is received.
type kwatch struct {
	cancel   context.CancelFunc
	done     chan struct{}
	restarts atomic.Int32
	events   atomic.Int64
	failed   atomic.Value // string
}

const maxWatchRestarts = 50

func startWatch(parent context.Context, what string, open func(ctx context.Context, rv string) (watch.Interface, error),
	handle func(ev watch.Event, at time.Time)) (*kwatch, error) {
	ctx, cancel := context.WithCancel(parent)
	w, err := open(ctx, "")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", what, err)
	}
	kw := &kwatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(kw.done)
		rv := ""
		for {
			for ev := range w.ResultChan() {
				at := time.Now()
				kw.events.Add(1)
				if ev.Type == watch.Error { // e.g. 410 Gone: start again from now
					rv = ""
					break
				}
				if m, err := meta.Accessor(ev.Object); err == nil {
					rv = m.GetResourceVersion()
				}
				if ev.Type != watch.Bookmark {
					handle(ev, at)
				}
			}
			w.Stop()
			for {
				if ctx.Err() != nil {
					return
				}
				if kw.restarts.Add(1) > maxWatchRestarts {
					kw.failed.Store(fmt.Sprintf("watch %s: gave up after %d restarts", what, maxWatchRestarts))
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
				if w, err = open(ctx, rv); err == nil {
					break
				}
				rv = ""
			}
		}
	}()
	return kw, nil
}

func (kw *kwatch) stop() {
	kw.cancel()
	<-kw.done
}

func (kw *kwatch) problem() string {
	if s, ok := kw.failed.Load().(string); ok {
		return s
	}
	return ""
}

// watchDeployments marks, per Deployment name in ns: "added" (the ADDED
// event) and "ready" (the first event with every wanted replica ready).
func watchDeployments(ctx context.Context, cs kubernetes.Interface, ns string, tl *timeline) (*kwatch, error) {
	return startWatch(ctx, "deployments in "+ns, func(ctx context.Context, rv string) (watch.Interface, error) {
		return cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	}, func(ev watch.Event, at time.Time) {
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return
		}
		if ev.Type == watch.Added {
			tl.mark(ns, d.Name, "added", at)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if want > 0 && d.Status.ReadyReplicas >= want {
			tl.mark(ns, d.Name, "ready", at)
		}
	})
}

// watchJobs marks, per Job (keyed by its invocation label when it has one,
// else by name): "added", "complete" and "failed".
func watchJobs(ctx context.Context, cs kubernetes.Interface, ns string, tl *timeline) (*kwatch, error) {
	return startWatch(ctx, "jobs in "+ns, func(ctx context.Context, rv string) (watch.Interface, error) {
		return cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	}, func(ev watch.Event, at time.Time) {
		j, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return
		}
		key := j.Name
		if id := j.Labels[kube.LabelInvocation]; id != "" {
			key = id
		}
		if ev.Type == watch.Added {
			tl.mark(ns, key, "added", at)
		}
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				tl.mark(ns, key, "complete", at)
			case batchv1.JobFailed:
				tl.mark(ns, key, "failed", at)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// The status bucket.

// kvWatch marks, per key <tenant>.<name> of the status bucket, the first
// time each phase was written (events named after the phase: "Deploying",
// "Ready", "Failed"), grouped by tenant. It counts updates seen.
type kvWatch struct {
	w       jetstream.KeyWatcher
	done    chan struct{}
	updates atomic.Int64
}

func watchStatus(ctx context.Context, kv jetstream.KeyValue, tl *timeline) (*kvWatch, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch status bucket: %w", err)
	}
	kw := &kvWatch{w: w, done: make(chan struct{})}
	go func() {
		defer close(kw.done)
		for e := range w.Updates() {
			if e == nil { // end of the initial values
				continue
			}
			at := time.Now()
			kw.updates.Add(1)
			var st struct {
				Phase              string `json:"phase"`
				ObservedGeneration int64  `json:"observedGeneration"`
			}
			if json.Unmarshal(e.Value(), &st) != nil || st.Phase == "" {
				continue
			}
			tenant, _, _ := strings.Cut(e.Key(), ".")
			tl.mark(tenant, e.Key(), st.Phase, at)
		}
	}()
	return kw, nil
}

func (kw *kvWatch) stop() {
	_ = kw.w.Stop()
	select {
	case <-kw.done:
	case <-time.After(5 * time.Second):
	}
}
