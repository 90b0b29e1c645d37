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
	two := int32(2)
	return []function.Function{
		{Spec: function.Spec{Name: "echo", Command: []string{"node", "-e", "require('http').createServer((q,s)=>q.pipe(s)).listen(process.env.PORT)"},
			Replicas: &two, Invocation: function.Invocation{Mode: function.ModeHTTP}, Labels: map[string]string{"team": "web", managedByLabel: managedByCLI}},
			Tenant: "demo", Generation: 3, CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-time.Minute),
			Status: function.Status{Phase: function.PhaseDeploying, ReadyReplicas: 1, ObservedGeneration: 3, Message: "1 of 2 instances ready"}},
		{Spec: function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}, Env: map[string]string{"LANG": "C", "GREETING": "hi"}},
			Tenant: "demo", Generation: 1, CreatedAt: now.Add(-90 * time.Second), UpdatedAt: now.Add(-90 * time.Second),
			Status: function.Status{Phase: function.PhaseReady, ObservedGeneration: 1}},
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
	evs := []client.Event{{Seq: "41", CloudEvent: events.CloudEvent{Type: "io.eventflow.function.ready", Time: now.Add(-time.Minute),
		Data: json.RawMessage(`{"phase":"Ready","generation":3,"tenant":"demo"}`)}}}
	invs := []events.InvocationRecord{{ID: "0193a1b2c3d4e5f60718293a4b5c", Status: events.StatusSucceeded, Attempts: 1, DurationMs: &ms, CreatedAt: now.Add(-30 * time.Second)}}
	var b bytes.Buffer
	if err := describe(&b, "http://127.0.0.1:8080", fixtures()[0], evs, invs, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "describe", b.Bytes())
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
