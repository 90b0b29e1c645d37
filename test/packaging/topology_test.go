package packaging

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeTopology runs docker-compose.yaml's topology without Docker:
// the real nats-server with the compose service's own command line, and
// the four service binaries, each with exactly the environment compose
// gives its container. Only what a container network provides is
// rewritten: service hostnames and the ports they listen on become free
// loopback addresses, and the /functions mount becomes a temporary
// directory. Every compose health check then runs (with the built probe)
// and must pass, every /readyz must answer, and a user's journey through
// the gateway must work: a token from /auth/token, job-mode functions
// deployed by the deployer and run by the invoker, their log lines, an
// async invocation whose callback, signed by the invoker, verifies with the
// key the gateway hands out (so their secrets match).
func TestComposeTopology(t *testing.T) {
	// The journey's callback receiver is on loopback, which callbacks may
	// reach only when allowed, as a compose user allows it (.env).
	p := loadCompose(t, []string{"EVENTFLOW_CALLBACK_ALLOW_PRIVATE=true"})
	bins := binaries(t)
	probe := probeBinary(t)

	// What the container network and mounts provide, on this machine.
	rw := rewriter{}
	fnDir := functionsDir(t, probe)
	for _, name := range []string{"deployer", "invoker"} {
		for _, v := range service(t, p, name).Volumes {
			if v.Target == "/functions" {
				rw.add("/functions/", fnDir+"/")
			}
		}
	}

	// The secrets-key volume (the deployer makes the key in it, the
	// invoker reads it): a temporary directory.
	keyDir := t.TempDir()
	for _, name := range eventflowServices {
		if m, ok := secretsKeyMount(service(t, p, name)); ok && !slices.Contains(rw.from, m.Target+"/") {
			rw.add(m.Target+"/", keyDir+"/")
		}
	}

	// The bus authentication, made in the nats-auth volume (a temporary
	// directory, wherever a service mounts it) by its one-shot services.
	authDir := composeNATSAuth(t, p, bins)
	for _, name := range append([]string{"nats"}, eventflowServices...) {
		if m, ok := natsAuthMount(service(t, p, name)); ok && !slices.Contains(rw.from, m.Target+"/") {
			rw.add(m.Target+"/", authDir+"/")
		}
	}

	// NATS, as the compose command starts it, with the bundle's auth.conf.
	natsSvc := service(t, p, "nats")
	natsSvc.Command = slices.Clone(natsSvc.Command)
	for i, a := range natsSvc.Command {
		natsSvc.Command[i] = rw.apply(t, "nats command", a)
	}
	natsAddr, monAddr := freeAddr(t), freeAddr(t)
	rw.add("nats:4222", natsAddr)
	startNATS(t, natsSvc, natsAddr, monAddr)
	natsRefusesAnonymous(t, natsAddr)

	// Each EventFlow service listens on a free loopback port instead of
	// 0.0.0.0:<its port>.
	type running struct {
		svc  types.ServiceConfig
		im   image
		addr string
		proc *proc
	}
	var all []*running
	for _, name := range eventflowServices {
		s := service(t, p, name)
		im := imageOf(t, s)
		addr := freeAddr(t)
		_, port, err := net.SplitHostPort(env(s, im.addrEnv))
		if err != nil {
			t.Fatalf("%s: %s=%q: %v", name, im.addrEnv, env(s, im.addrEnv), err)
		}
		rw.add(name+":"+port, addr)
		all = append(all, &running{svc: s, im: im, addr: addr})
	}
	for _, r := range all {
		// The process runtime's functions see PATH; the images' PATH has
		// nothing a function could use, so the host's stands in.
		envv := []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range r.svc.Environment {
			if v == nil {
				t.Fatalf("%s: %s has no value in compose", r.svc.Name, k)
			}
			val := *v
			if k == r.im.addrEnv {
				val = r.addr
			}
			envv = append(envv, k+"="+rw.apply(t, r.svc.Name+" "+k, val))
		}
		r.proc = startProc(t, r.svc.Name, filepath.Join(bins, r.im.name), nil, envv)
	}
	for _, r := range all {
		waitReady(t, r.proc, "http://"+r.addr+"/readyz")
	}
	// The deployer made the secrets key, for it and the invoker.
	if fi, err := os.Stat(filepath.Join(keyDir, "secrets.key")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
		t.Errorf("secrets key in the secrets-key volume: %v, %v: want a file of mode 0600 made by the deployer", fi, err)
	}

	// The compose health checks, as Docker would run them.
	for _, r := range all {
		runHealthCheck(t, probe, r.svc, r.im, r.addr)
	}

	gw := "http://" + all[0].addr
	if all[0].svc.Name != "gateway" {
		t.Fatal("the gateway must be first")
	}
	journey(t, gw, rw)

	// The smoke test a compose user runs (make test-function), with its
	// function's shell in the functions dir as docs/CONTAINERS.md says
	// (there a static busybox; here the host's sh stands in).
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, sh, filepath.Join(fnDir, "sh"))
	if err := os.Chmod(filepath.Join(fnDir, "sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	runSmokeScript(t, gw, "FUNCTION_SHELL="+rw.apply(t, "FUNCTION_SHELL", "/functions/sh"))
}

// runSmokeScript runs scripts/test-function.sh against gw with env added
// and fails the test unless it passes.
func runSmokeScript(t *testing.T, gw string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "test-function.sh"), gw)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SMOKE_TIMEOUT=60"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS:") {
		t.Fatalf("scripts/test-function.sh %s: %v\n%s", gw, err, out)
	}
}

