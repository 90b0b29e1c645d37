package functionfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/function"
)

var update = flag.Bool("update", false, "rewrite function-file.schema.json from the Go types")

const schemaFile = "function-file.schema.json"

func TestSchema(t *testing.T) {
	want, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", schemaFile)
		return
	}
	if !bytes.Equal(Schema(), want) {
		t.Fatalf("%s is stale: the Go types or the generator changed. Regenerate it with\n\tgo test ./functionfile -run TestSchema -update\n(in pkg/) and commit it", schemaFile)
	}
	if !json.Valid(Schema()) {
		t.Fatal("the schema is not JSON")
	}
}

// TestSchemaCoversTypes checks the schema's properties against the Go
// types' JSON fields, both ways.
func TestSchemaCoversTypes(t *testing.T) {
	root := generated(t)
	var check func(s map[string]any, typ reflect.Type, path string)
	check = func(s map[string]any, typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() == reflect.Slice { // a list of objects (spec.triggers)
			if items, ok := s["items"].(map[string]any); ok {
				check(items, typ.Elem(), path+"[]")
			}
			return
		}
		if typ.Kind() != reflect.Struct || typ == durationType {
			return
		}
		props, _ := s["properties"].(map[string]any)
		if s["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is not false", path)
		}
		var goFields, schemaFields []string
		for _, f := range fieldsOf(typ) {
			fpath := join(path, f.name)
			if _, ok := refused[fpath]; ok {
				continue
			}
			goFields = append(goFields, f.name)
			sub, ok := props[f.name].(map[string]any)
			if !ok {
				continue
			}
			if sub["description"] == nil {
				t.Errorf("%s: no description", fpath)
			}
			check(sub, f.typ, fpath)
		}
		for name := range props {
			schemaFields = append(schemaFields, name)
		}
		sort.Strings(goFields)
		sort.Strings(schemaFields)
		if !slices.Equal(goFields, schemaFields) {
			t.Errorf("%s: the Go type has fields %v, the schema %v", path, goFields, schemaFields)
		}
	}
	check(root, documentType, "")
	for path := range fieldDocs {
		if !strings.HasSuffix(path, "[]") && lookupSchema(root, path) == nil {
			t.Errorf("fieldDocs has %s, which is no field", path)
		}
	}
}

// generated is the schema of the Go types, which TestSchema compares with
// the committed one; the tests below use it so that -update passes at once.
func generated(t *testing.T) map[string]any {
	t.Helper()
	b, err := generateSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	return root
}

func lookupSchema(s map[string]any, path string) map[string]any {
	for _, name := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(name, "[]")
		props, _ := s["properties"].(map[string]any)
		s, _ = props[name].(map[string]any)
		if list && s != nil {
			s, _ = s["items"].(map[string]any)
		}
		if s == nil {
			return nil
		}
	}
	return s
}

