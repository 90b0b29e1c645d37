package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// do sends method path with body and headers (name, value pairs) and reads
// the whole answer.
func (f *streamFixture) do(t *testing.T, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitWithin)
	defer cancel()
	resp := f.send(t, ctx, method, path, body, hdr...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// wantError checks an answer is the API's JSON error with status and code.
func wantError(t *testing.T, what string, code int, body string, wantCode int, wantErr string) {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != wantCode || e.Error.Code != wantErr || e.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d %s", what, code, body, wantCode, wantErr)
	}
}

// TestBodyMustBeOneJSONValue: a body with anything but whitespace after its
// JSON object is refused with 400 invalid_json, and nothing changes: no
// function is created or updated, no dead letter is redriven.
func TestBodyMustBeOneJSONValue(t *testing.T) {
	f := startStreamAPI(t)
	for _, body := range []string{
		`{"name":"f","command":["cat"]}}`,
		`{"name":"f","command":["cat"]}]`,
		`{"name":"f","command":["cat"]}{}`,
		`{"name":"f","command":["cat"]} {"name":"g","command":["cat"]}`,
		`{"name":"f","command":["cat"]}x`,
		`{"name":"f","command":["cat"]}` + "\n\x00",
		`null`,
		`[]`,
		`"f"`,
		``,
	} {
		code, resp := f.do(t, "POST", "/v1/functions", body)
		wantError(t, "POST /v1/functions "+body, code, resp, http.StatusBadRequest, CodeInvalidJSON)
	}
	if code, body := f.do(t, "GET", "/v1/functions", ""); code != http.StatusOK || !strings.Contains(body, `"items":[]`) {
		t.Fatalf("functions after refused creates: %d %s, want none", code, body)
	}
	// Whitespace after the object is fine.
	if code, body := f.do(t, "POST", "/v1/functions", " {\"name\":\"f\",\"command\":[\"cat\"]} \r\n\t "); code != http.StatusAccepted {
		t.Fatalf("create with trailing whitespace: %d %s", code, body)
	}

	// PUT: the spec stays as it was.
	code, resp := f.do(t, "PUT", "/v1/functions/f", `{"command":["tr","a-z","A-Z"]}}`)
	wantError(t, "PUT with trailing data", code, resp, http.StatusBadRequest, CodeInvalidJSON)
	if code, body := f.do(t, "GET", "/v1/functions/f", ""); code != http.StatusOK || !strings.Contains(body, `"command":["cat"]`) || !strings.Contains(body, `"generation":1`) {
		t.Fatalf("function after a refused update: %d %s", code, body)
	}

	// Redrive: with trailing data nothing is redriven; an explicit empty
	// list is not "all" (only a missing one is).
	dl := events.DeadLetter{Invocation: events.Invocation{ID: "0123456789abcdef0123456789abcdef", Tenant: "acme", Function: "f", Payload: []byte("payload")}, Attempts: 3}.Msg()
	if _, err := f.js.PublishMsg(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"ids":[]}}`, `{"ids":[]}{"ids":[]}`, `null`} {
		code, resp := f.do(t, "POST", "/v1/functions/f/dead-letters/redrive", body)
		wantError(t, "redrive "+body, code, resp, http.StatusBadRequest, CodeInvalidJSON)
	}
	code, resp = f.do(t, "POST", "/v1/functions/f/dead-letters/redrive", `{"ids":[]}`)
	wantError(t, `redrive {"ids":[]}`, code, resp, http.StatusBadRequest, CodeBadRequest)
	if code, body := f.do(t, "GET", "/v1/functions/f/dead-letters", ""); code != http.StatusOK || !strings.Contains(body, "0123456789abcdef0123456789abcdef") {
		t.Fatalf("dead letters after refused redrives: %d %s, want the dead letter still there", code, body)
	}
}

// TestTokenBodyMustBeOneJSONValue: POST /auth/token decodes the same way.
func TestTokenBodyMustBeOneJSONValue(t *testing.T) {
	h := openAPITestEngine(t, testkit.Signer(t), nil)
	for body, want := range map[string]int{
		`{"tenant":"demo"}`:   http.StatusOK,
		`{"tenant":"demo"}}`:  http.StatusBadRequest,
		`{"tenant":"demo"}{}`: http.StatusBadRequest,
		`null`:                http.StatusBadRequest,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/auth/token", strings.NewReader(body)))
		if w.Code != want {
			t.Errorf("POST /auth/token %s: %d %s, want %d", body, w.Code, w.Body, want)
		}
		if want != http.StatusOK {
			wantError(t, "POST /auth/token "+body, w.Code, w.Body.String(), want, CodeInvalidJSON)
		}
	}
}

// TestJSONContentTypes: a JSON endpoint refuses a body declared as another
// type with 415 unsupported_media_type (and changes nothing), and accepts no
// Content-Type, JSON types and curl -d's form type.
func TestJSONContentTypes(t *testing.T) {
	f := startStreamAPI(t)
	const spec = `{"name":"f","command":["cat"]}`
	for _, ct := range []string{
		"application/yaml", "text/yaml", "application/x-yaml", "application/xml", "text/xml", "text/plain",
		"text/plain; charset=utf-8", "multipart/form-data; boundary=x", "application/octet-stream",
		"application/json; charset=utf-16", "json", "/json", "",
	} {
		if ct == "" {
			continue
		}
		code, body := f.do(t, "POST", "/v1/functions", spec, "Content-Type", ct)
		wantError(t, "Content-Type "+ct, code, body, http.StatusUnsupportedMediaType, CodeUnsupportedMedia)
		code, body = f.do(t, "POST", "/v1/functions/f/dead-letters/redrive", `{}`, "Content-Type", ct)
		if code != http.StatusNotFound { // the function's existence is checked first
			t.Errorf("redrive of no function with Content-Type %s: %d %s", ct, code, body)
		}
	}
	if code, body := f.do(t, "GET", "/v1/functions", ""); code != http.StatusOK || !strings.Contains(body, `"items":[]`) {
		t.Fatalf("functions after 415s: %d %s, want none", code, body)
	}
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8",
		"application/merge-patch+json", "application/x-www-form-urlencoded"} {
		code, body := f.do(t, "POST", "/v1/functions", spec, "Content-Type", ct)
		if code != http.StatusAccepted {
			t.Errorf("Content-Type %q: %d %s, want 202", ct, code, body)
		}
	}
	code, body := f.do(t, "PUT", "/v1/functions/f", spec, "Content-Type", "application/yaml")
	wantError(t, "PUT as YAML", code, body, http.StatusUnsupportedMediaType, CodeUnsupportedMedia)
	code, body = f.do(t, "POST", "/v1/functions/f/dead-letters/redrive", `{}`, "Content-Type", "text/xml")
	wantError(t, "redrive as XML", code, body, http.StatusUnsupportedMediaType, CodeUnsupportedMedia)
	// Invoke takes any payload: its Content-Type is the function's business.
	code, body = f.do(t, "POST", "/v1/functions/f:invoke?async=true", "a: b", "Content-Type", "application/yaml")
	if code != http.StatusAccepted {
		t.Errorf("async invoke with a YAML payload: %d %s, want 202", code, body)
	}

	h := openAPITestEngine(t, testkit.Signer(t), nil)
	req := httptest.NewRequest("POST", "/auth/token", strings.NewReader(`{"tenant":"demo"}`))
	req.Header.Set("Content-Type", "application/yaml")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	wantError(t, "POST /auth/token as YAML", w.Code, w.Body.String(), http.StatusUnsupportedMediaType, CodeUnsupportedMedia)
}

// TestUnreadableBodyIs400: a body that cannot be read (here broken chunked
// framing) is the client's mistake, 400 bad_request, not a 500.
func TestUnreadableBodyIs400(t *testing.T) {
	f := startStreamAPI(t)
	f.createFunction(t, "f")
	for _, path := range []string{"/v1/functions/f:invoke?async=true", "/v1/functions", "/v1/functions/f/dead-letters/redrive"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(waitWithin))
		_, err = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+f.token+
			"\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		wantError(t, "POST "+path+" with broken chunked framing", resp.StatusCode, string(b), http.StatusBadRequest, CodeBadRequest)
	}
}

func TestDecodeJSON(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"f"}`:             "",
		" \n{\"name\":\"f\"}\n\t ": "",
		`{"name":"f"}}`:            "after the JSON value, at byte 12",
		`{"name":"f"} {}`:          "after the JSON value",
		`{"name":"f"}x`:            "after the JSON value",
		`{"name":"f"`:              "ends in the middle",
		`{"name":}`:                "malformed JSON at byte 9",
		`{"nmae":"f"}`:             `unknown field "nmae"`,
		`{"replicas":"3"}`:         `field "replicas" must be int32, got string`,
		`null`:                     "not null",
		`[{"name":"f"}]`:           "must be a JSON object, not array",
		`7`:                        "must be a JSON object, not number",
		``:                         "empty",
		"   ":                      "empty",
	} {
		var spec function.Spec
		err := decodeJSON(strings.NewReader(body), &spec)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", body, err)
		case want != "" && (err == nil || !errors.Is(err, errInvalidJSON) || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an invalid JSON error saying %q", body, err, want)
		}
	}
	// Too large stays *http.MaxBytesError (413), also when the excess is
	// after the value.
	for _, body := range []string{`{"name":"` + strings.Repeat("a", 100) + `"}`, `{"name":"f"}` + strings.Repeat(" ", 100)} {
		r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), 50)
		var maxErr *http.MaxBytesError
		if err := decodeJSON(r, &function.Spec{}); !errors.As(err, &maxErr) {
			t.Errorf("%.20q… over the limit: %v, want *http.MaxBytesError", body, err)
		}
	}
	// A reader's error is not a JSON error.
	if err := decodeJSON(io.MultiReader(strings.NewReader(`{"na`), errReader{timeoutErr{}}), &function.Spec{}); !errors.Is(err, errBodyTimeout) {
		t.Errorf("a read timeout: %v, want errBodyTimeout", err)
	}
	if err := decodeJSON(errReader{errors.New("malformed chunked encoding")}, &function.Spec{}); !errors.Is(err, errBodyRead) {
		t.Errorf("a read error: %v, want errBodyRead", err)
	}
}

