package packaging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository root: the images' build context and where
// docker-compose.yaml lives.
var repoRoot = func() string {
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return abs
}()

// image describes one image: the Dockerfile and build arguments it is
// built with, and the binary it ships.
type image struct {
	name       string            // image ghcr.io/eventflow/<name>, binary /<name>
	dockerfile string            // relative to repoRoot
	args       map[string]string // build arguments (--build-arg) that select it
	pkg        string            // main package, relative to repoRoot
	web        bool              // builds and embeds the web console
	helpArgs   []string
	addrFlag   string // the flag whose default holds the listen port
	addrEnv    string // its environment variable
}

var images = []image{
	{name: "gateway", dockerfile: "services/Dockerfile", args: map[string]string{"SERVICE": "gateway"}, pkg: "services/gateway", web: true, addrFlag: "http-addr", addrEnv: "EVENTFLOW_HTTP_ADDR"},
	{name: "deployer", dockerfile: "services/Dockerfile", args: map[string]string{"SERVICE": "deployer"}, pkg: "services/deployer", addrFlag: "ops-addr", addrEnv: "EVENTFLOW_OPS_ADDR"},
	{name: "invoker", dockerfile: "services/Dockerfile", args: map[string]string{"SERVICE": "invoker"}, pkg: "services/invoker", addrFlag: "ops-addr", addrEnv: "EVENTFLOW_OPS_ADDR"},
	{name: "logstream", dockerfile: "services/Dockerfile", args: map[string]string{"SERVICE": "logstream"}, pkg: "services/logstream", addrFlag: "ops-addr", addrEnv: "EVENTFLOW_OPS_ADDR"},
	{name: "eventflow", dockerfile: "cmd/eventflow/Dockerfile", pkg: "cmd/eventflow", web: true, helpArgs: []string{"dev"}, addrFlag: "http-addr", addrEnv: "EVENTFLOW_HTTP_ADDR"},
}

// imageByBuild is the image a Dockerfile and build arguments build.
func imageByBuild(path string, args map[string]string) (image, bool) {
	for _, im := range images {
		if filepath.Clean(path) != im.dockerfile || len(args) != len(im.args) {
			continue
		}
		same := true
		for k, v := range im.args {
			if args[k] != v {
				same = false
			}
		}
		if same {
			return im, true
		}
	}
	return image{}, false
}

// buildOnce is something built once per test run; each test that needs it
// waits for it, and all fail alike if it cannot be built.
type buildOnce struct {
	once sync.Once
	path string
	err  error
}

func (b *buildOnce) get(t *testing.T, build func() (string, error)) string {
	t.Helper()
	b.once.Do(func() { b.path, b.err = build() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// buildTemp builds each main package (relative to repoRoot) into a new
// temporary directory, removed by TestMain, as the binary named by its key.
func buildTemp(pkgs map[string]string) (string, error) {
	d, err := os.MkdirTemp("", "eventflow-packaging-bin-")
	if err != nil {
		return "", err
	}
	tempDirs = append(tempDirs, d)
	for name, pkg := range pkgs {
		if err := goBuild(repoRoot, filepath.Join(d, name), "./"+pkg); err != nil {
			return "", err
		}
	}
	return d, nil
}

var serviceBins, probeBin buildOnce

// binaries returns the directory holding the service binaries:
// $EVENTFLOW_BIN (make build) when set, else a build into a temporary
// directory.
func binaries(t *testing.T) string {
	t.Helper()
	return serviceBins.get(t, func() (string, error) {
		if d := os.Getenv("EVENTFLOW_BIN"); d != "" {
			for _, im := range images {
				if _, err := os.Stat(filepath.Join(d, im.name)); err != nil {
					return "", fmt.Errorf("EVENTFLOW_BIN=%s: %v (run make build)", d, err)
				}
			}
			return d, nil
		}
		pkgs := map[string]string{}
		for _, im := range images {
			pkgs[im.name] = im.pkg
		}
		return buildTemp(pkgs)
	})
}

// probeBinary is cmd/probe, built for this test run (make build does not
// build it into EVENTFLOW_BIN).
func probeBinary(t *testing.T) string {
	t.Helper()
	return probeBin.get(t, func() (string, error) {
		d, err := buildTemp(map[string]string{"probe": "cmd/probe"})
		return filepath.Join(d, "probe"), err
	})
}

var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// goBuild builds pkg (a package path, relative to dir) into out, statically.
func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

var envInHelp = regexp.MustCompile(`\[([A-Z][A-Z0-9_]*)\]`)

// helpOf is the -h output of a binary (flag prints it on stderr).
func helpOf(t *testing.T, im image) string {
	t.Helper()
	args := append(append([]string{}, im.helpArgs...), "-h")
	cmd := exec.Command(filepath.Join(binaries(t), im.name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // defaults as in a fresh container
	out, _ := cmd.CombinedOutput()                  // -h exits 0 or 2 depending on the flag set
	if !bytes.Contains(out, []byte("-"+im.addrFlag)) {
		t.Fatalf("%s -h does not list -%s:\n%s", im.name, im.addrFlag, out)
	}
	return string(out)
}

// envNames are the environment variables a binary reads, as its -h lists
// them: every flag's usage ends with [ENV_NAME].
func envNames(t *testing.T, im image) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, m := range envInHelp.FindAllStringSubmatch(helpOf(t, im), -1) {
		names[m[1]] = true
	}
	if !names[im.addrEnv] {
		t.Fatalf("%s -h does not mention %s", im.name, im.addrEnv)
	}
	return names
}

// defaultPort is the port in the default of the binary's address flag.
func defaultPort(t *testing.T, im image) string {
	t.Helper()
	help := helpOf(t, im)
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "-"+im.addrFlag+" string" {
			continue
		}
		if !sc.Scan() {
			break
		}
		m := regexp.MustCompile(`\(default "([^"]+)"\)`).FindStringSubmatch(sc.Text())
		if m == nil {
			break
		}
		_, port, err := net.SplitHostPort(m[1])
		if err != nil {
			t.Fatalf("%s: default of -%s: %v", im.name, im.addrFlag, err)
		}
		return port
	}
	t.Fatalf("%s -h: no default for -%s in:\n%s", im.name, im.addrFlag, help)
	return ""
}

// workspaceModules are the directories go.work uses, relative to repoRoot.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "work", "edit", "-json")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	var w struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, u := range w.Use {
		dirs = append(dirs, filepath.Clean(u.DiskPath))
	}
	if len(dirs) == 0 {
		t.Fatal("go.work uses no modules")
	}
	return dirs
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
