package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// These tests run Gateway.Serve, the http.Server the gateway and
// `eventflow dev` use, with short limits, and play slow and idle clients
// against it on raw connections. Every wait is bounded by the limit under
// test plus a margin (slack).

const slack = 2 * time.Second

type served struct {
	addr  string
	nc    *nats.Conn
	js    jetstream.JetStream
	token string
}

func serve(t *testing.T, limits HTTPLimits) *served {
	t.Helper()
	_, nc, js, _ := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	signer := testkit.Signer(t)
	reg := prometheus.NewRegistry()
	gw, err := New(ctx, Config{MaxBodyBytes: 4096, HTTP: limits}, Deps{
		NC: nc, JS: js, Auth: signer, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tracer: sdktrace.NewTracerProvider().Tracer("test"), Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &served{addr: ln.Addr().String(), nc: nc, js: js, token: testkit.Token(t, signer, "acme")}
}

func (s *served) dial(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// trickle writes data one byte every interval until it is all sent or a
// write fails (the server hung up); it reports how many bytes went out.
func trickle(conn net.Conn, data string, interval time.Duration) <-chan int {
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for i := range len(data) {
			if _, err := conn.Write([]byte{data[i]}); err != nil {
				return
			}
			n++
			time.Sleep(interval)
		}
	}()
	return sent
}

// waitClosed reads conn until the server closes it, at most within; it
// returns what was read and how long it took.
func waitClosed(t *testing.T, conn net.Conn, within time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(within))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server did not close the connection within %s (read so far %q)", within, b)
	}
	return string(b), time.Since(start)
}

// TestSlowHeadersAreCutOff: a client sending its headers a byte at a time
// is disconnected once ReadHeaderTimeout has passed.
func TestSlowHeadersAreCutOff(t *testing.T) {
	const timeout = 500 * time.Millisecond
	s := serve(t, HTTPLimits{ReadHeaderTimeout: timeout})
	conn := s.dial(t)
	req := "GET /healthz HTTP/1.1\r\nHost: eventflow\r\nUser-Agent: slowloris\r\n\r\n"
	sent := trickle(conn, req, 100*time.Millisecond) // 6.5 s for all of it
	got, took := waitClosed(t, conn, timeout+slack)
	// net/http may answer 400 before it hangs up; the request never reaches
	// the handler.
	if n := <-sent; n >= len(req) || strings.Contains(got, " 200 ") || took < timeout/2 {
		t.Fatalf("after %s: %d of %d bytes sent, answer %q; want the connection closed after about %s", took, n, len(req), got, timeout)
	}
}

// TestSlowBodyIsCutOff: a body that does not arrive within ReadTimeout is
// answered 408 request_timeout, the connection is closed, and nothing is
// created.
func TestSlowBodyIsCutOff(t *testing.T) {
	const timeout = 800 * time.Millisecond
	s := serve(t, HTTPLimits{ReadTimeout: timeout})
	conn := s.dial(t)
	body := `{"name":"slow","command":["cat"]}` + strings.Repeat(" ", 30) // 6.3 s at a byte per 100 ms
	head := "POST /v1/functions HTTP/1.1\r\nHost: eventflow\r\nAuthorization: Bearer " + s.token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	sent := trickle(conn, body, 100*time.Millisecond)
	got, took := waitClosed(t, conn, timeout+slack)
	if n := <-sent; n >= len(body) || !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, `"code":"request_timeout"`) {
		t.Fatalf("after %s, %d of %d body bytes sent: answer %q; want 408 request_timeout and the connection closed", took, n, len(body), got)
	}
	kv, err := s.js.KeyValue(context.Background(), events.BucketFunctions)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), events.FunctionKey("acme", "slow")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the function of the cut-off request: %v, want it never stored", err)
	}
}

// TestIdleConnectionsAreClosed: a keep-alive connection with no further
// request is closed once IdleTimeout has passed.
func TestIdleConnectionsAreClosed(t *testing.T) {
	const timeout = 500 * time.Millisecond
	s := serve(t, HTTPLimits{IdleTimeout: timeout})
	conn := s.dial(t)
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: eventflow\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(slack))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(timeout + slack))
	rest, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the idle connection was not closed within %s", timeout+slack)
	}
	if took := time.Since(start); len(rest) != 0 || took < timeout/2 {
		t.Fatalf("closed after %s with %q; want closed, silently, after about %s", took, rest, timeout)
	}
}

// TestLargeHeadersAreRefused: headers beyond MaxHeaderBytes get 431.
func TestLargeHeadersAreRefused(t *testing.T) {
	s := serve(t, HTTPLimits{MaxHeaderBytes: 1 << 10})
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 16<<10)) // net/http allows 4 KiB over the limit
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("16 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// TestLongResponsesOutliveTheTimeouts: with read and write timeouts far
// shorter than the waits, event and log streams keep streaming and a sync
// invocation that takes longer still gets its answer.
func TestLongResponsesOutliveTheTimeouts(t *testing.T) {
	const timeout = 400 * time.Millisecond
	s := serve(t, HTTPLimits{ReadTimeout: timeout, WriteTimeout: timeout})
	base := "http://" + s.addr
	call := func(ctx context.Context, method, path, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.token)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp := call(ctx, "POST", "/v1/functions", `{"name":"f","command":["cat"]}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d", resp.StatusCode)
	}

	// A sync invocation answered after 3 timeouts' time by a stand-in invoker.
	sub, err := s.nc.QueueSubscribe(events.SyncSubject("acme", "f"), "eventflow-invoker", func(m *nats.Msg) {
		time.Sleep(3 * timeout)
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(events.HeaderStatus, events.StatusSucceeded)
		reply.Data = []byte("done")
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	invoked := make(chan string, 1)
	go func() { // no t.Fatal here: the answer goes to invoked either way
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/functions/f:invoke", strings.NewReader("payload"))
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			invoked <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		invoked <- strconv.Itoa(resp.StatusCode) + " " + string(b) + " " + errString(err)
	}()

	evResp := call(ctx, "GET", "/v1/events", "", "Accept", "text/event-stream")
	defer evResp.Body.Close()
	logResp := call(ctx, "GET", "/v1/functions/f/logs", "", "Accept", "text/event-stream")
	defer logResp.Body.Close()
	er, lr := bufio.NewReader(evResp.Body), bufio.NewReader(logResp.Body)
	if l, err := er.ReadString('\n'); err != nil || !strings.HasPrefix(l, ": stream of") {
		t.Fatalf("events stream: %q %v", l, err)
	}
	time.Sleep(3 * timeout)

	pubCtx := context.Background()
	if _, err := s.js.Publish(pubCtx, events.EventSubject("acme", "f", events.TypeFunctionReady), []byte(`{"specversion":"1.0"}`)); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(events.LogLine{Time: time.Now(), Tenant: "acme", Function: "f", Instance: "f-1", Stream: "stdout", Line: "late"})
	if _, err := s.js.Publish(pubCtx, events.LogSubject("acme", "f", "f-1"), line); err != nil {
		t.Fatal(err)
	}
	for what, r := range map[string]*bufio.Reader{"events": er, "logs": lr} {
		var got strings.Builder
		for !strings.Contains(got.String(), "data: ") {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s stream ended after the timeouts: %v (read %q)", what, err, got.String())
			}
			got.WriteString(l)
		}
	}
	select {
	case got := <-invoked:
		if got != "200 done " {
			t.Fatalf("sync invocation taking %s: %q, want 200 done", 3*timeout, got)
		}
	case <-ctx.Done():
		t.Fatal("the sync invocation got no answer")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
