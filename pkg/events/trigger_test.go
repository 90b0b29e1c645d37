package events_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
)

func TestParseTriggerRef(t *testing.T) {
	ok := map[string]events.TriggerRef{
		`{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T07:00:00Z"}`: {Type: "cron", Key: "cron-0a1b2c3d4e5f", Tick: time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)},
		`{"type":"nats","key":"nats-0a1b2c3d4e5f","subject":"orders.eu","seq":7}`: {Type: "nats", Key: "nats-0a1b2c3d4e5f", Subject: "orders.eu", Seq: 7},
		` {"type":"event","key":"event-1","event":"abc"} `:                        {Type: "event", Key: "event-1", Event: "abc"},
	}
	for v, want := range ok {
		got, err := events.ParseTriggerRef(v)
		if err != nil || !sameTriggerRef(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", v, got, err, want)
		}
	}
	for name, v := range map[string]string{
		"empty":              "",
		"not JSON":           "cron",
		"not an object":      `["cron"]`,
		"trailing data":      `{"type":"cron","key":"k"} {}`,
		"unknown field":      `{"type":"cron","key":"k","when":"now"}`,
		"no type":            `{"key":"k"}`,
		"unknown type":       `{"type":"webhook","key":"k"}`,
		"no key":             `{"type":"cron"}`,
		"key with a dot":     `{"type":"cron","key":"a.b"}`,
		"key with wildcard":  `{"type":"cron","key":"a>"}`,
		"key too long":       `{"type":"cron","key":"` + strings.Repeat("k", 65) + `"}`,
		"control in subject": `{"type":"nats","key":"k","subject":"a\nb"}`,
		"subject too long":   `{"type":"nats","key":"k","subject":"` + strings.Repeat("s", 257) + `"}`,
		"event too long":     `{"type":"event","key":"k","event":"` + strings.Repeat("e", 257) + `"}`,
		"bad tick":           `{"type":"cron","key":"k","tick":"yesterday"}`,
		"negative seq":       `{"type":"nats","key":"k","seq":-1}`,
		"over 1 KiB":         `{"type":"nats","key":"k","subject":"` + strings.Repeat("s", 250) + `","event":"` + strings.Repeat("e", 250) + `"}` + strings.Repeat(" ", 600),
		// Fits as sent, but \u2028 is written back escaped: 6 bytes each.
		"over 1 KiB once written": `{"type":"nats","key":"k","subject":"` + strings.Repeat("\u2028", 85) + `","event":"` + strings.Repeat("\u2028", 85) + `"}`,
	} {
		if got, err := events.ParseTriggerRef(v); err == nil {
			t.Errorf("%s: %q accepted as %+v", name, v, got)
		}
	}
}

// TestTriggerAndRequestRoundTrip: an invocation made by a trigger, and one
// queued by /async-fn/, read back from their message as they were made;
// a malformed header refuses the invocation.
func TestTriggerAndRequestRoundTrip(t *testing.T) {
	const id = "01a24e6700000000000000000000aaaa"
	tick := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	inv := events.Invocation{ID: id, Tenant: "acme", Function: "web", Payload: []byte("p"),
		Trigger: &events.TriggerRef{Type: "cron", Key: "cron-0a1b2c3d4e5f", Tick: tick},
		Request: &events.HTTPRequest{Method: "PATCH", Path: "/orders/7?x=1", Header: map[string][]string{"X-Request-Id": {"a", "b"}, "Accept": {"*/*"}}}}
	m := inv.Msg()
	if got := m.Header.Get(events.HeaderTrigger); got != `{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T07:00:00Z"}` {
		t.Errorf("Eventflow-Trigger: %s", got)
	}
	back, err := events.InvocationFromMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if back.Trigger == nil || !sameTriggerRef(*back.Trigger, *inv.Trigger) {
		t.Errorf("trigger %+v", back.Trigger)
	}
	if r := back.Request; r == nil || r.Method != "PATCH" || r.Path != "/orders/7?x=1" || strings.Join(r.Header.Values("X-Request-Id"), ",") != "a,b" || r.Header.Get("Accept") != "*/*" {
		t.Errorf("request %+v", back.Request)
	}
	for name, set := range map[string]func(h nats.Header){
		"bad trigger":         func(h nats.Header) { h.Set(events.HeaderTrigger, `{"type":"x"}`) },
		"method not a token":  func(h nats.Header) { h.Set(events.HeaderHTTPMethod, "GE T") },
		"relative path":       func(h nats.Header) { h.Set(events.HeaderHTTPPath, "orders") },
		"path with a newline": func(h nats.Header) { h.Set(events.HeaderHTTPPath, "/a\nb") },
		"header with CR LF":   func(h nats.Header) { h.Set(events.HeaderHTTPPrefix+"X-A", "a\r\nInjected: 1") },
		"header with a NUL":   func(h nats.Header) { h.Set(events.HeaderHTTPPrefix+"X-A", "a\x00") },
	} {
		m := inv.Msg()
		set(m.Header)
		if _, err := events.InvocationFromMsg(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
