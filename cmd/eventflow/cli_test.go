package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/dev"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// cli runs bin/eventflow as a user would, with its own config directory.
type cliRunner struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T, extraEnv ...string) *cliRunner {
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "NO_COLOR=1", "PATH=" + os.Getenv("PATH")}
	return &cliRunner{t: t, env: append(env, extraEnv...)}
}

type cliResult struct {
	out, err string
	code     int
}

func (c *cliRunner) run(stdin string, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("eventflow %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cliRunner) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("eventflow %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// fails runs a command that must exit with code and returns its stderr.
func (c *cliRunner) fails(code int, stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != code {
		c.t.Fatalf("eventflow %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.out, r.err)
	}
	return r.err
}

// start runs a long command (a follow) whose stdout lines arrive on a
// channel; it is stopped at the end of the test.
func (c *cliRunner) start(args ...string) <-chan string {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = c.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	c.t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return lines
}

// await reads lines until one satisfies match.
func await(t *testing.T, lines <-chan string, within time.Duration, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %s", what)
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, within)
		}
	}
}

func parseJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func parseYAML[T any](t *testing.T, s string) T {
	t.Helper()
	var m any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, s)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("YAML without a JSON form: %v\n%s", err, s)
	}
	return parseJSON[T](t, string(raw))
}

type functionList struct {
	Items []function.Function `json:"items"`
}

func generations(t *testing.T, c *cliRunner) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, f := range parseJSON[functionList](t, c.ok("", "list", "-o", "json")).Items {
		out[f.Name] = f.Generation
	}
	return out
}

