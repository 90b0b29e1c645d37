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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

// rolloutFixture is fixtures()[0] (http mode, generation 3) rolling out
// revision 3 beside revision 2 with spec.rollout.
func rolloutFixture() function.Function {
	f := fixtures()[0]
	f.Rollout = &function.Rollout{StepPercent: 25, Interval: function.Duration(30 * time.Second), MaxErrorPercent: 10, MinRequests: 50}
	f.Status.Rollout = &function.RolloutState{Revision: 3, From: 2, Percent: 50, Phase: function.RolloutProgressing,
		Message: "revision 3 takes 50%, revision 2 the rest (0 of its 120 requests failed in the last interval)", UpdatedAt: now.Add(-10 * time.Second)}
	return f
}

// TestDescribeRollout: spec.rollout's settings (defaults filled) and where
// status.rollout stands, in each phase; a function without either shows
// neither line.
func TestDescribeRollout(t *testing.T) {
	var b bytes.Buffer
	if err := describe(&b, "http://127.0.0.1:8080", fixtures()[0], nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Rollout") {
		t.Errorf("describe of a function without rollout shows one:\n%s", b.String())
	}

	b.Reset()
	if err := describe(&b, "http://127.0.0.1:8080", rolloutFixture(), nil, nil, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "describe-rollout", b.Bytes())

	progressing := rolloutFixture().Status.Rollout
	for _, tc := range []struct {
		name  string
		spec  *function.Rollout
		state *function.RolloutState
		want  []string
		not   []string
	}{
		{"defaults", &function.Rollout{}, nil,
			[]string{"Rollout by:   20% every 1m0s, rolled back on >5% errors (of at least 10 requests an interval)\n"}, []string{"Rollout:"}},
		{"progressing", &function.Rollout{StepPercent: 25, Interval: function.Duration(30 * time.Second)}, progressing,
			[]string{"Rollout by:   25% every 30s, rolled back on >5% errors (of at least 10 requests an interval)\n",
				"Rollout:      revision 3 at 50% (from revision 2), progressing, next step in 20s: revision 3 takes 50%, revision 2 the rest (0 of its 120 requests failed in the last interval)\n"}, nil},
		{"step overdue", &function.Rollout{Interval: function.Duration(5 * time.Second)}, progressing,
			[]string{"Rollout:      revision 3 at 50% (from revision 2), progressing, next step due: revision 3 takes 50%"}, nil},
		{"complete", &function.Rollout{}, &function.RolloutState{Revision: 3, From: 2, Percent: 100, Phase: function.RolloutComplete,
			Message: "revision 3 takes all traffic", UpdatedAt: now.Add(-time.Minute)},
			[]string{"Rollout:      revision 3 at 100% (from revision 2), complete: revision 3 takes all traffic\n"}, []string{"next step"}},
		{"rolled back", &function.Rollout{}, &function.RolloutState{Revision: 3, From: 2, Percent: 0, Phase: function.RolloutRolledBack,
			Message: "rolled back to revision 2: 30 of revision 3's 100 requests failed in the last interval (30%, more than 5%)", UpdatedAt: now.Add(-time.Minute)},
			[]string{"Rollout:      revision 3 at 0% (from revision 2), rolled-back: rolled back to revision 2: 30 of revision 3's 100 requests failed in the last interval (30%, more than 5%)\n"},
			[]string{"next step"}},
		// A state the spec no longer asks for (rollout removed since):
		// still shown, with no next step to date.
		{"no spec", nil, progressing,
			[]string{"Rollout:      revision 3 at 50% (from revision 2), progressing: revision 3 takes 50%"}, []string{"Rollout by:", "next step"}},
	} {
		f := fixtures()[0]
		f.Rollout, f.Status.Rollout = tc.spec, tc.state
		b.Reset()
		if err := describe(&b, "http://127.0.0.1:8080", f, nil, nil, now); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: describe lacks %q:\n%s", tc.name, w, b.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(b.String(), w) {
				t.Errorf("%s: describe shows %q:\n%s", tc.name, w, b.String())
			}
		}
	}
}

// rolloutGateway stands in for the API: functions are the list GET
// /v1/functions answers (each also by name), and every POST body is
// recorded.
type rolloutGateway struct {
	mu        sync.Mutex
	functions []json.RawMessage
	posts     []string
}

