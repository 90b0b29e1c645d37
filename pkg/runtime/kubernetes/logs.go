package kubernetes

import (
	"bufio"
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// StreamCombined is the stream of lines read from Kubernetes: its log API
// interleaves a container's stdout and stderr without saying which is which.
const StreamCombined = "combined"

// LogSource is logstream's side of the Kubernetes runtime: it follows the
// log of every EventFlow pod, starting as pods start and stopping when
// they go. It needs: pods (get, list, watch) and pods/log (get).
type LogSource struct {
	cfg    Config
	client kubernetes.Interface
	pods   corelisters.PodLister
	inf    cache.SharedIndexInformer
	start  func(<-chan struct{})
	synced func(<-chan struct{}) bool
}

var _ runtime.LogSource = (*LogSource)(nil)

// NewLogSource prepares the pod informer; FollowLogs runs it.
func NewLogSource(client kubernetes.Interface, cfg Config) *LogSource {
	cfg = cfg.withDefaults()
	f := managedInformers(client, cfg.ResyncPeriod)
	inf := f.Core().V1().Pods().Informer()
	return &LogSource{
		cfg: cfg, client: client, pods: f.Core().V1().Pods().Lister(), inf: inf,
		start:  f.Start,
		synced: func(stop <-chan struct{}) bool { return cache.WaitForCacheSync(stop, inf.HasSynced) },
	}
}

// follower is one pod's log reader.
type follower struct {
	cancel   context.CancelFunc
	terminal chan struct{} // closed when the pod has finished
	once     sync.Once
}

// FollowLogs sends every line of every managed pod to out until ctx ends.
func (l *LogSource) FollowLogs(ctx context.Context, out chan<- events.LogLine) error {
	var mu sync.Mutex
	followers := map[string]*follower{}
	var wg sync.WaitGroup
	onPod := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		key := pod.Namespace + "/" + pod.Name
		mu.Lock()
		defer mu.Unlock()
		f, following := followers[key]
		_, err := l.pods.Pods(pod.Namespace).Get(pod.Name)
		gone := err != nil || pod.DeletionTimestamp != nil
		switch {
		case gone && following:
			f.cancel()
			delete(followers, key)
		case !gone && !following && started(pod):
			fctx, cancel := context.WithCancel(ctx)
			f = &follower{cancel: cancel, terminal: make(chan struct{})}
			followers[key] = f
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.follow(fctx, pod, f, out)
			}()
			fallthrough
		case following && terminal(pod):
			if terminal(pod) {
				f.once.Do(func() { close(f.terminal) })
			}
		}
	}
	if _, err := l.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, n any) { onPod(n) },
		DeleteFunc: onPod,
	}); err != nil {
		return err
	}
	l.start(ctx.Done())
	l.synced(ctx.Done())
	<-ctx.Done()
	wg.Wait()
	return nil
}

func started(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning || terminal(p)
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// follow streams one pod's log. While the pod runs it follows; once the
// pod has finished it reads what is left without following (a finished
// pod's stream may never end by itself). It resumes after the last
// timestamp it saw, so a broken stream does not repeat lines.
func (l *LogSource) follow(ctx context.Context, pod *corev1.Pod, f *follower, out chan<- events.LogLine) {
	tenant, fn := pod.Labels[LabelTenant], pod.Labels[LabelFunction]
	var since time.Time
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		isTerminal := false
		select {
		case <-f.terminal:
			isTerminal = true
		default:
		}
		sctx, stop := context.WithCancel(ctx)
		if !isTerminal {
			go func() {
				select {
				case <-f.terminal:
					time.Sleep(500 * time.Millisecond) // let the last lines arrive
					stop()
				case <-sctx.Done():
				}
			}()
		}
		opts := &corev1.PodLogOptions{Container: ContainerName, Follow: !isTerminal, Timestamps: true}
		if !since.IsZero() {
			t := metav1.NewTime(since)
			opts.SinceTime = &t
		}
		n := 0
		rc, err := l.client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(sctx)
		if err == nil {
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				ts, line := splitTimestamp(sc.Text())
				if !ts.After(since) && !since.IsZero() {
					continue // SinceTime has second precision: skip what was sent
				}
				since = ts
				n++
				select {
				case out <- events.LogLine{Time: ts, Tenant: tenant, Function: fn, Instance: pod.Name, Stream: StreamCombined, Line: line}:
				case <-ctx.Done():
				}
			}
			rc.Close()
		}
		stop()
		if isTerminal {
			return
		}
		if n > 0 {
			backoff = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			backoff = min(backoff*2, 5*time.Second)
		}
	}
}

// splitTimestamp splits "2026-01-01T00:00:00.000000000Z line".
func splitTimestamp(s string) (time.Time, string) {
	ts, rest, ok := strings.Cut(s, " ")
	if t, err := time.Parse(time.RFC3339Nano, ts); ok && err == nil {
		return t, rest
	}
	return time.Now().UTC(), s
}
