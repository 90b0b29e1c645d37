package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestBusCredentials: `eventflow dev`'s NATS refuses anonymous clients;
// credentials from `eventflow nats-creds --tenant demo` queue demo's
// invocations (which run) and read demo's events, and are refused another
// tenant's subjects and the platform's records.
func TestBusCredentials(t *testing.T) {
	dir := t.TempDir()
	p := startDev(t, dir)
	if nc, err := nats.Connect(p.NATS); err == nil {
		nc.Close()
		t.Fatal("the dev bus accepts a client without credentials")
	}

	// Keys exist only where dev runs.
	out, err := exec.Command(binPath, "nats-creds", "--tenant", "demo", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no bus keys") {
		t.Fatalf("nats-creds without the platform's data dir: %v %s", err, out)
	}
	cmd := exec.Command(binPath, "nats-creds", "--tenant", "demo", "--data-dir", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	creds, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats-creds: %v %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--inbox-prefix _INBOX_tenant_demo") {
		t.Errorf("nats-creds gives no nats CLI usage: %s", stderr.String())
	}
	credsFile := filepath.Join(t.TempDir(), "demo.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	c := newClient(t, p.URL, token(t, p.URL, "demo"))
	if r := c.do("POST", "/v1/functions", map[string]any{"name": "upper", "command": []string{"tr", "a-z", "A-Z"}}); r.Status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	waitPhase(t, c, "upper", "Ready")

	refusals := make(chan error, 16)
	nc, err := nats.Connect(p.NATS, nats.UserCredentials(credsFile), nats.CustomInboxPrefix("_INBOX_tenant_demo"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case refusals <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect with demo's credentials: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := nc.SubscribeSync("eventflow.events.demo.upper.invocation.succeeded")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A producer as docs/EVENTS.md describes it.
	id := "01a0000000000000000000000000beef"
	msg := nats.NewMsg("eventflow.invoke.demo.upper")
	msg.Data = []byte("from nats")
	msg.Header.Set("Eventflow-Invocation-Id", id)
	msg.Header.Set("Nats-Msg-Id", id)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("demo queues its invocation: %v", err)
	}
	if inv := waitInvocation(t, c, id, 20*time.Second); inv.Status != "succeeded" || inv.Output != "FROM NATS" {
		t.Fatalf("the invocation queued on NATS: %+v", inv)
	}
	if m, err := events.NextMsg(10 * time.Second); err != nil || !strings.Contains(string(m.Data), id) {
		t.Fatalf("demo's own event: %v %v", m, err)
	}

	refused := func(op, subject string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case err := <-refusals:
				if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
					return
				}
			case <-deadline:
				t.Errorf("demo's credentials: %s %s was not refused", op, subject)
				return
			}
		}
	}
	for _, subject := range []string{"eventflow.invoke.other.upper", "eventflow.cmd.demo.upper", "$KV.eventflow_functions.demo.upper", "$JS.API.STREAM.DELETE.EVENTFLOW_INVOCATIONS"} {
		if err := nc.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
		refused("publish to", subject)
	}
	for _, subject := range []string{"eventflow.events.other.>", "eventflow.invoke.>", "$KV.>", "_INBOX.>"} {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		refused("subscribe to", subject)
		_ = sub.Unsubscribe()
	}
}
