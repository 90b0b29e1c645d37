package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// dashboardPath is the Grafana dashboard shipped in deploy/grafana.
var dashboardPath = filepath.Join("..", "..", "deploy", "grafana", "eventflow.json")

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// promMetricNames returns the metric names a PromQL expression selects:
// identifiers that are not functions, keywords, label names or variables.
func promMetricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] || (loc[0] > 0 && strings.ContainsRune("$0123456789.", rune(e[loc[0]-1]))) {
			continue
		}
		names = append(names, name)
	}
	return names
}

func TestPromMetricNames(t *testing.T) {
	got := promMetricNames(`topk(10, histogram_quantile(0.95, sum by (le, tenant) (rate(a_bucket{outcome=~"x|y"}[$__rate_interval])))) / on (tenant) b_total offset 5m`)
	if strings.Join(got, ",") != "a_bucket,b_total" {
		t.Fatalf("names = %v", got)
	}
}

// TestDashboardMetricsExist: every metric the Grafana dashboard
// (deploy/grafana/eventflow.json) queries is one EventFlow exports: with
// `eventflow dev` running, a job-mode function invoked sync and async, the
// gateway's /metrics has each of them (histograms as their _bucket, _sum
// and _count series).
func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // metric name → panels
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range promMetricNames(tg.Expr) {
				want[n] = append(want[n], p.Title)
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no metric names found in the dashboard")
	}

	p := startDev(t, t.TempDir())
	c := newClient(t, p.URL, token(t, p.URL, "dash"))
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "echo", "command": []string{"cat"}}); r.Status != 202 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "echo", "Ready")
	if r := c.do("POST", "/v1/functions/echo:invoke", "hi"); r.Status != 200 {
		t.Fatalf("sync invoke: %d %s", r.Status, r.Body)
	}
	r := c.do("POST", "/v1/functions/echo:invoke?async=true", "later")
	var acc struct{ ID string }
	r.json(t, &acc)
	if inv := waitInvocation(t, c, acc.ID, 20*time.Second); inv.Status != "succeeded" {
		t.Fatalf("async: %+v", inv)
	}

	// The metrics are recorded after the reply: wait for the per-function
	// series of both invocations.
	var scraped map[string]bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		scraped = scrapeNames(t, p.URL+"/metrics")
		if scraped["eventflow_function_invocations_total"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var missing []string
	for n, panels := range want {
		if !scraped[n] {
			missing = append(missing, n+" (panels: "+strings.Join(panels, "; ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics EventFlow does not export:\n%s", strings.Join(missing, "\n"))
	}
}

// scrapeNames GETs a Prometheus text endpoint and returns its series names.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
