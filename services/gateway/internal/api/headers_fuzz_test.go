package api

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// maxQuotedMessage bounds an error message that quotes a client's value
// back: long enough for the explanation and a truncated value.
const maxQuotedMessage = 400

// FuzzRequestHeaders: the validators of request headers never panic;
// what they accept is what they promise (a JSON media type, "*" alone, a
// printable key), and a refusal explains itself in a bounded message.
// (X-Callback-Url's check resolves host names: the attack test covers it.)
func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{
		"", "*", " * ", "**", `"abc"`, `W/"abc"`, "application/json", "application/json; charset=utf-8",
		"application/json; charset=latin1", "application/cloudevents+json", "application/x-www-form-urlencoded",
		"text/plain", "application/json; charset", "application/+json", "/", ";", "application/json;;;",
		"order-42", "\x00", "\xff", "\x7f", strings.Repeat("k", 256), strings.Repeat("a", 3000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h["Content-Type"] = []string{v}
		if err := jsonContentType(h); err == nil {
			if strings.TrimSpace(v) != "" {
				mt, _, perr := mime.ParseMediaType(v)
				if perr != nil && !errors.Is(perr, mime.ErrInvalidMediaParameter) {
					t.Fatalf("Content-Type %q accepted, not a media type: %v", v, perr)
				}
				if mt != "application/json" && mt != "application/x-www-form-urlencoded" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
					t.Fatalf("Content-Type %q accepted as JSON", v)
				}
			}
		} else {
			checkRefusal(t, "Content-Type", v, err)
			if !errors.Is(err, errUnsupportedMedia) {
				t.Fatalf("Content-Type %q: %v, want errUnsupportedMedia", v, err)
			}
		}

		for _, vals := range [][]string{{v}, {v, v}, {"*", v}} {
			h := http.Header{"If-None-Match": vals}
			ok, err := ifNoneMatchAny(h)
			switch {
			case err != nil:
				checkRefusal(t, "If-None-Match", v, err)
			case ok && (len(vals) != 1 || strings.TrimSpace(vals[0]) != "*"):
				t.Fatalf("If-None-Match %q taken as *", vals)
			}
		}

		if err := checkIdempotencyKey(v); err != nil {
			checkRefusal(t, "Idempotency-Key", v, err)
		} else if v == "" || len(v) > 255 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("Idempotency-Key %q accepted", v)
		}
	})
}

func checkRefusal(t *testing.T, what, v string, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || len(msg) > maxQuotedMessage {
		t.Fatalf("%s %.80q refused with a message of %d bytes", what, v, len(msg))
	}
}