// TestSchemaAcceptsExamples validates documents the parser accepts (the
// example project, the success cases) and some it refuses against the
// schema, with a validator of the keywords the schema uses.
func TestSchemaAcceptsExamples(t *testing.T) {
	root := generated(t)
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "eventflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := yamlDocs(t, example)
	if len(docs) != 3 {
		t.Fatalf("the example has %d documents, want 3", len(docs))
	}
	docs = append(docs, yamlDocs(t, []byte(head+`metadata: {name: full, labels: {app.kubernetes.io/name: x}}
spec:
  image: ghcr.io/acme/full:1
  command: [serve]
  env: {A: b, PORT_X: 8080, DEBUG: true}
  replicas: 0
  invocation:
    mode: http
    timeout: 1m30s
    maxConcurrency: 16
    retry: {maxAttempts: 5, initialDelay: 500ms, maxDelay: 90, retryOn: [timeout, http5xx]}
  resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1, memory: 128Mi}}
  autoscaling: {minReplicas: 1, maxReplicas: 4, targetCPUUtilization: 70}
  http: {auth: public}
  triggers:
    - {type: cron, schedule: "@every 1m", timezone: Europe/Paris, body: tick, missed: once}
    - {type: nats, subject: orders.>}
    - {type: event, filter: {type: io.eventflow.invocation.*, function: "*", source: ""}}
`))...)
	docs = append(docs, yamlDocs(t, []byte(head+`metadata: {name: scaled}
spec:
  command: serve
  invocation: {mode: http}
  scale: {min: 0, max: 4, target: 10, metric: queue, idleAfter: 30s}
`))...)
	docs = append(docs, yamlDocs(t, []byte(head+`metadata: {name: db}
spec:
  command: serve
  secrets: [db-password, api-key]
`))...)
	for i, d := range docs {
		if err := validate(root, d, ""); err != nil {
			t.Errorf("document %d refused: %v", i, err)
		}
	}
	for _, bad := range []string{
		head + "metadata: {name: a}\nspec: {command: [x], name: a}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: batch}}\n",
		head + "metadata: {name: Bad}\nspec: {command: [x]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], replicas: many}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {timeout: soon}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], resources: {limits: {gpu: \"1\"}}}\n",
		head + "metadata: {name: a}\nspec: {command: {a: b}}\n",
		head + "spec: {command: [x]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], triggers: [{type: webhook}]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], triggers: [{schedule: \"@hourly\"}]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], triggers: [{type: cron, schedule: \"@hourly\", when: now}]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], triggers: [{type: event, filter: {kind: x}}]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, http: {auth: basic}}\n",
		"apiVersion: v2\nkind: Function\nmetadata: {name: a}\nspec: {}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, replicas: 1, scale: {min: 0, max: 1}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, autoscaling: {minReplicas: 1, maxReplicas: 2}, scale: {min: 1, max: 2}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {min: 0, max: 101}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {min: -1, max: 1}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {min: 0, max: 1, metric: rps}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {min: 0, max: 1, idleAfter: soon}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {max: 1}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], invocation: {mode: http}, scale: {min: 0, max: 1, minimum: 0}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], secrets: [DB_PASSWORD]}\n",
		head + "metadata: {name: a}\nspec: {command: [x], secrets: {db: password}}\n",
		head + "metadata: {name: a}\nspec: {command: [x], secrets: [1, 2]}\n",
	} {
		if err := validate(root, yamlDocs(t, []byte(bad))[0], ""); err == nil {
			t.Errorf("the schema accepts\n%s", bad)
		}
	}
}

func yamlDocs(t *testing.T, data []byte) []any {
	t.Helper()
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d any
		if err := dec.Decode(&d); err != nil {
			break
		}
		// Through JSON, as a schema sees it.
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var j any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, j)
	}
	return docs
}