// TestCLIJourney is the README's CLI tour against a real `eventflow dev`:
// log in, deploy a file of three functions, re-apply, change, prune,
// invoke, follow logs and events, and every output format read back.
func TestCLIJourney(t *testing.T) {
	dataDir := t.TempDir()
	p := startDev(t, dataDir)
	c := newCLI(t)

	// Before login: a clear error; usage mistakes exit 2.
	if msg := c.fails(1, "", "list"); !strings.Contains(msg, "not logged in") {
		t.Errorf("list before login: %s", msg)
	}
	c.fails(2, "", "get")
	c.fails(2, "", "list", "--no-such-flag")
	c.fails(2, "", "no-such-command")
	c.fails(2, "", "list", "-o", "xml")
	c.fails(2, "", "dead-letters", "redrvie", "upper")
	c.fails(2, "", "context", "lst")
	c.fails(2, "", "invoke", "upper", "--timeout", "0s")

	// Log in with a context.
	if out := c.ok("", "login", "--url", p.URL, "--tenant", "demo"); !strings.Contains(out, `tenant "demo"`) {
		t.Errorf("login said: %s", out)
	}
	ctxName := strings.TrimSpace(c.ok("", "context", "current"))
	if !strings.HasPrefix(ctxName, "demo@127.0.0.1:") {
		t.Errorf("current context %q, want demo@host", ctxName)
	}
	type ctxEntry struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
	}
	if cs := parseYAML[[]ctxEntry](t, c.ok("", "context", "list", "-o", "yaml")); len(cs) != 1 || !cs[0].Current || cs[0].Name != ctxName {
		t.Errorf("context list: %+v", cs)
	}

	// Deploy the example project and wait for it.
	example := filepath.Join("..", "..", "examples", "eventflow.yaml")
	out := c.ok("", "deploy", "-f", example, "--wait")
	for _, n := range []string{"upper", "wordcount", "echo"} {
		if !strings.Contains(out, "created   "+n) || !strings.Contains(out, n+": Ready") {
			t.Errorf("deploy output lacks %s created and Ready:\n%s", n, out)
		}
	}
	list := parseJSON[functionList](t, c.ok("", "list", "-o", "json"))
	if len(list.Items) != 3 {
		t.Fatalf("list -o json: %d functions, want 3", len(list.Items))
	}
	for _, f := range list.Items {
		if f.Status.Phase != function.PhaseReady || f.Labels["managed-by"] != "eventflow-cli" {
			t.Errorf("%s: phase %s, labels %v", f.Name, f.Status.Phase, f.Labels)
		}
	}
	if names := strings.Fields(c.ok("", "list", "-o", "name")); strings.Join(names, ",") != "echo,upper,wordcount" {
		t.Errorf("list -o name: %v", names)
	}
	if l := parseYAML[functionList](t, c.ok("", "list", "-o", "yaml")); len(l.Items) != 3 {
		t.Errorf("list -o yaml: %d items", len(l.Items))
	}
	if f := parseYAML[function.Function](t, c.ok("", "get", "upper", "-o", "yaml")); f.Name != "upper" || f.Labels["team"] == "" {
		t.Errorf("get -o yaml: %+v", f)
	}
	if f := parseJSON[function.Function](t, c.ok("", "get", "echo", "-o", "json")); f.Mode() != function.ModeHTTP || f.Tenant != "demo" {
		t.Errorf("get -o json: %+v", f)
	}

	// The same file again changes nothing.
	before := generations(t, c)
	out = c.ok("", "deploy", "-f", example)
	if strings.Count(out, "unchanged") != 3 {
		t.Errorf("second deploy:\n%s", out)
	}
	if after := generations(t, c); !equalMaps(before, after) {
		t.Errorf("second deploy changed generations: %v → %v", before, after)
	}

	// One field changed (an env value read from the environment): a dry
	// run shows it and changes nothing; the deploy updates that function
	// only.
	cg := &cliRunner{t: t, env: append(slices.Clone(c.env), "GREETING=bonjour")}
	out = cg.ok("", "deploy", "-f", example, "--dry-run")
	if !strings.Contains(out, "changed   echo") || !strings.Contains(out, "env.GREETING: changed (value hidden)") || !strings.Contains(out, "Dry run") {
		t.Errorf("dry run:\n%s", out)
	}
	if strings.Contains(out, "bonjour") {
		t.Errorf("the plan shows an env value:\n%s", out)
	}
	if after := generations(t, c); !equalMaps(before, after) {
		t.Errorf("dry run changed generations: %v → %v", before, after)
	}
	cg.ok("", "deploy", "-f", example, "--wait")
	after := generations(t, c)
	bumped := 0
	for n := range before {
		if after[n] != before[n] {
			bumped++
		}
	}
	if bumped != 1 {
		t.Errorf("one changed field updated %d functions: %v → %v", bumped, before, after)
	}

	// A function made without the CLI survives a prune; one the file no
	// longer names is deleted.
	c.ok(`apiVersion: eventflow.io/v1
kind: Function
metadata: {name: failing}
spec: {command: "sh -c 'cat >/dev/null; echo broken >&2; exit 3'", invocation: {retry: {maxAttempts: 1}}}
`, "deploy", "-f", "-", "--project", "examples", "--wait")
	// Another project's function, and one made without the CLI.
	c.ok("apiVersion: eventflow.io/v1\nkind: Function\nmetadata: {name: other}\nspec: {command: [cat]}\n", "deploy", "-f", "-", "--project", "other")
	keep := "apiVersion: eventflow.io/v1\nkind: Function\nmetadata: {name: upper}\nspec: {command: [tr, a-z, A-Z]}\n"
	out = c.ok(keep, "deploy", "-f", "-", "--project", "examples", "--prune", "--dry-run")
	for _, n := range []string{"echo", "wordcount", "failing"} {
		if !strings.Contains(out, "pruned    "+n) {
			t.Errorf("prune dry run lacks %s:\n%s", n, out)
		}
	}
	if strings.Contains(out, "other") {
		t.Errorf("prune of project examples would delete project other's function:\n%s", out)
	}

	// Invoke: stdin, argument, file; async with --wait; a failing
	// function's exit code.
	if got := c.ok("hello", "invoke", "upper"); got != "HELLO" {
		t.Errorf("invoke from stdin = %q", got)
	}
	type syncRecord struct {
		ID, Status, Output, Error string
		ExitCode                  *int
	}
	if r := parseJSON[syncRecord](t, c.ok("json", "invoke", "upper", "-o", "json")); r.Status != "succeeded" || r.Output != "JSON" || r.ID == "" {
		t.Errorf("invoke -o json: %+v", r)
	}
	if r := parseYAML[syncRecord](t, c.run("x", "invoke", "failing", "-o", "yaml").out); r.Status != "failed" || r.ExitCode == nil || *r.ExitCode != 3 {
		t.Errorf("invoke -o yaml of a failing function: %+v", r)
	}
	if got := c.ok("", "invoke", "upper", "abc"); got != "ABC" {
		t.Errorf("invoke with an argument = %q", got)
	}
	body := filepath.Join(t.TempDir(), "body.txt")
	writeFile(t, body, "from a file")
	if got := c.ok("", "invoke", "upper", "-d", "@"+body); got != "FROM A FILE" {
		t.Errorf("invoke -d @file = %q", got)
	}
	if got := c.ok("one two three", "invoke", "wordcount", "--async", "--wait"); strings.TrimSpace(got) != "3" {
		t.Errorf("invoke --async --wait = %q", got)
	}
	if msg := c.fails(3, "x", "invoke", "failing"); !strings.Contains(msg, "exit") {
		t.Errorf("failing function's message: %s", msg)
	}
	// An async invocation that fails every attempt is dead-lettered, listed
	// and redriven.
	if msg := c.fails(3, "z", "invoke", "failing", "--async", "--wait"); !strings.Contains(msg, "dead_lettered") {
		t.Errorf("dead-lettered invocation's message: %s", msg)
	}
	type deadLetter struct{ ID, Error string }
	dls := parseJSON[struct{ Items []deadLetter }](t, c.ok("", "dead-letters", "list", "failing", "-o", "json"))
	if len(dls.Items) != 1 {
		t.Fatalf("dead letters: %+v", dls)
	}
	if out := c.ok("", "dead-letters", "list", "failing"); !strings.Contains(out, dls.Items[0].ID) {
		t.Errorf("dead-letters list table:\n%s", out)
	}
	if out := c.ok("", "dead-letters", "redrive", "failing", "--id", dls.Items[0].ID); !strings.Contains(out, dls.Items[0].ID+": queued again") {
		t.Errorf("redrive: %s", out)
	}
	id := strings.TrimSpace(c.ok("async", "invoke", "upper", "--async", "--idempotency-key", "k-1"))
	if id2 := strings.TrimSpace(c.ok("async", "invoke", "upper", "--async", "--idempotency-key", "k-1")); id2 != id {
		t.Errorf("the same Idempotency-Key gave ids %s and %s", id, id2)
	}
	type record struct {
		ID, Status, Output string
	}
	testkit.Eventually(t, 30*time.Second, "the async invocation to succeed", func() (bool, string) {
		r := parseJSON[record](t, c.ok("", "invocations", "get", id, "-o", "json"))
		return r.Status == "succeeded" && r.Output == "ASYNC", r.Status
	})
	if r := parseYAML[record](t, c.ok("", "invocations", "get", id)); r.ID != id {
		t.Errorf("invocations get (yaml): %+v", r)
	}
	page := parseJSON[struct{ Items []record }](t, c.ok("", "invocations", "list", "upper", "--status", "succeeded", "-o", "json"))
	if len(page.Items) < 4 {
		t.Errorf("invocations list: %d succeeded, want at least 4", len(page.Items))
	}
	if out := c.ok("", "invocations", "list", "upper"); !strings.Contains(out, id) || !strings.HasPrefix(out, "ID") {
		t.Errorf("invocations list table:\n%s", out)
	}

	// Logs and events followed while invoking.
	logs := c.start("logs", "failing", "-f", "-o", "json")
	// Follow from the last stored event, so none is missed however late
	// the stream opens.
	stored := strings.Split(strings.TrimSpace(c.ok("", "events", "--function", "upper", "-o", "json")), "\n")
	lastSeq := parseJSON[struct{ Seq string }](t, stored[len(stored)-1]).Seq
	events := c.start("events", "-f", "--function", "upper", "--since", lastSeq, "-o", "json")
	await(t, logs, 30*time.Second, "the stored log line", func(l string) bool { return strings.Contains(l, "broken") })
	invoked := time.Now()
	c.ok("follow-me", "invoke", "upper", "--async", "--wait")
	c.fails(3, "y", "invoke", "failing")
	type logLine struct {
		Time         time.Time
		Stream, Line string
	}
	await(t, logs, 30*time.Second, "a new log line", func(l string) bool {
		ll := parseJSON[logLine](t, l)
		return ll.Time.After(invoked) && ll.Stream == "stderr" && ll.Line == "broken"
	})
	await(t, events, 30*time.Second, "the invocation's succeeded event", func(l string) bool {
		return parseJSON[struct{ Type string }](t, l).Type == "io.eventflow.invocation.succeeded"
	})
	if out := c.ok("", "events", "--function", "upper"); !strings.Contains(out, "io.eventflow.function") {
		t.Errorf("stored events:\n%s", out)
	}
	if out := c.ok("", "logs", "failing", "--since", "1h", "--tail", "2"); strings.Count(out, "\n") != 2 || strings.Count(out, "broken") != 2 {
		t.Errorf("logs --tail 2 of a function with more lines printed:\n%s", out)
	}
	if out := c.ok("", "describe", "upper"); !strings.Contains(out, "Recent invocations:") || !strings.Contains(out, id) || !strings.Contains(out, "Phase:") {
		t.Errorf("describe:\n%s", out)
	}

	// Prune for real, then delete.
	c.ok(keep, "deploy", "-f", "-", "--project", "examples", "--prune", "--wait")
	if names := strings.Fields(c.ok("", "list", "-o", "name")); strings.Join(names, ",") != "other,upper" {
		t.Errorf("after prune: %v", names)
	}
	c.ok("", "delete", "upper", "other", "--wait")
	if out := c.ok("", "list", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("after delete: %q", out)
	}

	// Version: the client's and the server's.
	type info struct{ Version string }
	v := parseJSON[struct {
		Client info
		Server *info
	}](t, c.ok("", "version", "-o", "json"))
	if v.Client.Version == "" || v.Server == nil || v.Server.Version == "" {
		t.Errorf("version: %+v", v)
	}

	// An expired token says to log in again; EVENTFLOW_URL and
	// EVENTFLOW_TOKEN override the context.
	secret, err := dev.LoadSecret(dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"tenant": "demo", "scopes": []string{"functions:read"}, "iss": "eventflow", "aud": "eventflow", "sub": "demo",
		"iat": past.Add(-time.Hour).Unix(), "exp": past.Unix(),
	}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	ci := newCLI(t, "EVENTFLOW_URL="+p.URL, "EVENTFLOW_TOKEN="+expired)
	if msg := ci.fails(1, "", "list"); !strings.Contains(msg, "log in again") {
		t.Errorf("expired token: %s", msg)
	}

	// A context's token is never sent to another gateway named by
	// EVENTFLOW_URL alone.
	var seen atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		http.Error(w, `{"error":{"code":"unauthenticated","message":"no"}}`, http.StatusUnauthorized)
	}))
	defer other.Close()
	co := &cliRunner{t: t, env: append(slices.Clone(c.env), "EVENTFLOW_URL="+other.URL)}
	co.fails(1, "", "list")
	if auth, _ := seen.Load().(string); auth != "" {
		t.Errorf("the current context's token went to another gateway: %q", auth)
	}

	c.ok("", "logout")
	c.fails(1, "", "context", "current")
}

