package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/benchkit"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Workload and target of BenchmarkRoute.
const (
	routeFunction = "bench-route"
	routeRequests = 2_000
	routeWarmup   = 200
	routeLimit    = 2 * time.Minute

	// targetRouteAddedP50 is the goal: the route adds at most this
	// to a direct call, p50.
	targetRouteAddedP50 = time.Millisecond
)

var lastRoute benchkit.LastRun[*routeReport]

// BenchmarkRoute measures the latency the HTTP route (/fn/<tenant>/<fn>/)
// adds to a call of an http-mode function, against calling the same
// function instance directly (its endpoint, read from the status bucket
// as the gateway does), in the same run, with the sync :invoke path in the
// same table. Each round sends one request each way, in rotating order,
// sequentially, so the three see the same machine noise.
func BenchmarkRoute(b *testing.B) {
	r := lastRoute.Get(b, runRoute)
	d, rt, inv := benchkit.Summarize(r.direct), benchkit.Summarize(r.route), benchkit.Summarize(r.invoke)
	b.ReportMetric(benchkit.Ms(d.P50), "direct-p50-ms")
	b.ReportMetric(benchkit.Ms(rt.P50), "route-p50-ms")
	b.ReportMetric(benchkit.Ms(rt.P50-d.P50), "route-added-p50-ms")
	b.ReportMetric(benchkit.Ms(rt.P99-d.P99), "route-added-p99-ms")
	b.ReportMetric(benchkit.Ms(inv.P50-d.P50), "invoke-added-p50-ms")
	b.ReportMetric(benchkit.Ms(inv.P99-d.P99), "invoke-added-p99-ms")
}

type routeReport struct {
	started               time.Time
	direct, route, invoke []time.Duration
	errors                int
	samples               []string
}

func runRoute(b *testing.B) (*routeReport, error) {
	r := &routeReport{started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), totalLimit)
	defer cancel()
	s, err := startLoggedIn(ctx, b, nil, 2)
	if err != nil {
		return nil, err
	}
	p, a, echoBin := s.p, s.a, s.echoBin
	if err := deploy(ctx, a, map[string]any{"name": routeFunction, "command": []string{echoBin},
		"replicas": 1, "invocation": map[string]any{"mode": function.ModeHTTP}}); err != nil {
		return nil, fmt.Errorf("%w\nplatform stderr tail:\n%s", err, p.logs.TailText())
	}
	endpoint, err := routeEndpoint(ctx, p)
	if err != nil {
		return nil, err
	}

	directC := &http.Client{Transport: benchkit.NewTransport(2), Timeout: 10 * time.Second}
	gwC := &http.Client{Transport: benchkit.NewTransport(2), Timeout: 40 * time.Second}
	defer directC.CloseIdleConnections()
	defer gwC.CloseIdleConnections()
	call := func(c *http.Client, url string, withAuth bool) (time.Duration, error) {
		auth := ""
		if withAuth {
			auth = "Bearer " + a.Token
		}
		return timedEcho(ctx, c, url, auth, payload)
	}
	ways := []struct {
		name string
		call func() (time.Duration, error)
		out  *[]time.Duration
	}{
		{"direct", func() (time.Duration, error) { return call(directC, endpoint+"/", false) }, &r.direct},
		{"route", func() (time.Duration, error) {
			return call(gwC, p.apiURL+function.RoutePath(tenant, routeFunction), true)
		}, &r.route},
		{"invoke", func() (time.Duration, error) {
			return call(gwC, p.apiURL+"/v1/functions/"+routeFunction+":invoke", true)
		}, &r.invoke},
	}
	// The route learns the endpoint from the status watch: wait (bounded)
	// until it answers, then warm every way up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ways[1].call()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("route not answering within 10s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range routeWarmup {
		for _, w := range ways {
			if _, err := w.call(); err != nil {
				return nil, fmt.Errorf("warm-up %s: %w", w.name, err)
			}
		}
	}
	lctx, lcancel := context.WithTimeout(ctx, routeLimit)
	defer lcancel()
	for i := range routeRequests {
		if lctx.Err() != nil {
			break
		}
		for k := range ways {
			w := ways[(i+k)%len(ways)]
			d, err := w.call()
			if err != nil {
				r.errors++
				if len(r.samples) < 5 {
					r.samples = append(r.samples, w.name+": "+err.Error())
				}
				continue
			}
			*w.out = append(*w.out, d)
		}
		if r.errors > 50 {
			return nil, fmt.Errorf("too many failed requests: %v", r.samples)
		}
	}
	r.print(os.Stdout)
	return r, nil
}

