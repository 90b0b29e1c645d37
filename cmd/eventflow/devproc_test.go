package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// binDir holds the binaries under test: $EVENTFLOW_BIN (make test builds
// them), or a directory TestMain builds them into.
var binDir, binPath string

var serviceNames = []string{"gateway", "deployer", "invoker", "logstream"}

func TestMain(m *testing.M) {
	binDir = os.Getenv("EVENTFLOW_BIN")
	if binDir == "" {
		tmp, err := os.MkdirTemp("", "eventflow-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		binDir = tmp
		// Runnable by other users too (startDevAs).
		if err := os.Chmod(tmp, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pkgs := []string{"."}
		for _, s := range serviceNames {
			pkgs = append(pkgs, "github.com/eventflow/eventflow/services/"+s)
		}
		for _, p := range pkgs {
			name := filepath.Base(p)
			if p == "." {
				name = "eventflow"
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(tmp, name), p).CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", p, err, out)
				os.Exit(1)
			}
		}
	}
	binPath = filepath.Join(binDir, "eventflow")
	code := k8stest.Main(m)
	if os.Getenv("EVENTFLOW_BIN") == "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// devProc is a running `eventflow dev` subprocess.
type devProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	NATS   string
	stderr *bytes.Buffer
	exited chan struct{}
}

// startDev runs `eventflow dev` on random loopback ports with dataDir and
// waits until it prints where it listens.
func startDev(t *testing.T, dataDir string, extraEnv ...string) *devProc {
	t.Helper()
	return startDevAs(t, dataDir, nil, extraEnv...)
}

// startDevAs is startDev with the platform running as cred (nil: as the
// test does).
func startDevAs(t *testing.T, dataDir string, cred *syscall.Credential, extraEnv ...string) *devProc {
	t.Helper()
	cmd := exec.Command(binPath, "dev", "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProc{t: t, cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start eventflow dev: %v", err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		busRefusals(t, "a service", p.stderr.String())
	})

	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "API:"); ok {
				p.URL = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "NATS:"); ok {
				p.NATS = strings.TrimSpace(v)
			}
			if strings.HasPrefix(line, "Press Ctrl+C") {
				close(found)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-found:
	case <-p.exited:
		t.Fatalf("eventflow dev exited during start-up:\n%s", p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("eventflow dev did not report ready in 60s:\n%s", p.stderr)
	}
	return p
}

// kill sends SIGKILL to the whole process group and waits.
func (p *devProc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *devProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("exit code %d", code)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("did not stop within 30s")
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// client is a tiny REST client for the tests.
type client struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client
}

func newClient(t *testing.T, base, token string) *client {
	return &client{t: t, base: base, token: token, http: &http.Client{Timeout: 60 * time.Second}}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// errorCode returns error.code of an error body.
func (r response) errorCode() string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (c *client) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// token gets a development token from the gateway.
func token(t *testing.T, base, tenant string, scopes ...string) string {
	t.Helper()
	c := newClient(t, base, "")
	r := c.do("POST", "/auth/token", map[string]any{"tenant": tenant, "scopes": scopes})
	if r.Status != http.StatusOK {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	var out struct{ Token string }
	r.json(t, &out)
	return out.Token
}

// busRefusals fails the test for each NATS permission violation in a
// process's log: a service refused by the bus is a missing permission in
// pkg/busauth, whatever the test was about.
func busRefusals(t *testing.T, who, log string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "Permissions Violation") {
			t.Errorf("%s was refused by the bus: %s", who, line)
		}
	}
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// recorder sends requests through c and keeps every answer's body, for
// checks that a value never appears in one.
type recorder struct {
	c       *client
	answers []string
}

// do sends a request, keeps the answer and fails the test unless its
// status is want.
func (r *recorder) do(method, path string, body any, want int) response {
	r.c.t.Helper()
	resp := r.c.do(method, path, body)
	r.answers = append(r.answers, string(resp.Body))
	if resp.Status != want {
		r.c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.Status, resp.Body, want)
	}
	return resp
}

// holding returns the kept answers that contain v.
func (r *recorder) holding(v string) []string {
	var out []string
	for _, a := range r.answers {
		if strings.Contains(a, v) {
			out = append(out, a)
		}
	}
	return out
}
