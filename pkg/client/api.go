package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/version"
)

// Token is the answer of POST /auth/token.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenRequest asks a development gateway for a token.
type TokenRequest struct {
	Subject string   `json:"subject,omitempty"`
	Tenant  string   `json:"tenant"`
	Scopes  []string `json:"scopes,omitempty"`
	TTL     string   `json:"ttl,omitempty"`
}

// Accepted is the 202 answer of an async invocation (and of a repeated
// Idempotency-Key).
type Accepted struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Location string `json:"location"`
}

// InvocationPage is one page of a function's invocation history; Next is
// the Before of the following page ("" on the last).
type InvocationPage struct {
	Items []events.InvocationRecord `json:"items"`
	Next  string                    `json:"next"`
}

// DeadLetter is an async invocation that failed every attempt.
type DeadLetter struct {
	ID             string    `json:"id"`
	Attempts       int       `json:"attempts"`
	Error          string    `json:"error"`
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
	PayloadBytes   int       `json:"payloadBytes"`
	ContentType    string    `json:"contentType,omitempty"`
	Sequence       uint64    `json:"sequence"`
}

// CallbackKey is the key a tenant verifies callback signatures with.
type CallbackKey struct {
	// Secret is the key as Standard Webhooks write it, "whsec_<base64>":
	// what webhook.DecodeSecret (pkg/webhook) and the specification's
	// libraries take to verify webhook-signature.
	Secret string `json:"secret"`
	// Key is the same key in hex.
	Key       string `json:"key"`
	Algorithm string `json:"algorithm"`
	// Header and Format describe the deprecated X-Eventflow-Signature
	// (over the body alone).
	Header string `json:"header"`
	Format string `json:"format"`
}

// IssueToken asks a development gateway (POST /auth/token) for a token.
func (c *Client) IssueToken(ctx context.Context, req TokenRequest) (Token, error) {
	var t Token
	err := c.do(ctx, request{method: http.MethodPost, path: "/auth/token", json: req}, &t)
	return t, err
}

// Version is the gateway's build (GET /version).
func (c *Client) Version(ctx context.Context) (version.Info, error) {
	var v version.Info
	err := c.do(ctx, request{method: http.MethodGet, path: "/version"}, &v)
	return v, err
}