func natsMsg(subject, data string, hdr ...string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	return m
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// FuzzDecodeJSON: decodeJSON never panics, fails only with its own errors,
// accepts only a body that is one JSON object, and accepts what it would
// encode itself.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name":"f","command":["cat"]}`,
		`{"name":"f","command":["cat"]}}`,
		`{"name":"f","command":"tr a-z A-Z","env":{"A":"b"},"replicas":2}`,
		`{"name":"f","invocation":{"mode":"http","timeout":"15m","retry":{"maxAttempts":3,"initialDelay":"1s"}}}`,
		`{"name":"f","resources":{"limits":{"cpu":"500m"}},"labels":{"team":"x"}}`,
		`{"name":"f"} {"name":"g"}`,
		`null`, `[]`, ``, ` `, `{"name":"f"`, `{"replicas":1e999}`, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec function.Spec
		err := decodeJSON(strings.NewReader(string(body)), &spec)
		if err != nil {
			if !errors.Is(err, errInvalidJSON) {
				t.Fatalf("%q: error %v is not an invalid JSON error", body, err)
			}
			return
		}
		trimmed := strings.TrimSpace(string(body))
		if !json.Valid(body) || !strings.HasPrefix(trimmed, "{") || !strings.HasSuffix(trimmed, "}") {
			t.Fatalf("%q: accepted, but it is not one JSON object", body)
		}
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("%q: decoded spec does not encode: %v", body, err)
		}
		if err := decodeJSON(strings.NewReader(string(again)), &function.Spec{}); err != nil {
			t.Fatalf("%q: the decoded spec, encoded again (%s), is refused: %v", body, again, err)
		}
	})
}

func TestJSONContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"": true, "application/json": true, "application/json; charset=utf-8": true, "APPLICATION/JSON": true,
		"application/problem+json": true, "application/x-www-form-urlencoded": true,
		"application/json; charset=latin1": false, "application/yaml": false, "text/yaml": false,
		"application/xml": false, "text/xml": false, "multipart/form-data; boundary=b": false,
		"text/plain": false, "text/json+xml": false, "text/+json": false, "application/json; charset": true, "/": false, "json": false,
	} {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		err := jsonContentType(h)
		if (err == nil) != ok || (err != nil && !errors.Is(err, errUnsupportedMedia)) {
			t.Errorf("Content-Type %q: %v, want accepted=%v", ct, err, ok)
		}
	}
}
