package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
)

// wantUser is who functions of a default runtime run as: nobody when the
// test runs as root (as in CI), else the test's own user.
func wantUser() (User, bool) {
	if os.Geteuid() == 0 {
		return DefaultUser, true
	}
	return User{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}, false
}

// TestFunctionsRunAsTheFunctionUser: as root, a function runs as nobody
// with no supplementary groups (root's group 0 dropped); otherwise as this
// process's user. A configured user is used as given.
func TestFunctionsRunAsTheFunctionUser(t *testing.T) {
	r := newTestRuntime(t)
	want, separate := wantUser()
	if u, sep := r.FunctionUser(); u != want || sep != separate {
		t.Errorf("FunctionUser = %v, %v; want %v, %v", u, sep, want, separate)
	}
	res := invoke(t, r, jobSpec("who", "sh", "-c", "id -u; id -g; id -G"), runtime.InvokeRequest{ID: "w"})
	if !res.Succeeded {
		t.Fatalf("got %+v", res)
	}
	got := strings.Fields(string(res.Output))
	wantOut := []string{strconv.Itoa(int(want.UID)), strconv.Itoa(int(want.GID))}
	if separate {
		wantOut = append(wantOut, strconv.Itoa(int(want.GID))) // id -G: the primary group only
	}
	if !separate {
		got = got[:2] // our own supplementary groups are kept
	}
	if !slices.Equal(got, wantOut) {
		t.Errorf("id -u, -g, -G = %v, want %v", got, wantOut)
	}

	if os.Geteuid() != 0 {
		return
	}
	// A configured uid and gid need no passwd entry.
	rc := New(Config{User: &User{UID: 12345, GID: 23456}})
	defer rc.Close(context.Background())
	res, err := rc.Invoke(context.Background(), "acme", jobSpec("who", "sh", "-c", "id -u; id -g"), runtime.InvokeRequest{ID: "c"})
	if err != nil || !res.Succeeded || strings.Join(strings.Fields(string(res.Output)), " ") != "12345 23456" {
		t.Errorf("configured user: %+v %v", res, err)
	}
}

// TestJobEnvironmentIsMinimal: a function's environment is a small base
// (PATH, HOME and TMPDIR = its working directory, locale and time zone),
// its spec's env and its identity: nothing else of the platform's,
// EVENTFLOW_* and NATS_* secrets included.
func TestJobEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("EVENTFLOW_JWT_SECRET", "jwt-s3cret")
	t.Setenv("EVENTFLOW_CALLBACK_SECRET", "callback-s3cret")
	t.Setenv("NATS_URL", "nats://user:pass@127.0.0.1:4222")
	t.Setenv("HOME", "/home/the-platform")
	t.Setenv("TMPDIR", "/tmp")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("OTHER_SETTING", "x")
	r := newTestRuntime(t)
	spec := jobSpec("env", "env")
	spec.Env = map[string]string{"GREETING": "hi"}
	res := invoke(t, r, spec, runtime.InvokeRequest{ID: "e"})
	if !res.Succeeded {
		t.Fatalf("got %+v", res)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(string(res.Output)), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := []string{"PATH", "LANG", "HOME", "TMPDIR", "GREETING", "EVENTFLOW_TENANT", "EVENTFLOW_FUNCTION", "EVENTFLOW_INSTANCE", "EVENTFLOW_INVOCATION_ID"}
	for _, k := range []string{"LC_ALL", "TZ"} {
		if _, ok := os.LookupEnv(k); ok {
			want = append(want, k)
		}
	}
	var got []string
	for k := range env {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("variables %v, want exactly %v", got, want)
	}
	for _, secret := range []string{"jwt-s3cret", "callback-s3cret", "user:pass"} {
		if strings.Contains(string(res.Output), secret) {
			t.Errorf("the platform's %q reached the function", secret)
		}
	}
	base, err := r.baseDir()
	if err != nil {
		t.Fatal(err)
	}
	if env["HOME"] == "/home/the-platform" || filepath.Dir(env["HOME"]) != base || env["TMPDIR"] != env["HOME"] {
		t.Errorf("HOME=%q TMPDIR=%q, want both the run's own directory in %s", env["HOME"], env["TMPDIR"], base)
	}
	if env["GREETING"] != "hi" || env["LANG"] != "C.UTF-8" || env["EVENTFLOW_TENANT"] != "acme" {
		t.Errorf("env = %v", env)
	}
}

