package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Client is the small REST client the benchmarks drive the gateway (and
// scrape /metrics endpoints) with: a base URL, a bearer token if it has
// one, and an http.Client of the benchmark's choosing. It is deliberately
// not the gateway's own client code: the benchmarks measure what any HTTP
// caller sees.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8080, no trailing slash
	Token string // sent as "Authorization: Bearer …" unless empty
	HC    *http.Client
}

// NewTransport is a transport for conns concurrent callers on loopback: no
// proxy, keep-alive with enough idle connections that none is re-dialled
// under load, and no compression (it would be measured too).
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// NewClient is a Client for base with a NewTransport(conns) and timeout
// per request, without a token.
func NewClient(base string, conns int, timeout time.Duration) *Client {
	return &Client{Base: base, HC: &http.Client{Transport: NewTransport(conns), Timeout: timeout}}
}

// As is a copy of c (same connections) that sends token.
func (c *Client) As(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// Response is one answer: its status, body (at most 4 MiB) and header.
type Response struct {
	Code   int
	Body   []byte
	Header http.Header
}

// send sends one request with c's token and, if contentType is set, that
// Content-Type; the caller closes the body.
func (c *Client) send(ctx context.Context, method, path string, body []byte, contentType string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.HC.Do(req)
}

// Do sends one request (body may be nil) and reads the answer.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, contentType string) (Response, error) {
	resp, err := c.send(ctx, method, path, body, contentType)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return Response{Code: resp.StatusCode, Body: b, Header: resp.Header}, err
}

// PostJSON POSTs v as JSON.
func (c *Client) PostJSON(ctx context.Context, path string, v any) (Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{}, err
	}
	return c.Do(ctx, http.MethodPost, path, b, "application/json")
}

// Login gets a token for tenant from the gateway's POST /auth/token (which
// the benchmarks enable) and returns a client that sends it.
func (c *Client) Login(ctx context.Context, tenant string) (*Client, error) {
	r, err := c.PostJSON(ctx, "/auth/token", map[string]string{"tenant": tenant})
	if err != nil {
		return nil, fmt.Errorf("POST /auth/token: %w", err)
	}
	var out struct {
		Token string `json:"token"`
	}
	if r.Code != http.StatusOK || json.Unmarshal(r.Body, &out) != nil || out.Token == "" {
		return nil, fmt.Errorf("POST /auth/token: HTTP %d %s", r.Code, Truncate(string(r.Body), 300))
	}
	return c.As(out.Token), nil
}
