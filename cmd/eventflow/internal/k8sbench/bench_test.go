package k8sbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// Workload sizes and bounds. Every wait is bounded; the whole run is
// bounded by totalLimit, well inside go test's -timeout, so a failure is
// reported (and the cluster deleted) rather than panicking on the timeout.
const (
	nsPrefix  = "eventflow-" // the services' default, set explicitly
	latTenant = "lat"        // create → Ready
	jobTenant = "job"        // job-mode invocations
	memTenant = "mem"        // 1,000 functions
	baseNS    = "k8sbench-baseline"

	webImage = "ghcr.io/acme/web:1"
	jobImage = "busybox"

	createWarmup = 2 // the first create in a namespace also creates it
	createN      = 40
	invokeWarmup = 2
	invokeN      = 30
	memN         = 1000
	memConc      = 16

	stepTimeout = 60 * time.Second  // one create → Ready, one invocation
	memLimit    = 150 * time.Second // 1,000 functions Ready
	totalLimit  = 9 * time.Minute
	apiPoll     = 2 * time.Millisecond

	// The goal: EventFlow's own share of create → Ready.
	targetShareP50 = 100 * time.Millisecond
)

var jobCommand = []string{"tr", "a-z", "A-Z"}

// last is the latest run: with b.N > 1 the figures are reported again
// rather than minutes of work repeated.
var last benchkit.LastRun[*report]

// BenchmarkKubernetes runs every phase once on one cluster and one
// platform, and prints the table.
func BenchmarkKubernetes(b *testing.B) {
	last.Get(b, runAll).reportMetrics(b)
}

// createSample is one function's create → Ready through the gateway.
type createSample struct {
	post      time.Time // POST /v1/functions sent
	accepted  time.Time // its 202 received
	deploying time.Time // status Deploying written (status bucket watch)
	added     time.Time // Deployment ADDED (Kubernetes watch)
	ready     time.Time // Deployment readyReplicas 1 (Kubernetes watch)
	status    time.Time // status Ready written (status bucket watch)
	api       time.Time // a GET /v1/functions/{name} answered Ready
	gets      int       // GETs until it did
}

func (s createSample) total() time.Duration       { return s.status.Sub(s.post) }
func (s createSample) toAdded() time.Duration     { return s.added.Sub(s.post) }
func (s createSample) k8s() time.Duration         { return s.ready.Sub(s.added) }
func (s createSample) toStatus() time.Duration    { return s.status.Sub(s.ready) }
func (s createSample) ownShare() time.Duration    { return s.toAdded() + s.toStatus() }
func (s createSample) toAPI() time.Duration       { return s.api.Sub(s.post) }
func (s createSample) statusToAPI() time.Duration { return s.api.Sub(s.status) }

// baseDeploy is one bare client-go Deployment create → ready.
type baseDeploy struct {
	sent, created, added, ready time.Time
}

// invokeSample is one sync job-mode invocation through the gateway.
type invokeSample struct {
	sent, done      time.Time // POST :invoke sent, its 200 received
	added, complete time.Time // the invocation's Job ADDED, Complete (watch)
	runtimeMs       int64     // X-Duration-Ms: the runtime's Invoke
}

// baseJob is one bare client-go Job create → Complete, then a log read.
type baseJob struct {
	sent, added, complete time.Time
	logRead               time.Duration
}

type report struct {
	started, ended     time.Time
	loadStart, loadEnd string
	phases             benchkit.Phases
	creates            []createSample
	bases              []baseDeploy
	basesSvc           []baseDeploy // with the Service EventFlow also makes
	invokes            []invokeSample
	baseJobs           []baseJob
	apiWarm            []time.Duration // warm-up creates (not in the figures)
	mem                memResult
	windows            []cpuWindow
	svcs               map[string]*service
	kvUpdates          int64
	watchNotes         []string
	rssStart           int64
	idle               idleResult
}

// idleResult is the deployer at rest with every function deployed, over a
// window that holds at least one periodic resync (every 30 s).
type idleResult struct {
	wall        time.Duration
	deployerCPU time.Duration
	reconciles  float64
	rssAfter    int64
}

