package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// These tests serve the API over a real, provisioned NATS JetStream server
// and store events and log lines on it as the platform's services do.

// waitWithin bounds every request and wait here, so a response that never
// ends fails the test instead of hanging it.
const waitWithin = 10 * time.Second

type streamFixture struct {
	srv   *httptest.Server
	js    jetstream.JetStream
	token string // tenant acme, every scope
	// issue makes a token of tenant with every scope.
	issue func(tenant string) string
}

func startStreamAPI(t *testing.T) *streamFixture {
	t.Helper()
	return startStreamAPIWith(t, Config{})
}

func startStreamAPIWith(t *testing.T, cfg Config) *streamFixture {
	t.Helper()
	_, nc, js, b := natstest.Provisioned(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cache, err := catalog.NewCache(ctx, b.Functions)
	if err != nil {
		t.Fatal(err)
	}
	signer := testkit.Signer(t)
	pub := bus.NewAsyncPublisher(js, func(error) {})
	t.Cleanup(pub.Close)
	reg := prometheus.NewRegistry() // GET /metrics serves what is registered
	h := New(cfg, Deps{
		NC: nc, JS: js, Store: store.New(js, b), Cache: cache, Auth: signer,
		Log:     slog.New(slog.DiscardHandler),
		Tracer:  noop.NewTracerProvider().Tracer(""),
		Metrics: NewMetrics(reg, reg),
		Ready:   func(ctx context.Context) error { return bus.Ready(ctx, nc, js) },
		Events:  pub,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	issue := func(tenant string) string { return testkit.Token(t, signer, tenant) }
	return &streamFixture{srv: srv, js: js, token: issue("acme"), issue: issue}
}

// open starts GET path; the response body is the caller's to close.
func (f *streamFixture) open(t *testing.T, ctx context.Context, path string, hdr ...string) *http.Response {
	t.Helper()
	return f.send(t, ctx, http.MethodGet, path, "", hdr...)
}

// send starts method path with body and headers (name, value pairs), as
// the fixture's tenant; the response body is the caller's to close.
func (f *streamFixture) send(t *testing.T, ctx context.Context, method, path, body string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// get reads the whole response of GET path; it fails when the response
// does not end within waitWithin.
func (f *streamFixture) get(t *testing.T, path string, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	resp := f.open(t, ctx, path, hdr...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: the response did not end: %v (read so far: %q)", path, err, b)
	}
	return resp.StatusCode, string(b)
}

func (f *streamFixture) publish(t *testing.T, subject string, data []byte) uint64 {
	t.Helper()
	ack, err := f.js.Publish(context.Background(), subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

type sseFrame struct {
	id          uint64
	event, data string
}

// parseSSE splits a body into events; comments are dropped.
func parseSSE(t *testing.T, body string) []sseFrame {
	t.Helper()
	var out []sseFrame
	for _, block := range strings.Split(body, "\n\n") {
		var fr sseFrame
		for _, l := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(l, "id: "):
				n, err := strconv.ParseUint(l[4:], 10, 64)
				if err != nil {
					t.Fatalf("id line %q", l)
				}
				fr.id = n
			case strings.HasPrefix(l, "event: "):
				fr.event = l[7:]
			case strings.HasPrefix(l, "data: "):
				fr.data = l[6:]
			}
		}
		if fr.event != "" {
			out = append(out, fr)
		}
	}
	return out
}

// readFrame reads the next SSE event (skipping comments) of a streaming
// response.
func readFrame(t *testing.T, r *bufio.Reader) sseFrame {
	t.Helper()
	var block strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended or stalled: %v (block so far %q)", err, block.String())
		}
		if l != "\n" {
			block.WriteString(l)
			continue
		}
		if frames := parseSSE(t, block.String()); len(frames) == 1 {
			return frames[0]
		}
		block.Reset()
	}
}

type storedEvent struct {
	seq      uint64
	typ, fn  string
	cloudEvt string
}

func (f *streamFixture) publishEvent(t *testing.T, tenant, fn, typ string) storedEvent {
	t.Helper()
	data := `{"specversion":"1.0","type":"` + typ + `","subject":"` + fn + `","tenant":"` + tenant + `"}`
	seq := f.publish(t, events.EventSubject(tenant, fn, typ), []byte(data))
	return storedEvent{seq: seq, typ: typ, fn: fn, cloudEvt: data}
}

func assertFrames(t *testing.T, what string, got []sseFrame, want ...storedEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events %v, want %d", what, len(got), got, len(want))
	}
	for i, w := range want {
		if g := got[i]; g.id != w.seq || g.event != w.typ || g.data != w.cloudEvt {
			t.Errorf("%s: event %d = %+v, want id %d, event %s, data %s", what, i, g, w.seq, w.typ, w.cloudEvt)
		}
	}
}

// TestEventsFollowFalse: ?follow=false sends the stored events that match
// (from the first, or after since / Last-Event-ID) and ends the response,
// leaving no consumer behind.
func TestEventsFollowFalse(t *testing.T) {
	f := startStreamAPI(t)
	// Nothing stored: the response ends at once with the opening comment.
	code, body := f.get(t, "/v1/events?follow=false")
	if code != http.StatusOK || !strings.HasPrefix(body, ": stream of ") || len(parseSSE(t, body)) != 0 {
		t.Fatalf("follow=false on an empty stream: %d %q", code, body)
	}

	a1 := f.publishEvent(t, "acme", "a", "io.eventflow.function.ready")
	f.publishEvent(t, "other", "a", "io.eventflow.function.ready") // another tenant's
	b1 := f.publishEvent(t, "acme", "b", "io.eventflow.invocation.failed")
	a2 := f.publishEvent(t, "acme", "a", "io.eventflow.invocation.queued")

	for _, tc := range []struct {
		path string
		hdr  []string
		want []storedEvent
	}{
		{"/v1/events?follow=false", nil, []storedEvent{a1, b1, a2}},
		{"/v1/events?follow=0", nil, []storedEvent{a1, b1, a2}},
		{"/v1/events?follow=false&function=a", nil, []storedEvent{a1, a2}},
		{"/v1/events?follow=false&type=io.eventflow.invocation.failed", nil, []storedEvent{b1}},
		{"/v1/events?follow=false&since=" + strconv.FormatUint(a1.seq, 10), nil, []storedEvent{b1, a2}},
		{"/v1/events?follow=false", []string{"Last-Event-ID", strconv.FormatUint(b1.seq, 10)}, []storedEvent{a2}},
		{"/v1/events?follow=false&since=" + strconv.FormatUint(a2.seq, 10), nil, nil},
	} {
		code, body := f.get(t, tc.path, tc.hdr...)
		if code != http.StatusOK {
			t.Fatalf("GET %s %v: %d %s", tc.path, tc.hdr, code, body)
		}
		assertFrames(t, "GET "+tc.path+" "+strings.Join(tc.hdr, ": "), parseSSE(t, body), tc.want...)
		// The handler deletes its consumer before the response ends.
		if n := testkit.StreamState(t, f.js, events.StreamEvents).Consumers; n != 0 {
			t.Fatalf("GET %s: %d consumers left on the events stream, want 0", tc.path, n)
		}
	}

	code, body = f.get(t, "/v1/events?follow=maybe")
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest || e.Error.Code != CodeBadRequest || !strings.Contains(e.Error.Message, "true or false") {
		t.Fatalf("follow=maybe: %d %s, want 400 bad_request", code, body)
	}
}

// TestEventsFollowFalseStopsAtRequestTime: events stored after the request
// came in are not sent, and do not keep the response open.
func TestEventsFollowFalseStopsAtRequestTime(t *testing.T) {
	f := startStreamAPI(t)
	stored := []storedEvent{
		f.publishEvent(t, "acme", "a", "io.eventflow.function.ready"),
		f.publishEvent(t, "acme", "a", "io.eventflow.invocation.queued"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	resp := f.open(t, ctx, "/v1/events?follow=false")
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	// The opening comment is written after the handler has counted what is
	// stored: what is published from here on is later.
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, ": stream of ") {
		t.Fatalf("first line %q: %v", l, err)
	}
	for range 3 {
		f.publishEvent(t, "acme", "a", "io.eventflow.invocation.started")
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the response did not end: %v", err)
	}
	assertFrames(t, "follow=false with events published during the response", parseSSE(t, string(rest)), stored...)
}

// TestEventsFollowByDefault: without follow the stream stays open for new
// events (unchanged), and its consumer goes when the client does.
func TestEventsFollowByDefault(t *testing.T) {
	f := startStreamAPI(t)
	f.publishEvent(t, "acme", "a", "io.eventflow.function.ready") // old: not sent
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	resp := f.open(t, ctx, "/v1/events")
	r := bufio.NewReader(resp.Body)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, ": stream of ") {
		t.Fatalf("first line %q: %v", l, err)
	}
	if n := testkit.StreamState(t, f.js, events.StreamEvents).Consumers; n != 1 {
		t.Fatalf("%d consumers while following, want 1", n)
	}
	fresh := f.publishEvent(t, "acme", "b", "io.eventflow.invocation.queued")
	assertFrames(t, "following", []sseFrame{readFrame(t, r)}, fresh)

	cancel()
	resp.Body.Close()
	testkit.WaitFor(t, waitWithin, "consumer deleted after the client left", func() bool { return testkit.StreamState(t, f.js, events.StreamEvents).Consumers == 0 })
}

// storedLine is a log line as the logs stream holds it.
type storedLine struct {
	seq  uint64
	at   time.Time // when the stream stored it
	text string
}

func (f *streamFixture) createFunction(t *testing.T, name string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/functions", strings.NewReader(`{"name":"`+name+`","command":["cat"]}`))
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create %s: %d", name, resp.StatusCode)
	}
}

