package functionfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

func ptr[T any](v T) *T { return &v }

// envOf is a lookup over a fixed environment, so tests never read the process's.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var testEnv = envOf(map[string]string{"GREETING": "hi", "EMPTY": "", "WHO": "world"})

// head starts every document of the cases below.
const head = "apiVersion: eventflow.io/v1\nkind: Function\n"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		specs []function.Spec
		lines []int
	}{
		{
			name:  "flow style, list command",
			in:    head + "metadata: {name: upper, labels: {team: search}}\nspec: {command: [tr, a-z, A-Z], invocation: {mode: job}}\n",
			specs: []function.Spec{{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}, Labels: map[string]string{"team": "search"}, Invocation: function.Invocation{Mode: "job"}}},
			lines: []int{3},
		},
		{
			name: "http route and triggers",
			in: head + "metadata: {name: web}\nspec:\n  command: [serve]\n  invocation: {mode: http}\n  http: {auth: public}\n  triggers:\n" +
				"    - type: cron\n      schedule: \"*/5 * * * *\"\n      timezone: Europe/Paris\n      body: tick\n      missed: once\n" +
				"    - {type: nats, subject: \"orders.*.created\"}\n" +
				"    - {type: event, filter: {type: io.eventflow.invocation.dead_lettered, function: \"*\"}}\n",
			specs: []function.Spec{{Name: "web", Command: []string{"serve"}, Invocation: function.Invocation{Mode: "http"},
				HTTP: &function.HTTP{Auth: "public"},
				Triggers: []function.Trigger{
					{Type: "cron", Schedule: "*/5 * * * *", Timezone: "Europe/Paris", Body: "tick", Missed: "once"},
					{Type: "nats", Subject: "orders.*.created"},
					{Type: "event", Filter: &function.EventFilter{Type: "io.eventflow.invocation.dead_lettered", Function: "*"}},
				}}},
			lines: []int{3},
		},
		{
			name:  "command as one line",
			in:    head + "metadata:\n  name: wc\nspec:\n  command: sh -c 'wc -w | tr -d \" \"'\n",
			specs: []function.Spec{{Name: "wc", Command: []string{"sh", "-c", `wc -w | tr -d " "`}}},
			lines: []int{4},
		},
		{
			name: "env expansion",
			in: head + "metadata: {name: e}\nspec:\n  command: [env]\n  env:\n" +
				"    SET: ${GREETING}, ${WHO}!\n" +
				"    DEFAULTED: ${UNSET:-hello}\n" +
				"    EMPTY_DEFAULTED: ${EMPTY:-fallback}\n" +
				"    EMPTY: ${EMPTY}\n" +
				"    DOLLARS: $$HOME $HOME $ ${WHO}$\n" +
				"    NUMBER: 1.10\n" +
				"    BOOL: true\n" +
				"    NOTHING:\n",
			specs: []function.Spec{{Name: "e", Command: []string{"env"}, Env: map[string]string{
				"SET": "hi, world!", "DEFAULTED": "hello", "EMPTY_DEFAULTED": "fallback", "EMPTY": "",
				"DOLLARS": "$HOME $HOME $ world$", "NUMBER": "1.10", "BOOL": "true", "NOTHING": "",
			}}},
			lines: []int{3},
		},
		{
			name: "many documents, empty ones skipped",
			in: "# a project\n---\n" + head + "metadata: {name: a}\nspec: {command: [a]}\n---\n# nothing here\n---\n" +
				head + "metadata:\n  labels: {x: y}\n  name: b\nspec: {command: [b]}\n---\n",
			specs: []function.Spec{
				{Name: "a", Command: []string{"a"}},
				{Name: "b", Command: []string{"b"}, Labels: map[string]string{"x": "y"}},
			},
			lines: []int{5, 14},
		},
		{
			name: "every field, defaults untouched",
			in: head + `metadata: {name: full}
spec:
  image: ghcr.io/acme/full:1
  command: [serve, --port=$PORT]
  replicas: 0
  invocation:
    mode: http
    timeout: 90          # a bare number is seconds, as in the API
    maxConcurrency: 0x10
    retry: {maxAttempts: 5, initialDelay: 500ms, maxDelay: 1m, retryOn: [timeout, http5xx]}
  resources:
    requests: {cpu: 100m, memory: 64Mi}
    limits: {memory: 128Mi}
  autoscaling: {minReplicas: 1, maxReplicas: 4}
`,
			specs: []function.Spec{{
				Name:     "full",
				Image:    "ghcr.io/acme/full:1",
				Command:  []string{"serve", "--port=$PORT"},
				Replicas: ptr[int32](0),
				Invocation: function.Invocation{
					Mode: "http", Timeout: function.Duration(90 * time.Second), MaxConcurrency: 16,
					Retry: &function.RetryPolicy{MaxAttempts: 5, InitialDelay: function.Duration(500 * time.Millisecond),
						MaxDelay: function.Duration(time.Minute), RetryOn: []string{"timeout", "http5xx"}},
				},
				Resources: &function.Resources{
					Requests: map[string]string{"cpu": "100m", "memory": "64Mi"},
					Limits:   map[string]string{"memory": "128Mi"},
				},
				Autoscaling: &function.Autoscaling{MinReplicas: 1, MaxReplicas: 4},
			}},
			lines: []int{3},
		},
		{
			name: "scale",
			in: head + "metadata: {name: web}\nspec:\n  command: [serve]\n  invocation: {mode: http}\n" +
				"  scale: {min: 0, max: 4, target: 25, metric: queue, idleAfter: 1m30s}\n---\n" +
				head + "metadata: {name: fixed}\nspec:\n  command: [serve]\n  invocation: {mode: http}\n  scale:\n    min: 3\n    max: 3\n---\n" +
				head + "metadata: {name: cpu}\nspec:\n  command: [serve]\n  invocation: {mode: http}\n  scale: {min: 1, max: 10, target: 70, metric: cpu, idleAfter: 45}\n",
			specs: []function.Spec{
				{Name: "web", Command: []string{"serve"}, Invocation: function.Invocation{Mode: "http"},
					Scale: &function.Scale{Min: 0, Max: 4, Target: 25, Metric: "queue", IdleAfter: function.Duration(90 * time.Second)}},
				{Name: "fixed", Command: []string{"serve"}, Invocation: function.Invocation{Mode: "http"}, Scale: &function.Scale{Min: 3, Max: 3}},
				{Name: "cpu", Command: []string{"serve"}, Invocation: function.Invocation{Mode: "http"},
					Scale: &function.Scale{Min: 1, Max: 10, Target: 70, Metric: "cpu", IdleAfter: function.Duration(45 * time.Second)}},
			},
			lines: []int{3, 11, 21},
		},
		{
			name:  "secrets",
			in:    head + "metadata: {name: db}\nspec:\n  command: [serve]\n  secrets:\n    - db-password\n    - api-key\n---\n" + head + "metadata: {name: flow}\nspec: {command: [x], secrets: [token]}\n",
			specs: []function.Spec{{Name: "db", Command: []string{"serve"}, Secrets: []string{"db-password", "api-key"}}, {Name: "flow", Command: []string{"x"}, Secrets: []string{"token"}}},
			lines: []int{3, 12},
		},
		{
			name:  "nulls are left out",
			in:    head + "metadata: {name: n, labels: ~}\nspec:\n  command: [x]\n  image:\n  replicas: null\n  invocation:\n",
			specs: []function.Spec{{Name: "n", Command: []string{"x"}}},
			lines: []int{3},
		},
		{
			name: "anchors, aliases and merge keys",
			in: head + "metadata: {name: a}\nspec: &base\n  command: [run]\n  env: &env {LANG: C}\n---\n" +
				head + "metadata: {name: b}\nspec:\n  <<: *base\n  env: {<<: *env, EXTRA: \"1\"}\n",
			specs: []function.Spec{
				{Name: "a", Command: []string{"run"}, Env: map[string]string{"LANG": "C"}},
				{Name: "b", Command: []string{"run"}, Env: map[string]string{"LANG": "C", "EXTRA": "1"}},
			},
			lines: []int{3, 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Parse("f.yaml", []byte(tc.in), testEnv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(fs) != len(tc.specs) {
				t.Fatalf("got %d functions, want %d", len(fs), len(tc.specs))
			}
			for i, f := range fs {
				if !reflect.DeepEqual(f.Spec, tc.specs[i]) {
					t.Errorf("function %d:\n got %+v\nwant %+v", i, f.Spec, tc.specs[i])
				}
				if f.File != "f.yaml" || f.Line != tc.lines[i] {
					t.Errorf("function %d at %s:%d, want f.yaml:%d", i, f.File, f.Line, tc.lines[i])
				}
			}
		})
	}
}