type memResult struct {
	rssBefore, rssAfter   int64
	heapBefore, heapAfter float64 // go_memstats_heap_inuse_bytes
	goroutinesBefore      float64
	goroutinesAfter       float64
	functionsBefore       int
	posts                 []time.Duration // each POST's latency
	toReady               []time.Duration // each function's POST sent → Ready written
	postErrs              int
	postErrSample         string
	allAccepted, allReady time.Duration // from the first POST
	podTemplates          int
	ptPerSecond           []int // PodTemplates created in each second, in order
	ptJSON, ptJSONNoMF    int   // mean JSON size of a PodTemplate, with and without managedFields
	probe                 createSample
	reconcileMean         time.Duration
	reconciles            float64
	deployerCPU           time.Duration
}

func runAll(b *testing.B) (*report, error) {
	if _, err := binDir(); err != nil { // before a cluster is started for nothing
		return nil, err
	}
	r := &report{started: time.Now(), loadStart: benchkit.LoadAvg()}
	ctx, cancel := context.WithTimeout(context.Background(), totalLimit)
	defer cancel()
	phase := r.phases.Add

	t0 := time.Now()
	env := k8stest.Start(b)
	phase("start cluster", t0)

	t0 = time.Now()
	env.InstallRBAC(b)
	ns := natstest.Start(b)
	extra := map[string][]string{}
	for _, s := range []string{"deployer", "invoker", "logstream"} {
		extra[s] = []string{"EVENTFLOW_RUNTIME=kubernetes", "EVENTFLOW_NAMESPACE_PREFIX=" + nsPrefix, "KUBECONFIG=" + env.ServiceKubeconfig(b, s)}
	}
	// The benchmark is one client measuring the platform, not a tenant to
	// protect others from: tenant mem creates 1,000 functions (past the
	// default 100 per tenant) and the watchers poll every 2 ms (past the
	// default 100 requests/s). Both limits off.
	extra["gateway"] = []string{"EVENTFLOW_TENANT_RATE=0", "EVENTFLOW_TENANT_MAX_FUNCTIONS=0"}
	svcs, err := startServices(ctx, ns.ClientURL(), extra)
	if err != nil {
		return nil, err
	}
	r.svcs = svcs
	// Cleanups run last first: the services stop before NATS does.
	b.Cleanup(func() {
		for _, s := range svcs {
			s.stop()
		}
	})
	deployer := svcs["deployer"]
	r.rssStart, _ = benchkit.VmRSS(deployer.pid())
	phase("RBAC, NATS, 4 services ready", t0)

	t0 = time.Now()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("eventflow-k8sbench"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	statusKV, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return nil, fmt.Errorf("status bucket: %w", err)
	}
	kvTL := newTimeline()
	kvw, err := watchStatus(ctx, statusKV, kvTL)
	if err != nil {
		return nil, err
	}
	defer kvw.stop()

	api := benchkit.NewClient("http://"+svcs["gateway"].addr, memConc, 60*time.Second)
	defer api.HC.CloseIdleConnections()
	lat, err := api.Login(ctx, latTenant)
	if err != nil {
		return nil, err
	}
	jobc, err := api.Login(ctx, jobTenant)
	if err != nil {
		return nil, err
	}
	memc, err := api.Login(ctx, memTenant)
	if err != nil {
		return nil, err
	}
	// Pods print "HELLO" (kwok serves logs from a file); this also creates
	// both namespaces and waits for their default ServiceAccount.
	env.ClusterLogs(b, baseNS, "HELLO")
	env.ClusterLogs(b, nsPrefix+jobTenant, "HELLO")
	phase("watches, tokens, pod logs", t0)

	// 1. create → Ready: EventFlow and two bare Kubernetes baselines, interleaved.
	t0 = time.Now()
	reconciles := func() float64 {
		m, err := scrape(ctx, deployer.addr)
		if err != nil {
			return -1
		}
		return m.Sum("eventflow_deployer_reconciles_total")
	}
	window := func(name string, c0, c1 cpuSnap, r0, r1 float64) {
		w := between(name, c0, c1)
		w.reconciles = -1
		if r0 >= 0 && r1 >= 0 {
			w.reconciles = r1 - r0
		}
		r.windows = append(r.windows, w)
	}
	c0, r0 := takeCPU(svcs), reconciles()
	efDep, baseDep := newTimeline(), newTimeline()
	w1, err := watchDeployments(ctx, env.Admin, nsPrefix+latTenant, efDep)
	if err != nil {
		return nil, err
	}
	defer w1.stop()
	w2, err := watchDeployments(ctx, env.Admin, baseNS, baseDep)
	if err != nil {
		return nil, err
	}
	defer w2.stop()
	for i := range createWarmup + createN {
		// Three steps, one after another, in an order rotating with i, so
		// whatever work one leaves behind is spread over the other two.
		var s createSample
		var bs, bss baseDeploy
		steps := []func() error{
			func() (err error) {
				if s, err = efCreate(ctx, lat, efDep, kvTL, latTenant, fmt.Sprintf("web-%03d", i)); err != nil {
					err = fmt.Errorf("create %d: %w\ndeployer log tail:\n%s", i, err, deployer.logs.TailText())
				}
				return err
			},
			func() (err error) {
				if bs, err = bareDeploy(ctx, env.Admin, baseDep, fmt.Sprintf("base-%03d", i), false); err != nil {
					err = fmt.Errorf("baseline deployment %d: %w", i, err)
				}
				return err
			},
			func() (err error) {
				if bss, err = bareDeploy(ctx, env.Admin, baseDep, fmt.Sprintf("bsvc-%03d", i), true); err != nil {
					err = fmt.Errorf("baseline deployment + service %d: %w", i, err)
				}
				return err
			},
		}
		for k := range steps {
			if err := steps[(i+k)%len(steps)](); err != nil {
				return nil, err
			}
		}
		if i < createWarmup {
			r.apiWarm = append(r.apiWarm, s.total())
			continue
		}
		r.creates = append(r.creates, s)
		r.bases = append(r.bases, bs)
		r.basesSvc = append(r.basesSvc, bss)
	}
	c1, r1 := takeCPU(svcs), reconciles()
	window(fmt.Sprintf("1. create → Ready (%d × 3, interleaved)", createWarmup+createN), c0, c1, r0, r1)
	phase(fmt.Sprintf("1. create → Ready ×%d + 2 baselines ×%d", createWarmup+createN, createWarmup+createN), t0)

	// 2. sync job-mode invocations, EventFlow and a bare Job interleaved.
	t0 = time.Now()
	efJobs, baseJobs := newTimeline(), newTimeline()
	w3, err := watchJobs(ctx, env.Admin, nsPrefix+jobTenant, efJobs)
	if err != nil {
		return nil, err
	}
	defer w3.stop()
	w4, err := watchJobs(ctx, env.Admin, baseNS, baseJobs)
	if err != nil {
		return nil, err
	}
	defer w4.stop()
	if err := deployJob(ctx, jobc, kvTL, jobTenant, "upper"); err != nil {
		return nil, err
	}
	c0, r0 = takeCPU(svcs), reconciles()
	for i := range invokeWarmup + invokeN {
		s, err := efInvoke(ctx, jobc, efJobs, "upper")
		if err != nil {
			return nil, fmt.Errorf("invocation %d: %w\ninvoker log tail:\n%s", i, err, svcs["invoker"].logs.TailText())
		}
		bj, err := bareJob(ctx, env.Admin, baseJobs)
		if err != nil {
			return nil, fmt.Errorf("baseline job %d: %w", i, err)
		}
		if i >= invokeWarmup {
			r.invokes = append(r.invokes, s)
			r.baseJobs = append(r.baseJobs, bj)
		}
	}
	c1, r1 = takeCPU(svcs), reconciles()
	window(fmt.Sprintf("2. job invocations (%d + %d, interleaved)", invokeWarmup+invokeN, invokeWarmup+invokeN), c0, c1, r0, r1)
	phase(fmt.Sprintf("2. job invoke ×%d + baseline ×%d", invokeWarmup+invokeN, invokeWarmup+invokeN), t0)

	// 3. the deployer's memory with 1,000 more functions.
	t0 = time.Now()
	c0, r0 = takeCPU(svcs), reconciles()
	if err := r.memory(ctx, memc, lat, kvTL, efDep, env.Admin, deployer); err != nil {
		return nil, fmt.Errorf("%w\ndeployer log tail:\n%s", err, deployer.logs.TailText())
	}
	c1, r1 = takeCPU(svcs), reconciles()
	window(fmt.Sprintf("3. %d functions Ready, then settle", memN), c0, c1, r0, r1)
	phase(fmt.Sprintf("3. %d functions", memN), t0)

	// 4. the deployer at rest with every function, over one resync.
	t0 = time.Now()
	c0, r0 = takeCPU(svcs), reconciles()
	if err := r.rest(ctx, deployer); err != nil {
		return nil, err
	}
	c1, r1 = takeCPU(svcs), reconciles()
	window(fmt.Sprintf("4. at rest, %d functions", memN+1+r.mem.functionsBefore), c0, c1, r0, r1)
	phase("4. at rest", t0)

	for _, w := range []*kwatch{w1, w2, w3, w4} {
		if p := w.problem(); p != "" {
			r.watchNotes = append(r.watchNotes, p)
		}
		if n := w.restarts.Load(); n > 0 {
			r.watchNotes = append(r.watchNotes, fmt.Sprintf("a watch was re-opened %d times", n))
		}
	}
	r.kvUpdates = kvw.updates.Load()

	t0 = time.Now()
	for _, name := range serviceNames {
		svcs[name].stop()
	}
	phase("stop services", t0)
	r.ended = time.Now()
	r.loadEnd = benchkit.LoadAvg()
	r.print(os.Stdout)
	return r, nil
}

