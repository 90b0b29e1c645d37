package k8sbench

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
)

// figures are the distributions the table and the metrics are made of.
type figures struct {
	total, toAdded, k8s, toStatus, share, toAPI, statusToAPI benchkit.Summary
	accepted, acceptedToDeploying, deployingToAdded          benchkit.Summary
	base, baseToAdded, baseK8s, baseCall                     benchkit.Summary
	baseSvc, baseSvcK8s                                      benchkit.Summary
	inv, invToAdded, invK8s, invAfter, invShare, invRuntime  benchkit.Summary
	invGatewayOverhead                                       benchkit.Summary
	job, jobToAdded, jobK8s, jobLog                          benchkit.Summary
}

func (r *report) figures() figures {
	var f figures
	c := r.creates
	f.total = benchkit.Summarize(durations(c, createSample.total))
	f.toAdded = benchkit.Summarize(durations(c, createSample.toAdded))
	f.k8s = benchkit.Summarize(durations(c, createSample.k8s))
	f.toStatus = benchkit.Summarize(durations(c, createSample.toStatus))
	f.share = benchkit.Summarize(durations(c, createSample.ownShare))
	f.toAPI = benchkit.Summarize(durations(c, createSample.toAPI))
	f.statusToAPI = benchkit.Summarize(durations(c, createSample.statusToAPI))
	f.accepted = benchkit.Summarize(durations(c, func(s createSample) time.Duration { return s.accepted.Sub(s.post) }))
	f.acceptedToDeploying = benchkit.Summarize(durations(c, func(s createSample) time.Duration { return s.deploying.Sub(s.accepted) }))
	f.deployingToAdded = benchkit.Summarize(durations(c, func(s createSample) time.Duration { return s.added.Sub(s.deploying) }))
	bs := r.bases
	f.base = benchkit.Summarize(durations(bs, func(s baseDeploy) time.Duration { return s.ready.Sub(s.sent) }))
	f.baseToAdded = benchkit.Summarize(durations(bs, func(s baseDeploy) time.Duration { return s.added.Sub(s.sent) }))
	f.baseK8s = benchkit.Summarize(durations(bs, func(s baseDeploy) time.Duration { return s.ready.Sub(s.added) }))
	f.baseCall = benchkit.Summarize(durations(bs, func(s baseDeploy) time.Duration { return s.created.Sub(s.sent) }))
	f.baseSvc = benchkit.Summarize(durations(r.basesSvc, func(s baseDeploy) time.Duration { return s.ready.Sub(s.sent) }))
	f.baseSvcK8s = benchkit.Summarize(durations(r.basesSvc, func(s baseDeploy) time.Duration { return s.ready.Sub(s.added) }))
	iv := r.invokes
	f.inv = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return s.done.Sub(s.sent) }))
	f.invToAdded = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return s.added.Sub(s.sent) }))
	f.invK8s = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return s.complete.Sub(s.added) }))
	f.invAfter = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return s.done.Sub(s.complete) }))
	f.invShare = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return s.added.Sub(s.sent) + s.done.Sub(s.complete) }))
	f.invRuntime = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration { return time.Duration(s.runtimeMs) * time.Millisecond }))
	f.invGatewayOverhead = benchkit.Summarize(durations(iv, func(s invokeSample) time.Duration {
		return s.done.Sub(s.sent) - time.Duration(s.runtimeMs)*time.Millisecond
	}))
	j := r.baseJobs
	f.job = benchkit.Summarize(durations(j, func(s baseJob) time.Duration { return s.complete.Sub(s.sent) }))
	f.jobToAdded = benchkit.Summarize(durations(j, func(s baseJob) time.Duration { return s.added.Sub(s.sent) }))
	f.jobK8s = benchkit.Summarize(durations(j, func(s baseJob) time.Duration { return s.complete.Sub(s.added) }))
	f.jobLog = benchkit.Summarize(durations(j, func(s baseJob) time.Duration { return s.logRead }))
	return f
}

