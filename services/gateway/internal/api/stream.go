package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"
)

// orderedInactiveThreshold is how long the server keeps an ordered
// consumer nobody pulls from: the backstop for one that release could not
// delete (the gateway stopped, NATS did not answer, or the request ended
// while the consumer was being created).
const orderedInactiveThreshold = 30 * time.Second

// sseKeepAlive is how often an idle stream sends a comment, so proxies and
// clients do not take it for dead.
const sseKeepAlive = 15 * time.Second

// openOrdered opens an ordered consumer on stream. The returned release
// deletes it on the server (call it after stopping any iterator): an
// ordered consumer otherwise outlives the request by its inactivity
// threshold, and a client reading short replays in a loop would pile them
// up. The threshold is set short (orderedInactiveThreshold) as a backstop.
func (a *API) openOrdered(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, func(), error) {
	if cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = orderedInactiveThreshold
	}
	cons, err := a.JS.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		// The request's context is usually over by now.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// The name is read now: the library replaces the consumer (with a new
		// name) when it resets after a gap.
		name := cons.CachedInfo().Name
		if err := a.JS.DeleteConsumer(dctx, stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Harmless: the server removes it when it has been idle long enough.
			a.Log.WarnContext(ctx, "ordered consumer not deleted", "stream", stream, "consumer", name, "err", err)
		}
	}
	return cons, release, nil
}

// openStream starts a log or event stream of the tenant's: it takes one
// of the tenant's stream slots (429 past the limit), lifts the server's
// write timeout (a stream outlasts it; each write is bounded instead, by
// writeWithin) and opens an ordered consumer on stream. Unless ok, the
// answer is written (what names the stream in an error). Otherwise the
// caller defers end, which deletes the consumer and frees the slot, and
// reads with ctx, which ends with the request.
func (a *API) openStream(c *gin.Context, tenant, stream, what string, cfg jetstream.OrderedConsumerConfig) (ctx context.Context, cons jetstream.Consumer, end func(), ok bool) {
	done, ok := a.acquireStream(c, tenant)
	if !ok {
		return nil, nil, nil, false
	}
	a.streaming(c)
	ctx, cancel := context.WithCancel(c)
	cons, release, err := a.openOrdered(ctx, stream, cfg)
	if err != nil {
		cancel()
		done()
		a.fail(c, fmt.Errorf("open %s: %w", what, err))
		return nil, nil, nil, false
	}
	return ctx, cons, func() { release(); cancel(); done() }, true
}

// replay hands onMsg the n messages the consumer had pending when its info
// was read, then returns. Counting them (rather than reading until a
// message's NumPending is 0) keeps a steady flow of new messages from
// holding the replay open; it still stops at NumPending 0 in case some of
// the n expired meanwhile. It returns ctx's error when ctx ends.
func replay(ctx context.Context, it jetstream.MessagesContext, n uint64, onMsg func(jetstream.Msg, *jetstream.MsgMetadata)) error {
	for ; n > 0; n-- {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("next message: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		onMsg(m, md)
		if md.NumPending == 0 {
			break
		}
	}
	return nil
}

// followStream hands every message of it to onMsg and calls keepAlive when the
// stream has been idle, until ctx ends or the iterator stops. Next blocks,
// so it runs in its own goroutine, which ends with ctx.
func followStream(ctx context.Context, it jetstream.MessagesContext, onMsg func(jetstream.Msg), keepAlive func()) {
	msgs := make(chan jetstream.Msg)
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
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
