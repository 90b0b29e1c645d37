package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/propagation"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/telemetry"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// The HTTP route of http-mode functions: /fn/<tenant>/<function>/<path...>
// is proxied to one of the function's ready instances (their endpoints
// come from the status bucket, store.Endpoints: the gateway links no
// runtime), streamed both ways; /async-fn/<tenant>/<function>/<path...>
// queues the request as an async invocation (invoke.go's accept).

// ReportSource names the gateway's load reports (events.Load.Source, with
// a random suffix per gateway replica).
const ReportSource = "gateway"

// Route prefixes.
const (
	RoutePrefix      = function.RoutePrefix
	AsyncRoutePrefix = "/async-fn/"
)

// routeSandbox is added to every answer of a function: functions are
// served on the gateway's origin, where the web console keeps its token
// in sessionStorage. A sandboxed document has an opaque origin, so a
// function's page (say, a public one of another tenant) can run scripts
// but cannot read the console's storage or call the API as the user.
const routeSandbox = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

// routeMethods are the methods the routes take (openapi.json): not
// CONNECT or TRACE, which make no sense through a gateway (TRACE would
// echo the caller's headers back).
var routeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

// registerRoutes adds the HTTP routes. The function's URL ends with a
// slash (function.RoutePath); without it the path is unknown (404), as a
// trailing slash is elsewhere in the API.
func (a *API) registerRoutes(r *gin.Engine) {
	for _, prefix := range []string{RoutePrefix, AsyncRoutePrefix} {
		async := prefix == AsyncRoutePrefix
		h := func(c *gin.Context) { a.serveRoute(c, async) }
		for _, m := range routeMethods {
			r.Handle(m, prefix+":tenant/:function/*path", h)
		}
	}
}

// newRouteTransport is shared by every proxied request: keep-alive to the
// functions' endpoints, never a proxy from the environment (HTTP_PROXY
// must not see tenants' traffic), bodies passed through as they are.
func newRouteTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// serveRoute authenticates and finds the function, then proxies (sync)
// or queues (async) the request.
func (a *API) serveRoute(c *gin.Context, async bool) {
	tenant, name := c.Param("tenant"), c.Param("function")
	if function.ValidateTenant(tenant) != nil || function.ValidateName(name) != nil {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("function %q of tenant %q: not found", truncate(name), truncate(tenant)))
		return
	}
	token := bearerToken(c.GetHeader("Authorization"))
	claims, authErr := a.routeClaims(token)
	rec, err := a.Cache.Lookup(c, tenant, name)
	if err == nil && rec.Deleting {
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(c, err)
		return
	}
	found := err == nil
	public := found && rec.Spec.Mode() == function.ModeHTTP && rec.Spec.RouteAuth() == function.HTTPAuthPublic
	if !public {
		// Whether the function exists is told only to its tenant: without
		// a token every route but a public one answers 401.
		switch {
		case claims == nil && authErr == nil:
			c.Header("WWW-Authenticate", `Bearer realm="eventflow"`)
			abort(c, http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token: this function's route needs Authorization: Bearer <token> of its tenant with scope "+auth.ScopeInvoke)
			return
		case claims == nil:
			c.Header("WWW-Authenticate", `Bearer realm="eventflow", error="invalid_token"`)
			abort(c, http.StatusUnauthorized, CodeUnauthenticated, authErr.Error())
			return
		case claims.Tenant != tenant:
			// Another tenant's function: as if it did not exist, as the
			// API answers (never 403, which would confirm it exists).
			abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("function %q: not found", name))
			return
		case !claims.Has(auth.ScopeInvoke):
			abort(c, http.StatusForbidden, CodeForbidden, "token lacks scope "+auth.ScopeInvoke)
			return
		}
	}
	if !found {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("function %q: not found", name))
		return
	}
	if rec.Spec.Mode() != function.ModeHTTP {
		// No such route (openapi.json: 404), said plainly.
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf(
			"function %q is job mode: only http-mode functions have an HTTP route; invoke it with POST /v1/functions/%s:invoke", name, name))
		return
	}
	if !a.takeRouteRate(c, tenant) {
		return
	}
	release, ok := a.acquireRouteRequest(c, tenant)
	if !ok {
		return
	}
	defer release()
	fwd := forwardedPath(c.Param("path"))
	// A platform token is never the function's: not on a token route, nor
	// on a public one (a client that sends its token to every gateway URL
	// must not hand it to another tenant's code), whether or not it
	// verified (expired, or the OIDC key set unreachable). Platform tokens
	// are JWTs and only those are verified, so anything else in
	// Authorization (the function's own keys) is its business on a public
	// route. Every value is checked: a second header must not smuggle one.
	dropAuth := !public || slices.ContainsFunc(c.Request.Header.Values("Authorization"), func(v string) bool { return jwtShaped(bearerToken(v)) })
	if async {
		// Idempotency keys and callbacks are the tenant's: an anonymous
		// caller could claim the keys of the tenant's own calls, or have
		// callbacks signed with the tenant's key sent anywhere.
		tenantCall := claims != nil && claims.Tenant == tenant && claims.Has(auth.ScopeInvoke)
		if !tenantCall && (c.GetHeader("Idempotency-Key") != "" || c.GetHeader("X-Callback-Url") != "") {
			abort(c, http.StatusBadRequest, CodeBadRequest, "Idempotency-Key and X-Callback-Url need a bearer token of tenant "+strconv.Quote(tenant)+" with scope "+auth.ScopeInvoke+"; send the request without them, or with such a token")
			return
		}
		a.queueRoute(c, tenant, rec.Spec, fwd, dropAuth)
		return
	}
	a.proxyRoute(c, tenant, rec, fwd, dropAuth)
}