func pp(s benchkit.Summary) string { return fmtMs(s.P50) + " / " + fmtMs(s.P99) }

func (r *report) print(w io.Writer) {
	f := r.figures()
	m := r.mem
	added := int64(memN + 1) // the 1000 and the probe
	perFn := (m.rssAfter - m.rssBefore) / added
	rows := [][]string{
		{"measure", "EventFlow p50 / p99", "baseline (same run)", "baseline p50 / p99", "ratio p50", "target"},
		{fmt.Sprintf("create → Ready, http mode, 1 replica (n=%d)", f.total.N), pp(f.total),
			"bare client-go Deployment create → readyReplicas 1", pp(f.base), ratio(f.total.P50, f.base.P50), "—"},
		{"", "", "the same + its Service (as EventFlow makes)", pp(f.baseSvc), ratio(f.total.P50, f.baseSvc.P50), "—"},
		{"  (a) POST sent → Deployment ADDED   [EventFlow]", pp(f.toAdded),
			"create sent → ADDED", pp(f.baseToAdded), ratio(f.toAdded.P50, f.baseToAdded.P50), "—"},
		{"  (b) ADDED → readyReplicas 1        [Kubernetes]", pp(f.k8s),
			"ADDED → readyReplicas 1", pp(f.baseK8s), ratio(f.k8s.P50, f.baseK8s.P50), "—"},
		{"", "", "with its Service: ADDED → readyReplicas 1", pp(f.baseSvcK8s), ratio(f.k8s.P50, f.baseSvcK8s.P50), "—"},
		{"  (c) readyReplicas 1 → status Ready [EventFlow]", pp(f.toStatus), "—", "—", "—", "—"},
		{"  (a)+(c) EventFlow's own share", pp(f.share), "—", "—", "—",
			fmt.Sprintf("p50 < %s: %s", fmtMs(targetShareP50), benchkit.Verdict(f.share.N > 0 && f.share.P50 < targetShareP50))},
		{fmt.Sprintf("sync job-mode invocation round trip (n=%d)", f.inv.N), pp(f.inv),
			"bare client-go Job create → Complete", pp(f.job), ratio(f.inv.P50, f.job.P50), "—"},
		{"  POST sent → Job ADDED              [EventFlow]", pp(f.invToAdded),
			"create sent → ADDED", pp(f.jobToAdded), ratio(f.invToAdded.P50, f.jobToAdded.P50), "—"},
		{"  Job ADDED → Complete               [Kubernetes]", pp(f.invK8s),
			"ADDED → Complete", pp(f.jobK8s), ratio(f.invK8s.P50, f.jobK8s.P50), "—"},
		{"  Complete → 200 received            [EventFlow]", pp(f.invAfter),
			"one read of the pod's log", pp(f.jobLog), ratio(f.invAfter.P50, f.jobLog.P50), "—"},
		{"  EventFlow's own share", pp(f.invShare), "—", "—", "—", "—"},
		{fmt.Sprintf("deployer RSS: %d functions → +%d job-mode (+1 probe)", m.functionsBefore, memN),
			mib(m.rssBefore) + " → " + mib(m.rssAfter), "—", "—", "—", "—"},
		{fmt.Sprintf("  per function (Δ / %d)", added), fmt.Sprintf("%.1f KiB", float64(perFn)/1024), "—", "—", "—", "—"},
		{"  deployer Go heap in use", fmt.Sprintf("%s → %s (%.1f KiB/fn)", mib(int64(m.heapBefore)), mib(int64(m.heapAfter)),
			(m.heapAfter-m.heapBefore)/1024/float64(added)), "—", "—", "—", "—"},
		{fmt.Sprintf("%d functions created (%d at once) → all Ready", memN, memConc), fmtMs(m.allReady),
			"—", "—", "—", "—"},
		{"  each one: POST sent → Ready written", pp(benchkit.Summarize(m.toReady)), "—", "—", "—", "—"},
		{"  meanwhile, another tenant's http function: create → Ready", fmtMs(m.probe.total()),
			"phase 1's create → Ready p50 (no load)", fmtMs(f.total.P50), ratio(m.probe.total(), f.total.P50), "—"},
		{fmt.Sprintf("deployer at rest with %d functions (%s, ≥ 1 resync)", memN+1+m.functionsBefore, r.idle.wall.Round(time.Second)),
			fmt.Sprintf("%.1f%% of a CPU, %.0f reconciles", 100*r.idle.deployerCPU.Seconds()/max(r.idle.wall.Seconds(), 1e-9), r.idle.reconciles), "—", "—", "—", "—"},
	}

	fmt.Fprintf(w, "\nEventFlow on Kubernetes (test control plane, kwok node; %d CPUs, %s, %s/%s, %s)\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"))
	benchkit.PrintTable(w, rows)

	fmt.Fprintln(w, "\nHow it was measured")
	fmt.Fprintf(w, "- create → Ready: %d http-mode functions (image %s, replicas 1) created one after another through the gateway (after %d warm-up creates: %s), "+
		"interleaved in rotating order with a bare Deployment create of the same object (kube.NewDeployment without the managed-by label) and a bare Deployment + Service create, "+
		"in namespace %s with the admin client; never two at once. "+
		"Times are when this process received: the HTTP answer; a client-go watch event on Deployments (one watch per namespace, admin client); "+
		"a JetStream KV watch update of bucket %s (key <tenant>.<name>).\n",
		f.total.N, webImage, createWarmup, fmtDurations(r.apiWarm), baseNS, "eventflow_function_status")
	fmt.Fprintf(w, "  total = POST sent → status Ready written (KV watch); (a) POST sent → Deployment ADDED; (b) ADDED → first event with readyReplicas 1; "+
		"(c) that event → status Ready written (KV watch, not an API poll).\n")
	fmt.Fprintf(w, "  (a) in parts, p50/p99: POST → 202 received %s; 202 → status Deploying written %s; Deploying written → Deployment ADDED %s.\n",
		pp(f.accepted), pp(f.acceptedToDeploying), pp(f.deployingToAdded))
	fmt.Fprintf(w, "  Through the API: POST sent → a GET answering Ready %s (status written → that GET answered %s; %s GETs per function on average).\n",
		pp(f.toAPI), pp(f.statusToAPI), avgGets(r.creates))
	fmt.Fprintf(w, "  Baseline create call itself (request → response) %s. Min/mean/max: EventFlow total %s/%s/%s, baseline %s/%s/%s.\n",
		pp(f.baseCall), fmtMs(f.total.Min), fmtMs(f.total.Mean), fmtMs(f.total.Max), fmtMs(f.base.Min), fmtMs(f.base.Mean), fmtMs(f.base.Max))
	for _, x := range []struct {
		name string
		s    benchkit.Summary
	}{{"(c)", f.toStatus}, {"202 → Deploying", f.acceptedToDeploying}} {
		if x.s.Negative > 0 {
			fmt.Fprintf(w, "  %s was negative %d times: the two observers (our watch and the deployer's informer) see events in either order.\n", x.name, x.s.Negative)
		}
	}
	fmt.Fprintf(w, "- job invocations: %d sync POST /v1/functions/upper:invoke (image %s, command %v; payload \"hello\", answer \"HELLO\\n\" from kwok's ClusterLogs), "+
		"after %d warm-up, each followed by one bare Job create (kube.NewJob without the managed-by label) in %s, then one GetLogs of its pod. "+
		"Jobs keyed by their eventflow.io/invocation label = X-Invocation-Id.\n",
		f.inv.N, jobImage, jobCommand, invokeWarmup, baseNS)
	fmt.Fprintf(w, "  The runtime's own Invoke (X-Duration-Ms) %s; the rest (gateway, NATS request/reply, invoker around Invoke) %s.\n",
		pp(f.invRuntime), pp(f.invGatewayOverhead))
	if len(r.windows) >= 2 && r.windows[0].reconciles >= 0 && r.windows[1].reconciles >= 0 {
		fmt.Fprintf(w, "- deployer reconciles (its /metrics): %.0f during phase 1 (%.1f per EventFlow create; the baselines' objects are invisible to it), "+
			"%.0f during phase 2 (%.1f per job invocation, although no function changed).\n",
			r.windows[0].reconciles, r.windows[0].reconciles/float64(createWarmup+createN),
			r.windows[1].reconciles, r.windows[1].reconciles/float64(invokeWarmup+invokeN))
	}
	fmt.Fprintf(w, "- memory: VmRSS of the deployer process (/proc/<pid>/status): %s right after start (0 functions), %s before the %d (%d functions), %s after all were Ready "+
		"and its queue was empty for 0.5 s + 1 s. Go heap in use (its /metrics) %s → %s; goroutines %.0f → %.0f.\n",
		mib(r.rssStart), mib(m.rssBefore), memN, m.functionsBefore, mib(m.rssAfter), mib(int64(m.heapBefore)), mib(int64(m.heapAfter)), m.goroutinesBefore, m.goroutinesAfter)
	fmt.Fprintf(w, "  %d job-mode functions (a PodTemplate each, no pods) POSTed by %d clients: all accepted after %s (POST p50/p99 %s), "+
		"all Ready (KV watch) after %s; %d PodTemplates in %s%s. The deployer did %.0f reconciles (%.1f per function) using %s of CPU (%.2f ms per function).\n",
		memN, memConc, fmtMs(m.allAccepted), pp(benchkit.Summarize(m.posts)), fmtMs(m.allReady), m.podTemplates, nsPrefix, memTenant,
		m.reconciles, m.reconciles/memN, m.deployerCPU.Round(10*time.Millisecond), benchkit.Ms(m.deployerCPU)/memN)
	fmt.Fprintf(w, "  Mean reconcile during the 1000: %s. PodTemplates created per second (creationTimestamp): %s.\n",
		fmtMs(m.reconcileMean), fmtInts(m.ptPerSecond))
	fmt.Fprintf(w, "  A PodTemplate as listed is %d bytes of JSON on average, %d without its managedFields.\n", m.ptJSON, m.ptJSONNoMF)
	p := m.probe
	fmt.Fprintf(w, "  The probe (tenant %s, http mode, POSTed once all %d were accepted): POST → ADDED %s, ADDED → ready %s, ready → status Ready %s; total %s.\n",
		latTenant, memN, fmtMs(p.toAdded()), fmtMs(p.k8s()), fmtMs(p.toStatus()), fmtMs(p.total()))
	fmt.Fprintf(w, "- at rest: %s with nothing asked: the deployer did %.0f reconciles using %s of CPU; RSS then %s.\n",
		r.idle.wall.Round(100*time.Millisecond), r.idle.reconciles, r.idle.deployerCPU.Round(10*time.Millisecond), mib(r.idle.rssAfter))
	fmt.Fprintf(w, "- the status bucket watch saw %d updates in all.\n", r.kvUpdates)
	for _, n := range r.watchNotes {
		fmt.Fprintf(w, "  %s\n", n)
	}

	fmt.Fprintf(w, "\nCPU by window (%% of one CPU; %d CPUs; bench = this process incl. embedded NATS; eventflow = the 4 services; kube = etcd, apiserver, controllers, scheduler, kwok; other = everything else on the machine)\n", runtime.NumCPU())
	for _, win := range r.windows {
		if !win.ok {
			fmt.Fprintf(w, "- %s: no /proc\n", win.name)
			continue
		}
		fmt.Fprintf(w, "- %-42s %7s wall: machine %4.0f%%, bench %3.0f%%, eventflow %3.0f%% (deployer %3.0f%%), kube %4.0f%%, other %4.0f%%; deployer reconciles %.0f\n",
			win.name, win.wall.Round(100*time.Millisecond), win.machine, win.bench, win.eventflow, win.deployer, win.kube, win.other, win.reconciles)
	}
	fmt.Fprintf(w, "Load average at start %s, at end %s.\n", r.loadStart, r.loadEnd)

	fmt.Fprintln(w, "\nServices (log level warn)")
	for _, name := range serviceNames {
		s := r.svcs[name]
		warn, errs, kinds := s.logs.Summary(5)
		code := -1
		if st := s.proc.Cmd.ProcessState; st != nil {
			code = st.ExitCode()
		}
		fmt.Fprintf(w, "- %-9s %d warnings, %d errors; stopped in %s, exit code %d%s\n", name, warn, errs,
			s.proc.Shutdown().Round(time.Millisecond), code, map[bool]string{true: " (KILLED after SIGTERM timeout)", false: ""}[s.proc.Killed()])
		for i, k := range kinds {
			if i == 6 {
				fmt.Fprintf(w, "    … %d more kinds\n", len(kinds)-6)
				break
			}
			fmt.Fprintf(w, "    %s\n", k)
		}
	}
	r.phases.Print(w, r.ended.Sub(r.started))
}

