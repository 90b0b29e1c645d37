// Package service assembles the gateway: it is what the standalone binary
// and `eventflow dev` both run.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/loadreport"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/services/gateway/internal/api"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// Config of the gateway.
type Config struct {
	MaxBodyBytes      int64
	EnableTokenIssuer bool
	// CallbackSecret derives the tenants' callback signing keys (the
	// invoker must have the same one).
	CallbackSecret []byte
	// CallbackDestinations is where X-Callback-Url may point (public
	// addresses only by default); the invoker's should match.
	CallbackDestinations egress.Policy
	// HTTP bounds the connections; zero fields take the defaults below.
	HTTP HTTPLimits
	// Tenants bounds what each tenant may use; zero fields take the
	// defaults below.
	Tenants TenantLimits
	// ScaleReportInterval is how often the gateway reports each function's
	// route requests in flight and held to the deployer's scaler (and
	// repeats a held request's wake); 0: loadreport.DefaultInterval.
	ScaleReportInterval time.Duration
}

// TenantLimits are the per-tenant limits (docs/API.md, "Limits"). A zero
// field takes its default, a negative one (Unlimited) turns that limit
// off. The rate and the streams are counted by each gateway on its own:
// with N replicas behind a balancer a tenant may have up to N times as
// much. The queued invocations per function are bounded by the
// invocations stream instead (events.Options.MaxQueuedPerFunction).
type TenantLimits struct {
	// RequestsPerSecond refills each tenant's token bucket for /v1
	// requests (a stream counts once, when opened); a request finding it
	// empty gets 429 too_many_requests with Retry-After.
	RequestsPerSecond float64
	// Burst is the bucket's size: how many requests may come at once.
	// Zero: twice RequestsPerSecond.
	Burst int
	// MaxFunctions: creating another function is refused with 403
	// quota_exceeded (exact on one gateway; creates racing on N replicas
	// can leave a tenant up to N-1 over it).
	MaxFunctions int
	// MaxStreams bounds the open log and event streams; more get 429
	// too_many_requests with Retry-After: 1.
	MaxStreams int
	// MaxRouteRequests bounds the /fn/ and /async-fn/ requests in flight
	// (a slow upload holds one for the function's timeout); more get 429.
	MaxRouteRequests int
}

// Unlimited, in a TenantLimits field, turns that limit off.
const Unlimited = -1

// The per-tenant defaults: far above what one person at a console or CLI
// does and room for a busy producer, low enough that one tenant cannot
// take more than about a quarter of a gateway's capacity (about 4,000
// requests/s on 2 cores, docs/BENCHMARKS.md) from the others.
const (
	DefaultRequestsPerSecond = 1000
	DefaultMaxFunctions      = 100
	DefaultMaxStreams        = 32
	DefaultMaxRouteRequests  = 256
)