// bearerToken is the token of an Authorization header with the Bearer
// scheme (any case, RFC 9110), or "".
func bearerToken(h string) string {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimLeft(token, " ")
}

// jwtShaped reports whether token looks like a JWT: three dot-separated
// parts of base64url, as every platform token (HS256 or OIDC) is.
func jwtShaped(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.ContainsFunc(p, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '=')
		}) {
			return false
		}
	}
	return true
}

// errNotJWT refuses a bearer token that cannot be a platform token.
var errNotJWT = fmt.Errorf("%w: the bearer token is not a JWT", auth.ErrUnauthenticated)

// routeClaims verifies a bearer token: (nil, nil) without one, (nil, err)
// with a bad one. A token that is not JWT-shaped is not verified (it may
// be a public function's own key).
func (a *API) routeClaims(token string) (*auth.Claims, error) {
	switch {
	case token == "":
		return nil, nil
	case !jwtShaped(token):
		return nil, errNotJWT
	}
	return a.tokens.Verify(token)
}

// acquireRouteRequest takes one of tenant's route requests in flight, or
// answers 429 (with Retry-After) and returns false: anonymous callers of
// a public function must not hold connections without bound (a slow
// upload may last the function's timeout). The caller defers release.
func (a *API) acquireRouteRequest(c *gin.Context, tenant string) (release func(), ok bool) {
	return a.acquireSlot(c, a.routeRequests, limitRoute, tenant, func() string {
		return fmt.Sprintf("too many requests in flight: the routes of tenant %q's functions have %d requests in progress on this gateway, the most it allows; retry later", tenant, a.routeRequests.max)
	})
}

// takeRouteRate spends one of the tenant's route requests, at the rate
// limitRate allows for /v1, and answers 429 when there is none. Route
// calls have a bucket of their own per tenant (a key no tenant name can
// be): anonymous callers of a public function must not use up the
// tenant's API budget.
func (a *API) takeRouteRate(c *gin.Context, tenant string) bool {
	if a.rates == nil {
		return true
	}
	ok, wait := a.rates.take(tenant + " route")
	if ok {
		return true
	}
	a.refused(c, limitRate, tenant)
	c.Header("Retry-After", retryAfter(wait))
	abort(c, http.StatusTooManyRequests, CodeTooManyRequests, fmt.Sprintf("too many requests: the routes of tenant %q's functions may take %g requests per second on this gateway (bursts of %d); retry after %s s",
		tenant, float64(a.rates.limit), a.rates.burst, retryAfter(wait)))
	return false
}

// forwardedPath is the path the function sees: what follows its prefix,
// "/" when nothing does, cleaned so that ".." cannot climb above the
// function's root (the request only ever reaches the function, but its
// code should not see a path above "/"); a trailing slash is kept.
func forwardedPath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// routeDropHeaders are request headers never forwarded to a function,
// besides the hop-by-hop ones: forwarding headers the client may have
// forged (the gateway sets X-Forwarded-* itself) and the gateway's own.
var routeDropHeaders = []string{"Forwarded", "X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix"}

// HeaderRevision names, on a route's answer, the function revision that
// served it (as the invocation record's revision does).
const HeaderRevision = "X-Eventflow-Revision"