// ListFunctions returns the tenant's functions.
func (c *Client) ListFunctions(ctx context.Context) ([]function.Function, error) {
	var page struct {
		Items []function.Function `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/functions"}, &page)
	return page.Items, err
}

// GetFunction returns one function (ErrNotFound when there is none).
func (c *Client) GetFunction(ctx context.Context, name string) (function.Function, error) {
	var f function.Function
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/functions/" + pathEscape(name)}, &f)
	return f, err
}

// ApplyFunction creates the function or replaces the spec of the one of
// that name (POST /v1/functions). The change is stored when it returns;
// the function is Pending until the deployer has applied it.
func (c *Client) ApplyFunction(ctx context.Context, spec function.Spec) (function.Function, error) {
	var f function.Function
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/functions", json: spec}, &f)
	return f, err
}

// CreateFunction creates the function only if none of that name exists
// (If-None-Match: *; ErrConflict otherwise).
func (c *Client) CreateFunction(ctx context.Context, spec function.Spec) (function.Function, error) {
	var f function.Function
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/functions", json: spec,
		header: http.Header{"If-None-Match": {"*"}}}, &f)
	return f, err
}

// UpdateFunction replaces an existing function's spec (PUT; ErrNotFound
// when there is none).
func (c *Client) UpdateFunction(ctx context.Context, spec function.Spec) (function.Function, error) {
	var f function.Function
	err := c.do(ctx, request{method: http.MethodPut, path: "/v1/functions/" + pathEscape(spec.Name), json: spec}, &f)
	return f, err
}

// DeleteFunction starts deleting a function; it is gone (ErrNotFound) once
// its runtime has let go of everything.
func (c *Client) DeleteFunction(ctx context.Context, name string) (function.Function, error) {
	var f function.Function
	err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/functions/" + pathEscape(name)}, &f)
	return f, err
}

// InvokeOptions are the optional parts of an invocation.
type InvokeOptions struct {
	ContentType    string
	IdempotencyKey string
	// CallbackURL gets the final record of an async invocation.
	CallbackURL string
	// Header holds any other request headers.
	Header http.Header
}

func (o InvokeOptions) header() http.Header {
	h := http.Header{}
	for k, vs := range o.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	if o.CallbackURL != "" {
		h.Set("X-Callback-Url", o.CallbackURL)
	}
	return h
}

// Result is the answer of a synchronous invocation that succeeded.
type Result struct {
	InvocationID string
	ContentType  string
	Output       []byte
	ExitCode     *int
	Duration     time.Duration
	// Replayed is set when an Idempotency-Key matched an earlier invocation.
	Replayed bool
}

// maxOutput bounds a sync answer read into memory.
const maxOutput = 64 << 20

// Invoke runs the function and waits for its answer. A function that
// failed is an *Error matching ErrFunctionFailed (with its ExitCode). A
// repeated Idempotency-Key of an invocation still running answers
// ErrStillRunning with the invocation's id.
func (c *Client) Invoke(ctx context.Context, name string, body io.Reader, o InvokeOptions) (Result, error) {
	resp, err := c.send(ctx, request{method: http.MethodPost, path: "/v1/functions/" + pathEscape(name) + ":invoke",
		body: body, header: withAccept(o.header(), "*/*")})
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	r := Result{
		InvocationID: resp.Header.Get("X-Invocation-Id"),
		ContentType:  resp.Header.Get("Content-Type"),
		ExitCode:     exitCode(resp.Header),
		Replayed:     resp.Header.Get("Idempotent-Replayed") == "true",
	}
	if ms, err := strconv.ParseInt(resp.Header.Get("X-Duration-Ms"), 10, 64); err == nil {
		r.Duration = time.Duration(ms) * time.Millisecond
	}
	if resp.StatusCode == http.StatusAccepted {
		return r, fmt.Errorf("invocation %s: %w", r.InvocationID, ErrStillRunning)
	}
	r.Output, err = io.ReadAll(io.LimitReader(resp.Body, maxOutput+1))
	if err == nil && len(r.Output) > maxOutput {
		err = fmt.Errorf("answer larger than %d bytes", maxOutput)
	}
	return r, err
}

// ErrStillRunning: a repeated Idempotency-Key named an invocation that has
// not finished yet.
var ErrStillRunning = errors.New("the invocation with this Idempotency-Key is still running")

func withAccept(h http.Header, accept string) http.Header {
	h.Set("Accept", accept)
	return h
}

// InvokeAsync queues an invocation; it is durably stored when this
// returns.
func (c *Client) InvokeAsync(ctx context.Context, name string, body io.Reader, o InvokeOptions) (Accepted, error) {
	var a Accepted
	err := c.do(ctx, request{method: http.MethodPost, path: "/v1/functions/" + pathEscape(name) + ":invoke",
		query: url.Values{"async": {"true"}}, body: body, header: o.header()}, &a)
	return a, err
}

// Invocation returns an invocation's record.
func (c *Client) Invocation(ctx context.Context, id string) (events.InvocationRecord, error) {
	var r events.InvocationRecord
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/invocations/" + pathEscape(id)}, &r)
	return r, err
}

// recordGrace is how long WaitInvocation takes a missing record for one
// not written yet: the gateway answers an async invocation once its message
// is stored, and the invoker answers a sync one before it records it.
const recordGrace = 10 * time.Second

// WaitInvocation polls an invocation's record until it is final or ctx
// ends, calling progress (if set) whenever its status changes.
func (c *Client) WaitInvocation(ctx context.Context, id string, every time.Duration, progress func(events.InvocationRecord)) (events.InvocationRecord, error) {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	last := ""
	t := time.NewTicker(every)
	defer t.Stop()
	start := time.Now()
	for {
		r, err := c.Invocation(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound) && time.Since(start) < recordGrace:
			r.Status = last // not recorded yet: wait
		case err != nil:
			return r, err
		}
		if r.Status != last && progress != nil {
			progress(r)
		}
		last = r.Status
		if err == nil && r.Done() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-t.C:
		}
	}
}

// InvocationsOptions filter and page a function's invocation history.
type InvocationsOptions struct {
	Status string
	Limit  int
	Before string
}

// Invocations returns one page of a function's invocations, newest first.
func (c *Client) Invocations(ctx context.Context, name string, o InvocationsOptions) (InvocationPage, error) {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Before != "" {
		q.Set("before", o.Before)
	}
	var p InvocationPage
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/functions/" + pathEscape(name) + "/invocations", query: q}, &p)
	return p, err
}

// DeadLetters lists a function's dead letters, oldest first.
func (c *Client) DeadLetters(ctx context.Context, name string) ([]DeadLetter, error) {
	var page struct {
		Items []DeadLetter `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/functions/" + pathEscape(name) + "/dead-letters"}, &page)
	return page.Items, err
}

// Redrive queues dead letters again (all of them when ids is empty) and
// returns the ids redriven.
func (c *Client) Redrive(ctx context.Context, name string, ids []string) ([]string, error) {
	r := request{method: http.MethodPost, path: "/v1/functions/" + pathEscape(name) + "/dead-letters/redrive"}
	if len(ids) > 0 {
		r.json = map[string][]string{"ids": ids}
	}
	var out struct {
		Redriven []string `json:"redriven"`
	}
	err := c.do(ctx, r, &out)
	return out.Redriven, err
}

// CallbackKey returns the tenant's callback signing key.
func (c *Client) CallbackKey(ctx context.Context) (CallbackKey, error) {
	var k CallbackKey
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/callback-key"}, &k)
	return k, err
}
