package process

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
	"github.com/eventflow/eventflow/pkg/testkit"
)

func scaledSpec(name string, min, max int32) function.Spec {
	s := httpSpec(name, 0, echoServer)
	s.Scale = &function.Scale{Min: min, Max: max}
	return s.WithDefaults()
}

// TestScaleToZeroAndBack: a function with min 0 starts with one instance,
// Scale(0) leaves none (Ready, 0 of 0), a wait on WaitReady lasts until
// Scale(2) makes one ready, and invocations then succeed; Apply of the same spec
// keeps the scaled count.
func TestScaleToZeroAndBack(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	spec := scaledSpec("zero", 0, 4)
	apply(t, r, spec)
	waitReady(t, r, "acme", "zero", 1)

	if err := r.Scale(ctx, "acme", "zero", 0); err != nil {
		t.Fatal(err)
	}
	obs := waitFor(t, r, "acme", "zero", "scaled to zero", func(o runtime.Observed, found bool) bool {
		return found && o.Phase == function.PhaseReady && o.ReadyReplicas == 0 && o.Replicas == 0 && len(o.Endpoints) == 0
	})
	if _, err := r.Invoke(ctx, "acme", spec, runtime.InvokeRequest{ID: "cold", Payload: []byte("x")}); !errors.Is(err, runtime.ErrNoReadyInstance) {
		t.Fatalf("invoke at zero: %v, want ErrNoReadyInstance (obs %+v)", err, obs)
	}
	apply(t, r, spec) // a reconcile re-applies: the count stays the scaler's
	if n := len(instances(r, "acme", "zero")); n != 0 {
		t.Fatalf("Apply after Scale(0) started %d instances", n)
	}

	// A caller waits as the invoker does: WaitReady returns when an
	// instance may have become ready (any of the runtime's, and a wake
	// of an earlier change may come late), so it checks again.
	waited := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() {
		for {
			if err := r.WaitReady(wctx, "acme", "zero"); err != nil {
				waited <- err
				return
			}
			if o, found, err := r.Observe(wctx, "acme", "zero"); err == nil && found && o.ReadyReplicas > 0 {
				waited <- nil
				return
			}
		}
	}()
	select {
	case err := <-waited:
		t.Fatalf("the wait ended (%v) with no instance", err)
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	if err := r.Scale(ctx, "acme", "zero", 2); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	t.Logf("zero to ready in %s", time.Since(start).Round(time.Millisecond))
	res, err := r.Invoke(ctx, "acme", spec, runtime.InvokeRequest{ID: "warm", Payload: []byte("hi")})
	if err != nil || string(res.Output) != "HI" {
		t.Fatalf("invoke after scale up: %+v %v", res, err)
	}
	waitReady(t, r, "acme", "zero", 2)

	if err := r.Scale(ctx, "acme", "nope", 1); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("Scale of an unknown function: %v", err)
	}
	if err := r.Scale(ctx, "acme", "zero", -1); err == nil {
		t.Fatal("Scale(-1) accepted")
	}
}

// TestScaleDownDrains: an invocation running on an instance when Scale
// removes it finishes (the test server does not itself drain on SIGTERM:
// the runtime waits for the invocation before stopping it), and the
// instance is stopped afterwards.
func TestScaleDownDrains(t *testing.T) {
	r := New(Config{StopGrace: 2 * time.Second, DrainDelay: 50 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	ctx := context.Background()
	spec := scaledSpec("drain", 0, 2)
	apply(t, r, spec)
	waitReady(t, r, "acme", "drain", 1)
	port := instances(r, "acme", "drain")[0].port

	type result struct {
		res runtime.InvokeResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := r.Invoke(ctx, "acme", spec, runtime.InvokeRequest{ID: "slow", Payload: []byte("slow")})
		done <- result{res, err}
	}()
	// Scale down once the request is on the instance.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.RLock()
		n := r.fns[runtime.Ref{Tenant: "acme", Name: "drain"}].instances[0].inflight.Load()
		r.mu.RUnlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the instance")
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.Scale(ctx, "acme", "drain", 0); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || !got.res.Succeeded || string(got.res.Output) != "SLOW" {
		t.Fatalf("the request in flight during scale-down: %+v %v", got.res, got.err)
	}
	waitPortClosed(t, port)
	waitFor(t, r, "acme", "drain", "zero instances", func(o runtime.Observed, found bool) bool {
		return found && o.Replicas == 0 && o.ReadyReplicas == 0 && o.Phase == function.PhaseReady
	})
}

// TestScaleDownDrainsRouteRequests: a request sent straight to the
// instance's endpoint (as the gateway's route proxies it, not through
// this runtime) and still running when Scale removes the instance
// finishes too: the drain waits for the connection.
func TestScaleDownDrainsRouteRequests(t *testing.T) {
	r := New(Config{StopGrace: 2 * time.Second, DrainDelay: 50 * time.Millisecond})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	ctx := context.Background()
	apply(t, r, scaledSpec("route", 0, 2))
	obs := waitReady(t, r, "acme", "route", 1)
	port := instances(r, "acme", "route")[0].port
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Post(obs.Endpoints[0]+"/", "text/plain", strings.NewReader("slow"))
		if err != nil {
			done <- result{"", err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	testkit.WaitFor(t, 5*time.Second, "the request open on the instance", func() bool { n, _ := openConns(port); return n > 0 })
	if err := r.Scale(ctx, "acme", "route", 0); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.body != "SLOW" {
		t.Fatalf("the route request in flight during scale-down: %q %v", got.body, got.err)
	}
	// The gateway closes idle connections to an endpoint that left.
	tr.CloseIdleConnections()
	waitPortClosed(t, port)
}
