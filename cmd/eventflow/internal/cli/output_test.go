package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/NAME.golden (go test -update rewrites
// it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func fixtures() []function.Function {
	three := int32(3)
	http := function.Invocation{Mode: function.ModeHTTP}
	return []function.Function{
		{Spec: function.Spec{Name: "echo", Command: []string{"node", "-e", "require('http').createServer((q,s)=>q.pipe(s)).listen(process.env.PORT)"},
			Scale:      &function.Scale{Min: 0, Max: 4, Target: 10, Metric: function.MetricConcurrency, IdleAfter: function.Duration(30 * time.Second)},
			Invocation: http, Labels: map[string]string{"team": "web", managedByLabel: managedByCLI}},
			Tenant: "demo", Generation: 3, CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-time.Minute),
			Status: function.Status{Phase: function.PhaseDeploying, ReadyReplicas: 1, Replicas: 2, ObservedGeneration: 3, Message: "1 of 2 instances ready",
				LastScale: &function.ScaleDecision{From: 1, To: 2, Reason: "up: 14 in flight (target 10 per instance)", At: now.Add(-2 * time.Minute)}}},
		{Spec: function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}, Env: map[string]string{"LANG": "C", "GREETING": "hi"}},
			Tenant: "demo", Generation: 1, CreatedAt: now.Add(-90 * time.Second), UpdatedAt: now.Add(-90 * time.Second),
			Status: function.Status{Phase: function.PhaseReady, ObservedGeneration: 1}},
		// Scaled to zero after idling.
		{Spec: function.Spec{Name: "hook", Command: []string{"serve"}, Invocation: http,
			Scale: &function.Scale{Min: 0, Max: 2, Target: 5, Metric: function.MetricQueue, IdleAfter: function.Duration(time.Minute)}},
			Tenant: "demo", Generation: 1, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour),
			Status: function.Status{Phase: function.PhaseReady, ObservedGeneration: 1,
				LastScale: &function.ScaleDecision{From: 1, To: 0, Reason: "to zero: no work for 1m0s", At: now.Add(-5 * time.Minute)}}},
		// The older replicas, as a spec given to the API reads (the API
		// shows it mapped to scale).
		{Spec: function.Spec{Name: "api", Command: []string{"serve"}, Invocation: http, Replicas: &three},
			Tenant: "demo", Generation: 2, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour),
			Status: function.Status{Phase: function.PhaseReady, ReadyReplicas: 3, Replicas: 3, ObservedGeneration: 2}},
		// Left to a HorizontalPodAutoscaler on CPU.
		{Spec: function.Spec{Name: "resize", Image: "ghcr.io/acme/resize:1.4", Invocation: http,
			Scale: &function.Scale{Min: 1, Max: 4, Target: 80, Metric: function.MetricCPU, IdleAfter: function.Duration(30 * time.Second)}},
			Tenant: "demo", Generation: 1, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour),
			Status: function.Status{Phase: function.PhaseReady, ReadyReplicas: 2, Replicas: 2, ObservedGeneration: 1}},
		// New: no status yet, so its desired count is the one it starts with.
		{Spec: function.Spec{Name: "fresh", Command: []string{"serve"}, Invocation: http, Scale: &function.Scale{Min: 0, Max: 4}},
			Tenant: "demo", Generation: 1, CreatedAt: now.Add(-time.Second), UpdatedAt: now.Add(-time.Second),
			Status: function.Status{Phase: function.PhasePending}},
	}
}

func TestFunctionTables(t *testing.T) {
	for _, format := range []string{outTable, outWide, outName} {
		var b bytes.Buffer
		if err := printFunctions(&b, format, fixtures(), now); err != nil {
			t.Fatal(err)
		}
		golden(t, "list-"+format, b.Bytes())
	}
}

func TestDescribe(t *testing.T) {
	ms := int64(12)
	evs := []client.Event{{Seq: "40", CloudEvent: events.CloudEvent{Type: events.TypeFunctionScaled, Time: now.Add(-2 * time.Minute),
		Data: json.RawMessage(`{"tenant":"demo","name":"echo","from":1,"to":2,"reason":"up: 14 in flight (target 10 per instance)"}`)}},
		{Seq: "41", CloudEvent: events.CloudEvent{Type: "io.eventflow.function.ready", Time: now.Add(-time.Minute),
			Data: json.RawMessage(`{"phase":"Ready","generation":3,"tenant":"demo"}`)}}}
	invs := []events.InvocationRecord{{ID: "0193a1b2c3d4e5f60718293a4b5c", Status: events.StatusSucceeded, Attempts: 1, DurationMs: &ms, CreatedAt: now.Add(-30 * time.Second)}}
	var b bytes.Buffer
	if err := describe(&b, "http://127.0.0.1:8080", fixtures()[0], evs, invs, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "describe", b.Bytes())
}