// TestWorkingDirectoryIsPrivate: each job run and each instance works in a
// directory of its own, mode 0700, owned by the function user, which is its
// HOME and cannot see its neighbours' (RunDir is not listable). A job's
// directory is emptied (and its mode restored) when the run ends, for reuse
// by a later run; an instance's is removed with the instance.
func TestWorkingDirectoryIsPrivate(t *testing.T) {
	r := newTestRuntime(t)
	want, separate := wantUser()
	// Each run says what it finds, then leaves files, a locked directory
	// and a loosened mode behind.
	script := `pwd -P; stat -c '%a %u:%g' .; ls -A | wc -l; test "$HOME" = "$PWD" && echo home-ok
ls "$(dirname "$PWD")" >/dev/null 2>&1 && echo listed || echo not-listed
echo data > file; mkdir -p sub/deeper; touch sub/deeper/f; chmod 500 sub; chmod 777 .; sleep "${PAUSE:-0}"`
	spec := jobSpec("wd", "sh", "-c", script)
	check := func(i int, res runtime.InvokeResult) string {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(string(res.Output)), "\n")
		if !res.Succeeded || len(lines) != 5 {
			t.Fatalf("run %d: got %+v", i, res)
		}
		wantLines := []string{lines[0], "700 " + want.String(), "0", "home-ok", "not-listed"}
		if !separate {
			wantLines[4] = lines[4] // RunDir is ours: its owner may list it
		}
		if !slices.Equal(lines, wantLines) {
			t.Errorf("run %d: %q, want %q", i, lines, wantLines)
		}
		// Emptied (or gone) once the run is over.
		if names, err := readDirNames(lines[0]); len(names) != 0 || (err != nil && !os.IsNotExist(err)) {
			t.Errorf("run %d: %s holds %v after the run (%v)", i, lines[0], names, err)
		}
		return lines[0]
	}
	for i := range 2 {
		check(i, invoke(t, r, spec, runtime.InvokeRequest{ID: strconv.Itoa(i)}))
	}

	// Runs at the same time never share a directory.
	spec.Env = map[string]string{"PAUSE": "0.5"}
	dirs := make(chan string, 3)
	for i := range 3 {
		go func() {
			res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "c" + strconv.Itoa(i)})
			if err != nil {
				t.Error(err)
			}
			dirs <- strings.SplitN(string(res.Output), "\n", 2)[0]
		}()
	}
	seen := map[string]bool{}
	for range 3 {
		seen[<-dirs] = true
	}
	if len(seen) != 3 {
		t.Errorf("3 concurrent runs worked in %v", seen)
	}

	// An http instance: its directory lives as long as the instance.
	lines := followLogs(t, r)
	apply(t, r, httpSpec("wdhttp", 1, "sh", "-c", `echo "dir $(pwd -P) $(stat -c %a .)" >&2; exec sleep 600`))
	l := waitLogLine(t, lines, "dir line", func(l events.LogLine) bool { return strings.HasPrefix(l.Line, "dir ") })
	f := strings.Fields(l.Line)
	if len(f) != 3 || f[2] != "700" {
		t.Fatalf("instance says %q", l.Line)
	}
	if fi, err := os.Stat(f[1]); err != nil || !fi.IsDir() {
		t.Fatalf("instance dir %s: %v", f[1], err)
	}
	if err := r.Remove(context.Background(), "acme", "wdhttp"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f[1]); !os.IsNotExist(err) {
		t.Errorf("instance dir %s still there after Remove: %v", f[1], err)
	}
}