func httpSpec(name string) map[string]any {
	return map[string]any{"name": name, "image": webImage, "replicas": 1, "invocation": map[string]any{"mode": function.ModeHTTP}}
}

func jobSpec(name string) map[string]any {
	return map[string]any{"name": name, "image": jobImage, "command": jobCommand}
}

// efCreate creates an http-mode function through the gateway and times it
// until its status says Ready.
func efCreate(ctx context.Context, a *benchkit.Client, dep, kv *timeline, tenant, name string) (createSample, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var s createSample
	key := events.FunctionKey(tenant, name)
	s.post = time.Now()
	r, err := a.PostJSON(ctx, "/v1/functions", httpSpec(name))
	s.accepted = time.Now()
	if err != nil {
		return s, err
	}
	if r.Code != http.StatusAccepted {
		return s, fmt.Errorf("POST /v1/functions %s: HTTP %d %s", name, r.Code, benchkit.Truncate(string(r.Body), 300))
	}
	diag := func(err error) error {
		f, gerr := getFunction(context.Background(), a, name)
		return fmt.Errorf("%w (GET: %+v %v)", err, f.Status, gerr)
	}
	if s.added, err = dep.wait(ctx, name, "added"); err != nil {
		return s, diag(err)
	}
	if s.ready, err = dep.wait(ctx, name, "ready"); err != nil {
		return s, diag(err)
	}
	ph, at, err := kv.waitAny(ctx, key, string(function.PhaseReady), string(function.PhaseFailed))
	if err != nil {
		return s, diag(err)
	}
	if ph != string(function.PhaseReady) {
		return s, diag(fmt.Errorf("function %s failed", name))
	}
	s.status = at
	s.deploying, _ = kv.get(key, string(function.PhaseDeploying))
	// Visible through the API: GET until Ready (at once, normally).
	for {
		f, err := getFunction(ctx, a, name)
		s.gets++
		if err != nil {
			return s, err
		}
		if f.Status.Phase == string(function.PhaseReady) && f.Status.ReadyReplicas == 1 {
			s.api = time.Now()
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("%s Ready in the status bucket but GET says %+v: %w", name, f.Status, ctx.Err())
		case <-time.After(apiPoll):
		}
	}
}

