package client

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeError: an error answer of any status, body and headers is
// decoded without panicking, into a non-negative Retry-After that is the
// header's seconds, an exit code only from a number, and a message that
// stays short unless it is the API's own.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []struct {
		status            int
		body, retry, exit string
	}{
		{429, `{"error":{"code":"too_many_requests","message":"slow down"}}`, "1", ""},
		{502, `{"error":{"code":"function_failed","message":"exit 3"}}`, "", "3"},
		{503, "<html>\n<body>Bad gateway</body>", "120", "x"},
		{500, "", "-1", "-1"},
		{429, `{"error":{"code":""}}`, "9223372036854775807", "99999999999999999999"},
		{429, `{"error":"x"}`, "9223372037", "0"},
		{999, "\xff\xfe", "Wed, 21 Oct 2015 07:28:00 GMT", " 1"},
	} {
		f.Add(s.status, []byte(s.body), s.retry, s.exit)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, retry, exit string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(string(body)))}
		if retry != "" {
			resp.Header.Set("Retry-After", retry)
		}
		if exit != "" {
			resp.Header.Set("X-Exit-Code", exit)
		}
		e := decodeError(resp)
		if e.Status != status {
			t.Fatalf("status %d decoded as %d", status, e.Status)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("Retry-After %q decoded as %s", retry, e.RetryAfter)
		}
		if e.RetryAfter > 0 {
			n, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64)
			if err != nil || time.Duration(n)*time.Second != e.RetryAfter || e.RetryAfter/time.Second != time.Duration(n) {
				t.Fatalf("Retry-After %q decoded as %s", retry, e.RetryAfter)
			}
		}
		if e.ExitCode != nil {
			if n, err := strconv.Atoi(resp.Header.Get("X-Exit-Code")); err != nil || n != *e.ExitCode {
				t.Fatalf("X-Exit-Code %q decoded as %d", exit, *e.ExitCode)
			}
		}
		if e.Code == "" && len(e.Message) > 300 {
			t.Fatalf("a message of %d bytes from a body that is not the API's", len(e.Message))
		}
		_ = e.Error()
	})
}
