package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
)

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func secretFixtures() []client.Secret {
	return []client.Secret{
		{Name: "api-key", Version: 1, Size: 32, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour)},
		{Name: "db-password", Version: 3, Size: 12, CreatedAt: now.Add(-72 * time.Hour), UpdatedAt: now.Add(-5 * time.Minute), UsedBy: []string{"api", "worker"}},
	}
}

func revisionFixtures() []client.Revision {
	v1 := function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}, Labels: map[string]string{"team": "search"}}
	v2 := v1
	v2.Env = map[string]string{"LANG": "C"}
	v2.Secrets = []string{"db-password"}
	return []client.Revision{
		{Revision: 3, Spec: v1, Digest: "sha256:3f2a9c1d0b7e4a5f6c8d9e0f1a2b3c4d", CreatedAt: now.Add(-time.Minute), CreatedBy: "demo", Cause: client.CauseRollback, Message: "rollback to revision 1"},
		{Revision: 2, Spec: v2, Digest: "sha256:9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e", CreatedAt: now.Add(-time.Hour), CreatedBy: "demo", Cause: client.CauseUpdated},
		{Revision: 1, Spec: v1, Digest: "sha256:3f2a9c1d0b7e4a5f6c8d9e0f1a2b3c4d", CreatedAt: now.Add(-48 * time.Hour), CreatedBy: "ci-bot", Cause: client.CauseCreated},
	}
}

func TestSecretAndRevisionTables(t *testing.T) {
	var b bytes.Buffer
	if err := printSecrets(&b, outTable, secretFixtures(), now); err != nil {
		t.Fatal(err)
	}
	golden(t, "secret-list", b.Bytes())
	b.Reset()
	if err := printRevisions(&b, outTable, revisionFixtures(), 3, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "revisions", b.Bytes())
	revs := revisionFixtures()
	d, err := revisionDiff("upper", revs[2], revs[1])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "revisions-diff", []byte(d))
	if d, _ := revisionDiff("upper", revs[2], revs[0]); d != "" {
		t.Errorf("revisions of the same spec differ:\n%s", d)
	}
}

func TestSecretAndRevisionDocuments(t *testing.T) {
	for _, format := range []string{outJSON, outYAML} {
		var b bytes.Buffer
		if err := printSecrets(&b, format, []client.Secret{{Name: "a"}}, now); err != nil {
			t.Fatal(err)
		}
		// The API's list document, usedBy a list even when empty.
		var doc struct {
			Items []map[string]any `json:"items"`
		}
		parseDoc(t, format, b.Bytes(), &doc)
		if len(doc.Items) != 1 || doc.Items[0]["name"] != "a" || doc.Items[0]["usedBy"] == nil {
			t.Errorf("%s: %s", format, b.String())
		}
		b.Reset()
		if err := printSecrets(&b, format, nil, now); err != nil {
			t.Fatal(err)
		}
		parseDoc(t, format, b.Bytes(), &doc)
		if doc.Items == nil || len(doc.Items) != 0 {
			t.Errorf("%s of no secrets: %s", format, b.String())
		}
		b.Reset()
		if err := printRevisions(&b, format, revisionFixtures(), 0, now); err != nil {
			t.Fatal(err)
		}
		var revs struct{ Items []client.Revision }
		parseDoc(t, format, b.Bytes(), &revs)
		if len(revs.Items) != 3 || revs.Items[1].Spec.Secrets[0] != "db-password" || revs.Items[0].Cause != "rollback" {
			t.Errorf("%s revisions: %+v", format, revs)
		}
	}
}

// parseDoc reads a -o json or -o yaml document into v.
func parseDoc(t *testing.T, format string, b []byte, v any) {
	t.Helper()
	if format == outYAML {
		var tree any
		if err := yaml.Unmarshal(b, &tree); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, b)
		}
		var err error
		if b, err = json.Marshal(tree); err != nil {
			t.Fatal(err)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v\n%s", format, err, b)
	}
}

func TestCheckSecretValue(t *testing.T) {
	for _, tc := range []struct {
		name, value, err string
	}{
		{"text", "s3cret", ""},
		{"a PEM block", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", ""},
		{"the most", strings.Repeat("x", client.MaxSecretBytes), ""},
		{"empty", "", "the value is empty"},
		{"too large", strings.Repeat("x", client.MaxSecretBytes+1), "larger than 64 KiB"},
		{"binary", "\xff\xfe\x00", "not UTF-8"},
	} {
		err := checkSecretValue([]byte(tc.value))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
		}
	}
}

