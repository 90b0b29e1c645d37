package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/natsserver"
	"github.com/eventflow/eventflow/pkg/runtime/process"
)

func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestClusterNodeLossLosesNothing: on a 3-node JetStream cluster (embedded
// servers on loopback, streams and buckets with 3 replicas), the leader of
// the invocations stream is stopped during a steady flow of invocations; the
// flow goes on and every invocation JetStream acknowledged succeeds.
func TestClusterNodeLossLosesNothing(t *testing.T) {
	clusterAddrs := []string{loopbackAddr(t), loopbackAddr(t), loopbackAddr(t)}
	servers := make([]*server.Server, 3)
	var wg sync.WaitGroup
	for i := range servers {
		var routes []string
		for j, a := range clusterAddrs {
			if j != i {
				routes = append(routes, "nats://"+a)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i),
				ClusterName: "eventflow-test", ClusterAddr: clusterAddrs[i], Routes: routes})
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			servers[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	urls := make([]string, 3)
	for i, s := range servers {
		urls[i] = s.ClientURL()
		t.Cleanup(s.Shutdown)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := events.DefaultOptions()
	opts.Replicas = 3
	// The meta leader is elected a moment after the routes connect.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := bus.Provision(pctx, js, opts)
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provision on the cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := bus.OpenBuckets(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(function.Record{Spec: function.Spec{Name: "upper", Command: []string{"tr", "a-z", "A-Z"}}.WithDefaults(), Tenant: "t", Generation: 1})
	if _, err := b.Functions.Put(ctx, events.FunctionKey("t", "upper"), raw); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rt := process.New(process.Config{Logger: log})
	iv, err := New(ctx, Config{AckWait: 5 * time.Second}, Deps{NC: nc, JS: js, Runtime: rt, Log: log, Tracer: noop.NewTracerProvider().Tracer(""), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = iv.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-done; _ = rt.Close(context.Background()) })

	// A steady flow: one invocation every 10 ms for 4 s; a failed publish is
	// retried with the same Nats-Msg-Id, as a producer would.
	var accepted []string
	stopped := false
	start := time.Now()
	for i := 0; time.Since(start) < 4*time.Second; i++ {
		if !stopped && time.Since(start) > 1500*time.Millisecond {
			st, err := js.Stream(ctx, events.StreamInvocations)
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Info(ctx)
			if err != nil || info.Cluster == nil {
				t.Fatalf("stream info: %v", err)
			}
			for _, s := range servers {
				if s.Name() == info.Cluster.Leader {
					s.Shutdown() // the leader of the invocations stream goes away
					t.Logf("stopped %s, the stream's leader, after %d invocations", s.Name(), len(accepted))
				}
			}
			stopped = true
		}
		id := events.NewInvocationID()
		msg := events.Invocation{ID: id, Tenant: "t", Function: "upper", Payload: []byte(fmt.Sprintf("item-%d", i))}.Msg()
		for try := 0; try < 20; try++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.PublishMsg(pctx, msg)
			pcancel()
			if err == nil {
				accepted = append(accepted, id)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !stopped {
		t.Fatal("no node was stopped")
	}
	f := &fixture{nc: nc, js: js, b: b}
	for _, id := range accepted {
		if r := f.waitRecordWithin(t, id, 60*time.Second); r.Status != events.StatusSucceeded || !strings.HasPrefix(r.Output, "ITEM-") {
			t.Fatalf("invocation %s: %+v", id, r)
		}
	}
	t.Logf("%d invocations accepted, all succeeded, with a node down", len(accepted))
}
