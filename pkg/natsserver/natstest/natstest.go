// Package natstest starts real embedded NATS JetStream servers for tests.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/natsserver"
)

// Start runs a JetStream server on a random loopback port with storage in
// a temporary directory, stopped when the test ends.
func Start(tb testing.TB) *server.Server {
	tb.Helper()
	return StartIn(tb, tb.TempDir())
}

// StartIn is Start with a given store directory (to restart on the same
// data).
func StartIn(tb testing.TB, dir string) *server.Server {
	tb.Helper()
	s, err := natsserver.Start(natsserver.Config{Addr: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Provisioned starts a server, connects to it and provisions EventFlow's
// streams and buckets; everything is closed when the test ends.
func Provisioned(tb testing.TB) (*server.Server, *nats.Conn, jetstream.JetStream, bus.Buckets) {
	tb.Helper()
	srv := Start(tb)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, js, events.DefaultOptions()); err != nil {
		tb.Fatalf("provision: %v", err)
	}
	b, err := bus.OpenBuckets(ctx, js)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, nc, js, b
}