// leaves returns the *Error values in err, which may be a join.
func leaves(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*Error
	for _, e := range errs {
		fe, ok := e.(*Error)
		if !ok {
			t.Fatalf("error %v is a %T, not a *Error", e, e)
		}
		out = append(out, fe)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	meta := "metadata: {name: a}\n"
	for _, tc := range []struct {
		name string
		in   string
		want []string // the Error() of each, in order
		// validation marks errors that come from Spec.Validate (a *function.FieldError inside).
		validation bool
	}{
		{
			name: "unknown field at depth",
			in:   head + meta + "spec:\n  command: [x]\n  invocation:\n    mode: job\n    tiemout: 3s\n",
			want: []string{"f.yaml:8:5: spec.invocation.tiemout: unknown field: expected one of mode, timeout, retry, maxConcurrency"},
		},
		{
			name: "unknown field in a trigger",
			in:   head + meta + "spec:\n  command: [x]\n  triggers:\n    - {type: cron, schedule: \"@every 1s\", subjekt: a}\n",
			want: []string{"f.yaml:7:43: spec.triggers[0].subjekt: unknown field: expected one of type, schedule, timezone, body, missed, subject, filter"},
		},
		{
			name:       "trigger validation is placed on the trigger's field",
			in:         head + meta + "spec:\n  command: [x]\n  triggers:\n    - {type: nats, subject: a.b}\n    - type: cron\n      schedule: \"@every 10ms\"\n",
			want:       []string{`f.yaml:9:17: spec.triggers[1].schedule: schedule "@every 10ms": @every must be at least 1s`},
			validation: true,
		},
		{
			name:       "a secret named twice is placed on the second",
			in:         head + meta + "spec:\n  command: [x]\n  secrets:\n    - db-password\n    - db-password\n",
			want:       []string{`f.yaml:8:7: spec.secrets[1]: "db-password" is named twice`},
			validation: true,
		},
		{
			name:       "a secret's name is a DNS label",
			in:         head + meta + "spec:\n  command: [x]\n  secrets: [ok, DB_PASSWORD]\n",
			want:       []string{`f.yaml:6:17: spec.secrets[1]: "DB_PASSWORD" must consist of lower case letters, digits and '-', and start and end with a letter or digit`},
			validation: true,
		},
		{
			name: "secrets is a list of names",
			in:   head + meta + "spec:\n  command: [x]\n  secrets: {db: password}\n",
			want: []string{"f.yaml:6:12: spec.secrets: must be a list, not a mapping"},
		},
		{
			name:       "http on a job function",
			in:         head + meta + "spec:\n  command: [x]\n  http: {auth: public}\n",
			want:       []string{"f.yaml:6:3: spec.http: applies to http mode only: a job-mode function has no route"},
			validation: true,
		},
		{
			name: "unknown field, wrong case",
			in:   head + meta + "spec: {Command: [x]}\n",
			want: []string{`f.yaml:4:8: spec.Command: unknown field: did you mean "command"?`},
		},
		{
			name: "unknown field at the top and in metadata",
			in:   head + "metadata: {name: a, namespace: b}\nspec: {command: [x]}\nstatus: {}\n",
			want: []string{
				"f.yaml:3:21: metadata.namespace: unknown field: expected one of name, labels",
				"f.yaml:5:1: status: unknown field: expected one of apiVersion, kind, metadata, spec",
			},
		},
		{
			name: "name and labels belong in metadata",
			in:   head + meta + "spec:\n  name: a\n  labels: {a: b}\n  command: [x]\n",
			want: []string{
				"f.yaml:5:3: spec.name: is not a spec field: set metadata.name",
				"f.yaml:6:3: spec.labels: is not a spec field: set metadata.labels",
			},
		},
		{
			name: "bad types",
			in:   head + meta + "spec:\n  command: [x, {a: b}]\n  replicas: many\n  image: [a]\n  invocation: {maxConcurrency: \"3\", timeout: soon}\n  autoscaling: {minReplicas: 3000000000}\n",
			want: []string{
				"f.yaml:5:16: spec.command[1]: must be a string, not a mapping",
				`f.yaml:6:13: spec.replicas: must be an integer, not "many"`,
				"f.yaml:7:10: spec.image: must be a string, not a list",
				`f.yaml:8:32: spec.invocation.maxConcurrency: must be an integer, not "3"`,
				`f.yaml:8:46: spec.invocation.timeout: invalid duration "soon": use a form like "30s" or "2m"`,
				"f.yaml:9:30: spec.autoscaling.minReplicas: must be an integer from -2147483648 to 2147483647",
			},
		},
		{
			name: "command neither a list nor a line",
			in:   head + meta + "spec:\n  command: {run: x}\n",
			want: []string{"f.yaml:5:12: spec.command: must be a list of arguments or one command line, not a mapping"},
		},
		{
			name: "command line with an open quote",
			in:   head + meta + "spec:\n  command: sh -c 'echo\n",
			want: []string{"f.yaml:5:12: spec.command: a single quote is not closed"},
		},
		{
			name:       "missing name",
			in:         head + "metadata:\n  labels: {a: b}\nspec: {command: [x]}\n",
			want:       []string{"f.yaml:3:1: metadata.name: is required"},
			validation: true,
		},
		{
			name:       "missing metadata",
			in:         head + "spec: {command: [x]}\n",
			want:       []string{"f.yaml:1:1: metadata.name: is required"},
			validation: true,
		},
		{
			name: "duplicate name",
			in:   head + meta + "spec: {command: [x]}\n---\n" + head + "metadata:\n  name: a\nspec: {command: [y]}\n",
			want: []string{`f.yaml:9:9: metadata.name: "a" is defined twice: on line 3 and here`},
		},
		{
			name: "duplicate key",
			in:   head + meta + "spec:\n  command: [x]\n  command: [y]\n",
			want: []string{"f.yaml:6:3: spec.command: is given twice: on line 5 and here"},
		},
		{
			name: "bad apiVersion and kind",
			in: "apiVersion: eventflow.io/v2\nkind: Function\n" + meta + "spec: {}\n---\n" +
				"apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 3}\n---\n" +
				"kind: Function\n" + meta,
			want: []string{
				`f.yaml:1:13: apiVersion: "eventflow.io/v2" is not supported: use eventflow.io/v1`,
				`f.yaml:6:13: apiVersion: "apps/v1" is not supported: use eventflow.io/v1`,
				`f.yaml:7:7: kind: "Deployment" is not supported: use Function`,
				"f.yaml:10:1: apiVersion: is required: eventflow.io/v1",
			},
		},
		{
			name: "a document that is not a mapping",
			in:   "- apiVersion: eventflow.io/v1\n",
			want: []string{"f.yaml:1:1: a document must be a mapping of apiVersion, kind, metadata and spec"},
		},
		{
			name:       "validation error on the field's line",
			in:         head + meta + "spec:\n  command: [x]\n  invocation:\n    timeout: 20m\n",
			want:       []string{"f.yaml:7:14: spec.invocation.timeout: must be between 0 and 15m0s"},
			validation: true,
		},
		{
			name:       "validation error of a map entry on its key, the first in file order",
			in:         head + meta + "spec:\n  command: [x]\n  env:\n    LANG: C\n    EVENTFLOW_TENANT: other\n    PORT: \"1\"\n",
			want:       []string{`f.yaml:8:5: spec.env.EVENTFLOW_TENANT: "EVENTFLOW_TENANT" is reserved: EventFlow sets PORT and EVENTFLOW_* itself`},
			validation: true,
		},
		{
			name:       "validation error of a label",
			in:         head + "metadata:\n  name: a\n  labels:\n    app.kubernetes.io/name: a\n    ok: \"not ok\"\nspec: {command: [x]}\n",
			want:       []string{`f.yaml:7:5: metadata.labels.ok: value "not ok" of "ok" is not a valid label value`},
			validation: true,
		},
		{
			name:       "validation error of a resource",
			in:         head + meta + "spec:\n  command: [x]\n  resources:\n    limits: {memory: 1Gi, gpu: 1}\n",
			want:       []string{`f.yaml:7:27: spec.resources.limits.gpu: "gpu" is not supported: use cpu or memory`},
			validation: true,
		},
		{
			name:       "validation error of a list element",
			in:         head + meta + "spec:\n  command: [\" \", x]\n",
			want:       []string{"f.yaml:5:13: spec.command[0]: must not be empty"},
			validation: true,
		},
		{
			name:       "validation error of an object falls back to its key",
			in:         head + meta + "spec:\n  command: [x]\n  autoscaling:\n    minReplicas: 1\n    maxReplicas: 2\n",
			want:       []string{"f.yaml:6:3: spec.autoscaling: applies to http mode only (job mode runs one pod per invocation)"},
			validation: true,
		},
		{
			name:       "scale and the older replicas",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  replicas: 2\n  scale: {min: 0, max: 4}\n",
			want:       []string{"f.yaml:7:3: spec.replicas: give scale or the older replicas, not both: remove replicas (scale replaces it)"},
			validation: true,
		},
		{
			name:       "scale and the older autoscaling",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 1, max: 4}\n  autoscaling: {minReplicas: 1, maxReplicas: 4}\n",
			want:       []string{"f.yaml:8:3: spec.autoscaling: give scale or the older autoscaling, not both: remove autoscaling (scale replaces it)"},
			validation: true,
		},
		{
			name:       "scale on a job function",
			in:         head + meta + "spec:\n  command: [x]\n  replicas: 1\n  scale: {min: 0, max: 4}\n",
			want:       []string{"f.yaml:7:3: spec.scale: applies to http mode only (job mode runs a process or pod per invocation)"},
			validation: true,
		},
		{
			name:       "scale max below min",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale:\n    min: 3\n    max: 2\n",
			want:       []string{"f.yaml:9:10: spec.scale.max: must be between min (3) and 100"},
			validation: true,
		},
		{
			name:       "scale min out of range",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: -1, max: 2}\n",
			want:       []string{"f.yaml:7:16: spec.scale.min: must be between 0 and 100"},
			validation: true,
		},
		{
			name:       "scale max out of range",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 1, max: 101}\n",
			want:       []string{"f.yaml:7:24: spec.scale.max: must be between min (1) and 100"},
			validation: true,
		},
		{
			name:       "scale metric unknown",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 0, max: 2, metric: rps}\n",
			want:       []string{`f.yaml:7:35: spec.scale.metric: "rps" is not a metric: use "concurrency", "queue" or "cpu"`},
			validation: true,
		},
		{
			name:       "scale to zero on cpu",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 0, max: 2, metric: cpu}\n",
			want:       []string{"f.yaml:7:16: spec.scale.min: must be at least 1 with metric cpu (Kubernetes' HorizontalPodAutoscaler does not scale to zero)"},
			validation: true,
		},
		{
			name:       "scale target too high",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 0, max: 2, target: 10001}\n",
			want:       []string{"f.yaml:7:35: spec.scale.target: must be between 1 and 10000 (0: the default)"},
			validation: true,
		},
		{
			name:       "scale idleAfter out of range",
			in:         head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 0, max: 2, idleAfter: 10ms}\n",
			want:       []string{"f.yaml:7:38: spec.scale.idleAfter: must be between 1s and 1h0m0s"},
			validation: true,
		},
		{
			name: "scale of the wrong types and fields",
			in:   head + meta + "spec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: none, max: 2, idleAfter: soon, minimum: 1}\n",
			want: []string{
				`f.yaml:7:16: spec.scale.min: must be an integer, not "none"`,
				`f.yaml:7:41: spec.scale.idleAfter: invalid duration "soon": use a form like "30s" or "2m"`,
				"f.yaml:7:47: spec.scale.minimum: unknown field: expected one of min, max, target, metric, idleAfter",
			},
		},
		{
			name:       "nothing to run",
			in:         head + meta + "spec: {}\n",
			want:       []string{"f.yaml:4:1: spec.image: an image or a command is required"},
			validation: true,
		},
		{
			name: "unset environment variable",
			in:   head + meta + "spec:\n  command: [x]\n  env:\n    TOKEN: ${API_TOKEN}\n    BAD: ${1X}\n    OPEN: ${WHO\n",
			want: []string{
				"f.yaml:7:12: spec.env.TOKEN: environment variable API_TOKEN is not set: set it, or give a default with ${API_TOKEN:-default}",
				"f.yaml:8:10: spec.env.BAD: ${1X} is not a variable reference: use ${NAME} or ${NAME:-default}, and $$ for a literal $",
				"f.yaml:9:11: spec.env.OPEN: ${ is not closed by }: write $$ for a literal $",
			},
		},
		{
			name: "YAML syntax error",
			in:   head + meta + "spec:\n  command: [x]\n  image: a: b\n",
			want: []string{"f.yaml:6: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name: "YAML syntax error of the parser",
			in:   head + meta + "spec:\n  command: [x]\n image: y\n",
			want: []string{"f.yaml:6: invalid YAML: did not find expected key"},
		},
		{
			// The parser names the line where the mapping starts.
			name: "YAML syntax error of the parser, in a nested mapping",
			in:   head + meta + "spec:\n  command: [x]\n   image: y\n",
			want: []string{"f.yaml:5: invalid YAML: did not find expected key"},
		},
		{
			name: "YAML syntax error in a later document",
			in:   head + meta + "spec: {command: [x]}\n---\n" + head + "metadata: {name: [b}\n",
			want: []string{"f.yaml:8: invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name: "unknown anchor",
			in:   head + meta + "spec: {command: *cmd}\n",
			want: []string{"f.yaml:4:17: invalid YAML: unknown anchor 'cmd' referenced"},
		},
		{
			name: "a merge of its own mapping",
			in:   head + meta + "spec: &s {command: [x], <<: *s}\n",
			want: []string{"f.yaml:4:29: spec: a merge (<<) includes the mapping it is in"},
		},
		{
			name: "invalid UTF-8",
			in:   head + meta + "spec: {command: [\"caf\xe9\"]}\n",
			want: []string{"f.yaml:4:22: invalid UTF-8: function files must be UTF-8 text"},
		},
		{
			name: "control character",
			in:   head + meta + "spec: {command: [\"\x01\"]}\n",
			want: []string{"f.yaml:4:19: control character U+0001 is not allowed"},
		},
		{
			name: "no function",
			in:   "# nothing yet\n---\n",
			want: []string{"f.yaml: has no function: expected documents of apiVersion eventflow.io/v1, kind Function"},
		},
		{
			name: "too large",
			in:   head + meta + "spec: {command: [x]}\n#" + strings.Repeat("x", MaxFileSize),
			want: []string{"f.yaml: is larger than 4 MiB: split it into several files"},
		},
		{
			name: "too many functions",
			in:   manyFunctions(MaxFunctions + 1),
			want: []string{"f.yaml:2501:1: more than 500 functions in one file: split it into several files"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Parse("f.yaml", []byte(tc.in), testEnv)
			if err == nil {
				t.Fatalf("no error; functions %+v", fs)
			}
			if fs != nil {
				t.Errorf("functions returned with an error: %+v", fs)
			}
			var got []string
			for _, e := range leaves(t, err) {
				got = append(got, e.Error())
				if !errors.Is(e, function.ErrInvalid) {
					t.Errorf("%v does not wrap function.ErrInvalid", e)
				}
				var fe *function.FieldError
				if errors.As(e, &fe) != tc.validation {
					t.Errorf("%v: wraps a FieldError: %v, want %v", e, !tc.validation, tc.validation)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// manyFunctions is a file of n valid functions, five lines each.
func manyFunctions(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%smetadata: {name: f%d}\nspec: {command: [x]}\n---\n", head, i)
	}
	return b.String()
}

func TestParseManyErrors(t *testing.T) {
	for _, tc := range []struct {
		docs, errs int
		tooMany    bool
	}{{maxErrors, maxErrors, false}, {2 * maxErrors, maxErrors, true}} {
		var b strings.Builder
		for i := range tc.docs {
			fmt.Fprintf(&b, "%smetadata: {name: f%d}\nspec: {command: [x], oops: 1}\n---\n", head, i)
		}
		_, err := Parse("f.yaml", []byte(b.String()), nil)
		errs := leaves(t, err)
		last := errs[len(errs)-1].Error() == "f.yaml: too many errors"
		if len(errs) != tc.errs+btoi(tc.tooMany) || last != tc.tooMany {
			t.Errorf("%d bad documents: %d errors, the last %v", tc.docs, len(errs), errs[len(errs)-1])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAliasBudget(t *testing.T) {
	// Each level doubles the merged content: the budget, not memory or
	// time, must end it.
	var b strings.Builder
	b.WriteString(head + "metadata: {name: a}\nspec:\n  command: [x]\n  env:\n    <<: &l0 {A: b}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x%d: &l%d {<<: [*l%d, *l%d]}\n", i, i, i-1, i-1)
	}
	start := time.Now()
	_, err := Parse("f.yaml", []byte(b.String()), nil)
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}

	// Aliases of the largest valid command and env in every function.
	var c strings.Builder
	c.WriteString(head + "metadata: {name: a}\nspec:\n  command: &c [" + strings.Repeat("x, ", function.MaxCommandArgs-1) + "x]\n  env: &e {")
	for i := range function.MaxEnvVars {
		fmt.Fprintf(&c, "V%d: x, ", i)
	}
	c.WriteString("}\n---\n")
	for i := range MaxFunctions - 1 {
		fmt.Fprintf(&c, "%smetadata: {name: f%d}\nspec: {command: *c, env: *e}\n---\n", head, i)
	}
	_, err = Parse("f.yaml", []byte(c.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "aliases expand to too much content") {
		t.Fatalf("got %v, want the alias budget's error", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Line: 3, Column: 5, Field: "spec.image", Msg: "bad"}, "f.yaml:3:5: spec.image: bad"},
		{Error{File: "f.yaml", Line: 3, Msg: "bad"}, "f.yaml:3: bad"},
		{Error{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestParseFile(t *testing.T) {
	fs, err := ParseFile(filepath.Join("..", "..", "examples", "eventflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, mode string
		command    []string
	}{
		{"upper", "job", []string{"tr", "a-z", "A-Z"}},
		{"wordcount", "job", []string{"sh", "-c", `wc -w | tr -d " "`}},
		{"echo", "http", nil},
	}
	if len(fs) != len(want) {
		t.Fatalf("got %d functions, want %d", len(fs), len(want))
	}
	for i, w := range want {
		s := fs[i].Spec
		if s.Name != w.name || s.Mode() != w.mode || (w.command != nil && !reflect.DeepEqual(s.Command, w.command)) {
			t.Errorf("function %d: %+v, want %s in %s mode running %q", i, s, w.name, w.mode, w.command)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", w.name, err)
		}
	}
	if fs[0].Spec.Labels["team"] != "search" {
		t.Errorf("upper's labels: %v", fs[0].Spec.Labels)
	}
	echo := fs[2].Spec
	if echo.ReplicaCount() != 1 || echo.Command[0] != "node" {
		t.Errorf("echo: %+v", echo)
	}
	// ParseFile reads the process environment: GREETING is unset in tests
	// unless the caller set it.
	if g, ok := os.LookupEnv("GREETING"); (!ok || g == "") && echo.Env["GREETING"] != "hello" {
		t.Errorf("echo's GREETING: %q, want the default hello", echo.Env["GREETING"])
	}

	_, err = ParseFile(filepath.Join(t.TempDir(), "missing.yaml"))
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) || errors.Is(err, function.ErrInvalid) || !strings.HasSuffix(err.Error(), "missing.yaml: cannot read: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}

	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big); err == nil || !strings.HasSuffix(err.Error(), "big.yaml: is larger than 4 MiB: split it into several files") {
		t.Errorf("big file: %v", err)
	}
}

// TestDeprecatedWarnings: the older replicas and autoscaling are accepted
// with a warning on their line that says which scale to write instead.
func TestDeprecatedWarnings(t *testing.T) {
	in := head + "metadata: {name: a}\nspec:\n  command: [x]\n  invocation: {mode: http}\n  replicas: 2\n---\n" +
		head + "metadata: {name: b}\nspec:\n  command: [x]\n  invocation: {mode: http}\n  autoscaling: {minReplicas: 1, maxReplicas: 4}\n---\n" +
		head + "metadata: {name: c}\nspec:\n  command: [x]\n  invocation: {mode: http}\n  scale: {min: 0, max: 4}\n---\n" +
		head + "metadata: {name: d}\nspec:\n  command: [x]\n  invocation: {mode: http}\n  replicas: 1\n  autoscaling: {minReplicas: 2, maxReplicas: 3, targetCPUUtilization: 50}\n"
	fs, err := Parse("f.yaml", []byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"f.yaml:7:3: spec.replicas: is deprecated, mapped to scale: write scale: {min: 2, max: 2}"},
		{"f.yaml:15:3: spec.autoscaling: is deprecated, mapped to scale: write scale: {min: 1, max: 4, target: 80, metric: cpu}"},
		nil,
		{
			"f.yaml:31:3: spec.replicas: is deprecated, and ignored as autoscaling is given too: remove it",
			"f.yaml:32:3: spec.autoscaling: is deprecated, mapped to scale: write scale: {min: 2, max: 3, target: 50, metric: cpu}",
		},
	}
	for i, f := range fs {
		var got []string
		for _, w := range f.Warnings {
			got = append(got, w.Error())
			if w.Err != nil {
				t.Errorf("%s: warning wraps %v", f.Spec.Name, w.Err)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want[i], "\n") {
			t.Errorf("%s: warnings\n%s\nwant\n%s", f.Spec.Name, strings.Join(got, "\n"), strings.Join(want[i], "\n"))
		}
	}
}
