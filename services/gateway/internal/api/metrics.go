package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics.
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	invocations *prometheus.CounterVec
	limited     *prometheus.CounterVec
	// routeHeldSeconds is how long route requests were held for a
	// function's first ready instance, by outcome: served, timeout (503),
	// client_gone.
	routeHeldSeconds *prometheus.HistogramVec
	gatherer         prometheus.Gatherer
}

// The per-tenant limits, the values of eventflow_gateway_limited_total's
// label limit.
const (
	limitRate      = "rate"           // requests per second
	limitFunctions = "functions"      // functions per tenant
	limitQueue     = "queue"          // queued invocations per function
	limitStreams   = "streams"        // open log and event streams
	limitRoute     = "route_requests" // /fn/ and /async-fn/ requests in flight
)

// NewMetrics registers the gateway's metrics with reg; g serves /metrics
// (in `eventflow dev` it gathers every service's metrics).
func NewMetrics(reg prometheus.Registerer, g prometheus.Gatherer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_http_requests_total",
			Help: "HTTP requests to the gateway by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventflow_http_request_duration_seconds",
			Help:    "Gateway request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_gateway_invocations_total",
			Help: "Invocations handled by the gateway by mode (sync, async) and outcome.",
		}, []string{"mode", "outcome"}),
		// Labelled by limit only, never by tenant: tenants are as many as
		// valid tokens name, and a series per tenant would grow the
		// registry (and every scrape) without bound, the very thing these
		// limits guard against. Which tenant was refused is in the
		// gateway's debug log and in the client's 429 or 403.
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventflow_gateway_limited_total",
			Help: "Requests the gateway refused for a per-tenant limit, by limit: rate (requests per second), functions (functions per tenant), queue (queued invocations per function), streams (open log and event streams), route_requests (/fn/ and /async-fn/ requests in flight).",
		}, []string{"limit"}),
		routeHeldSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventflow_gateway_route_held_seconds",
			Help:    "How long /fn/ requests were held because their function had no ready instance (scaled to zero or starting), by outcome: served, timeout (answered 503), client_gone.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"outcome"}),
		gatherer: g,
	}
	for _, l := range []string{limitRate, limitFunctions, limitQueue, limitStreams, limitRoute} {
		m.limited.WithLabelValues(l) // every series from 0
	}
	reg.MustRegister(m.requests, m.latency, m.invocations, m.limited, m.routeHeldSeconds)
	return m
}

func (m *Metrics) observeHTTP(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}
