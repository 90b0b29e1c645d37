package service

import (
	"net/http"
	"strings"
	"testing"
)

// The console owns the GETs the API does not; the API's own paths keep
// answering JSON errors, so a typo in an API call never gets HTML back.
func TestConsoleAndAPIShareThePaths(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		method, path string
		code         int
		contentType  string
	}{
		{"GET", "/", 200, "text/html"},
		{"GET", "/functions/upper", 200, "text/html"},
		{"HEAD", "/login", 200, "text/html"},
		{"GET", "/v1/no-such-thing", 404, "application/json"},
		{"GET", "/v1", 404, "application/json"},
		{"GET", "/auth/nothing", 404, "application/json"},
		{"POST", "/functions/upper", 404, "application/json"},
		{"GET", "/healthz", 200, "application/json"},
	} {
		resp, body := f.do(t, tc.method, tc.path, "")
		if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s %s = %d %s, want %d %s (body %.80q)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.contentType, body)
		}
	}
	if resp, body := f.do(t, http.MethodGet, "/", ""); !strings.Contains(body, "<html") && !strings.Contains(body, "<!doctype") {
		t.Errorf("GET / = %d %.200q, want an HTML page", resp.StatusCode, body)
	}
}