// TestStopKillsTheWholeProcessGroup: a function's children die with it:
// when a job ends (its leftover background child too), and when an
// instance is stopped (a child that ignores SIGTERM is killed after it).
func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	r := newTestRuntime(t)
	res := invoke(t, r, jobSpec("bg", "sh", "-c", "sleep 1000 & echo $!"), runtime.InvokeRequest{ID: "b"})
	pid, err := strconv.Atoi(strings.TrimSpace(string(res.Output)))
	if !res.Succeeded || err != nil {
		t.Fatalf("got %+v", res)
	}
	waitGone(t, pid)

	lines := followLogs(t, r)
	apply(t, r, httpSpec("parent", 1, "sh", "-c", `sleep 1000 & echo "child $!" >&2; sh -c 'trap "" TERM; while :; do sleep 0.1; done' & echo "stubborn $!" >&2; wait`))
	pids := map[string]int{}
	for len(pids) < 2 {
		l := waitLogLine(t, lines, "child pids", func(l events.LogLine) bool {
			return strings.HasPrefix(l.Line, "child ") || strings.HasPrefix(l.Line, "stubborn ")
		})
		k, v, _ := strings.Cut(l.Line, " ")
		if pids[k], err = strconv.Atoi(v); err != nil {
			t.Fatal(l.Line)
		}
	}
	for k, pid := range pids {
		if !alive(pid) {
			t.Fatalf("%s %d not running before the stop", k, pid)
		}
	}
	if err := r.Remove(context.Background(), "acme", "parent"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

// TestCommandTheFunctionUserCannotRun: as root, functions run as nobody, so
// a command it cannot reach (here in t.TempDir(), mode 0700, root's) makes
// the deploy Failed and an invocation fail, each saying why; the same
// command where nobody can reach it runs. A script whose interpreter it
// cannot run fails at exec with the reason too.
func TestCommandTheFunctionUserCannotRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: functions of a non-root runtime run as its own user")
	}
	r := newTestRuntime(t)
	private := filepath.Join(t.TempDir(), "fn")
	script := "#!/bin/sh\ntr a-z A-Z\n"
	if err := os.WriteFile(private, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const why = `cannot be run by the function user 65534:65534: `
	for _, spec := range []function.Spec{jobSpec("hidden", private), httpSpec("hiddenhttp", 1, private)} {
		apply(t, r, spec)
		obs, _, _ := r.Observe(context.Background(), "acme", spec.Name)
		if obs.Phase != function.PhaseFailed || !strings.Contains(obs.Message, why+filepath.Dir(filepath.Dir(private))+" is not searchable") {
			t.Errorf("%s: observed %+v, want Failed saying why", spec.Name, obs)
		}
	}
	res := invoke(t, r, jobSpec("hidden", private), runtime.InvokeRequest{ID: "h"})
	if res.Succeeded || !strings.Contains(res.Error, why) {
		t.Errorf("invoke: %+v", res)
	}

	shared := proctest.SharedDir(t)
	unreadable := filepath.Join(shared, "unreadable")
	if err := os.WriteFile(unreadable, []byte(script), 0o711); err != nil {
		t.Fatal(err)
	}
	apply(t, r, jobSpec("unreadable", unreadable))
	if obs, _, _ := r.Observe(context.Background(), "acme", "unreadable"); obs.Phase != function.PhaseFailed || !strings.Contains(obs.Message, "it is a script and not readable") {
		t.Errorf("unreadable script: observed %+v", obs)
	}

	visible := filepath.Join(shared, "fn")
	if err := os.WriteFile(visible, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	apply(t, r, jobSpec("visible", visible))
	if obs, _, _ := r.Observe(context.Background(), "acme", "visible"); obs.Phase != function.PhaseReady {
		t.Errorf("visible: observed %+v", obs)
	}
	if res := invoke(t, r, jobSpec("visible", visible), runtime.InvokeRequest{ID: "v", Payload: []byte("hi")}); !res.Succeeded || string(res.Output) != "HI" {
		t.Errorf("visible: %+v", res)
	}

	// The check reads the command's own path; its interpreter is exec's.
	// (t.TempDir(): root's, mode 0700.)
	interp := filepath.Join(t.TempDir(), "sh")
	if err := os.Symlink("/bin/sh", interp); err != nil {
		t.Fatal(err)
	}
	indirect := filepath.Join(shared, "indirect")
	if err := os.WriteFile(indirect, []byte("#!"+interp+"\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	res = invoke(t, r, jobSpec("indirect", indirect), runtime.InvokeRequest{ID: "i"})
	if res.Succeeded || !strings.Contains(res.Error, "permission denied") || !strings.Contains(res.Error, "the function runs as 65534:65534") {
		t.Errorf("indirect: %+v", res)
	}
}

func TestParseUser(t *testing.T) {
	for in, want := range map[string]User{
		"12345":         {12345, 12345}, // no passwd entry: gid = uid
		"12345:678":     {12345, 678},
		"nobody":        {65534, 65534},
		"65534":         {65534, 65534},
		"root:nogroup":  {0, 65534},
		" nobody:1000 ": {65534, 1000},
	} {
		if got, err := ParseUser(in); err != nil || got != want {
			t.Errorf("ParseUser(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":", "1:", ":1", "no-such-user-eventflow", "1:no-such-group-eventflow", "99999999999"} {
		if got, err := ParseUser(in); err == nil {
			t.Errorf("ParseUser(%q) = %v, want an error", in, got)
		}
	}
}

// TestRunDirsOfDeadProcessesAreRemoved: Close removes the runtime's run
// dir; one left by a process that died without Close (kill -9) is removed
// by the next runtime, one of a live process is not.
func TestRunDirsOfDeadProcessesAreRemoved(t *testing.T) {
	tmp := proctest.SharedDir(t) // reachable by the function user
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(tmp, runDirPrefix+strconv.Itoa(dead.Process.Pid)+"-123")
	live := filepath.Join(tmp, runDirPrefix+strconv.Itoa(os.Getppid())+"-456")
	for _, d := range []string{filepath.Join(left, "run-1"), live} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r := New(Config{})
	if res, err := r.Invoke(context.Background(), "acme", jobSpec("x", "true"), runtime.InvokeRequest{ID: "x"}); err != nil || !res.Succeeded {
		t.Fatalf("%+v %v", res, err)
	}
	base, _ := r.baseDir()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s (a dead process's) is still there: %v", left, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("%s (a live process's): %v", live, err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Errorf("%s still there after Close: %v", base, err)
	}
}
