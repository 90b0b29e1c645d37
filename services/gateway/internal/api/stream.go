package api

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sseKeepAlive is how often an idle stream sends a comment, so proxies and
// clients do not take it for dead.
const sseKeepAlive = 15 * time.Second

// followStream hands every message of it to onMsg and calls keepAlive when the
// stream has been idle, until ctx ends or the iterator stops. Next blocks,
// so it runs in its own goroutine that stops with ctx.
func followStream(ctx context.Context, it jetstream.MessagesContext, onMsg func(jetstream.Msg), keepAlive func()) {
	msgs := make(chan jetstream.Msg)
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			onMsg(m)
		case <-tick.C:
			keepAlive()
		}
	}
}