// TestDescribeScale: each kind of scale, the instances ready and desired,
// and the last scaling decision as describe shows them.
func TestDescribeScale(t *testing.T) {
	fns := fixtures()
	for _, tc := range []struct {
		f    function.Function
		want []string
	}{
		{fns[2], []string{"Instances:    0/0 (ready/desired)\n", "Scale:        0–2, queue 5 per instance, idle after 1m0s\n",
			"Last scale:   1 → 0, 5m ago (2026-12-07T11:55:00Z): to zero: no work for 1m0s\n"}},
		{fns[3], []string{"Instances:    3/3 (ready/desired)\n", "Scale:        fixed at 3\n", "Last scale:   -\n"}},
		{fns[4], []string{"Instances:    2/2 (ready/desired)\n", "Scale:        1–4, cpu 80% of the request (HorizontalPodAutoscaler)\n"}},
		{fns[5], []string{"Instances:    0/1 (ready/desired)\n", "Scale:        0–4, concurrency 10 per instance, idle after 30s\n"}},
		{fns[1], nil},
	} {
		var b bytes.Buffer
		if err := describe(&b, "http://127.0.0.1:8080", tc.f, nil, nil, now); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: describe lacks %q:\n%s", tc.f.Name, w, b.String())
			}
		}
		if tc.want == nil && (strings.Contains(b.String(), "Instances:") || strings.Contains(b.String(), "Scale:")) {
			t.Errorf("%s: a job-mode function shows instances or a scale:\n%s", tc.f.Name, b.String())
		}
	}
}