// validate checks v against the JSON Schema keywords generateSchema uses.
func validate(s map[string]any, v any, path string) error {
	if types, ok := s["type"]; ok {
		var names []string
		switch x := types.(type) {
		case string:
			names = []string{x}
		case []any:
			for _, n := range x {
				names = append(names, n.(string))
			}
		}
		if !slices.ContainsFunc(names, func(n string) bool { return hasType(v, n) }) {
			return fmt.Errorf("%s: %v is not of type %v", path, v, names)
		}
	}
	if c, ok := s["const"]; ok && v != c {
		return fmt.Errorf("%s: %v is not %v", path, v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		return fmt.Errorf("%s: %v is not one of %v", path, v, e)
	}
	if str, ok := v.(string); ok {
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
		if m, ok := s["maxLength"].(float64); ok && float64(len([]rune(str))) > m {
			return fmt.Errorf("%s: longer than %v", path, m)
		}
	}
	if n, ok := v.(float64); ok {
		if m, ok := s["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: below %v", path, m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			return fmt.Errorf("%s: above %v", path, m)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		matched := 0
		for _, sub := range one {
			if validate(sub.(map[string]any), v, path) == nil {
				matched++
			}
		}
		if matched != 1 {
			return fmt.Errorf("%s: matches %d of oneOf", path, matched)
		}
	}
	if alts, ok := s["anyOf"].([]any); ok && !slices.ContainsFunc(alts, func(sub any) bool { return validate(sub.(map[string]any), v, path) == nil }) {
		return fmt.Errorf("%s: matches none of anyOf", path)
	}
	if not, ok := s["not"].(map[string]any); ok && validate(not, v, path) == nil {
		return fmt.Errorf("%s: matches what not refuses", path)
	}
	if arr, ok := v.([]any); ok {
		if m, ok := s["maxItems"].(float64); ok && float64(len(arr)) > m {
			return fmt.Errorf("%s: more than %v items", path, m)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				if err := validate(items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asSlice(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: %s is required", path, r)
			}
		}
		if m, ok := s["maxProperties"].(float64); ok && float64(len(obj)) > m {
			return fmt.Errorf("%s: more than %v properties", path, m)
		}
		props, _ := s["properties"].(map[string]any)
		for k, x := range obj {
			if names, ok := s["propertyNames"].(map[string]any); ok {
				if err := validate(names, k, join(path, k)); err != nil {
					return err
				}
			}
			var sub map[string]any
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap && props[k] == nil {
					return fmt.Errorf("%s: unknown property", join(path, k))
				}
			case map[string]any:
				sub = ap
			}
			if p, ok := props[k].(map[string]any); ok {
				sub = p
			}
			if sub != nil {
				if err := validate(sub, x, join(path, k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func hasType(v any, name string) bool {
	switch x := v.(type) {
	case string:
		return name == "string"
	case float64:
		return name == "number" || (name == "integer" && x == math.Trunc(x))
	case bool:
		return name == "boolean"
	case []any:
		return name == "array"
	case map[string]any:
		return name == "object"
	case nil:
		return name == "null"
	}
	return false
}

// TestSchemaPatterns checks the schema's copies of validate.go's patterns
// against Validate itself.
func TestSchemaPatterns(t *testing.T) {
	samples := []string{"a", "upper", "a-b", "-a", "a-", "A", "a_b", "a.b", "1", "_x", "x1", "X_Y", "1X", "a b",
		"100m", "0.5", "128Mi", "1Gi", "1.", "lots", "", "v1.2-rc_3", "é", strings.Repeat("a", 63), strings.Repeat("a", 64)}
	base := function.Spec{Name: "a", Command: []string{"x"}}
	check := func(what, pattern string, valid func(string) bool) {
		re := regexp.MustCompile(pattern)
		for _, s := range samples {
			if re.MatchString(s) != valid(s) {
				t.Errorf("%s %q: the schema's pattern says %v, Validate %v", what, s, re.MatchString(s), valid(s))
			}
		}
	}
	check("name", dns1123Pattern, func(s string) bool { return len(s) > 63 || function.ValidateName(s) == nil })
	check("env name", envNamePattern, func(s string) bool {
		sp := base
		sp.Env = map[string]string{s: "v"}
		return sp.Validate() == nil
	})
	check("label value", labelValuePattern, func(s string) bool {
		sp := base
		sp.Labels = map[string]string{"k": s}
		return len(s) > 63 || sp.Validate() == nil
	})
	check("quantity", quantityPattern, func(s string) bool {
		sp := base
		sp.Resources = &function.Resources{Limits: map[string]string{"cpu": s}}
		return sp.Validate() == nil
	})
	d := regexp.MustCompile(durationPattern)
	for _, s := range []string{"30s", "1m30s", "1.5h", ".5s", "-1s", "0", "300ms", "1us", "1µs", "soon", "1", "1 s", "s", ""} {
		var fd function.Duration
		err := fd.UnmarshalJSON([]byte(strconv.Quote(s)))
		if d.MatchString(s) != (err == nil) {
			t.Errorf("duration %q: the schema's pattern says %v, UnmarshalJSON %v", s, d.MatchString(s), err)
		}
	}
}