// equivalentObjects are the Deployment and Service EventFlow would make for
// an http-mode function (kube.NewDeployment, kube.NewService), as typed
// objects for a plain Create, without EventFlow's managed-by label so
// EventFlow's informers never see them.
func equivalentObjects(ns, name string) (*appsv1.Deployment, *corev1.Service, error) {
	r := int32(1)
	spec := function.Spec{Name: name, Image: webImage, Replicas: &r, Invocation: function.Invocation{Mode: function.ModeHTTP}}.WithDefaults()
	ac, err := kube.NewDeployment(ns, "baseline", spec)
	if err != nil {
		return nil, nil, err
	}
	var d appsv1.Deployment
	if err := roundTrip(ac, &d); err != nil {
		return nil, nil, err
	}
	delete(d.Labels, kube.LabelManagedBy)
	delete(d.Spec.Selector.MatchLabels, kube.LabelManagedBy)
	delete(d.Spec.Template.Labels, kube.LabelManagedBy)
	var svc corev1.Service
	if err := roundTrip(kube.NewService(ns, "baseline", spec), &svc); err != nil {
		return nil, nil, err
	}
	delete(svc.Labels, kube.LabelManagedBy)
	delete(svc.Spec.Selector, kube.LabelManagedBy)
	return &d, &svc, nil
}

