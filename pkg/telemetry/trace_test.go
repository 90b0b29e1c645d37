package telemetry

import (
	"context"
	"testing"
)

// TestSpansRecordedOnlyWhenExported: without an OTLP endpoint spans carry
// a valid trace context (for logs and the bus) but are not recorded; with
// one they are.
func TestSpansRecordedOnlyWhenExported(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		record   bool
	}{{"", false}, {"http://127.0.0.1:4318", true}} {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.endpoint)
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
		tp, err := NewTracerProvider(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, span := tp.Tracer("t").Start(context.Background(), "s")
		if !span.SpanContext().IsValid() {
			t.Errorf("endpoint %q: span context not valid", tc.endpoint)
		}
		if span.IsRecording() != tc.record {
			t.Errorf("endpoint %q: recording %v, want %v", tc.endpoint, span.IsRecording(), tc.record)
		}
		span.End()
		_ = tp.Shutdown(context.Background())
	}
}
