package telemetry

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace context propagator used on HTTP and NATS.
var Propagator = propagation.TraceContext{}

// NewTracerProvider returns a provider that always creates real span
// contexts (so trace ids appear in logs and cross NATS) and, when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, records spans and exports them over OTLP/HTTP. Without an exporter
// nothing would read a span, so none is recorded (the trace context still
// flows, marked not sampled): recording them cost every request and every
// invocation a few microseconds for nothing.
func NewTracerProvider(ctx context.Context) (*sdktrace.TracerProvider, error) {
	if !Exporting() {
		return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())), nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithBatcher(exp),
	), nil
}

// Exporting reports whether spans are exported (an OTLP endpoint is set).
func Exporting() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// HeaderCarrier adapts nats.Header to the propagation API.
type HeaderCarrier nats.Header

func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c HeaderCarrier) Set(key, val string)   { nats.Header(c).Set(key, val) }
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into msg's headers.
func Inject(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	Propagator.Inject(ctx, HeaderCarrier(msg.Header))
}

// Extract returns ctx with the trace context carried in hdr.
func Extract(ctx context.Context, hdr nats.Header) context.Context {
	if hdr == nil {
		return ctx
	}
	return Propagator.Extract(ctx, HeaderCarrier(hdr))
}