// withDefaults fills in the defaults; then 0 or less means no limit (as
// api.Config has it, but for MaxStreams and MaxRouteRequests, still
// negative).
func (l TenantLimits) withDefaults() TenantLimits {
	if l.RequestsPerSecond == 0 {
		l.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if l.Burst <= 0 && l.RequestsPerSecond > 0 {
		l.Burst = int(math.Ceil(2 * l.RequestsPerSecond))
	}
	if l.MaxFunctions == 0 {
		l.MaxFunctions = DefaultMaxFunctions
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxRouteRequests == 0 {
		l.MaxRouteRequests = DefaultMaxRouteRequests
	}
	return l
}

// HTTPLimits are the http.Server's limits, so that slow and idle clients
// cannot hold connections (and goroutines) forever.
type HTTPLimits struct {
	// ReadHeaderTimeout: a request's headers must arrive within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: a request's headers and body must arrive within it
	// (net/http lifts it once the body is read, so it does not end
	// long-running handlers).
	ReadTimeout time.Duration
	// WriteTimeout: an answer must be written within it (from the end of
	// the headers). Streams (logs, events) and sync invocations lift it on
	// their own connection: a stream bounds each write by it instead, a
	// sync invocation waits its function's timeout plus this.
	WriteTimeout time.Duration
	// IdleTimeout: a keep-alive connection with no request for this long
	// is closed.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (431 beyond).
	MaxHeaderBytes int
}

// The defaults. A body of the default 1 MiB limit needs 17 KiB/s to arrive
// within ReadTimeout. IdleTimeout is above the 60 s idle timeout of common
// load balancers, so that they, not the gateway, close an idle connection
// (a gateway closing it first races the balancer's next request).
// MaxHeaderBytes leaves room for large OIDC tokens.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

// Deps are what the gateway needs from its host.
type Deps struct {
	NC         *nats.Conn
	JS         jetstream.JetStream
	Auth       auth.Verifier // also an auth.Issuer when EnableTokenIssuer
	Log        *slog.Logger
	Tracer     trace.Tracer
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Gateway is the running HTTP API.
type Gateway struct {
	handler http.Handler
	log     *slog.Logger
	events  *bus.AsyncPublisher
	limits  HTTPLimits
}

// New binds the gateway to its buckets and builds its handler; it watches
// the functions and status buckets until ctx ends.
func New(ctx context.Context, cfg Config, d Deps) (*Gateway, error) {
	if d.Auth == nil {
		return nil, errors.New("gateway: no token verifier")
	}
	if _, ok := d.Auth.(auth.Issuer); cfg.EnableTokenIssuer && !ok {
		return nil, errors.New("gateway: the token endpoint (POST /auth/token) needs a JWT secret, and only OIDC is configured")
	}
	b, err := bus.OpenBuckets(ctx, d.JS)
	if err != nil {
		return nil, err
	}
	st := store.New(d.JS, b)
	cache, err := catalog.NewCache(ctx, b.Functions)
	if err != nil {
		return nil, fmt.Errorf("watch functions: %w", err)
	}
	endpoints, err := store.NewEndpoints(ctx, b.Status)
	if err != nil {
		return nil, fmt.Errorf("watch function status: %w", err)
	}
	pub := bus.NewAsyncPublisher(d.JS, func(err error) {
		if err != nil {
			d.Log.Warn("lifecycle event not stored", "err", err)
		}
	})
	// The route's load reports, for as long as the gateway runs.
	reporter := loadreport.New(d.NC, api.ReportSource, cfg.ScaleReportInterval, d.Log)
	go reporter.Run(ctx)
	limits := cfg.HTTP.withDefaults()
	tenants := cfg.Tenants.withDefaults()
	h := api.New(api.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, EnableTokenIssuer: cfg.EnableTokenIssuer, CallbackSecret: cfg.CallbackSecret,
		CallbackDestinations: cfg.CallbackDestinations, WriteTimeout: limits.WriteTimeout,
		TenantRate: max(tenants.RequestsPerSecond, 0), TenantBurst: tenants.Burst,
		MaxFunctionsPerTenant: max(tenants.MaxFunctions, 0), MaxStreamsPerTenant: tenants.MaxStreams,
		MaxRouteRequestsPerTenant: tenants.MaxRouteRequests,
	}, api.Deps{
		NC: d.NC, JS: d.JS, Store: st, Cache: cache, Endpoints: endpoints, Reporter: reporter, Auth: d.Auth, Log: d.Log, Tracer: d.Tracer,
		Metrics: api.NewMetrics(d.Registerer, d.Gatherer),
		Ready:   func(ctx context.Context) error { return bus.Ready(ctx, d.NC, d.JS) },
		Events:  pub,
		Secrets: &secrets.Store{KV: b.Secrets},
	})
	return &Gateway{handler: h, log: d.Log, events: pub, limits: limits}, nil
}

// Handler is the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Serve answers on ln until ctx ends, then drains in-flight requests.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	l := g.limits
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		err = nil
	}
	g.events.Close()
	return err
}