func (f *streamFixture) publishLine(t *testing.T, fn, text string) storedLine {
	t.Helper()
	b, _ := json.Marshal(events.LogLine{Time: time.Now(), Tenant: "acme", Function: fn, Instance: fn + "-1", Stream: "stdout", Line: text})
	seq := f.publish(t, events.LogSubject("acme", fn, fn+"-1"), b)
	s, err := f.js.Stream(context.Background(), events.StreamLogs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return storedLine{seq: seq, at: m.Time, text: text}
}

// textLines are the log lines' texts of a text/plain logs body.
func textLines(body string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if l == "" {
			continue
		}
		// <time> <instance> <stream> <line>
		parts := strings.SplitN(l, " ", 4)
		out = append(out, parts[len(parts)-1])
	}
	return out
}

// TestLogsSince: since= keeps the lines stored at or after a time, given
// as RFC 3339 or as a duration before now, and combines with tail.
func TestLogsSince(t *testing.T) {
	f := startStreamAPI(t)
	f.createFunction(t, "noisy")
	f.createFunction(t, "quiet")
	one := f.publishLine(t, "noisy", "one")
	two := f.publishLine(t, "noisy", "two")
	f.publishLine(t, "quiet", "elsewhere")
	f.publishLine(t, "noisy", "three")
	if !one.at.Before(two.at) {
		t.Fatalf("lines one and two were stored at the same time %v; the test needs them apart", one.at)
	}
	at := func(tm time.Time) string { return url.QueryEscape(tm.Format(time.RFC3339Nano)) }

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"one", "two", "three"}},
		{"since=" + at(two.at), []string{"two", "three"}},
		// The same instant in another zone.
		{"since=" + at(two.at.In(time.FixedZone("", -5*3600))), []string{"two", "three"}},
		{"since=" + at(one.at), []string{"one", "two", "three"}},
		{"since=" + at(two.at) + "&tail=1", []string{"three"}},
		{"since=" + at(two.at) + "&tail=0", nil},
		{"since=1h", []string{"one", "two", "three"}},
		{"since=1h&tail=2", []string{"two", "three"}},
		{"since=" + at(time.Now().Add(time.Hour)), nil},
	} {
		code, body := f.get(t, "/v1/functions/noisy/logs?"+tc.query)
		if code != http.StatusOK {
			t.Fatalf("?%s: %d %s", tc.query, code, body)
		}
		if got := textLines(body); !slices.Equal(got, tc.want) {
			t.Errorf("?%s: lines %q, want %q", tc.query, got, tc.want)
		}
		if n := testkit.StreamState(t, f.js, events.StreamLogs).Consumers; n != 0 {
			t.Fatalf("?%s: %d consumers left on the logs stream, want 0", tc.query, n)
		}
	}

	// As SSE, following: the lines since the time, then new ones.
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	resp := f.open(t, ctx, "/v1/functions/noisy/logs?since="+at(two.at), "Accept", "text/event-stream")
	r := bufio.NewReader(resp.Body)
	var got []string
	var ids []uint64
	for range 2 {
		fr := readFrame(t, r)
		var l events.LogLine
		if err := json.Unmarshal([]byte(fr.data), &l); err != nil {
			t.Fatal(err)
		}
		got, ids = append(got, l.Line), append(ids, fr.id)
	}
	if !slices.Equal(got, []string{"two", "three"}) || ids[0] != two.seq {
		t.Fatalf("SSE since two: %q (ids %v), want two (id %d), three", got, ids, two.seq)
	}
	four := f.publishLine(t, "noisy", "four")
	if fr := readFrame(t, r); fr.id != four.seq || !strings.Contains(fr.data, `"line":"four"`) {
		t.Fatalf("followed line: %+v, want four (id %d)", fr, four.seq)
	}
	cancel()
	resp.Body.Close()
	testkit.WaitFor(t, waitWithin, "logs consumer deleted after the client left", func() bool { return testkit.StreamState(t, f.js, events.StreamLogs).Consumers == 0 })
}