func roundTrip(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// bareDeploy creates the equivalent Deployment with client-go and times it
// until a watch sees its replica ready.
// With withService it then creates the function's Service too, as the
// deployer does right after the Deployment.
func bareDeploy(ctx context.Context, cs kubernetes.Interface, tl *timeline, name string, withService bool) (baseDeploy, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var s baseDeploy
	d, svc, err := equivalentObjects(baseNS, name)
	if err != nil {
		return s, err
	}
	s.sent = time.Now()
	if _, err := cs.AppsV1().Deployments(baseNS).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	s.created = time.Now()
	if withService {
		if _, err := cs.CoreV1().Services(baseNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return s, err
		}
	}
	if s.added, err = tl.wait(ctx, name, "added"); err != nil {
		return s, err
	}
	s.ready, err = tl.wait(ctx, name, "ready")
	return s, err
}

// deployJob creates a job-mode function and waits until it is Ready.
func deployJob(ctx context.Context, a *benchkit.Client, kv *timeline, tenant, name string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	r, err := a.PostJSON(ctx, "/v1/functions", jobSpec(name))
	if err != nil {
		return err
	}
	if r.Code != http.StatusAccepted {
		return fmt.Errorf("POST /v1/functions %s: HTTP %d %s", name, r.Code, benchkit.Truncate(string(r.Body), 300))
	}
	ph, _, err := kv.waitAny(ctx, events.FunctionKey(tenant, name), string(function.PhaseReady), string(function.PhaseFailed))
	if err == nil && ph != string(function.PhaseReady) {
		f, _ := getFunction(ctx, a, name)
		err = fmt.Errorf("function %s failed: %s", name, f.Status.Message)
	}
	return err
}

// efInvoke invokes a job-mode function synchronously through the gateway
// and finds its Job's times on the watch.
func efInvoke(ctx context.Context, a *benchkit.Client, jobs *timeline, name string) (invokeSample, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var s invokeSample
	s.sent = time.Now()
	r, err := a.Do(ctx, http.MethodPost, "/v1/functions/"+name+":invoke", []byte("hello"), "text/plain")
	s.done = time.Now()
	if err != nil {
		return s, err
	}
	if r.Code != http.StatusOK || string(r.Body) != "HELLO\n" {
		return s, fmt.Errorf("invoke %s: HTTP %d %q", name, r.Code, benchkit.Truncate(string(r.Body), 300))
	}
	id := r.Header.Get("X-Invocation-Id")
	s.runtimeMs, _ = strconv.ParseInt(r.Header.Get("X-Duration-Ms"), 10, 64)
	if s.added, err = jobs.wait(ctx, id, "added"); err != nil {
		return s, err
	}
	s.complete, err = jobs.wait(ctx, id, "complete")
	return s, err
}

// bareJob creates the Job EventFlow would make for one invocation
// (kube.NewJob, without the managed-by label) with client-go, times it until
// a watch sees it Complete, then times one read of its pod's log.
func bareJob(ctx context.Context, cs kubernetes.Interface, tl *timeline) (baseJob, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var s baseJob
	spec := function.Spec{Name: "base", Image: jobImage, Command: jobCommand}.WithDefaults()
	id := events.NewInvocationID() // JobName keeps its first 12 characters
	ac, err := kube.NewJob(baseNS, "baseline", spec, kube.JobRun{ID: id, Payload: []byte("hello"), TTL: 600})
	if err != nil {
		return s, err
	}
	var j batchv1.Job
	if err := roundTrip(ac, &j); err != nil {
		return s, err
	}
	delete(j.Labels, kube.LabelManagedBy)
	delete(j.Spec.Template.Labels, kube.LabelManagedBy)
	s.sent = time.Now()
	if _, err := cs.BatchV1().Jobs(baseNS).Create(ctx, &j, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	if s.added, err = tl.wait(ctx, id, "added"); err != nil {
		return s, err
	}
	ev, at, err := tl.waitAny(ctx, id, "complete", "failed")
	if err != nil {
		return s, err
	}
	if ev != "complete" {
		return s, fmt.Errorf("job %s failed", j.Name)
	}
	s.complete = at
	pods, err := cs.CoreV1().Pods(baseNS).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: j.Name}).String()})
	if err != nil || len(pods.Items) == 0 {
		return s, fmt.Errorf("pod of job %s: %v (%d pods)", j.Name, err, len(pods.Items))
	}
	t := time.Now()
	out, err := cs.CoreV1().Pods(baseNS).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: kube.ContainerName}).DoRaw(ctx)
	s.logRead = time.Since(t)
	if err != nil || !strings.Contains(string(out), "HELLO") {
		return s, fmt.Errorf("log of %s: %q %v", pods.Items[0].Name, out, err)
	}
	return s, nil
}

