// Package client is a typed Go client for EventFlow's REST API: the one the
// eventflow CLI uses, importable by any Go program. Its request and answer
// types are the API's own (pkg/function, pkg/events) or declared here, and
// the gateway's tests keep them in step with openapi.json.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client calls one EventFlow gateway with one bearer token.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces http.DefaultClient (streams need one without a
// whole-request timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the gateway at baseURL (e.g.
// http://127.0.0.1:8080). token may be empty for public endpoints.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("gateway URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("gateway URL %q: want http(s)://host[:port][/path]", u.Redacted())
	}
	c := &Client{base: u, token: token, http: http.DefaultClient, userAgent: "eventflow-go-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the gateway's address.
func (c *Client) BaseURL() string { return c.base.String() }

// DisplayURL is the gateway's address with any password masked.
func (c *Client) DisplayURL() string { return c.base.Redacted() }

// Sentinel errors an *Error matches with errors.Is, by HTTP status.
var (
	ErrBadRequest      = errors.New("bad request")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrUnavailable     = errors.New("unavailable")
	ErrFunctionFailed  = errors.New("function failed")
	ErrTimeout         = errors.New("timeout")
)

// Error is an answer of 400 or more: the API's {"error":{"code","message"}}.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the Retry-After header, when the gateway sent one.
	RetryAfter time.Duration
	// ExitCode is the function's exit code (X-Exit-Code), when known.
	ExitCode *int
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Is maps the status (and code) to the sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusUnsupportedMediaType
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
	case ErrFunctionFailed:
		return e.Code == "function_failed"
	case ErrTimeout:
		return e.Status == http.StatusGatewayTimeout
	}
	return false
}

// request describes one call.
type request struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   io.Reader
	json   any // encoded as the body when set
}

// send performs r and returns the answer when its status is below 400; the
// caller closes its body. Anything else becomes an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	// r.path is escaped already (pathEscape): joined as text, so it is not
	// escaped twice.
	target := c.base.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	body := r.body
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.json != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// decodeError reads an error answer; a body that is not the API's JSON
// shape (a proxy's page, say) keeps its status and first line.
func decodeError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else if line, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n"); line != "" {
		e.Message = fmt.Sprintf("%d %s: %.200s", resp.StatusCode, http.StatusText(resp.StatusCode), line)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		// Seconds beyond what a Duration holds (292 years) would wrap
		// around to a negative wait: such a header is ignored.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/int64(time.Second) {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	e.ExitCode = exitCode(resp.Header)
	return e
}

func exitCode(h http.Header) *int {
	if s := h.Get("X-Exit-Code"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return &n
		}
	}
	return nil
}

// do performs r and decodes a JSON answer into out (nil: discard it).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return decodeJSON(resp.Body, r.method, r.path, out)
}

// decodeJSON decodes a JSON answer into out.
func decodeJSON(body io.Reader, method, path string, out any) error {
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// pathEscape escapes one path segment (names are DNS labels, ids hex, but
// the client must not build a different path from a hostile value).
func pathEscape(s string) string { return url.PathEscape(s) }
