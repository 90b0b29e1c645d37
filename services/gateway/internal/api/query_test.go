package api

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNumericParametersAreRangeChecked: every numeric query parameter and
// header answers an out-of-range or malformed value with 400 bad_request
// (naming the parameter), never a 5xx. since=2^64-1 used to overflow to a
// start sequence of 0, which JetStream refuses: a 500.
func TestNumericParametersAreRangeChecked(t *testing.T) {
	f := startStreamAPI(t)
	f.createFunction(t, "f")
	huge := []string{
		"18446744073709551615", "18446744073709551616", "9223372036854775808", "99999999999999999999999999",
		"-1", "-9223372036854775809", "1e3", "0x10", "+1", " 1", "1.5", "NaN", "∞", strings.Repeat("9", 5000),
	}
	for _, v := range huge {
		q := url.QueryEscape(v)
		for _, tc := range []struct{ path, want string }{
			{"/v1/events?follow=false&since=" + q, "since="},
			{"/v1/functions/f/logs?tail=" + q, "tail="},
			{"/v1/functions/f/invocations?limit=" + q, "limit="},
		} {
			code, body := f.get(t, tc.path)
			wantError(t, "GET "+tc.path, code, body, http.StatusBadRequest, CodeBadRequest)
			if !strings.Contains(body, tc.want) {
				t.Errorf("GET %.80s: %s, want the message to name %s", tc.path, body, tc.want)
			}
		}
		if strings.TrimSpace(v) != v {
			continue // not a valid header value
		}
		code, body := f.get(t, "/v1/events?follow=false", "Last-Event-ID", v)
		wantError(t, "Last-Event-ID: "+v, code, body, http.StatusBadRequest, CodeBadRequest)
		if !strings.Contains(body, "Last-Event-ID") {
			t.Errorf("Last-Event-ID: %.40s: %s, want the message to name the header", v, body)
		}
	}
	// The edges of the ranges are accepted.
	for _, path := range []string{
		"/v1/events?follow=false&since=0",
		"/v1/events?follow=false&since=" + strconv.FormatUint(math.MaxInt64, 10),
		"/v1/functions/f/logs?tail=0", "/v1/functions/f/logs?tail=10000",
		"/v1/functions/f/invocations?limit=1", "/v1/functions/f/invocations?limit=1000",
	} {
		if code, body := f.get(t, path); code != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, code, body)
		}
	}
	if code, body := f.get(t, "/v1/events?follow=false", "Last-Event-ID", strconv.FormatUint(math.MaxInt64, 10)); code != http.StatusOK {
		t.Errorf("Last-Event-ID 2^63-1: %d %s, want 200", code, body)
	}
	code, body := f.get(t, "/v1/functions/f/invocations?limit=0")
	if wantError(t, "limit=0", code, body, http.StatusBadRequest, CodeBadRequest); !strings.Contains(body, "from 1 to 1000") {
		t.Errorf("limit=0: %s, want the range in the message", body)
	}
	// Other query values and headers of these routes: 4xx, never 5xx.
	for _, path := range []string{
		"/v1/functions/f/logs?since=" + url.QueryEscape("0000-01-01T00:00:00+01:00"),
		"/v1/functions/f/logs?since=" + url.QueryEscape("9999-12-31T23:59:59-23:59"),
		"/v1/functions/f/logs?since=9999999999999h",
		"/v1/functions/f/logs?follow=2",
		"/v1/functions/f/invocations?before=" + strings.Repeat("f", 33),
		"/v1/events?follow=false&function=" + strings.Repeat("a", 64),
	} {
		if code, body := f.get(t, path); code >= 500 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
}

func TestParseIntParam(t *testing.T) {
	for v, want := range map[string]int{"": 7, "0": 0, "1": 1, "10": 10, "007": 7} {
		if got, err := parseIntParam("n", v, 7, 0, 10); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"-1", "11", "9223372036854775808", "1.0", "a", " 1"} {
		if _, err := parseIntParam("n", v, 7, 0, 10); err == nil || !strings.Contains(err.Error(), "from 0 to 10") {
			t.Errorf("%q: %v, want an error giving the range", v, err)
		}
	}
}

// FuzzQueryParams: the query and header parsers never panic, return values
// in their ranges, and explain every refusal.
func FuzzQueryParams(f *testing.F) {
	for _, seed := range []string{
		"", "0", "1", "100", "10000", "10001", "-1", "18446744073709551615", "18446744073709551614",
		"9223372036854775807", "9223372036854775808", "+1", "1e3", "true", "0s", "10m", "720h", "721h",
		"2026-01-02T15:04:05Z", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "\xff", "1h-1s",
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if n, err := parseIntParam("tail", v, defaultTail, 0, maxTail); err == nil && (n < 0 || n > maxTail) {
			t.Fatalf("tail=%q: %d out of range", v, n)
		} else if err != nil && !strings.Contains(err.Error(), "tail=") {
			t.Fatalf("tail=%q: message %q does not name the parameter", v, err)
		}
		if n, err := parseIntParam("limit", v, defaultPage, 1, maxPage); err == nil && (n < 1 || n > maxPage) {
			t.Fatalf("limit=%q: %d out of range", v, n)
		}
		if _, err := parseBoolParam("follow", v); err != nil && !strings.Contains(err.Error(), "true or false") {
			t.Fatalf("follow=%q: %v", v, err)
		}
		if seq, err := parseEventID("since", v); err == nil {
			if seq > math.MaxInt64 || seq+1 == 0 {
				t.Fatalf("since=%q: %d out of range", v, seq)
			}
		} else if !strings.Contains(err.Error(), "since=") {
			t.Fatalf("since=%q: message %q does not name the parameter", v, err)
		}
		if tm, err := parseSince(v, now); err == nil {
			// The consumer's start time goes to JetStream as JSON.
			if _, err := tm.MarshalJSON(); err != nil {
				t.Fatalf("since=%q: %v does not encode for JetStream: %v", v, tm, err)
			}
		} else if !strings.Contains(err.Error(), "since=") {
			t.Fatalf("since=%q: empty message", v)
		}
	})
}
