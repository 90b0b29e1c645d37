package service

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

type fixture struct {
	srv   *httptest.Server
	js    jetstream.JetStream
	token string
}

// start runs the gateway alone (no deployer, no invoker) on a real NATS.
func start(t *testing.T) *fixture {
	t.Helper()
	signer := testkit.Signer(t)
	srv, js, err := startGateway(t, Config{MaxBodyBytes: 4096}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, js: js, token: testkit.Token(t, signer, "acme")}
}

// startGateway serves a gateway with cfg and the verifier v over a fresh,
// provisioned NATS server; the error is New's.
func startGateway(t *testing.T, cfg Config, v auth.Verifier) (*httptest.Server, jetstream.JetStream, error) {
	t.Helper()
	_, nc, js, _ := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	gw, err := New(ctx, cfg, Deps{
		NC: nc, JS: js, Auth: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tracer: sdktrace.NewTracerProvider().Tracer("test"), Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		return nil, nil, err
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv, js, nil
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return testkit.Call(t, method, f.srv.URL+path, f.token, body, hdr...)
}

// TestTraceContextCrossesIntoCommand: the caller's W3C traceparent reaches
// the command message, so the deployer's span joins the same trace.
func TestTraceContextCrossesIntoCommand(t *testing.T) {
	f := start(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, body := f.do(t, "POST", "/v1/functions", `{"name":"traced","command":["cat"]}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	s, _ := f.js.Stream(context.Background(), events.StreamCommands)
	m, err := s.GetLastMsgForSubject(context.Background(), events.CommandSubject("acme", "traced"))
	if err != nil {
		t.Fatal(err)
	}
	if tp := m.Header.Get("traceparent"); !strings.Contains(tp, traceID) {
		t.Fatalf("command traceparent %q does not carry trace %s", tp, traceID)
	}
	var cmd events.Command
	if err := json.Unmarshal(m.Data, &cmd); err != nil || cmd.Generation != 1 || cmd.Action != events.ActionApply {
		t.Fatalf("command %s: %v", m.Data, err)
	}
	// The same spec again is not a new generation and sends no command.
	f.do(t, "POST", "/v1/functions", `{"name":"traced","command":["cat"]}`)
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 1 {
		t.Fatalf("%d commands after an identical upsert, want 1", n)
	}
}

// TestRefusedRequestsPublishNothing: nothing reaches the bus for a 4xx.
func TestRefusedRequestsPublishNothing(t *testing.T) {
	f := start(t)
	for _, body := range []string{`{"name":`, `{"name":"Bad_Name!","command":["x"]}`, `{"name":"x","command":["x"],"extra":1}`, `{"name":"x","command":["` + strings.Repeat("a", 5000) + `"]}`} {
		if resp, b := f.do(t, "POST", "/v1/functions", body); resp.StatusCode/100 != 4 {
			t.Fatalf("%.40s: %d %s", body, resp.StatusCode, b)
		}
	}
	if resp, _ := f.do(t, "POST", "/v1/functions/nope:invoke?async=true", "x"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("invoke of unknown function: %d", resp.StatusCode)
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 0 {
		t.Fatalf("%d commands published by refused requests", n)
	}
	if n := testkit.StreamState(t, f.js, events.StreamInvocations).Msgs; n != 0 {
		t.Fatalf("%d invocations queued by refused requests", n)
	}
}

// TestAsyncAcceptIsStoredAndSyncWithoutInvokerIs503.
func TestAsyncAcceptIsStoredAndSyncWithoutInvokerIs503(t *testing.T) {
	f := start(t)
	f.do(t, "POST", "/v1/functions", `{"name":"q","command":["cat"]}`)
	resp, body := f.do(t, "POST", "/v1/functions/q:invoke?async=true", "payload")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("async: %d %s", resp.StatusCode, body)
	}
	// 202 means stored: the message is in the stream now.
	s, _ := f.js.Stream(context.Background(), events.StreamInvocations)
	m, err := s.GetLastMsgForSubject(context.Background(), events.InvocationSubject("acme", "q"))
	if err != nil || string(m.Data) != "payload" || m.Header.Get(events.HeaderInvocationID) != resp.Header.Get("X-Invocation-Id") {
		t.Fatalf("stored invocation: %v %v", m, err)
	}
	resp, body = f.do(t, "GET", resp.Header.Get("Location"), "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"status":"queued"`) {
		t.Fatalf("status right after accept: %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "POST", "/v1/functions/q:invoke", "payload")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sync with no invoker: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	f := start(t)
	f.do(t, "GET", "/v1/functions/some-name", "")
	_, body := f.do(t, "GET", "/metrics", "")
	if !strings.Contains(body, `eventflow_http_requests_total{code="404",method="GET",route="/v1/functions/:name"} 1`) {
		t.Fatalf("metrics lack the templated route:\n%s", body)
	}
}
