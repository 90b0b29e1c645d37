package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// endpoint is where a ready instance run serves; it is immutable and shared
// by every invocation, so the hot path builds no URL.
type endpoint struct {
	in       *instance
	instance string
	addr     string // 127.0.0.1:port
	url      *url.URL
}

func newEndpoint(in *instance, port int) *endpoint {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &endpoint{in: in, instance: in.name, addr: addr, url: &url.URL{Scheme: "http", Host: addr, Path: "/"}}
}

// newTransport is an instance's, shared by every http invocation of it:
// keep-alive, many idle connections for concurrent callers, no proxy, no
// compression. One per instance, so a drain closes the idle connections
// of that instance only.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// requestBody is a bytes.Reader with Close in one allocation.
type requestBody struct{ bytes.Reader }

func (*requestBody) Close() error { return nil }

// pick chooses a ready instance of the function round robin.
func (r *Runtime) pick(tenant, name string) *endpoint {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.fns[runtime.Ref{Tenant: tenant, Name: name}]
	if d == nil || len(d.instances) == 0 {
		return nil
	}
	n := uint32(len(d.instances))
	start := d.rr.Add(1)
	for i := range n {
		if ep := d.instances[(start+i)%n].ep.Load(); ep != nil {
			return ep
		}
	}
	return nil
}

// invokeHTTP POSTs the payload to a ready instance (or sends the queued
// route request, req.Request, as it was made). The transport is used
// directly: no redirects to follow, and less per-call work than http.Client.
func (r *Runtime) invokeHTTP(ctx context.Context, tenant string, spec function.Spec, req runtime.InvokeRequest) (runtime.InvokeResult, error) {
	start := time.Now()
	var res runtime.InvokeResult
	var ep *endpoint
	// An instance drained between pick and acquire is skipped; a few
	// tries, as each one only loses to a concurrent scale-down.
	for range 4 {
		if ep = r.pick(tenant, spec.Name); ep == nil || ep.acquire() {
			break
		}
		ep = nil
	}
	if ep == nil {
		if r.isClosed() {
			return res, ErrClosed
		}
		return res, fmt.Errorf("function %s/%s: %w", tenant, spec.Name, runtime.ErrNoReadyInstance)
	}
	defer ep.release()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = spec.Timeout()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ct := req.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hreq := &http.Request{
		Method:     http.MethodPost,
		URL:        ep.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": {ct}, "X-Invocation-Id": {req.ID}},
		Host:       ep.addr,
	}
	if rq := req.Request; rq != nil {
		// An /async-fn/ route call: the request as the caller made it.
		// (A plain invocation keeps the prebuilt URL: no parsing per call.)
		var err error
		if hreq.Method, hreq.URL, hreq.Header, err = req.HTTPTarget(ep.addr); err != nil {
			res.Error, res.Duration = err.Error(), time.Since(start)
			return res, nil
		}
	}
	if len(req.Payload) > 0 {
		body := &requestBody{}
		body.Reset(req.Payload)
		hreq.Body = body
		hreq.ContentLength = int64(len(req.Payload))
	}
	hreq = hreq.WithContext(cctx)

	timedOut := func() (runtime.InvokeResult, error) {
		if err := ctx.Err(); err != nil {
			res.Error = err.Error()
			res.Duration = time.Since(start)
			return res, err
		}
		res.Error, res.TimedOut = "timed out after "+timeout.String(), true
		res.Duration = time.Since(start)
		return res, nil
	}

	resp, err := ep.in.transport.RoundTrip(hreq)
	if err != nil {
		if cctx.Err() != nil {
			return timedOut()
		}
		res.Duration = time.Since(start)
		return res, fmt.Errorf("function %s/%s: instance %s: %w", tenant, spec.Name, ep.instance, err)
	}
	body, err := readCapped(resp, r.cfg.OutputLimit)
	if err == nil && (resp.ContentLength < 0 || resp.ContentLength > int64(r.cfg.OutputLimit)) {
		// Drain a little of what is left so the connection can be reused;
		// a longer rest is cheaper to drop with the connection. A body of
		// known length read whole is already at EOF.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	resp.Body.Close()
	if ep.in.ep.Load() != ep {
		// The instance was drained (or exited) meanwhile: its connection
		// must not sit idle in the pool, holding the drain to its limit.
		ep.in.transport.CloseIdleConnections()
	}
	if err != nil {
		if cctx.Err() != nil {
			return timedOut()
		}
		res.Duration = time.Since(start)
		return res, fmt.Errorf("function %s/%s: instance %s: reading response: %w", tenant, spec.Name, ep.instance, err)
	}
	return runtime.HTTPResult(resp.StatusCode, body, resp.Header.Get("Content-Type"), time.Since(start)), nil
}

// readCapped reads at most limit bytes of the body, in one allocation when
// the length is known.
func readCapped(resp *http.Response, limit int) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= int64(limit) {
		if n == 0 {
			return nil, nil
		}
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return b, err
}
