package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// request sends GET path with token through client; the response body is
// the caller's to close.
func (f *streamFixture) request(ctx context.Context, client *http.Client, token, path string, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return client.Do(req)
}

// TestStreamsLeaveNothingBehind opens and closes 1,000 log and event
// streams (reads to the end, and follows the client gives up on) plus some
// dead-letter reads, and checks that the server's consumers and the
// process's goroutines go back to where they were.
func TestStreamsLeaveNothingBehind(t *testing.T) {
	start := time.Now()
	f := startStreamAPI(t)
	f.createFunction(t, "chatty")
	for i := range 5 {
		f.publishLine(t, "chatty", fmt.Sprintf("line %d", i))
	}
	f.publishEvent(t, "acme", "chatty", "function.ready")
	f.publish(t, events.DeadLetterSubject("acme", "chatty"), []byte("payload"))

	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	streams := []string{events.StreamLogs, events.StreamEvents, events.StreamDeadLetters}
	base := map[string]int{}
	for _, s := range streams {
		base[s] = testkit.StreamState(t, f.js, s).Consumers
	}
	baseG := runtime.NumGoroutine()

	type kind struct {
		path   string
		hdr    []string
		follow bool // the client leaves once the stream is open
	}
	kinds := []kind{
		{path: "/v1/functions/chatty/logs?tail=3"},
		{path: "/v1/functions/chatty/logs?follow=true", follow: true},
		{path: "/v1/functions/chatty/logs", hdr: []string{"Accept", "text/event-stream"}, follow: true},
		{path: "/v1/events?follow=false"},
		{path: "/v1/events", follow: true},
	}
	one := func(k kind) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
		defer cancel()
		resp, err := f.request(ctx, client, f.token, k.path, k.hdr...)
		if err != nil {
			return fmt.Errorf("GET %s: %w", k.path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("GET %s: %d %s", k.path, resp.StatusCode, b)
		}
		if k.follow {
			// Something of the stream arrived; then the client goes.
			if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
				return fmt.Errorf("GET %s: %w", k.path, err)
			}
			cancel()
			return nil
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return fmt.Errorf("GET %s: the response did not end: %w", k.path, err)
		}
		return nil
	}

	const total, parallel = 1000, 16
	sem := make(chan struct{}, parallel)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range total {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := one(kinds[i%len(kinds)])
			if err == nil && i%20 == 0 {
				// A dead-letter read holds an ordered consumer too.
				err = one(kind{path: "/v1/functions/chatty/dead-letters"})
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d of %d requests failed; first: %v", len(errs), total, errs[0])
	}
	tr.CloseIdleConnections()

	for _, s := range streams {
		testkit.WaitFor(t, waitWithin, s+" consumers back to "+fmt.Sprint(base[s]), func() bool { return testkit.StreamState(t, f.js, s).Consumers == base[s] })
	}
	const margin = 10
	var g int
	testkit.WaitFor(t, waitWithin, fmt.Sprintf("goroutines back within %d of %d", margin, baseG), func() bool {
		g = runtime.NumGoroutine()
		return g <= baseG+margin
	})
	t.Logf("%d streams in %s; goroutines %d (baseline %d)", total, time.Since(start).Round(time.Millisecond), g, baseG)
}

// TestStreamsBoundedPerTenant: a tenant's 33rd concurrent stream is
// refused with 429 and Retry-After, log or event; another tenant is not
// affected; a closed stream frees its place.
func TestStreamsBoundedPerTenant(t *testing.T) {
	f := startStreamAPI(t)
	f.createFunction(t, "chatty")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	cancels := make([]context.CancelFunc, 0, defaultMaxStreamsPerTenant)
	t.Cleanup(func() {
		for _, c := range cancels {
			c()
		}
	})
	for i := range defaultMaxStreamsPerTenant {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		path := "/v1/events"
		if i%2 == 1 {
			path = "/v1/functions/chatty/logs?follow=true"
		}
		resp, err := f.request(ctx, client, f.token, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d (%s): %d, want 200", i+1, path, resp.StatusCode)
		}
	}
	// The open streams' consumers get the short inactivity threshold.
	for _, s := range []string{events.StreamEvents, events.StreamLogs} {
		stream, err := f.js.Stream(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		lister := stream.ListConsumers(context.Background())
		n := 0
		for info := range lister.Info() {
			n++
			if info.Config.InactiveThreshold != orderedInactiveThreshold {
				t.Errorf("%s consumer %s: inactive threshold %s, want %s", s, info.Name, info.Config.InactiveThreshold, orderedInactiveThreshold)
			}
		}
		if err := lister.Err(); err != nil {
			t.Fatal(err)
		}
		if n != defaultMaxStreamsPerTenant/2 {
			t.Errorf("%s has %d consumers, want %d", s, n, defaultMaxStreamsPerTenant/2)
		}
	}

	get := func(token, path string) (int, string, http.Header) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
		defer cancel()
		resp, err := f.request(ctx, client, token, path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			// Possibly a stream that stays open: the status is enough.
			return resp.StatusCode, "", resp.Header
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, string(b), resp.Header
	}
	for _, path := range []string{"/v1/events", "/v1/events?follow=false", "/v1/functions/chatty/logs", "/v1/functions/chatty/logs?follow=true"} {
		code, body, hdr := get(f.token, path)
		if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" || !strings.Contains(body, `"code":"`+CodeTooManyRequests+`"`) {
			t.Errorf("stream %d (%s): %d, Retry-After %q, %s; want 429, Retry-After 1, %s", defaultMaxStreamsPerTenant+1, path, code, hdr.Get("Retry-After"), body, CodeTooManyRequests)
		}
	}
	if code, body, _ := get(f.issue("other"), "/v1/events?follow=false"); code != http.StatusOK {
		t.Errorf("another tenant's stream: %d %s, want 200", code, body)
	}
	// Validation comes first: a bad request is still a 400.
	if code, _, _ := get(f.token, "/v1/events?follow=maybe"); code != http.StatusBadRequest {
		t.Errorf("a malformed request at the bound: %d, want 400", code)
	}

	// Closing one stream frees its place.
	cancels[0]()
	testkit.WaitFor(t, waitWithin, "a place freed once a stream closed", func() bool {
		code, _, _ := get(f.token, "/v1/events?follow=false")
		return code == http.StatusOK
	})
}

func TestStreamLimiter(t *testing.T) {
	l := newStreamLimiter(2)
	if !l.acquire("a") || !l.acquire("a") {
		t.Fatal("the first two must pass")
	}
	if l.acquire("a") {
		t.Fatal("the third must not")
	}
	if !l.acquire("b") {
		t.Fatal("another tenant must pass")
	}
	l.release("a")
	if !l.acquire("a") {
		t.Fatal("a released place must be free again")
	}
	l.release("a")
	l.release("a")
	l.release("b")
	if len(l.open) != 0 {
		t.Fatalf("tenants left after every release: %v", l.open)
	}
}
