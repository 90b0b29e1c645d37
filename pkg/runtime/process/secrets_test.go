package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// mapSecrets is a runtime.SecretReader over a map, for tests.
type mapSecrets struct {
	mu sync.Mutex
	m  map[string]runtime.Secret // tenant/name
}

func newMapSecrets() *mapSecrets { return &mapSecrets{m: map[string]runtime.Secret{}} }

func (s *mapSecrets) set(tenant, name string, version uint64, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[tenant+"/"+name] = runtime.Secret{Name: name, Version: version, Value: []byte(value)}
}

func (s *mapSecrets) del(tenant, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, tenant+"/"+name)
}

func (s *mapSecrets) ReadSecrets(ctx context.Context, tenant string, names []string) ([]runtime.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]runtime.Secret, 0, len(names))
	for _, n := range names {
		sec, ok := s.m[tenant+"/"+n]
		if !ok {
			return nil, fmt.Errorf("secret %q: %w", n, runtime.ErrSecretNotFound)
		}
		sec.Value = bytes.Clone(sec.Value)
		out = append(out, sec)
	}
	return out, nil
}

// syncBuffer is a bytes.Buffer safe for a slog handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newSecretsRuntime is newTestRuntime with a SecretReader and its log
// (debug level) written to the returned buffer.
func newSecretsRuntime(t *testing.T, secrets runtime.SecretReader) (*Runtime, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	r := New(Config{
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Secrets:           secrets,
		StopGrace:         2 * time.Second,
		DrainDelay:        50 * time.Millisecond,
		RestartBackoffMin: 20 * time.Millisecond,
		RestartBackoffMax: 200 * time.Millisecond,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, logs
}

// secretsServer is an http-mode function that answers GET /read?name=N
// with the file $EVENTFLOW_SECRETS_DIR/N and GET /info with what it sees
// of that directory and its own environment.
const secretsServer = `package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
)

type file struct {
	Name     string
	Mode     uint32
	UID, GID uint32
}

type info struct {
	Dir   string
	Dir0  file
	Files []file
	Env   []string
}

func stat(p string) (file, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return file{}, err
	}
	return file{Name: filepath.Base(p), Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid}, nil
}

func main() {
	dir := os.Getenv("EVENTFLOW_SECRETS_DIR")
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(dir, r.URL.Query().Get("name")))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write(b)
	})
	http.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) {
		in := info{Dir: dir, Env: os.Environ()}
		var err error
		if in.Dir0, err = stat(dir); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		names, err := os.ReadDir(dir)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		for _, n := range names {
			f, err := stat(filepath.Join(dir, n.Name()))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			in.Files = append(in.Files, f)
		}
		json.NewEncoder(w).Encode(in)
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
	os.Exit(1)
}
`

type secretsFile struct {
	Name     string
	Mode     uint32
	UID, GID uint32
}

type secretsInfo struct {
	Dir   string
	Dir0  secretsFile
	Files []secretsFile
	Env   []string
}

func httpGet(t *testing.T, port int, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No connection kept open: it would hold a drain (Scale) until the
	// function's timeout.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b)
}

// checkSecretsInfo checks what an instance sees of its secrets directory:
// mode 0700 and files mode 0400, all the function user's; beside the
// working directories in RunDir; in the environment by path only.
func checkSecretsInfo(t *testing.T, r *Runtime, info secretsInfo, names []string, values ...string) {
	t.Helper()
	want, _ := wantUser()
	if info.Dir == "" || filepath.Dir(info.Dir) != r.runDir {
		t.Errorf("secrets dir %q is not directly in RunDir %q", info.Dir, r.runDir)
	}
	if info.Dir0.Mode != 0o700 || info.Dir0.UID != want.UID || info.Dir0.GID != want.GID {
		t.Errorf("secrets dir: mode %o owner %d:%d, want 700 %v", info.Dir0.Mode, info.Dir0.UID, info.Dir0.GID, want)
	}
	var got []string
	for _, f := range info.Files {
		got = append(got, f.Name)
		if f.Mode != 0o400 || f.UID != want.UID || f.GID != want.GID {
			t.Errorf("secret file %s: mode %o owner %d:%d, want 400 %v", f.Name, f.Mode, f.UID, f.GID, want)
		}
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("secret files %v, want %v", got, names)
	}
	var sawDir bool
	for _, kv := range info.Env {
		if kv == runtime.EnvSecretsDir+"="+info.Dir {
			sawDir = true
		}
		for _, v := range values {
			if strings.Contains(kv, v) {
				t.Errorf("environment has a secret's value: %q", kv)
			}
		}
	}
	if !sawDir {
		t.Errorf("environment lacks %s=%s: %v", runtime.EnvSecretsDir, info.Dir, info.Env)
	}
}

func instanceInfoOf(t *testing.T, port int) secretsInfo {
	t.Helper()
	var info secretsInfo
	if err := json.Unmarshal([]byte(httpGet(t, port, "/info")), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// checkEnviron reads /proc/pid/environ: the secrets directory is there,
// no value is.
func checkEnviron(t *testing.T, pid int, dir string, values ...string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Logf("cannot read the environment of %d: %v", pid, err)
		return
	}
	if !bytes.Contains(b, []byte(runtime.EnvSecretsDir+"="+dir+"\x00")) {
		t.Errorf("/proc/%d/environ lacks %s=%s", pid, runtime.EnvSecretsDir, dir)
	}
	for _, v := range values {
		if bytes.Contains(b, []byte(v)) {
			t.Errorf("/proc/%d/environ has a secret's value", pid)
		}
	}
}

// secretsDirsLeft lists the secrets directories in RunDir.
func secretsDirsLeft(t *testing.T, r *Runtime) []string {
	t.Helper()
	if r.runDir == "" {
		return nil
	}
	entries, err := os.ReadDir(r.runDir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if strings.Contains(e.Name(), secretsDirTag) {
			left = append(left, e.Name())
		}
	}
	return left
}

func waitGoneDir(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Lstat(dir)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("secrets dir %s still there (%v)", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecretsHTTPInstance: an http instance reads its secrets as files in
// $EVENTFLOW_SECRETS_DIR (0700, files 0400, the function user's), never in
// its environment or the runtime's log; a rotated secret replaces the
// instance, which reads the new value; an unchanged Apply replaces
// nothing; a missing secret fails Apply and leaves the instance running;
// Scale to 0 and Remove leave no secrets directory.
func TestSecretsHTTPInstance(t *testing.T) {
	bin := proctest.BuildProgram(t, secretsServer)
	sec := newMapSecrets()
	sec.set("acme", "db-password", 1, "pw-value-one")
	sec.set("acme", "api-key", 4, "key-value-four")
	sec.set("other", "db-password", 1, "other-tenant-value")
	r, logs := newSecretsRuntime(t, sec)
	spec := httpSpec("vault", 1, bin)
	spec.Secrets = []string{"db-password", "api-key"}
	values := []string{"pw-value-one", "key-value-four", "pw-value-two"}

	apply(t, r, spec)
	waitReady(t, r, "acme", "vault", 1)
	insts := instances(r, "acme", "vault")
	first := insts[0]
	if got := httpGet(t, first.port, "/read?name=db-password"); got != "pw-value-one" {
		t.Errorf("db-password = %q", got)
	}
	if got := httpGet(t, first.port, "/read?name=api-key"); got != "key-value-four" {
		t.Errorf("api-key = %q", got)
	}
	info := instanceInfoOf(t, first.port)
	checkSecretsInfo(t, r, info, []string{"api-key", "db-password"}, values...)
	checkEnviron(t, first.pid, info.Dir, values...)
	firstDir := info.Dir

	// Unchanged secrets: nothing is replaced.
	apply(t, r, spec)
	if now := instances(r, "acme", "vault"); len(now) != 1 || now[0].name != first.name || now[0].pid != first.pid {
		t.Fatalf("an unchanged Apply replaced the instance: %+v, was %+v", now, first)
	}

	// Rotation: a new version replaces the instance.
	sec.set("acme", "db-password", 2, "pw-value-two")
	apply(t, r, spec)
	var second instanceInfo
	waitFor(t, r, "acme", "vault", "the rotated instance ready", func(o runtime.Observed, found bool) bool {
		now := instances(r, "acme", "vault")
		if len(now) != 1 || now[0].name == first.name || o.Phase != function.PhaseReady || o.ReadyReplicas != 1 {
			return false
		}
		second = now[0]
		return true
	})
	if got := httpGet(t, second.port, "/read?name=db-password"); got != "pw-value-two" {
		t.Errorf("after rotation db-password = %q", got)
	}
	info = instanceInfoOf(t, second.port)
	checkSecretsInfo(t, r, info, []string{"api-key", "db-password"}, values...)
	checkEnviron(t, second.pid, info.Dir, values...)
	secondDir := info.Dir
	if secondDir == firstDir {
		t.Errorf("the rotated instance got the old secrets directory %s", firstDir)
	}
	waitGoneDir(t, firstDir) // the replaced instance's

	// A missing secret fails Apply, naming it, and changes nothing.
	sec.del("acme", "api-key")
	err := r.Apply(context.Background(), "acme", spec)
	if !errors.Is(err, runtime.ErrSecretNotFound) || !strings.Contains(err.Error(), `"api-key"`) {
		t.Fatalf("Apply with a missing secret = %v, want ErrSecretNotFound naming api-key", err)
	}
	if now := instances(r, "acme", "vault"); len(now) != 1 || now[0].pid != second.pid {
		t.Fatalf("a failed Apply changed the instances: %+v", now)
	}
	sec.set("acme", "api-key", 4, "key-value-four")

	// Scale to 0 removes the directory; back to 1 makes a new one.
	if err := r.Scale(context.Background(), "acme", "vault", 0); err != nil {
		t.Fatal(err)
	}
	waitGoneDir(t, secondDir)
	if err := r.Scale(context.Background(), "acme", "vault", 1); err != nil {
		t.Fatal(err)
	}
	waitReady(t, r, "acme", "vault", 1)
	third := instances(r, "acme", "vault")[0]
	if got := httpGet(t, third.port, "/read?name=db-password"); got != "pw-value-two" {
		t.Errorf("after scaling up db-password = %q", got)
	}
	thirdDir := instanceInfoOf(t, third.port).Dir

	if err := r.Remove(context.Background(), "acme", "vault"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(thirdDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove %s is still there (%v)", thirdDir, err)
	}
	if left := secretsDirsLeft(t, r); len(left) > 0 {
		t.Errorf("after Remove secrets directories are left: %v", left)
	}
	for _, v := range append(values, "other-tenant-value") {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the runtime's log has a secret's value %q:\n%s", v, logs.String())
		}
	}
}

// TestSecretsJob: a job run reads its secrets as files in
// $EVENTFLOW_SECRETS_DIR, not in its environment; the directory is gone
// when the run ends; each run reads the secrets again, so a rotated one is
// seen by the next run.
func TestSecretsJob(t *testing.T) {
	sec := newMapSecrets()
	sec.set("acme", "token", 1, "tok-value-one")
	r, logs := newSecretsRuntime(t, sec)
	script := `d=$EVENTFLOW_SECRETS_DIR
echo "dir=$d"
echo "val=$(cat "$d/token")"
stat -c 'stat=%n %a %u %g' "$d" "$d/token"
echo "files=$(ls "$d")"
echo ENV
tr '\0' '\n' < /proc/self/environ`
	spec := jobSpec("reader", "sh", "-c", script)
	spec.Secrets = []string{"token"}
	want, _ := wantUser()

	run := func(id, value string) string {
		t.Helper()
		res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: id})
		if err != nil || !res.Succeeded {
			t.Fatalf("Invoke: %+v %v", res, err)
		}
		out := string(res.Output)
		before, env, _ := strings.Cut(out, "\nENV\n")
		before += "\n"
		var dir string
		for _, l := range strings.Split(before, "\n") {
			if d, ok := strings.CutPrefix(l, "dir="); ok {
				dir = d
			}
		}
		if dir == "" || filepath.Dir(dir) != r.runDir {
			t.Fatalf("secrets dir %q, not in RunDir %q:\n%s", dir, r.runDir, out)
		}
		if !strings.Contains(before, "\nval="+value+"\n") {
			t.Errorf("run %s did not read %q:\n%s", id, value, out)
		}
		wantStat := fmt.Sprintf("stat=%s 700 %d %d\nstat=%s 400 %d %d\nfiles=token\n", dir, want.UID, want.GID, dir+"/token", want.UID, want.GID)
		if !strings.Contains(before, wantStat) {
			t.Errorf("run %s: want\n%s in\n%s", id, wantStat, out)
		}
		if strings.Contains(env, "tok-value") {
			t.Errorf("the environment has the secret's value:\n%s", env)
		}
		if !strings.Contains(env, runtime.EnvSecretsDir+"="+dir+"\n") {
			t.Errorf("the environment lacks %s:\n%s", runtime.EnvSecretsDir, env)
		}
		// The run has ended: its secrets are gone.
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the run %s is still there (%v)", dir, err)
		}
		return dir
	}
	d1 := run("one", "tok-value-one")
	sec.set("acme", "token", 2, "tok-value-two")
	d2 := run("two", "tok-value-two")
	if d1 == d2 {
		t.Errorf("two runs shared the secrets directory %s", d1)
	}
	if left := secretsDirsLeft(t, r); len(left) > 0 {
		t.Errorf("after the runs secrets directories are left: %v", left)
	}

	// A run whose secrets are not written does not get a directory.
	res := invoke(t, r, jobSpec("plain", "sh", "-c", `echo "[$EVENTFLOW_SECRETS_DIR]"`), runtime.InvokeRequest{ID: "p"})
	if strings.TrimSpace(string(res.Output)) != "[]" {
		t.Errorf("a function without secrets got %q", res.Output)
	}
	if strings.Contains(logs.String(), "tok-value") {
		t.Errorf("the runtime's log has a secret's value:\n%s", logs.String())
	}
}

// TestSecretsMissingOrNotConfigured: a missing secret fails Apply and a
// job invocation with an error wrapping runtime.ErrSecretNotFound that
// names it (not a result); without a SecretReader, a function naming
// secrets fails with ErrSecretsNotConfigured. A function naming none is
// unaffected.
func TestSecretsMissingOrNotConfigured(t *testing.T) {
	sec := newMapSecrets()
	sec.set("acme", "present", 1, "present-value")
	r, _ := newSecretsRuntime(t, sec)
	hs := httpSpec("h", 1, echoServer)
	hs.Secrets = []string{"present", "absent"}
	err := r.Apply(context.Background(), "acme", hs)
	if !errors.Is(err, runtime.ErrSecretNotFound) || !strings.Contains(err.Error(), `"absent"`) {
		t.Errorf("Apply = %v, want ErrSecretNotFound naming absent", err)
	}
	if _, found, _ := r.Observe(context.Background(), "acme", "h"); found {
		t.Error("a failed Apply recorded the function")
	}
	js := jobSpec("j", "sh", "-c", "echo ran")
	js.Secrets = []string{"absent"}
	if err := r.Apply(context.Background(), "acme", js); !errors.Is(err, runtime.ErrSecretNotFound) {
		t.Errorf("Apply of a job = %v, want ErrSecretNotFound", err)
	}
	res, err := r.Invoke(context.Background(), "acme", js, runtime.InvokeRequest{ID: "x"})
	if !errors.Is(err, runtime.ErrSecretNotFound) || !strings.Contains(err.Error(), `"absent"`) || len(res.Output) > 0 {
		t.Errorf("Invoke = %+v, %v; want ErrSecretNotFound naming absent", res, err)
	}
	// Another tenant's secret of that name is not this one's.
	js.Secrets = []string{"present"}
	if _, err := r.Invoke(context.Background(), "other", js, runtime.InvokeRequest{ID: "y"}); !errors.Is(err, runtime.ErrSecretNotFound) {
		t.Errorf("Invoke for another tenant = %v, want ErrSecretNotFound", err)
	}

	rn := newTestRuntime(t) // no SecretReader
	if err := rn.Apply(context.Background(), "acme", hs); !errors.Is(err, ErrSecretsNotConfigured) {
		t.Errorf("Apply without a reader = %v, want ErrSecretsNotConfigured", err)
	}
	if _, err := rn.Invoke(context.Background(), "acme", js, runtime.InvokeRequest{ID: "z"}); !errors.Is(err, ErrSecretsNotConfigured) {
		t.Errorf("Invoke without a reader = %v, want ErrSecretsNotConfigured", err)
	}
	if res := invoke(t, rn, jobSpec("plain", "echo", "ok"), runtime.InvokeRequest{ID: "p"}); !res.Succeeded {
		t.Errorf("a function without secrets: %+v", res)
	}
}

// TestSecretsDirsOfDeadRuntimesAreRemoved: a configured RunDir is swept of
// the secrets directories of runtimes that died without Close; those of
// running ones are kept.
func TestSecretsDirsOfDeadRuntimesAreRemoved(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "token"), []byte("x"), 0o400); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := mk("acme.fn-abcde-0-secrets-" + strconv.Itoa(dead.Process.Pid) + "-123")
	live := mk("acme.fn-abcde-0-secrets-1-456")
	other := mk("acme.fn-secrets-" + strconv.Itoa(dead.Process.Pid)) // not a name we make
	r := New(Config{RunDir: base})
	defer r.Close(context.Background())
	if _, err := r.baseDir(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was kept (%v)", gone, err)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
