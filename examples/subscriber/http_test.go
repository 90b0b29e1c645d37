package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
)

// eventflowBinary is $EVENTFLOW_BIN/eventflow (make test builds it), or one
// built for this test.
func eventflowBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("EVENTFLOW_BIN"); dir != "" {
		return filepath.Join(dir, "eventflow")
	}
	bin := filepath.Join(t.TempDir(), "eventflow")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/eventflow/eventflow/cmd/eventflow").CombinedOutput(); err != nil {
		t.Fatalf("build eventflow: %v\n%s", err, out)
	}
	return bin
}

// startDev runs `eventflow dev` on free loopback ports and returns its API
// address once it says it is ready.
func startDev(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(eventflowBinary(t), "dev", "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		url := ""
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "API:"); ok {
				url = strings.TrimSpace(v)
			}
			if strings.HasPrefix(line, "Press Ctrl+C") {
				ready <- url
			}
		}
	}()
	select {
	case url := <-ready:
		return url
	case <-time.After(60 * time.Second):
		t.Fatal("eventflow dev did not start in 60s")
		return ""
	}
}

// TestSubscribeHTTPSeesTheFunctionsEvents: over a real gateway, the
// subscriber gets a function's lifecycle events as they happen.
func TestSubscribeHTTPSeesTheFunctionsEvents(t *testing.T) {
	url := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	anon, err := client.New(url, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := anon.IssueToken(ctx, client.TokenRequest{Tenant: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(url, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Event, 64)
	done := make(chan error, 1)
	go func() { done <- SubscribeHTTP(ctx, c, "upper", func(ev client.Event) { got <- ev }) }()
	// The subscription starts with new events: deploy until one arrives
	// (the stream may open after the first apply).
	for i := 0; ; i++ {
		if _, err := c.ApplyFunction(ctx, function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}, Env: map[string]string{"N": string(rune('a' + i%26))}}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			if ev.Tenant != "demo" || ev.Subject != "upper" || !strings.HasPrefix(ev.Type, "io.eventflow.function.") || ev.Seq == "" {
				t.Fatalf("event %+v", ev)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("SubscribeHTTP: %v", err)
			}
			return
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatal("no event within 60s")
		}
	}
}