// TestCLIBadFileChangesNothing: a function file with a mistake names its
// file, line and field, and nothing is deployed.
func TestCLIBadFileChangesNothing(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newCLI(t, "EVENTFLOW_URL="+p.URL)
	tok := token(t, p.URL, "demo")
	c.env = append(c.env, "EVENTFLOW_TOKEN="+tok)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, `apiVersion: eventflow.io/v1
kind: Function
metadata: {name: good}
spec: {command: [cat]}
---
apiVersion: eventflow.io/v1
kind: Function
metadata: {name: bad}
spec:
  command: [cat]
  invocation:
    timeout: forever
`)
	msg := c.fails(1, "", "deploy", "-f", bad)
	if !strings.Contains(msg, "bad.yaml:12:") || !strings.Contains(msg, "spec.invocation.timeout") {
		t.Errorf("error does not name file:line:field: %s", msg)
	}
	if out := c.ok("", "list", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("a bad file deployed %q", out)
	}
}

// TestCLICompletion runs bash's completion of a few words through the
// generated script.
func TestCLICompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed for the completion test")
	}
	if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err != nil {
		t.Fatal("the completion test needs Debian's bash-completion package (.ci/run installs it)")
	}
	c := newCLI(t)
	script := c.ok("", "completion", "bash")
	for _, sh := range []string{"zsh", "fish", "powershell"} {
		if out := c.ok("", "completion", sh); !strings.Contains(out, "eventflow") {
			t.Errorf("completion %s: %.200s", sh, out)
		}
	}
	path := filepath.Join(t.TempDir(), "eventflow.bash")
	writeFile(t, path, script)
	complete := func(line string) []string {
		t.Helper()
		// The words as bash splits them, the program as its full path
		// (the script calls it to complete).
		prog := `source /usr/share/bash-completion/bash_completion; source "$1"
COMP_LINE="$3 $2"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$COMP_LINE"
if [[ "$2" == *" " ]]; then COMP_WORDS+=(""); fi
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
__start_eventflow 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", prog, "bash", path, strings.TrimPrefix(line, "eventflow "), binPath)
		cmd.Env = c.env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", line, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"eventflow dep", []string{"deploy"}},
		{"eventflow de", []string{"dead-letters", "delete", "deploy", "describe", "dev"}},
		{"eventflow get -o ", []string{"table", "wide", "json", "yaml", "name"}},
		{"eventflow context ", []string{"current", "list", "use"}},
		{"eventflow events --type io.eventflow.invocation.dead", []string{"io.eventflow.invocation.dead_lettered"}},
	} {
		got := complete(tc.line)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("complete %q = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTokenHelpNamesItsFlags: `eventflow token -h` shows each flag with its
// kind of value, not a phrase of its description.
func TestTokenHelpNamesItsFlags(t *testing.T) {
	out, err := exec.Command(binPath, "token", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("eventflow token -h: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-data-dir string") {
		t.Errorf("eventflow token -h:\n%s", out)
	}
}

// TestTokenNeedsThePlatformsSecret: away from the platform's data dir,
// `eventflow token` says where the secret is looked for, and writes no new
// one (whose tokens the platform would refuse).
func TestTokenNeedsThePlatformsSecret(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binPath, "token", "--tenant", "demo", "--data-dir", dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no development secret in "+dir) {
		t.Errorf("token with an empty data dir: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "jwt-secret")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token wrote a secret into %s: %v", dir, err)
	}
}
