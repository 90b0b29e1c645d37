// Package natstest starts real embedded NATS JetStream servers for tests.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"

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