func (g *rolloutGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/functions":
		items := g.functions
		if items == nil {
			items = []json.RawMessage{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/functions":
		g.posts = append(g.posts, string(b))
		var spec function.Spec
		_ = json.Unmarshal(b, &spec)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(function.Function{Spec: spec.WithDefaults(), Tenant: "demo", Generation: 1})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/events":
		w.Header().Set("Content-Type", "text/event-stream")
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/invocations"):
		_, _ = w.Write([]byte(`{"items":[]}`))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/functions/"):
		for _, raw := range g.functions {
			var f function.Function
			if json.Unmarshal(raw, &f) == nil && "/v1/functions/"+f.Name == r.URL.Path {
				_, _ = w.Write(raw)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such function"}}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such thing"}}`))
	}
}

// runAgainst runs the command line against h standing in for the API.
func runAgainst(t *testing.T, h http.Handler, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	env := map[string]string{"EVENTFLOW_URL": srv.URL, "EVENTFLOW_TOKEN": "tok", "NO_COLOR": "1", "XDG_CONFIG_HOME": t.TempDir()}
	var out, errb bytes.Buffer
	code = Run(context.Background(), argv, IO{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv:    func(k string) string { return env[k] },
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, nil)
	return out.String(), errb.String(), code
}

// TestDescribeRolloutFromAPI: `eventflow describe` reads spec.rollout and
// status.rollout from the API's function document as the gateway writes
// it.
func TestDescribeRolloutFromAPI(t *testing.T) {
	updated := time.Now().Add(-10 * time.Second).UTC().Format(time.RFC3339Nano)
	g := &rolloutGateway{functions: []json.RawMessage{json.RawMessage(`{"name":"web","command":["serve"],
		"invocation":{"mode":"http","timeout":"30s"},"scale":{"min":1,"max":1},"http":{"auth":"token"},
		"rollout":{"stepPercent":20,"interval":"1m0s","maxErrorPercent":5,"minRequests":10},
		"tenant":"demo","generation":3,"createdAt":"2026-12-07T09:00:00Z","updatedAt":"2026-12-07T11:59:00Z",
		"status":{"phase":"Ready","readyReplicas":1,"replicas":1,"observedGeneration":3,
			"rollout":{"revision":3,"from":2,"percent":40,"phase":"progressing","message":"revision 3 takes 40%, revision 2 the rest","updatedAt":"` + updated + `"}}}`)}}
	out, errOut, code := runAgainst(t, g, "describe", "web")
	if code != 0 {
		t.Fatalf("describe: exit %d, %s", code, errOut)
	}
	for _, w := range []string{
		"Rollout by:   20% every 1m0s, rolled back on >5% errors (of at least 10 requests an interval)\n",
		"Rollout:      revision 3 at 40% (from revision 2), progressing, next step in ",
		": revision 3 takes 40%, revision 2 the rest\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("describe lacks %q:\n%s", w, out)
		}
	}
}

// TestDeployFileWithRollout: a function file's spec.rollout reaches the
// API's request body as the spec's rollout, and a change of it plans as
// a change field by field (the stored defaults against the file's).
func TestDeployFileWithRollout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eventflow.yaml")
	const file = `apiVersion: eventflow.io/v1
kind: Function
metadata: {name: web}
spec:
  command: [serve]
  invocation: {mode: http}
  rollout: {stepPercent: 25, interval: 30s, maxErrorPercent: 10}
`
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &rolloutGateway{}
	out, errOut, code := runAgainst(t, g, "deploy", "-f", path)
	if code != 0 {
		t.Fatalf("deploy: exit %d, %s", code, errOut)
	}
	if !strings.Contains(out, "created   web") {
		t.Errorf("plan:\n%s", out)
	}
	if len(g.posts) != 1 {
		t.Fatalf("%d POSTs, want 1", len(g.posts))
	}
	var body struct {
		Rollout map[string]any `json:"rollout"`
	}
	if err := json.Unmarshal([]byte(g.posts[0]), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"stepPercent": 25.0, "interval": "30s", "maxErrorPercent": 10.0}
	if len(body.Rollout) != len(want) {
		t.Errorf("rollout in the request body: %v, want %v (body %s)", body.Rollout, want, g.posts[0])
	}
	for k, v := range want {
		if body.Rollout[k] != v {
			t.Errorf("rollout.%s in the request body: %v, want %v (body %s)", k, body.Rollout[k], v, g.posts[0])
		}
	}

	// The gateway stores the spec with rollout's defaults filled: the
	// same file is unchanged, a new step a change of that field alone.
	stored := function.Spec{Name: "web", Labels: map[string]string{managedByLabel: managedByCLI, projectLabel: "demo"}, Command: []string{"serve"}, Invocation: function.Invocation{Mode: function.ModeHTTP},
		Rollout: &function.Rollout{StepPercent: 25, Interval: function.Duration(30 * time.Second), MaxErrorPercent: 10}}.WithDefaults()
	raw, err := json.Marshal(function.Function{Spec: stored, Tenant: "demo", Generation: 2, Status: function.Status{Phase: function.PhaseReady}})
	if err != nil {
		t.Fatal(err)
	}
	g = &rolloutGateway{functions: []json.RawMessage{raw}}
	out, errOut, code = runAgainst(t, g, "deploy", "-f", path, "--project", "demo", "--dry-run")
	if code != 0 || !strings.Contains(out, "unchanged web") {
		t.Errorf("the same file again: exit %d, %s%s", code, out, errOut)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(file, "stepPercent: 25", "stepPercent: 50", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runAgainst(t, g, "deploy", "-f", path, "--project", "demo", "--dry-run")
	if code != 0 || !strings.Contains(out, "changed   web\n            rollout.stepPercent: 25 → 50\n") {
		t.Errorf("a new step: exit %d, %s%s", code, out, errOut)
	}
	if len(g.posts) != 0 {
		t.Errorf("--dry-run posted %v", g.posts)
	}
}