// routeCall is one proxied route request: whose, where it goes and for
// how long.
type routeCall struct {
	tenant string
	name   string // the function's (a revision's instances serve its route too)
	fwd    string
	// timeout bounds the answer: the serving revision's.
	timeout  time.Duration
	revision int64
	dropAuth bool
	// rollout: the function rolls out, so the answer is counted for the
	// deployer to judge it by (loadreport.Served).
	rollout bool
	// body is the request's body as read (eof from the start without one).
	body *replayBody
}

// proxyRoute proxies the request to one ready instance, streaming the
// body both ways; answers are flushed as they are written (SSE). The
// function's traffic split picks the revision (function.Record.Route), as
// the invoker's does for invocations: another revision's share goes to
// its own instances when one is ready, and to the latest's otherwise, so a
// change of the split never fails a request.
func (a *API) proxyRoute(c *gin.Context, tenant string, rec function.Record, fwd string, dropAuth bool) {
	spec := rec.Spec
	// Without a body, the function has the whole request from the start.
	body := &replayBody{ReadCloser: c.Request.Body, eof: true}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body, body.eof = body, false
	}
	call := routeCall{tenant: tenant, name: spec.Name, fwd: fwd, timeout: spec.Timeout(), revision: rec.Generation, dropAuth: dropAuth, rollout: rec.Rollout.Progressing(), body: body}
	if rs, rev, extra := rec.Route(rand.Float64()); extra && a.Endpoints != nil {
		target, err := a.Endpoints.PickRevision(c, tenant, spec.Name, rev)
		if err != nil {
			a.Log.WarnContext(c, "route: endpoints not readable", "tenant", tenant, "function", spec.Name, "err", err)
		}
		if target != nil {
			other := call
			other.timeout, other.revision = rs.Timeout(), rev
			ctx, cancel := a.routeContext(c, other.timeout)
			refused := a.proxyTo(c, ctx, other, target, body)
			cancel()
			if !refused {
				return
			}
			// Refused before anything was sent (drained as the split
			// moved): the latest serves it.
		}
	}
	timeout := call.timeout
	target, err := a.pickEndpoint(c, tenant, spec.Name)
	if err != nil {
		a.Log.WarnContext(c, "route: endpoints not readable", "tenant", tenant, "function", spec.Name, "err", err)
	}
	if target == nil {
		if spec.Paused() {
			// Paused (max 0): no instance will come; say so at once.
			unavailable(c, fmt.Sprintf("function %q runs no instance (scale.max is 0): raise scale.max to serve it", spec.Name))
			return
		}
		// Scaled to zero, or not ready yet: hold the request until an
		// instance is (the activator's part), waking the function.
		if target = a.holdRoute(c, tenant, spec.Name, timeout); target == nil {
			return
		}
	}
	// Counted for the scaler while it runs on the instance (the latest's
	// only: another revision runs at a fixed count).
	defer a.Reporter.Begin(tenant, spec.Name)()
	ctx, cancel := a.routeContext(c, timeout)
	defer cancel()
	if !a.proxyTo(c, ctx, call, target, body) {
		return
	}
	// The instance refused the connection before anything was sent: it
	// was stopped (a drain) before this gateway learned it left. Wait
	// (briefly) for the endpoints to drop it, then go to another, or hold
	// for the next, as for a cold function.
	if a.Endpoints == nil || !a.Endpoints.WaitGone(ctx, tenant, spec.Name, target.Host, routeStaleWait) {
		abort(c, http.StatusBadGateway, CodeFunctionFailed, fmt.Sprintf("function %q could not be reached: its instance refused the request; try again", spec.Name))
		return
	}
	next, _ := a.pickEndpoint(c, tenant, spec.Name)
	if next == nil {
		if next = a.holdRoute(c, tenant, spec.Name, timeout); next == nil {
			return
		}
	}
	a.proxyTo(c, ctx, call, next, nil)
}

// routeContext bounds a proxied request by the serving revision's
// timeout: the answer may outlast the server's write timeout (a stream, a
// slow function), and the body (streamed, not buffered) may take as long
// to arrive.
func (a *API) routeContext(c *gin.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	a.waitUpTo(c, timeout)
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(timeout + a.cfg.WriteTimeout))
	return context.WithTimeout(c.Request.Context(), timeout)
}

// routeStaleWait bounds how long a route request whose instance refused
// it waits for the endpoints to drop that instance.
const routeStaleWait = 2 * time.Second

// replayBody is a request body the route can send again when the first
// instance refused the connection: it counts what was read (nothing, for
// a refused dial) and whether all of it was, and leaves closing to the
// server.
type replayBody struct {
	io.ReadCloser
	n   int64
	eof bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.eof = b.eof || err == io.EOF
	return n, err
}