// memory creates memN job-mode functions with memConc at once and reads the
// deployer's memory before and after they are all Ready (with one more
// function, the probe).
func (r *report) memory(ctx context.Context, a, lat *benchkit.Client, kv, efDep *timeline, admin kubernetes.Interface, deployer *service) error {
	m := &r.mem
	m.functionsBefore = createWarmup + createN + 1
	settle(ctx, deployer)
	var err error
	if m.rssBefore, err = benchkit.VmRSS(deployer.pid()); err != nil {
		return err
	}
	s0, err := scrape(ctx, deployer.addr)
	if err != nil {
		return err
	}
	m.heapBefore, m.goroutinesBefore = s0.Sum("go_memstats_heap_inuse_bytes"), s0.Sum("go_goroutines")
	cpu0, _, _ := benchkit.ProcTimes(deployer.pid())

	ctx, cancel := context.WithTimeout(ctx, memLimit)
	defer cancel()
	posted := make([]time.Time, memN)
	latency := make([]time.Duration, memN)
	ok := make([]bool, memN)
	next := make(chan int)
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range memConc {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				resp, err := a.PostJSON(ctx, "/v1/functions", jobSpec(memName(i)))
				posted[i], latency[i] = t, time.Since(t)
				if err == nil && resp.Code == http.StatusAccepted {
					ok[i] = true
					continue
				}
				mu.Lock()
				m.postErrs++
				if m.postErrSample == "" {
					m.postErrSample = fmt.Sprintf("HTTP %d %s %v", resp.Code, benchkit.Truncate(string(resp.Body), 200), err)
				}
				mu.Unlock()
			}
		})
	}
	for i := range memN {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	m.allAccepted = time.Since(start)
	if m.postErrs > 0 {
		return fmt.Errorf("%d of %d creates failed, e.g. %s", m.postErrs, memN, m.postErrSample)
	}
	// A probe: one http-mode function of another tenant, created while the
	// deployer works through the 1000, timed as in phase 1.
	probeDone := make(chan struct{})
	var probeErr error
	go func() {
		defer close(probeDone)
		m.probe, probeErr = efCreate(ctx, lat, efDep, kv, latTenant, "probe")
	}()
	lastReady, err := kv.waitCount(ctx, memTenant, string(function.PhaseReady), memN)
	<-probeDone
	if err != nil {
		return fmt.Errorf("%d functions Ready: %w", memN, err)
	}
	if probeErr != nil {
		return fmt.Errorf("probe function during the %d: %w", memN, probeErr)
	}
	m.allReady = lastReady.Sub(start)
	for i := range memN {
		m.posts = append(m.posts, latency[i])
		if t, found := kv.get(events.FunctionKey(memTenant, memName(i)), string(function.PhaseReady)); found && ok[i] {
			m.toReady = append(m.toReady, t.Sub(posted[i]))
		}
	}
	pts, err := admin.CoreV1().PodTemplates(nsPrefix+memTenant).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	m.podTemplates = len(pts.Items)
	perSecond := map[int64]int{}
	var first, lastPT time.Time
	for _, pt := range pts.Items {
		t := pt.CreationTimestamp.Time
		perSecond[t.Unix()]++
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(lastPT) {
			lastPT = t
		}
	}
	for sec := first.Unix(); sec <= lastPT.Unix() && len(m.ptPerSecond) < 600; sec++ {
		m.ptPerSecond = append(m.ptPerSecond, perSecond[sec])
	}
	if n := len(pts.Items); n > 0 {
		for _, pt := range pts.Items {
			b, _ := json.Marshal(pt)
			m.ptJSON += len(b)
			pt.ManagedFields = nil
			b, _ = json.Marshal(pt)
			m.ptJSONNoMF += len(b)
		}
		m.ptJSON /= n
		m.ptJSONNoMF /= n
	}

	settle(ctx, deployer)
	if m.rssAfter, err = benchkit.VmRSS(deployer.pid()); err != nil {
		return err
	}
	s1, err := scrape(ctx, deployer.addr)
	if err != nil {
		return err
	}
	m.heapAfter, m.goroutinesAfter = s1.Sum("go_memstats_heap_inuse_bytes"), s1.Sum("go_goroutines")
	m.reconciles = s1.Sum("eventflow_deployer_reconciles_total") - s0.Sum("eventflow_deployer_reconciles_total")
	m.reconcileMean, _, _ = benchkit.MeanDelta(s0, s1, "eventflow_deployer_reconcile_duration_seconds") // 0 without reconciles
	cpu1, _, _ := benchkit.ProcTimes(deployer.pid())
	m.deployerCPU = cpu1 - cpu0
	return nil
}

