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
	gatherer    prometheus.Gatherer
}

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
		gatherer: g,
	}
	reg.MustRegister(m.requests, m.latency, m.invocations)
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