// routeEndpoint reads the function's endpoint where the gateway does: its
// status in the status bucket.
func routeEndpoint(ctx context.Context, p *platform) (string, error) {
	nc, err := nats.Connect(p.natsURL, append(p.natsID, nats.Name("eventflow-bench-route"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	kv, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, events.FunctionKey(tenant, routeFunction))
	if err != nil {
		return "", fmt.Errorf("status of %s: %w", routeFunction, err)
	}
	var st function.Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return "", err
	}
	if len(st.Endpoints) != 1 {
		return "", fmt.Errorf("status of %s has endpoints %v, want one", routeFunction, st.Endpoints)
	}
	return st.Endpoints[0], nil
}

func (r *routeReport) print(w io.Writer) {
	d, rt, inv := benchkit.Summarize(r.direct), benchkit.Summarize(r.route), benchkit.Summarize(r.invoke)
	rows := [][]string{{"measure", "value", "baseline (same run)", "value", "ratio", "target"}}
	for _, q := range []struct {
		name       string
		rt, inv, d time.Duration
		tgt        string
	}{
		{"p50", rt.P50, inv.P50, d.P50, fmt.Sprintf("added ≤ %s: %s", fmtMs(targetRouteAddedP50), benchkit.Verdict(rt.P50-d.P50 <= targetRouteAddedP50))},
		{"p90", rt.P90, inv.P90, d.P90, "—"},
		{"p99", rt.P99, inv.P99, d.P99, "—"},
	} {
		rows = append(rows, []string{"HTTP route " + q.name + " (/fn/, http echo)", fmtMs(q.rt),
			"same instance called directly, " + q.name, fmtMs(q.d),
			fmt.Sprintf("%.1f× (+%s)", float64(q.rt)/float64(q.d), fmtMs(q.rt-q.d)), q.tgt})
	}
	for _, q := range []struct {
		name   string
		inv, d time.Duration
	}{{"p50", inv.P50, d.P50}, {"p90", inv.P90, d.P90}, {"p99", inv.P99, d.P99}} {
		rows = append(rows, []string{"sync :invoke " + q.name + " (same function)", fmtMs(q.inv),
			"same instance called directly, " + q.name, fmtMs(q.d),
			fmt.Sprintf("%.1f× (+%s)", float64(q.inv)/float64(q.d), fmtMs(q.inv-q.d)), "—"})
	}
	fmt.Fprintf(w, "\nEventFlow HTTP route benchmark (%d CPUs, %s, %s/%s, %s)\n\n", runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, r.started.Format("2006-01-02 15:04:05 MST"))
	benchkit.PrintTable(w, rows)
	fmt.Fprintln(w, "\nNotes")
	fmt.Fprintf(w, "- %d rounds after %d of warm-up, one request each way per round (rotating order), sequential, keep-alive; body %d bytes echoed.\n",
		len(r.route), routeWarmup, len(payload))
	fmt.Fprintln(w, "- direct: the function instance's endpoint from the status bucket (what the gateway proxies to); route: POST /fn/<tenant>/<fn>/ "+
		"(token auth, proxied by the gateway); sync :invoke: POST /v1/functions/<fn>:invoke (NATS request/reply through the invoker).")
	if r.errors > 0 {
		fmt.Fprintf(w, "- %d requests failed: %v\n", r.errors, r.samples)
	}
}
