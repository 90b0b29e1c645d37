package functionfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/function"
)

func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile(filepath.Join("..", "..", "examples", "eventflow.yaml")); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		head + "metadata: {name: upper, labels: {team: search}}\nspec: {command: [tr, a-z, A-Z], invocation: {mode: job}}\n",
		head + "metadata: {name: e}\nspec:\n  command: sh -c 'echo \"$X\"'\n  env: {A: '${GREETING:-x}$$', B: 1.5}\n---\n",
		head + "metadata: &m {name: a}\nspec: &s {command: [x], invocation: {timeout: 90, retry: {retryOn: [exit]}}}\n---\n" +
			head + "metadata: {<<: *m, name: b}\nspec: {<<: *s, replicas: 2}\n",
		head + "metadata: {name: a}\nspec: {command: [x], resources: {limits: {cpu: 1}}, autoscaling: {minReplicas: 1, maxReplicas: 2}}\n",
		"---\n---\n",
		head + "metadata: {name: web}\nspec:\n  command: [serve]\n  invocation: {mode: http}\n  http: {auth: public}\n  triggers:\n" +
			"    - {type: cron, schedule: \"*/5 * * * *\", timezone: Europe/Paris, body: tick, missed: once}\n" +
			"    - {type: nats, subject: orders.>}\n    - {type: event, filter: {type: io.eventflow.invocation.*, function: \"*\"}}\n",
		head + "metadata: {name: t}\nspec: {command: [x], triggers: [{type: cron, schedule: \"@every 500ms\"}, {type: nats, subject: a..b}]}\n",
	} {
		f.Add([]byte(s))
	}
	lookup := envOf(map[string]string{"GREETING": "hi", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Parse("fuzz.yaml", data, lookup)
		if err != nil {
			if fs != nil {
				t.Fatalf("functions with an error: %v", err)
			}
			for _, e := range leaves(t, err) {
				if e.File != "fuzz.yaml" || e.Line < 0 || e.Column < 0 || !errors.Is(e, function.ErrInvalid) {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		names := map[string]bool{}
		for _, fn := range fs {
			if err := fn.Spec.Validate(); err != nil {
				t.Fatalf("parsed spec fails validation: %v", err)
			}
			if names[fn.Spec.Name] || fn.File != "fuzz.yaml" || fn.Line < 1 {
				t.Fatalf("bad function %+v", fn)
			}
			names[fn.Spec.Name] = true
		}
		// The specs written back as a file read the same.
		again, err := Parse("again.yaml", writeFile(t, fs), nil)
		if err != nil {
			t.Fatalf("the specs written back do not parse: %v", err)
		}
		for i := range fs {
			a, _ := json.Marshal(fs[i].Spec)
			b, _ := json.Marshal(again[i].Spec)
			if string(a) != string(b) {
				t.Fatalf("round trip:\n%s\n%s", a, b)
			}
		}
	})
}

// writeFile writes functions as a file, in JSON, which is YAML too.
func writeFile(t *testing.T, fs []Function) []byte {
	var b strings.Builder
	for _, fn := range fs {
		s := fn.Spec
		env := map[string]string{}
		for k, v := range s.Env {
			env[k] = strings.ReplaceAll(v, "$", "$$")
		}
		if s.Env != nil {
			s.Env = env
		}
		meta := metadata{Name: s.Name, Labels: s.Labels}
		var spec map[string]any
		raw, _ := json.Marshal(s)
		if err := json.Unmarshal(raw, &spec); err != nil {
			t.Fatal(err)
		}
		delete(spec, "name")
		delete(spec, "labels")
		doc, err := json.Marshal(map[string]any{"apiVersion": APIVersion, "kind": Kind, "metadata": meta, "spec": spec})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(doc)
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{
		"tr a-z A-Z",
		`sh -c 'wc -w | tr -d " "'`,
		`echo "a \"b\" c" a\ b '' "\$x\q"`,
		"a\u00a0b\u0085c\ufeff",
		"echo 'open",
		"x\x00y z\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv, err := SplitCommand(line)
		if err == nil {
			again, err := SplitCommand(joinCommand(argv))
			if err != nil || len(again) != len(argv) || (len(argv) > 0 && !reflect.DeepEqual(again, argv)) {
				t.Fatalf("%q splits to %q, which joined splits to %q, %v", line, argv, again, err)
			}
		}
		// Any argv, here the line cut at NULs, survives a join.
		args := strings.Split(line, "\x00")
		got, err := SplitCommand(joinCommand(args))
		if err != nil || !reflect.DeepEqual(got, args) {
			t.Fatalf("%q joined splits to %q, %v", args, got, err)
		}
	})
}
