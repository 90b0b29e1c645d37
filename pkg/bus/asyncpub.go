package bus

import (
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishAsyncTimeout bounds the wait for an async publish's ack: one
// that never comes (a stream leader lost mid-publish) fails then instead
// of holding up every later outcome, which are settled in order. Pass
// JetStreamOptions to jetstream.New.
const PublishAsyncTimeout = 10 * time.Second

// JetStreamOptions are the jetstream.New options every service uses.
func JetStreamOptions() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{jetstream.WithPublishAsyncTimeout(PublishAsyncTimeout)}
}

// ErrPublisherClosed is reported for a message published after Close.
var ErrPublisherClosed = errors.New("publisher closed")

// AsyncPublisher publishes without waiting for each ack, for messages
// nobody waits on (log lines, lifecycle events, the gateway's queued
// records): one goroutine settles the acks in order and reports each
// outcome, so publishing never costs a round trip. JetStream bounds the
// acks in flight.
type AsyncPublisher struct {
	js      jetstream.JetStream
	futures chan pending
	done    chan struct{}
	onAck   func(err error)

	mu     sync.RWMutex // held to read closed and send on futures
	closed bool
}

type pending struct {
	f    jetstream.PubAckFuture
	then func(err error)
}

// NewAsyncPublisher starts the settling goroutine; onAck (may be nil) is
// called with nil or the error of every message published without a
// callback of its own.
func NewAsyncPublisher(js jetstream.JetStream, onAck func(err error)) *AsyncPublisher {
	p := &AsyncPublisher{js: js, futures: make(chan pending, 4096), done: make(chan struct{}), onAck: onAck}
	go func() {
		defer close(p.done)
		for pf := range p.futures {
			var err error
			select {
			case <-pf.f.Ok():
			case err = <-pf.f.Err():
			}
			p.report(pf.then, err)
		}
	}()
	return p
}

// Publish sends msg; a failure to send is reported to onAck at once.
func (p *AsyncPublisher) Publish(msg *nats.Msg) { p.PublishThen(msg, nil) }

// PublishThen sends msg and calls then (instead of onAck) with its
// outcome, from the settling goroutine, or at once if it could not be
// sent. then must not block for long: acks after it wait for it.
func (p *AsyncPublisher) PublishThen(msg *nats.Msg, then func(err error)) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		// A request still running after the server's shutdown gave up
		// waiting for it.
		p.report(then, ErrPublisherClosed)
		return
	}
	f, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		p.report(then, err)
		return
	}
	p.futures <- pending{f: f, then: then}
}

func (p *AsyncPublisher) report(then func(error), err error) {
	switch {
	case then != nil:
		then(err)
	case p.onAck != nil:
		p.onAck(err)
	}
}

// Close waits until every published message is settled; a message
// published after it is reported failed (ErrPublisherClosed).
func (p *AsyncPublisher) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.futures)
	}
	p.mu.Unlock()
	<-p.done
}