func (b *replayBody) Close() error { return nil }

// proxyTo proxies the request to target and reports whether it may be
// tried again elsewhere: only when retry is given, the connection was
// refused and nothing of the body was read (then nothing was answered).
func (a *API) proxyTo(c *gin.Context, ctx context.Context, call routeCall, target *url.URL, retry *replayBody) (refused bool) {
	tenant, fwd := call.tenant, call.fwd
	prefix := strings.TrimSuffix(function.RoutePath(tenant, call.name), "/")
	revision := strconv.FormatInt(call.revision, 10)
	answered := 0 // the function's status, once it answered
	p := &httputil.ReverseProxy{
		Transport:     a.routeTransport,
		FlushInterval: -1,
		ErrorLog:      a.routeErrorLog,
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Hop-by-hop headers and those listed in Connection are
			// already gone (ReverseProxy removes them).
			for _, h := range routeDropHeaders {
				pr.Out.Header.Del(h)
			}
			if call.dropAuth {
				pr.Out.Header.Del("Authorization")
			}
			pr.Out.URL = &url.URL{Scheme: target.Scheme, Host: target.Host, Path: fwd, RawQuery: pr.In.URL.RawQuery}
			pr.Out.Host = "" // the endpoint's; the caller's is X-Forwarded-Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
			telemetry.Propagator.Inject(pr.Out.Context(), propagation.HeaderCarrier(pr.Out.Header))
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Add("Content-Security-Policy", routeSandbox)
			resp.Header.Set(HeaderRevision, revision)
			answered = resp.StatusCode
			scopeCookies(resp.Header, prefix)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case c.Request.Context().Err() != nil:
				// The client left: nobody to answer.
				c.Abort()
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				abort(c, http.StatusGatewayTimeout, CodeTimeout, fmt.Sprintf("function %q did not answer within its timeout (%s)", call.name, call.timeout))
			case retry != nil && retry.n == 0 && errors.Is(err, syscall.ECONNREFUSED):
				refused = true
			default:
				a.Log.WarnContext(c, "route: function not reached", "tenant", tenant, "function", call.name, "revision", call.revision, "endpoint", target.Host, "err", err)
				abort(c, http.StatusBadGateway, CodeFunctionFailed, fmt.Sprintf("function %q could not be reached: its instance refused or dropped the request; try again", call.name))
			}
		},
	}
	p.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	if call.rollout && !refused {
		if failed, judged := routeOutcome(answered, call.body, c.Request.Context().Err() != nil); judged {
			a.Reporter.Served(tenant, call.name, call.revision, failed)
		}
	}
	if a.Endpoints != nil && !a.Endpoints.Has(tenant, call.name, target.Host) {
		// The instance left while this request ran (a drain): the
		// connection it leaves idle would hold the drain to its limit.
		a.routeTransport.CloseIdleConnections()
	}
	return refused
}

// routeOutcome is how a proxied request counts for a rollout: the
// function's own answer fails when 5xx; no answer (a timeout, an instance
// that dropped it) fails only when the function had the whole request,
// since a caller that left, or whose body never arrived whole (too slow,
// malformed), says nothing of the function and could otherwise fail any
// rollout at will. judged false: not counted.
func routeOutcome(answered int, body *replayBody, clientGone bool) (failed, judged bool) {
	switch {
	case answered > 0:
		return answered >= http.StatusInternalServerError, true
	case clientGone, body != nil && !body.eof:
		return false, false
	}
	return true, true
}

// scopeCookies keeps a function's cookies to its own prefix: every
// function shares the gateway's origin, so a cookie for "/" or another
// domain would reach other tenants' functions. Each Path is moved under
// prefix, Domain is dropped; a Set-Cookie that does not parse is dropped.
func scopeCookies(h http.Header, prefix string) {
	vals := h.Values("Set-Cookie")
	if len(vals) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, v := range vals {
		ck, err := http.ParseSetCookie(v)
		if err != nil {
			continue
		}
		if strings.HasPrefix(ck.Path, "/") {
			ck.Path = prefix + ck.Path
		} else {
			ck.Path = prefix + "/"
		}
		ck.Domain = ""
		if s := ck.String(); s != "" {
			h.Add("Set-Cookie", s)
		}
	}
}

// UnavailableRetryAfter is the Retry-After of a 503 for a function with
// no ready instance (a route request held past its timeout, a sync
// invocation the invoker could not serve).
const UnavailableRetryAfter = "1"