// TestDeployWarnsOfOlderFields: a function file with replicas deploys,
// with a warning on stderr saying which scale to write.
func TestDeployWarnsOfOlderFields(t *testing.T) {
	var errOut bytes.Buffer
	a := &app{io: IO{In: strings.NewReader("apiVersion: eventflow.io/v1\nkind: Function\nmetadata: {name: a}\nspec:\n  command: [x]\n  invocation: {mode: http}\n  replicas: 2\n"),
		Err: &errOut, LookupEnv: func(string) (string, bool) { return "", false }}}
	fns, err := a.readFunctionFiles([]string{"-"})
	if err != nil || len(fns) != 1 {
		t.Fatalf("readFunctionFiles: %v, %d functions", err, len(fns))
	}
	if want := "warning: <stdin>:7:3: spec.replicas: is deprecated, mapped to scale: write scale: {min: 2, max: 2}\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

// TestDescribeTriggers: an http function's route URL and auth, and each
// trigger with its state (a trigger the answer has no state for shows
// unknown counts), and a trigger event's detail naming its trigger.
func TestDescribeTriggers(t *testing.T) {
	f := fixtures()[0]
	f.HTTP = &function.HTTP{Auth: function.HTTPAuthPublic}
	f.Status.URL = "/fn/demo/echo/"
	f.Triggers = []function.Trigger{
		{Type: "cron", Schedule: "*/5 * * * *", Timezone: "Europe/Paris", Missed: "once"},
		{Type: "nats", Subject: "orders.>"},
		{Type: "event", Filter: &function.EventFilter{Type: "io.eventflow.invocation.dead_lettered"}},
	}
	f.Status.Triggers = []function.TriggerStatus{
		{Key: f.Triggers[0].Key(), Type: "cron", Fires: 12, Errors: 1, LastFire: now.Add(-2 * time.Minute), LastInvocation: "0193a1b2c3d4e5f60718293a4b5c6d7e",
			LastError: "queue full", LastErrorAt: now.Add(-time.Hour), NextFires: []time.Time{now.Add(3 * time.Minute)}},
		{Key: f.Triggers[1].Key(), Type: "nats"},
	}
	evs := []client.Event{{Seq: "42", CloudEvent: events.CloudEvent{Type: events.TypeTriggerFired, Time: now.Add(-2 * time.Minute),
		Data: json.RawMessage(`{"tenant":"demo","function":"echo","trigger":{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T11:58:00Z"},"invocation":"0193a1b2c3d4e5f60718293a4b5c6d7e"}`)}}}
	var b bytes.Buffer
	if err := describe(&b, "http://127.0.0.1:8080/", f, evs, nil, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "describe-triggers", b.Bytes())
}

func TestPlanOutput(t *testing.T) {
	from := fixtures()[1].Spec.WithDefaults()
	to := from
	to.Command = []string{"tr", "A-Z", "a-z"}
	to.Env = map[string]string{"LANG": "C.UTF-8", "TOKEN": "s3cret"}
	diffs, err := diffSpecs(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printPlan(&b, []change{{name: "new", action: "created"}, {name: "upper", action: "changed", fields: diffs},
		{name: "same", action: "unchanged"}, {name: "old", action: "pruned"}}, false)
	golden(t, "plan", b.Bytes())
	if strings.Contains(b.String(), "s3cret") || strings.Contains(b.String(), "UTF-8") {
		t.Errorf("the plan shows env values:\n%s", b.String())
	}
	if d, _ := diffSpecs(from, from); len(d) != 0 {
		t.Errorf("a spec differs from itself: %v", d)
	}
}

// TestPlanOlderFields: a file's replicas or autoscaling plans as the scale
// the API stores for it, so a function deployed either way is unchanged;
// a change of scale shows field by field.
func TestPlanOlderFields(t *testing.T) {
	one := int32(1)
	base := function.Spec{Name: "web", Command: []string{"serve"}, Invocation: function.Invocation{Mode: function.ModeHTTP}}
	stored := base
	stored.Scale = &function.Scale{Min: 1, Max: 1}
	stored = stored.WithDefaults()
	older := base
	older.Replicas = &one
	if d, err := diffSpecs(stored, older.WithDefaults()); err != nil || len(d) != 0 {
		t.Errorf("replicas: 1 against the stored scale {1, 1}: %v %v", d, err)
	}
	cpu := base
	cpu.Autoscaling = &function.Autoscaling{MinReplicas: 2, MaxReplicas: 5}
	storedCPU := base
	storedCPU.Scale = &function.Scale{Min: 2, Max: 5, Metric: function.MetricCPU}
	if d, err := diffSpecs(storedCPU.WithDefaults(), cpu.WithDefaults()); err != nil || len(d) != 0 {
		t.Errorf("autoscaling against the stored scale: %v %v", d, err)
	}
	toZero := base
	toZero.Scale = &function.Scale{Min: 0, Max: 4}
	d, err := diffSpecs(stored, toZero.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printPlan(&b, []change{{name: "web", action: "changed", fields: d}}, false)
	if want := "changed   web\n            scale.max: 1 → 4\n            scale.min: 1 → 0\n"; b.String() != want {
		t.Errorf("plan:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestYAMLOutputReadsBack(t *testing.T) {
	f := fixtures()[0]
	f.Env = map[string]string{"N": "123", "B": "true", "EMPTY": "", "MULTI": "a\nb"}
	var b bytes.Buffer
	if err := printDoc(&b, outYAML, f); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := yaml.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("YAML output does not parse: %v\n%s", err, b.String())
	}
	raw, _ := json.Marshal(back)
	var got function.Function
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("YAML output is not a function document: %v\n%s", err, b.String())
	}
	if got.Env["N"] != "123" || got.Env["B"] != "true" || got.Env["MULTI"] != "a\nb" || got.Name != "echo" || got.Generation != 3 {
		t.Errorf("YAML output lost values: %+v\n%s", got, b.String())
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"sh", "-c", "echo it's", "", "a$b"})
	if want := `sh -c 'echo it'\''s' '' 'a$b'`; got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

// TestEveryCommandHasHelpAndExamples: each command a user runs says what it
// does and shows how.
func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	a := &app{io: IO{Getenv: func(string) string { return "" }}}
	noop := func([]string) error { return nil }
	root := a.rootCmd(map[string]func([]string) error{"dev": noop, "token": noop})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden || c.HasSubCommands() || c == root {
			return
		}
		switch c.Name() {
		case "help", "completion", "bash", "zsh", "fish", "powershell":
			return
		}
		n++
		if c.Short == "" || c.Example == "" {
			t.Errorf("%s: Short %q, Example %q: every command needs both", c.CommandPath(), c.Short, c.Example)
		}
	}
	walk(root)
	if n < 20 {
		t.Errorf("walked %d commands, want every one", n)
	}
}
