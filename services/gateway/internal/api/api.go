// Package api is the gateway's HTTP API (openapi.json) on gin. It never
// talks to a runtime: writes become commands and invocations on JetStream,
// reads come from JetStream KV.
package api

import (
	"context"
	"log"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/loadreport"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/version"
	"github.com/eventflow/eventflow/services/gateway/internal/console"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// Config tunes the API.
type Config struct {
	// MaxBodyBytes limits every request body (413 beyond).
	MaxBodyBytes int64
	// EnableTokenIssuer serves POST /auth/token (development tokens).
	EnableTokenIssuer bool
	// CallbackSecret derives each tenant's callback signing key.
	CallbackSecret []byte
	// CallbackDestinations is where X-Callback-Url may point: checked
	// when the invocation is accepted (the invoker checks again when it
	// connects).
	CallbackDestinations egress.Policy
	// SyncTimeoutGrace is added to a function's timeout while waiting for a
	// sync reply, for the trip through NATS and the invoker.
	SyncTimeoutGrace time.Duration
	// WriteTimeout is the http.Server's: the routes that outlast it on
	// purpose (streams, sync invocations) lift it, see deadlines.go.
	WriteTimeout time.Duration
	// MaxStreamsPerTenant bounds the log and event streams (GET
	// …/logs and /v1/events, following or not) one tenant has open on this
	// gateway at once; past it they are answered 429. 0 means 32, a
	// negative value no limit.
	MaxStreamsPerTenant int
	// MaxRouteRequestsPerTenant bounds the /fn/ and /async-fn/ requests
	// in progress for one tenant's functions on this gateway; past it they
	// are answered 429. 0 means 256, a negative value no limit.
	MaxRouteRequestsPerTenant int
	// TenantRate is how many /v1 requests per second each tenant may make
	// to this gateway, in bursts of up to TenantBurst (a token bucket);
	// past it they are answered 429. 0 means no limit; a TenantBurst
	// below 1 means TenantRate rounded up.
	TenantRate  float64
	TenantBurst int
	// MaxFunctionsPerTenant bounds the functions a tenant may have; a
	// create past it is answered 403 quota_exceeded. 0 means no limit.
	MaxFunctionsPerTenant int
}

// Deps are the API's collaborators.
type Deps struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Store   *store.Store
	Cache   *catalog.Cache
	Auth    auth.Verifier
	Log     *slog.Logger
	Tracer  trace.Tracer
	Metrics *Metrics
	Ready   func(context.Context) error
	// Endpoints are the http-mode functions' endpoints, for the HTTP
	// route (nil: every route call answers 503).
	Endpoints *store.Endpoints
	// Reporter counts the route's requests on the functions' instances
	// and the requests held while a function has none, and reports them to
	// the deployer's scaler (a held request wakes the function at once).
	// Nil: one that only sends wakes (nobody runs its periodic reports).
	Reporter *loadreport.Reporter
	// Events publishes lifecycle events, and the queued records of
	// accepted async invocations, without waiting for them; closing it
	// (after the server stopped) waits until each is stored or failed (a
	// failed record's one retry may still be running: the invoker writes
	// the record when it runs the invocation anyway).
	Events *bus.AsyncPublisher
	// Secrets keeps the tenants' secrets (it seals; it cannot open). Nil:
	// the secrets endpoints answer as if none existed, and a spec naming
	// one is refused.
	Secrets *secrets.Store
}

// API holds the handlers.
type API struct {
	Deps
	cfg     Config
	streams *streamLimiter
	rates   *tenantRates // nil: no rate limit
	writes  tenantLocks  // a tenant's function writes, one at a time
	queued  *queuedRecords
	tokens  auth.Verifier // Deps.Auth behind a cache of verified tokens
	// routeTransport carries the HTTP route's requests to functions.
	routeTransport *http.Transport
	// routeErrorLog is the route proxy's log (a body copy that failed),
	// at debug level: built once, not per request.
	routeErrorLog *log.Logger
	// routeRequests counts each tenant's route requests in flight.
	routeRequests *streamLimiter
}

// New builds the gin engine with every route.
func New(cfg Config, d Deps) *gin.Engine {
	h, _ := newAPI(cfg, d)
	return h
}

