package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type sseEvent struct {
	ID    uint64
	Event string
	Data  string
}

// sseStream reads events from GET path until ctx ends.
func sseStream(ctx context.Context, t *testing.T, base, tok, path, lastID string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID, _ = strconv.ParseUint(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	return out
}

// collect reads events until want says it has enough, or fails.
func collect(t *testing.T, ch <-chan sseEvent, within time.Duration, enough func([]sseEvent) bool) []sseEvent {
	t.Helper()
	var got []sseEvent
	deadline := time.After(within)
	for !enough(got) {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended; got %v", got)
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("not enough events within %s; got %v", within, got)
		}
	}
	return got
}

func hasEvent(evs []sseEvent, fn, typ string) bool {
	for _, e := range evs {
		var ce struct {
			Subject, Type, Specversion string
		}
		if json.Unmarshal([]byte(e.Data), &ce) == nil && ce.Subject == fn && ce.Type == typ && e.Event == typ && ce.Specversion == "1.0" {
			return true
		}
	}
	return false
}

var journeyTypes = []string{"io.eventflow.function.deploying", "io.eventflow.function.ready",
	"io.eventflow.invocation.queued", "io.eventflow.invocation.started", "io.eventflow.invocation.succeeded"}

func allOf(fn string) func([]sseEvent) bool {
	return func(evs []sseEvent) bool {
		for _, typ := range journeyTypes {
			if !hasEvent(evs, fn, typ) {
				return false
			}
		}
		return true
	}
}

// TestEventsResumeWithLastEventID: the lifecycle events of a function and
// its invocations arrive as SSE; a client that disconnects and comes back
// with Last-Event-ID gets every event it missed, and none twice.
func TestEventsResumeWithLastEventID(t *testing.T) {
	p := startDev(t, t.TempDir())
	tok := token(t, p.URL, "events")
	c := newClient(t, p.URL, tok)
	ctx, cancel := context.WithCancel(context.Background())
	first := sseStream(ctx, t, p.URL, tok, "/v1/events", "")

	journey := func(fn string) {
		if r := c.do("POST", "/v1/functions", map[string]any{"name": fn, "command": []string{"cat"}}); r.Status != 202 {
			t.Fatalf("create %s: %d %s", fn, r.Status, r.Body)
		}
		waitPhase(t, c, fn, "Ready")
		r := c.do("POST", "/v1/functions/"+fn+":invoke?async=true", "x")
		var acc struct{ ID string }
		r.json(t, &acc)
		waitInvocation(t, c, acc.ID, 20*time.Second)
	}
	journey("before")
	seen := collect(t, first, 20*time.Second, allOf("before"))
	lastID := seen[len(seen)-1].ID
	cancel() // the client goes away

	journey("during") // events while nobody listens
	// Another tenant's events never show.
	other := newClient(t, p.URL, token(t, p.URL, "elsewhere"))
	other.do("POST", "/v1/functions", map[string]any{"name": "during", "command": []string{"cat"}})

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed := collect(t, sseStream(ctx2, t, p.URL, tok, "/v1/events", strconv.FormatUint(lastID, 10)), 20*time.Second, allOf("during"))
	for _, e := range resumed {
		if e.ID <= lastID {
			t.Fatalf("event %d repeated after Last-Event-ID %d", e.ID, lastID)
		}
		if hasEvent([]sseEvent{e}, "before", e.Event) {
			t.Fatalf("an event of before came again: %+v", e)
		}
		var ce struct{ Tenant string }
		if json.Unmarshal([]byte(e.Data), &ce); ce.Tenant != "events" {
			t.Fatalf("another tenant's event: %s", e.Data)
		}
	}
	if resumed[0].ID != lastID+1 && !hasEvent(resumed[:1], "during", "io.eventflow.function.deploying") {
		t.Fatalf("the first resumed event is %+v; want the first one after %d", resumed[0], lastID)
	}

	// Filters: one function, one type, from the start of the stream.
	filtered := collect(t, sseStream(ctx2, t, p.URL, tok, "/v1/events?function=during&type=io.eventflow.invocation.succeeded&since=0", ""),
		10*time.Second, func(evs []sseEvent) bool { return len(evs) >= 1 })
	if !hasEvent(filtered[:1], "during", "io.eventflow.invocation.succeeded") {
		t.Fatalf("filtered stream gave %+v", filtered[0])
	}
	if r := c.do("GET", "/v1/events?type=nonsense", nil); r.Status != 400 {
		t.Fatalf("bad type: %d %s", r.Status, r.Body)
	}
}