// composeHost matches a compose service's hostname with a port.
var composeHost = regexp.MustCompile(`(^|//|@|,)(nats|gateway|deployer|invoker|logstream|eventflow):[0-9]+`)

// rewriter maps what exists only inside compose (hostnames, mounts) to
// this machine.
type rewriter struct{ from, to []string }

func (r *rewriter) add(from, to string) { r.from, r.to = append(r.from, from), append(r.to, to) }

// apply rewrites s and fails if a compose hostname is left in it.
func (r *rewriter) apply(t *testing.T, what, s string) string {
	t.Helper()
	for i := range r.from {
		s = strings.ReplaceAll(s, r.from[i], r.to[i])
	}
	if m := composeHost.FindString(s); m != "" {
		t.Fatalf("%s=%q: names the compose host %s, on a port nothing maps", what, s, m)
	}
	return s
}

// startNATS builds nats-server (the version pkg depends on) and runs it
// with the compose command, the store dir, client and monitoring ports
// moved to this machine; it waits for the compose health check's URL.
func startNATS(t *testing.T, s types.ServiceConfig, addr, monAddr string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	build.Dir = repoRoot + "/pkg"
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	host, port, _ := net.SplitHostPort(addr)
	_, monPort, _ := net.SplitHostPort(monAddr)
	args := append([]string{}, s.Command...)
	sd, m := argAfter(args, "-sd"), argAfter(args, "-m")
	for i := range args {
		switch {
		case i > 0 && args[i-1] == "-sd":
			args[i] = t.TempDir()
		case i > 0 && args[i-1] == "-m":
			args[i] = monPort
		}
	}
	if sd == "" || m == "" {
		t.Fatalf("nats command %v: no -sd or -m", s.Command)
	}
	// -a also binds the monitoring port to loopback.
	args = append(args, "-a", host, "-p", port)
	pr := startProc(t, "nats", bin, args, nil)
	hc := []string(s.HealthCheck.Test)
	u, err := url.Parse(hc[len(hc)-1])
	if err != nil || u.Port() != m {
		t.Fatalf("nats health check %v does not ask the monitoring port %s", hc, m)
	}
	u.Host = monAddr
	waitReady(t, pr, u.String())
	// JetStream is on: /healthz?js-enabled-only answers 200 only then.
	resp, err := http.Get("http://" + monAddr + "/healthz?js-enabled-only=true")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("nats JetStream health: %v %v", err, resp)
	}
	resp.Body.Close()
}

// proc is a started binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts bin with args and, as its whole environment, envv
// (only PATH when nil), and stops it with SIGTERM when the test ends.
func startProc(t *testing.T, name, bin string, args, envv []string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	if envv != nil {
		p.cmd.Env = envv
	} else {
		p.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s of SIGTERM", name)
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// waitReady polls url until it answers 2xx, failing if the process exits.
func waitReady(t *testing.T, p *proc, u string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 60*time.Second, p.name+" ready at "+u, func() (bool, string) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, p.out.String())
		default:
		}
		resp, err := client.Get(u)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode/100 == 2, fmt.Sprintf("%s %s", resp.Status, b)
	})
}

// api is a client of the gateway.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a api) do(method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp, b
}

func (a api) expect(status int, method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	a.t.Helper()
	resp, b := a.do(method, path, body, hdr)
	if resp.StatusCode != status {
		a.t.Fatalf("%s %s: %s %s, want %d", method, path, resp.Status, b, status)
	}
	return resp, b
}

