package main

import (
	"bufio"
	"context"
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
)

// consoleMarker is on the console's root element (web/index.html): the
// gateway serves it at / only when the build was embedded.
const consoleMarker = `data-app="eventflow-console"`

// TestConsoleInBrowser runs the web console's browser tests (web/e2e:
// playwright-core driving Debian's Chromium) against a real `eventflow dev`
// whose gateway serves the embedded console.
func TestConsoleInBrowser(t *testing.T) {
	web, err := filepath.Abs(filepath.Join("..", "..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is not installed: the console's browser tests run with Node.js and npm")
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("%s/node_modules is missing: run `npm ci` in web/ (make test does)", web)
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install -y chromium (or set CHROMIUM_PATH); the tests never download a browser", chromium)
	}
	out := os.Getenv("EVENTFLOW_TEST_OUTPUT")
	if out == "" {
		out = filepath.Join(web, "..", "test-output", "console")
	}
	if out, err = filepath.Abs(out); err != nil {
		t.Fatal(err)
	}

	p := startDev(t, t.TempDir())
	requireConsole(t, p.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "run", "test:e2e")
	cmd.Dir = web
	cmd.Env = append(os.Environ(),
		"EVENTFLOW_URL="+p.URL,
		"EVENTFLOW_TEST_OUTPUT="+out,
		"CHROMIUM_PATH="+chromium,
		"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
		"NO_COLOR=1",
	)
	// npm starts vitest, which starts Chromium: on timeout, end them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var logged sync.WaitGroup
	logged.Add(1)
	go func() {
		defer logged.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	err = cmd.Run()
	_ = pw.Close()
	logged.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the browser tests did not finish within 5 minutes")
	}
	if err != nil {
		t.Fatalf("the browser tests failed (%v); screenshots in %s; eventflow dev's log:\n%s", err, out, p.stderr)
	}
	t.Logf("browser tests passed in %s; screenshots in %s", time.Since(start).Round(time.Millisecond), out)
}

// requireConsole fails unless the gateway serves the console's page at /,
// which it does only when the binary was built after `make web`.
func requireConsole(t *testing.T, base string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), consoleMarker) {
		t.Fatalf("GET / answered %d without the console's root element (%s): the eventflow binary (%s) was built without the web console; run make build", resp.StatusCode, consoleMarker, binPath)
	}
}