// idleWindow holds at least one of the deployer's periodic resyncs (30 s).
const idleWindow = 31 * time.Second

// rest watches the deployer for idleWindow with nothing asked of it.
func (r *report) rest(ctx context.Context, deployer *service) error {
	s0, err := scrape(ctx, deployer.addr)
	if err != nil {
		return err
	}
	cpu0, _, _ := benchkit.ProcTimes(deployer.pid())
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idleWindow):
	}
	s1, err := scrape(ctx, deployer.addr)
	if err != nil {
		return err
	}
	cpu1, _, _ := benchkit.ProcTimes(deployer.pid())
	r.idle.wall = time.Since(start)
	r.idle.deployerCPU = cpu1 - cpu0
	r.idle.reconciles = s1.Sum("eventflow_deployer_reconciles_total") - s0.Sum("eventflow_deployer_reconciles_total")
	r.idle.rssAfter, err = benchkit.VmRSS(deployer.pid())
	return err
}

func memName(i int) string { return fmt.Sprintf("m%04d", i) }

// settle waits (bounded) until the deployer's queue is empty twice in a row
// 250 ms apart, then a second more, so its memory is read at rest.
func settle(ctx context.Context, deployer *service) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	quiet := 0
	for quiet < 2 {
		s, err := scrape(ctx, deployer.addr)
		if err == nil && s.Sum("eventflow_deployer_queue_depth") == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// durations maps samples to one duration each.
func durations[T any](xs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