// newAPI builds the engine and the API behind it (which tests look into).
func newAPI(cfg Config, d Deps) (*gin.Engine, *API) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.SyncTimeoutGrace <= 0 {
		cfg.SyncTimeoutGrace = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.MaxStreamsPerTenant == 0 { // negative: no limit
		cfg.MaxStreamsPerTenant = defaultMaxStreamsPerTenant
	}
	if cfg.MaxRouteRequestsPerTenant == 0 {
		cfg.MaxRouteRequestsPerTenant = defaultMaxRouteRequestsPerTenant
	}
	a := &API{Deps: d, cfg: cfg, streams: newStreamLimiter(cfg.MaxStreamsPerTenant), routeRequests: newStreamLimiter(cfg.MaxRouteRequestsPerTenant),
		queued: newQueuedRecords(d.Store, d.Events, d.Log),
		tokens: auth.NewCache(d.Auth, 0, 0), routeTransport: newRouteTransport()}
	if a.Reporter == nil {
		a.Reporter = loadreport.New(d.NC, ReportSource, 0, d.Log)
	}
	if d.Endpoints != nil {
		// A drained instance is stopped once no connection to it is
		// open: ours that sit idle would hold it to its timeout.
		d.Endpoints.OnRemoved(a.routeTransport.CloseIdleConnections)
	}
	if d.Log != nil {
		a.routeErrorLog = slog.NewLogLogger(d.Log.Handler(), slog.LevelDebug)
	}
	if cfg.TenantRate > 0 {
		if cfg.TenantBurst < 1 {
			cfg.TenantBurst = int(math.Ceil(cfg.TenantRate))
		}
		a.rates = newTenantRates(cfg.TenantRate, cfg.TenantBurst, maxRateTenants)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	r.HandleMethodNotAllowed = true
	// A path that differs from a route by a trailing slash is not
	// redirected (a 301 or 307 without a JSON body): it is an unknown
	// path, answered by NoRoute like any other.
	r.RedirectTrailingSlash = false
	r.Use(a.recovery(), a.observe(), a.limitBody())
	ui := console.New()
	r.NoRoute(func(c *gin.Context) {
		// The web console owns every other GET; the API's own prefixes
		// keep answering JSON errors.
		if m := c.Request.Method; (m == http.MethodGet || m == http.MethodHead) && !isAPIPath(c.Request.URL.Path) {
			ui.ServeHTTP(c.Writer, c.Request)
			return
		}
		abort(c, http.StatusNotFound, CodeNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})

	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	r.GET("/version", a.version)
	r.GET("/metrics", gin.WrapH(d.Metrics.Handler()))
	r.GET("/openapi.json", a.openapi)
	r.GET("/schemas/function-file.json", a.functionFileSchema)
	if cfg.EnableTokenIssuer {
		r.POST("/auth/token", a.issueToken)
	}

	// /fn/ and /async-fn/: http-mode functions' routes (route.go), each
	// authenticated as its function's spec.http.auth says.
	a.registerRoutes(r)

	v1 := r.Group("/v1", a.authenticate(), a.limitRate())
	v1.POST("/functions", a.require(auth.ScopeWrite), a.createFunction)
	v1.GET("/functions", a.require(auth.ScopeRead), a.listFunctions)
	v1.GET("/functions/:name", a.knownName, a.require(auth.ScopeRead), a.getFunction)
	v1.PUT("/functions/:name", a.require(auth.ScopeWrite), a.updateFunction)
	v1.DELETE("/functions/:name", a.knownName, a.require(auth.ScopeWrite), a.deleteFunction)
	// gin cannot route "{name}:invoke" as its own pattern; the handler
	// dispatches on the suffix.
	v1.POST("/functions/:name", a.knownName, a.functionAction)
	v1.GET("/functions/:name/revisions", a.knownName, a.require(auth.ScopeRead), a.listRevisions)
	v1.GET("/functions/:name/revisions/:revision", a.knownName, a.require(auth.ScopeRead), a.getRevision)
	v1.GET("/secrets", a.require(auth.ScopeSecretsRead), a.listSecrets)
	v1.GET("/secrets/:name", a.require(auth.ScopeSecretsRead), a.getSecret)
	v1.PUT("/secrets/:name", a.require(auth.ScopeSecretsWrite), a.putSecret)
	v1.DELETE("/secrets/:name", a.require(auth.ScopeSecretsWrite), a.deleteSecret)
	v1.GET("/functions/:name/logs", a.knownName, a.require(auth.ScopeRead), a.logs)
	v1.GET("/functions/:name/invocations", a.knownName, a.requireAny(auth.ScopeRead, auth.ScopeInvoke), a.listInvocations)
	v1.GET("/functions/:name/dead-letters", a.knownName, a.require(auth.ScopeRead), a.listDeadLetters)
	v1.POST("/functions/:name/dead-letters/redrive", a.knownName, a.require(auth.ScopeInvoke), a.redrive)
	v1.GET("/invocations/:id", a.requireAny(auth.ScopeRead, auth.ScopeInvoke), a.getInvocation)
	v1.GET("/events", a.require(auth.ScopeRead), a.lifecycleEvents)
	v1.GET("/callback-key", a.require(auth.ScopeWrite), a.callbackKey)
	return r, a
}

// isAPIPath tells the API's paths from the console's.
func isAPIPath(p string) bool {
	for _, prefix := range []string{"/v1/", "/auth/", "/schemas/", RoutePrefix, AsyncRoutePrefix} {
		if strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/") {
			return true
		}
	}
	return false
}

func (a *API) healthz(c *gin.Context) { c.PureJSON(http.StatusOK, gin.H{"status": "ok"}) }

// version is public like /healthz: a client checks what it talks to before
// it has a token.
func (a *API) version(c *gin.Context) { c.PureJSON(http.StatusOK, version.Get()) }

func (a *API) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"status": "ready"})
}
