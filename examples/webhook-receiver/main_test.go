package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/webhook"
)

// TestReceiverVerifiesAndRefusesReplays: a callback signed with the
// tenant's key is handled, once, however often it is delivered; a stale
// one (a replay), one from the future, one tampered with, one whose
// signature belongs to another message, and an unsigned one are refused
// and not handled.
func TestReceiverVerifiesAndRefusesReplays(t *testing.T) {
	key := []byte("the tenant's key: 32 bytes long!")
	now := time.Unix(1_700_000_000, 0)
	var handled []Record
	rv := &Receiver{Key: key, Now: func() time.Time { return now }, Handle: func(r Record) error {
		handled = append(handled, r)
		return nil
	}}
	body := `{"id":"0193a5f0","function":"upper","status":"succeeded","attempts":1,"output":"HI"}`
	send := func(id string, signedAt time.Time, b string, mod func(http.Header)) int {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(b))
		webhook.SetHeaders(req.Header, key, id, signedAt, []byte(body))
		if mod != nil {
			mod(req.Header)
		}
		w := httptest.NewRecorder()
		rv.ServeHTTP(w, req)
		return w.Code
	}

	if code := send("0193a5f0-1", now.Add(-time.Second), body, nil); code != http.StatusNoContent || len(handled) != 1 || handled[0].Output != "HI" {
		t.Fatalf("a good callback: %d, handled %+v", code, handled)
	}
	// A retry of the same message (same webhook-id, newer timestamp): acknowledged, not handled again.
	if code := send("0193a5f0-1", now, body, nil); code != http.StatusNoContent || len(handled) != 1 {
		t.Fatalf("a retry: %d, handled %d times", code, len(handled))
	}
	for name, code := range map[string]int{
		"6 minutes old (a replay)": send("0193a5f0-2", now.Add(-6*time.Minute), body, nil),
		"6 minutes ahead":          send("0193a5f0-2", now.Add(6*time.Minute), body, nil),
		"tampered with":            send("0193a5f0-2", now, strings.Replace(body, "succeeded", "failed", 1), nil),
		"another message's signature": send("0193a5f0-2", now, body, func(h http.Header) {
			h.Set(webhook.HeaderID, "0193a5f0-3")
		}),
		"an old signature, a fresh timestamp": send("0193a5f0-2", now.Add(-6*time.Minute), body, func(h http.Header) {
			h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		}),
		"unsigned": send("0193a5f0-2", now, body, func(h http.Header) { h.Del(webhook.HeaderSignature) }),
	} {
		if code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if len(handled) != 1 {
		t.Fatalf("handled %d callbacks, want 1", len(handled))
	}
	w := httptest.NewRecorder()
	rv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/hook", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
}