func TestPrintSecretSet(t *testing.T) {
	for _, tc := range []struct {
		s       client.Secret
		created bool
		want    string
	}{
		{client.Secret{Name: "a", Version: 1, Size: 3}, true, "secret a created (version 1, 3 bytes)\n"},
		{client.Secret{Name: "a", Version: 2, Size: 4}, false, "secret a replaced (version 2, 4 bytes)\nno function uses it\n"},
		{client.Secret{Name: "a", Version: 3, Size: 4, UsedBy: []string{"api", "worker"}}, false,
			"secret a replaced (version 3, 4 bytes)\nrolling the functions that use it: api, worker\n"},
	} {
		var b bytes.Buffer
		printSecretSet(&b, tc.s, tc.created)
		if b.String() != tc.want {
			t.Errorf("got %q, want %q", b.String(), tc.want)
		}
	}
}

func TestRollbackMessage(t *testing.T) {
	f := function.Function{Generation: 5}
	for _, tc := range []struct {
		rev     int64
		changed bool
		want    string
	}{
		{0, true, "upper: rolled back to the spec of the previous revision, now revision 5"},
		{2, true, "upper: rolled back to the spec of revision 2, now revision 5"},
		{2, false, "upper: the spec of revision 2 is current already: nothing changed"},
	} {
		if got := rollbackMessage("upper", tc.rev, f, tc.changed); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// fakeGateway answers the secrets and revisions API from memory and
// records the requests.
type fakeGateway struct {
	mu       sync.Mutex
	requests []string // "METHOD /path body"
	secrets  map[string]client.Secret
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
	w.Header().Set("Content-Type", "application/json")
	revs := revisionFixtures()
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	name := strings.TrimPrefix(r.URL.Path, "/v1/secrets/")
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/secrets/"):
		var body struct{ Value string }
		_ = json.Unmarshal(b, &body)
		s, ok := g.secrets[name]
		s.Name, s.Version, s.Size = name, s.Version+1, len(body.Value)
		if name == "db-password" {
			s.UsedBy = []string{"api"}
		}
		g.secrets[name] = s
		if !ok {
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(s)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/secrets":
		var items []client.Secret
		for _, s := range g.secrets {
			items = append(items, s)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	case r.Method == http.MethodDelete && name == "db-password":
		fail(http.StatusConflict, "conflict", `secret "db-password" is used by functions: api`)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v1/functions/upper":
		_ = json.NewEncoder(w).Encode(function.Function{Spec: revs[0].Spec, Generation: 3})
	case r.URL.Path == "/v1/functions/upper/revisions":
		_ = json.NewEncoder(w).Encode(map[string]any{"items": revs})
	case strings.HasPrefix(r.URL.Path, "/v1/functions/upper/revisions/"):
		for _, rev := range revs {
			if r.URL.Path == "/v1/functions/upper/revisions/"+strconv.FormatInt(rev.Revision, 10) {
				_ = json.NewEncoder(w).Encode(rev)
				return
			}
		}
		fail(http.StatusNotFound, "not_found", "no revision 9 of upper")
	case r.URL.Path == "/v1/functions/upper:rollback":
		if strings.Contains(string(b), `"revision":3`) {
			_ = json.NewEncoder(w).Encode(function.Function{Spec: revs[0].Spec, Generation: 3})
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(function.Function{Spec: revs[1].Spec, Generation: 4})
	case r.URL.Path == "/v1/functions/single:rollback":
		fail(http.StatusConflict, "conflict", `function "single" has no revision before 1 to roll back to`)
	default:
		fail(http.StatusNotFound, "not_found", "no such thing")
	}
}

// runCLI runs the command line against the fake gateway.
func runCLI(t *testing.T, g *fakeGateway, stdin string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	srv := httptest.NewServer(g)
	defer srv.Close()
	env := map[string]string{"EVENTFLOW_URL": srv.URL, "EVENTFLOW_TOKEN": "tok", "NO_COLOR": "1",
		"XDG_CONFIG_HOME": t.TempDir()}
	var out, errb bytes.Buffer
	code = Run(context.Background(), argv, IO{
		In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Getenv:    func(k string) string { return env[k] },
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, nil)
	return out.String(), errb.String(), code
}

func TestSecretCommands(t *testing.T) {
	g := &fakeGateway{secrets: map[string]client.Secret{}}
	const value = "hunter2-very-secret"

	out, errOut, code := runCLI(t, g, value, "secret", "set", "db-password")
	if code != 0 || out != "secret db-password created (version 1, 19 bytes)\n" {
		t.Errorf("set from stdin: exit %d\n%s%s", code, out, errOut)
	}
	if last := g.requests[len(g.requests)-1]; last != `PUT /v1/secrets/db-password {"value":"`+value+`"}` {
		t.Errorf("set sent %s", last)
	}
	out, errOut, code = runCLI(t, g, "", "secret", "set", "db-password", "--from-literal", value+"2")
	if code != 0 || !strings.Contains(out, "replaced (version 2") || !strings.Contains(out, "rolling the functions that use it: api") {
		t.Errorf("set --from-literal: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "v")
	writeTestFile(t, file, "line\n")
	out, errOut, code = runCLI(t, g, "", "secret", "set", "from-file", "--from-file", file)
	if code != 0 || !strings.Contains(out, "created (version 1, 5 bytes)") || strings.Contains(errOut, "newline") {
		t.Errorf("set --from-file: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code = runCLI(t, g, "piped\n", "secret", "set", "piped"); code != 0 || !strings.Contains(errOut, "ends with a newline") {
		t.Errorf("set from stdin with a newline: exit %d, %s", code, errOut)
	}
	out, _, code = runCLI(t, g, "", "secret", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "db-password") || strings.Contains(out, value) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if out, _, _ = runCLI(t, g, "", "secret", "list", "-o", "name"); out != "db-password\nfrom-file\npiped\n" {
		t.Errorf("list -o name: %q", out)
	}

	// Mistakes: exit 2 and no request.
	before := len(g.requests)
	for _, argv := range [][]string{
		{"secret", "set", "Bad_Name", "--from-literal", "x"},
		{"secret", "set", "a", "--from-literal", "x", "--from-file", file},
		{"secret", "set"},
		{"secret", "delete"},
		{"secret", "list", "-o", "wide"},
		{"secret", "frobnicate"},
	} {
		if _, errOut, code := runCLI(t, g, "", argv...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", argv, code, ExitUsage, errOut)
		}
	}
	for _, tc := range []struct {
		stdin string
		argv  []string
		want  string
	}{
		{"", []string{"secret", "set", "empty"}, "stdin: the value is empty"},
		{"\xff\xfe", []string{"secret", "set", "binary"}, "not UTF-8"},
		{"", []string{"secret", "set", "missing", "--from-file", filepath.Join(t.TempDir(), "none")}, "no such file"},
	} {
		if _, errOut, code := runCLI(t, g, tc.stdin, tc.argv...); code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %s, want %q", tc.argv, code, errOut, tc.want)
		}
	}
	if len(g.requests) != before {
		t.Errorf("mistakes sent requests: %v", g.requests[before:])
	}

	// Delete: a used secret is refused with what to do; the others go.
	out, errOut, code = runCLI(t, g, "", "secret", "delete", "db-password", "piped")
	if code != ExitError || out != "secret piped deleted\n" || !strings.Contains(errOut, "used by functions: api") || !strings.Contains(errOut, "remove it from") {
		t.Errorf("delete: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRevisionCommands(t *testing.T) {
	g := &fakeGateway{}
	out, errOut, code := runCLI(t, g, "", "revisions", "upper")
	if code != 0 || !strings.Contains(out, "3 (current)") || strings.Contains(out, "2 (current)") || !strings.Contains(out, "3f2a9c1d0b7e ") {
		t.Errorf("revisions: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, g, "", "revisions", "upper", "--diff", "1", "2")
	if code != 0 || !strings.HasPrefix(out, "--- upper revision 1\n+++ upper revision 2\n") || !strings.Contains(out, "+  \"secrets\": [") {
		t.Errorf("revisions --diff 1 2: exit %d\n%s%s", code, out, errOut)
	}
	// One revision: against the current (3, the same spec as 1).
	out, errOut, code = runCLI(t, g, "", "revisions", "upper", "--diff", "1")
	if code != 0 || out != "" || !strings.Contains(errOut, "Revisions 1 and 3 of upper have the same spec") {
		t.Errorf("revisions --diff 1: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code = runCLI(t, g, "", "revisions", "upper", "--diff", "1", "9"); code != ExitError || !strings.Contains(errOut, "eventflow revisions upper' lists") {
		t.Errorf("revisions --diff of an unknown revision: exit %d, %s", code, errOut)
	}
	before := len(g.requests)
	for _, argv := range [][]string{
		{"revisions"},
		{"revisions", "upper", "2"},
		{"revisions", "upper", "--diff"},
		{"revisions", "upper", "--diff", "1", "2", "3"},
		{"revisions", "upper", "--diff", "one", "2"},
		{"revisions", "upper", "--diff", "0", "2"},
		{"revisions", "upper", "--diff", "1", "2", "-o", "json"},
		{"rollback"},
		{"rollback", "upper", "--revision", "0"},
		{"rollback", "upper", "--revision", "x"},
	} {
		if _, errOut, code := runCLI(t, g, "", argv...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", argv, code, ExitUsage, errOut)
		}
	}
	if len(g.requests) != before {
		t.Errorf("mistakes sent requests: %v", g.requests[before:])
	}

	out, _, code = runCLI(t, g, "", "rollback", "upper")
	if code != 0 || out != "upper: rolled back to the spec of the previous revision, now revision 4\n" {
		t.Errorf("rollback: exit %d, %q", code, out)
	}
	if last := g.requests[len(g.requests)-1]; last != "POST /v1/functions/upper:rollback" {
		t.Errorf("rollback without --revision sent %q", last)
	}
	out, _, code = runCLI(t, g, "", "rollback", "upper", "--revision", "3")
	if code != 0 || !strings.Contains(out, "current already") {
		t.Errorf("rollback to the current: exit %d, %q", code, out)
	}
	if last := g.requests[len(g.requests)-1]; last != `POST /v1/functions/upper:rollback {"revision":3}` {
		t.Errorf("rollback --revision 3 sent %q", last)
	}
	if _, errOut, code := runCLI(t, g, "", "rollback", "single"); code != ExitError || !strings.Contains(errOut, "no revision before 1 to roll back to") {
		t.Errorf("rollback of a single revision: exit %d, %s", code, errOut)
	}
}

func TestDescribeNamesSecrets(t *testing.T) {
	f := fixtures()[1]
	var b bytes.Buffer
	if err := describe(&b, "http://gw", f, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Secrets:") {
		t.Errorf("describe of a function without secrets shows them:\n%s", b.String())
	}
	f.Secrets = []string{"db-password", "api-key"}
	b.Reset()
	if err := describe(&b, "http://gw", f, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Secrets:      db-password, api-key (files in $EVENTFLOW_SECRETS_DIR)\n") {
		t.Errorf("describe:\n%s", b.String())
	}
	// An http-mode function's traffic split.
	f.Invocation.Mode, f.Generation = function.ModeHTTP, 4
	f.Traffic = []function.TrafficTarget{{Revision: 1, Percent: 90}, {Tag: function.TagLatest, Percent: 10}}
	b.Reset()
	if err := describe(&b, "http://gw", f, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Traffic:      revision 1 90%, latest (4) 10%\n") {
		t.Errorf("describe of a split:\n%s", b.String())
	}
}

// TestSecretAndRevisionCompletion: secret names and revision numbers
// complete from the gateway.
func TestSecretAndRevisionCompletion(t *testing.T) {
	g := &fakeGateway{secrets: map[string]client.Secret{"db-password": {Name: "db-password"}, "api-key": {Name: "api-key"}}}
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"__complete", "secret", "get", "d"}, []string{"db-password"}},
		{[]string{"__complete", "secret", "delete", ""}, []string{"api-key", "db-password"}},
		{[]string{"__complete", "secret", "delete", "api-key", ""}, []string{"db-password"}},
		{[]string{"__complete", "secret", "set", "db-password", ""}, nil},
		{[]string{"__complete", "rollback", "upper", "--revision", ""}, []string{"3", "2", "1"}},
		{[]string{"__complete", "revisions", "upper", "--diff", "1", ""}, []string{"3", "2", "1"}},
		{[]string{"__complete", "revisions", "upper", "--diff", "1", "2", ""}, nil},
	} {
		out, errOut, code := runCLI(t, g, "", tc.argv...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.argv, code, errOut)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") {
				name, _, _ := strings.Cut(l, "\t")
				got = append(got, name)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%v: completed %v, want %v", tc.argv, got, tc.want)
		}
	}
}