// holdRoute waits for the function's first ready instance and returns
// its endpoint: the request counts as held (loadreport), which sends the
// deployer's scaler a wake at once and again every report interval while
// it waits; the endpoints' change notification ends the wait as soon as
// the deployer stores an endpoint. The wait is bounded by the function's
// timeout (then 503 with Retry-After) and by the client (then no
// answer). The request keeps its place among the tenant's route requests
// in flight, so held requests are bounded as running ones are. nil: the
// request was answered.
func (a *API) holdRoute(c *gin.Context, tenant, name string, timeout time.Duration) *url.URL {
	if a.Endpoints == nil {
		unavailable(c, fmt.Sprintf("function %q has no ready instance: this gateway does not see the functions' endpoints; try again", name))
		return nil
	}
	// The 503 may come only after the timeout: the write deadline must
	// not cut it off.
	a.waitUpTo(c, timeout)
	ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
	defer cancel()
	release := a.Reporter.Hold(tenant, name)
	defer release()
	start := time.Now()
	for {
		changed, done := a.Endpoints.Changed(tenant, name)
		target, err := a.Endpoints.Pick(ctx, tenant, name)
		if err != nil && ctx.Err() == nil {
			a.Log.WarnContext(c, "route: endpoints not readable", "tenant", tenant, "function", name, "err", err)
		}
		if target != nil {
			done()
			a.Metrics.routeHeldSeconds.WithLabelValues("served").Observe(time.Since(start).Seconds())
			return target
		}
		select {
		case <-changed:
		case <-ctx.Done():
			done()
			if c.Request.Context().Err() != nil {
				// The client left: nobody to answer.
				a.Metrics.routeHeldSeconds.WithLabelValues("client_gone").Observe(time.Since(start).Seconds())
				c.Abort()
				return nil
			}
			a.Metrics.routeHeldSeconds.WithLabelValues("timeout").Observe(time.Since(start).Seconds())
			unavailable(c, fmt.Sprintf("function %q has no ready instance: none became ready within its timeout (%s); try again", name, timeout))
			return nil
		}
		done()
	}
}

// unavailable answers 503 unavailable with Retry-After.
func unavailable(c *gin.Context, msg string) {
	c.Header("Retry-After", UnavailableRetryAfter)
	abort(c, http.StatusServiceUnavailable, CodeUnavailable, msg)
}

// pickEndpoint is one endpoint of the function, or nil.
func (a *API) pickEndpoint(ctx context.Context, tenant, name string) (*url.URL, error) {
	if a.Endpoints == nil {
		return nil, nil
	}
	return a.Endpoints.Pick(ctx, tenant, name)
}

// queueRoute queues the request (method, path and query, headers, body
// up to the body limit) as an async invocation, answered as POST
// …:invoke?async=true is (202, Idempotency-Key, X-Callback-Url).
func (a *API) queueRoute(c *gin.Context, tenant string, spec function.Spec, fwd string, dropAuth bool) {
	p := queuedPath(fwd, c.Request.URL.RawQuery)
	if len(p) > events.MaxHTTPPath {
		// The invoker would refuse the message (events.HTTPRequest).
		abort(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("the path and query are %d bytes; a queued request's may have at most %d", len(p), events.MaxHTTPPath))
		return
	}
	payload, err := readBody(c.Request.Body)
	if err != nil {
		a.fail(c, err)
		return
	}
	req := &events.HTTPRequest{Method: c.Request.Method, Path: p, Header: routeHeaders(c.Request, dropAuth)}
	a.accept(c, tenant, spec, true, payload, req)
}

// queuedPath is the path and query a queued request carries, the path
// escaped again: a "?" or "%" that arrived encoded in it must stay in the
// path when the runtime parses it back.
func queuedPath(fwd, rawQuery string) string {
	return (&url.URL{Path: fwd, RawQuery: rawQuery}).RequestURI()
}

// routeHeaders are the request headers an /async-fn/ call forwards: as a
// proxied request's (hop-by-hop, Connection-listed, forged forwarding
// headers and, with dropAuth, Authorization removed; X-Forwarded-* set),
// without those the gateway itself acts on.
func routeHeaders(r *http.Request, dropAuth bool) http.Header {
	h := r.Header.Clone()
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range events.HopByHopHeaders {
		h.Del(name)
	}
	for _, name := range routeDropHeaders {
		h.Del(name)
	}
	// The gateway's own: it made the invocation once, and calls back.
	h.Del("Idempotency-Key")
	h.Del("X-Callback-Url")
	if dropAuth {
		h.Del("Authorization")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	return h
}