// login gets a development token for tenant from POST /auth/token.
func (a *api) login(tenant string) {
	a.t.Helper()
	_, b := a.expect(http.StatusOK, "POST", "/auth/token", map[string]string{"tenant": tenant}, nil)
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		a.t.Fatalf("POST /auth/token: %s", b)
	}
	a.token = tok.Token
}

// deployReady creates a job-mode function and waits for phase Ready,
// failing at once on Failed.
func (a api) deployReady(name string, command []string) {
	a.t.Helper()
	a.expect(http.StatusAccepted, "POST", "/v1/functions", map[string]any{"name": name, "command": command}, nil)
	eventually(a.t, 30*time.Second, name+" Ready", func() (bool, string) {
		_, b := a.expect(http.StatusOK, "GET", "/v1/functions/"+name, nil, nil)
		var f struct {
			Status struct{ Phase, Message string }
		}
		_ = json.Unmarshal(b, &f)
		if f.Status.Phase == "Failed" {
			a.t.Fatalf("%s failed to deploy: %s", name, b)
		}
		return f.Status.Phase == "Ready", string(b)
	})
}

// waitLog waits for a line containing text in the function's logs.
func (a api) waitLog(name, text string) {
	a.t.Helper()
	eventually(a.t, 30*time.Second, fmt.Sprintf("%q in %s's logs", text, name), func() (bool, string) {
		_, b := a.expect(http.StatusOK, "GET", "/v1/functions/"+name+"/logs?tail=20", nil, nil)
		return strings.Contains(string(b), text), string(b)
	})
}