func fmtDurations(ds []time.Duration) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		s += fmtMs(d)
	}
	return s
}

func fmtInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, " ")
}

func avgGets(cs []createSample) string {
	if len(cs) == 0 {
		return "0"
	}
	n := 0
	for _, c := range cs {
		n += c.gets
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(len(cs)))
}

func (r *report) reportMetrics(b *testing.B) {
	f := r.figures()
	b.ReportMetric(0, "ns/op") // the wall time of the whole run says nothing
	b.ReportMetric(benchkit.Ms(f.total.P50), "create-ready-p50-ms")
	b.ReportMetric(benchkit.Ms(f.total.P99), "create-ready-p99-ms")
	b.ReportMetric(benchkit.Ms(f.share.P50), "eventflow-share-p50-ms")
	b.ReportMetric(benchkit.Ms(f.share.P99), "eventflow-share-p99-ms")
	b.ReportMetric(benchkit.Ms(f.k8s.P50), "k8s-share-p50-ms")
	b.ReportMetric(benchkit.Ms(f.base.P50), "bare-deploy-p50-ms")
	if f.base.P50 > 0 {
		b.ReportMetric(float64(f.total.P50)/float64(f.base.P50), "create/bare-p50")
	}
	b.ReportMetric(benchkit.Ms(f.inv.P50), "job-invoke-p50-ms")
	b.ReportMetric(benchkit.Ms(f.inv.P99), "job-invoke-p99-ms")
	b.ReportMetric(benchkit.Ms(f.job.P50), "bare-job-p50-ms")
	if f.job.P50 > 0 {
		b.ReportMetric(float64(f.inv.P50)/float64(f.job.P50), "invoke/bare-p50")
	}
	b.ReportMetric(float64(r.mem.rssBefore)/(1<<20), "deployer-rss-before-MiB")
	b.ReportMetric(float64(r.mem.rssAfter)/(1<<20), "deployer-rss-after-MiB")
	b.ReportMetric(float64(r.mem.rssAfter-r.mem.rssBefore)/1024/memN, "deployer-KiB/function")
	b.ReportMetric(r.mem.allReady.Seconds(), "1000-ready-s")
	b.ReportMetric(benchkit.Ms(f.baseSvc.P50), "bare-deploy+svc-p50-ms")
	if len(r.windows) >= 2 && r.windows[1].reconciles >= 0 {
		b.ReportMetric(r.windows[1].reconciles/float64(invokeWarmup+invokeN), "deployer-reconciles/invocation")
	}
}
