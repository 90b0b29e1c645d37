package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/telemetry"
)

const claimsKey = "eventflow.claims"

func (a *API) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					// A proxied answer broke off midway (route.go): let
					// net/http drop the connection, as it is meant to.
					panic(r)
				}
				a.Log.ErrorContext(c.Request.Context(), "panic in handler", "route", c.FullPath(), "panic", fmt.Sprint(r))
				abort(c, http.StatusInternalServerError, CodeInternal, "internal error; see the gateway's logs")
			}
		}()
		c.Next()
	}
}

// observe starts a server span (continuing the caller's traceparent) and
// records request metrics by route template, so ids in paths do not blow up
// label cardinality.
func (a *API) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		ctx := telemetry.Propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		ctx, span := a.Tracer.Start(ctx, c.Request.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer))
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		code := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		span.End()
		a.Metrics.observeHTTP(c.Request.Method, route, code, time.Since(start))
	}
}

// limitBody caps every request body; reading past the cap fails with
// *http.MaxBytesError, which fail() turns into 413. A declared length over
// the cap is refused before anything is read.
func (a *API) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, RoutePrefix) {
			// The HTTP route streams bodies to functions, whatever their
			// size (/async-fn/ stores them, so keeps the cap).
			c.Next()
			return
		}
		if c.Request.ContentLength > a.cfg.MaxBodyBytes {
			abort(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", a.cfg.MaxBodyBytes))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.cfg.MaxBodyBytes)
		c.Next()
	}
}

func (a *API) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			c.Header("WWW-Authenticate", `Bearer realm="eventflow"`)
			abort(c, http.StatusUnauthorized, CodeUnauthenticated, "missing bearer token: send Authorization: Bearer <token> (get one from POST /auth/token in development)")
			return
		}
		claims, err := a.tokens.Verify(token)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="eventflow", error="invalid_token"`)
			abort(c, http.StatusUnauthorized, CodeUnauthenticated, err.Error())
			return
		}
		c.Set(claimsKey, claims)
		c.Next()
	}
}

func claimsOf(c *gin.Context) *auth.Claims { return c.MustGet(claimsKey).(*auth.Claims) }

func (a *API) require(scope string) gin.HandlerFunc { return a.requireAny(scope) }

func (a *API) requireAny(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := claimsOf(c)
		for _, s := range scopes {
			if cl.Has(s) {
				c.Next()
				return
			}
		}
		abort(c, http.StatusForbidden, CodeForbidden, "token lacks scope "+strings.Join(scopes, " or "))
	}
}

func (a *API) issueToken(c *gin.Context) {
	var req auth.TokenRequest
	if err := readJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	issuer, ok := a.Auth.(auth.Issuer)
	if !ok {
		abort(c, http.StatusNotFound, CodeNotFound, "POST /auth/token needs a JWT secret: this gateway accepts OIDC tokens only")
		return
	}
	tok, exp, err := issuer.Issue(req)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"token": tok, "expiresAt": exp.UTC()})
}

// queryInt reads an integer query parameter from min to max; def when it
// is absent or empty.
func queryInt(c *gin.Context, name string, def, min, max int) (int, error) {
	return parseIntParam(name, c.Query(name), def, min, max)
}

// parseIntParam is queryInt's parsing, for min >= 0: digits only (no
// sign), and strconv refuses what does not fit in 63 bits, so no value
// wraps around before the range check.
func parseIntParam(name, v string, def, min, max int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil || int(n) < min || int(n) > max {
		return 0, fmt.Errorf("query parameter %s=%q must be a whole number from %d to %d", name, truncate(v), min, max)
	}
	return int(n), nil
}

func queryBool(c *gin.Context, name string) (bool, error) {
	return parseBoolParam(name, c.Query(name))
}

func parseBoolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter %s=%q must be true or false", name, truncate(v))
	}
	return b, nil
}

// truncate shortens a client's value quoted back in an error message.
func truncate(v string) string {
	const max = 64
	if len(v) <= max {
		return v
	}
	return v[:max] + "…"
}