// functionsDir stands in for the /functions mount: a temporary directory
// holding the probe binary, the job-mode function the tests deploy. The
// function may run as another user than the test (as root, nobody), so it
// is not in t.TempDir(), which only the test's user may enter.
func functionsDir(t *testing.T, probe string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eventflow-functions-mount-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, probe, filepath.Join(dir, "probe"))
	if err := os.Chmod(filepath.Join(dir, "probe"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runHealthCheck runs the compose service's health check as Docker would,
// [CMD /probe [flags] URL], with the URL's host moved to addr, where the
// service listens instead of its container port.
func runHealthCheck(t *testing.T, probe string, s types.ServiceConfig, im image, addr string) {
	t.Helper()
	hc := []string(s.HealthCheck.Test)
	if len(hc) < 3 || hc[0] != "CMD" || hc[1] != "/probe" {
		t.Fatalf("%s: health check %v is not [CMD /probe URL]", s.Name, hc)
	}
	u, err := url.Parse(hc[len(hc)-1])
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := net.SplitHostPort(env(s, im.addrEnv))
	if u.Port() != want {
		t.Fatalf("%s: health check asks port %s, the service listens on %s", s.Name, u.Port(), want)
	}
	u.Host = addr
	args := append(append([]string{}, hc[2:len(hc)-1]...), u.String())
	if out, err := exec.Command(probe, args...).CombinedOutput(); err != nil {
		t.Errorf("%s: health check %v: %v %s", s.Name, hc, err, out)
	}
}

// journey walks a user's way through the gateway. Functions are written
// as a user of the compose setup writes them (/functions/..., the gateway
// by its compose hostname) and rewritten like the environment.
func journey(t *testing.T, gw string, rw rewriter) {
	a := api{t: t, base: gw}

	// The console is served at /.
	resp, _ := a.expect(http.StatusOK, "GET", "/", nil, nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q, want the console's HTML", ct)
	}

	a.login("compose")

	deploy := func(name string, command ...string) {
		for i := range command {
			command[i] = rw.apply(t, name+" command", command[i])
		}
		a.deployReady(name, command)
	}
	// A job-mode function the invoker runs: the images' own probe, asking
	// the gateway's health. It succeeds only if it really ran.
	deploy("health", "/functions/probe", "-timeout", "5s", "http://gateway:8080/healthz")
	a.expect(http.StatusOK, "POST", "/v1/functions/health:invoke", "", nil)
	deploy("broken", "/functions/probe", "-timeout", "5s", "http://gateway:8080/v1/functions") // 401 without a token
	resp, b := a.expect(http.StatusBadGateway, "POST", "/v1/functions/broken:invoke", "", nil)
	if resp.Header.Get("X-Exit-Code") != "1" || !strings.Contains(string(b), "function_failed") {
		t.Errorf("broken: X-Exit-Code %q, body %s: want exit code 1, function_failed", resp.Header.Get("X-Exit-Code"), b)
	}
	// The probe's reason, on its stderr, reaches the function's logs: the
	// invoker publishes its functions' lines itself.
	a.waitLog("broken", "401 Unauthorized")

	// An async invocation with a callback: queued by the gateway, run and
	// called back by the invoker, its signature verified with the key the
	// gateway derives: the two callback secrets must be equal.
	type callback struct {
		body []byte
		sig  string
	}
	got := make(chan callback, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- callback{body, r.Header.Get("X-Eventflow-Signature")}
	}))
	defer hook.Close()
	_, b = a.expect(http.StatusOK, "GET", "/v1/callback-key", nil, nil)
	var ck struct{ Key string }
	key, err := func() ([]byte, error) {
		if err := json.Unmarshal(b, &ck); err != nil {
			return nil, err
		}
		return hex.DecodeString(ck.Key)
	}()
	if err != nil || len(key) == 0 {
		t.Fatalf("GET /v1/callback-key: %s (%v)", b, err)
	}
	_, b = a.expect(http.StatusAccepted, "POST", "/v1/functions/health:invoke?async=true", "", map[string]string{"X-Callback-Url": hook.URL + "/done"})
	var queued struct{ ID string }
	if err := json.Unmarshal(b, &queued); err != nil || queued.ID == "" {
		t.Fatalf("async invoke: %s", b)
	}
	eventually(t, 30*time.Second, "invocation "+queued.ID+" succeeded", func() (bool, string) {
		_, b := a.expect(http.StatusOK, "GET", "/v1/invocations/"+queued.ID, nil, nil)
		var inv struct{ Status string }
		_ = json.Unmarshal(b, &inv)
		if inv.Status == "failed" {
			t.Fatalf("invocation failed: %s", b)
		}
		return inv.Status == "succeeded", string(b)
	})
	select {
	case cb := <-got:
		m := hmac.New(sha256.New, key)
		m.Write(cb.body)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); cb.sig != want {
			t.Errorf("callback signature %q does not verify with the gateway's key (want %q): the invoker's callback secret differs", cb.sig, want)
		}
		if !bytes.Contains(cb.body, []byte(queued.ID)) {
			t.Errorf("callback body %s is not about invocation %s", cb.body, queued.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no callback within 30s")
	}
}

// TestComposeAllInOne runs the compose all-in-one service the same way:
// the eventflow binary with its compose command and environment, /data and
// /functions mapped to temp dirs, its listen address to loopback (and its
// embedded NATS, internal to the container, to a free port). Its health
// check must pass, and function logs must be readable.
func TestComposeAllInOne(t *testing.T) {
	p := loadCompose(t, nil, "all-in-one")
	s := service(t, p, "eventflow")
	im := imageOf(t, s)
	bins := binaries(t)
	probe := probeBinary(t)

	rw := rewriter{}
	fnDir, dataDir := functionsDir(t, probe), t.TempDir()
	mounted := false
	for _, v := range s.Volumes {
		switch v.Target {
		case "/functions":
			rw.add("/functions/", fnDir+"/")
			mounted = true
		case env(s, "EVENTFLOW_DATA_DIR"):
			rw.add(v.Target, dataDir)
		}
	}
	if !mounted {
		t.Fatal("the all-in-one does not mount /functions")
	}
	addr := freeAddr(t)
	_, port, err := net.SplitHostPort(env(s, im.addrEnv))
	if err != nil {
		t.Fatal(err)
	}
	rw.add("eventflow:"+port, addr)
	envv := []string{"PATH=" + os.Getenv("PATH"), "EVENTFLOW_NATS_ADDR=" + freeAddr(t)}
	for k, v := range s.Environment {
		val := *v
		if k == im.addrEnv {
			val = addr
		}
		envv = append(envv, k+"="+rw.apply(t, k, val))
	}
	pr := startProc(t, "eventflow", filepath.Join(bins, im.name), []string(s.Command), envv)
	waitReady(t, pr, "http://"+addr+"/readyz")
	runHealthCheck(t, probe, s, im, addr)
	if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
		t.Errorf("nothing written to the data dir: %v", err)
	}

	a := api{t: t, base: "http://" + addr}
	a.login("compose")
	cmd := []string{rw.apply(t, "command", "/functions/probe"), "-timeout", "5s", rw.apply(t, "url", "http://eventflow:"+port+"/v1/functions")}
	a.deployReady("broken", cmd)
	a.expect(http.StatusBadGateway, "POST", "/v1/functions/broken:invoke", "", nil)
	// The probe's reason, on its stderr, reaches the function's logs.
	a.waitLog("broken", "401 Unauthorized")
}