func TestLogsSinceRefusesBadValues(t *testing.T) {
	f := startStreamAPI(t)
	f.createFunction(t, "noisy")
	for v, want := range map[string]string{
		"0s":                   "more than 0",
		"-5m":                  "more than 0",
		"721h":                 "at most 720h",
		"3d":                   "RFC 3339",
		"yesterday":            "RFC 3339",
		"1700000000":           "RFC 3339",
		"2026-13-01T00:00:00Z": "RFC 3339",
		"2026-01-02 15:04:05":  "RFC 3339",
	} {
		code, body := f.get(t, "/v1/functions/noisy/logs?since="+url.QueryEscape(v))
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusBadRequest || e.Error.Code != CodeBadRequest || !strings.Contains(e.Error.Message, want) {
			t.Errorf("since=%s: %d %s, want 400 bad_request saying %q", v, code, body, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Time{
		"10m":                            now.Add(-10 * time.Minute),
		"1h30m":                          now.Add(-90 * time.Minute),
		"720h":                           now.Add(-30 * 24 * time.Hour),
		"2026-01-02T15:04:05Z":           time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		"2026-01-02T15:04:05.5+01:00":    time.Date(2026, 1, 2, 14, 4, 5, 5e8, time.UTC),
		"2026-01-02T15:04:05.123456789Z": time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC),
	} {
		got, err := parseSince(v, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"720h0m0.000000001s", "0", "-1s", "", "now"} {
		if _, err := parseSince(v, now); err == nil {
			t.Errorf("parseSince(%q): no error", v)
		}
	}
}
