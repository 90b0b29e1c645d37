package process

import (
	"context"
	"testing"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// BenchmarkInvokeHTTP measures Invoke against one ready echo instance.
func BenchmarkInvokeHTTP(b *testing.B) {
	r := newTestRuntime(b)
	spec := httpSpec("bench", 1, echoServer)
	apply(b, r, spec)
	waitReady(b, r, "acme", "bench", 1)
	req := runtime.InvokeRequest{ID: "bench", Payload: []byte(`{"hello":"world"}`), ContentType: "application/json"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := r.Invoke(ctx, "acme", spec, req)
		if err != nil || !res.Succeeded {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
