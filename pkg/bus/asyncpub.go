package bus

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AsyncPublisher publishes without waiting for each ack, for messages
// nobody waits on (log lines, lifecycle events): one goroutine settles the
// acks in order and reports each outcome, so publishing never costs a round
// trip. JetStream bounds the acks in flight.
type AsyncPublisher struct {
	js      jetstream.JetStream
	futures chan jetstream.PubAckFuture
	done    chan struct{}
	onAck   func(err error)
}

// NewAsyncPublisher starts the settling goroutine; onAck (may be nil) is
// called with nil or the error of every message.
func NewAsyncPublisher(js jetstream.JetStream, onAck func(err error)) *AsyncPublisher {
	p := &AsyncPublisher{js: js, futures: make(chan jetstream.PubAckFuture, 4096), done: make(chan struct{}), onAck: onAck}
	go func() {
		defer close(p.done)
		for f := range p.futures {
			var err error
			select {
			case <-f.Ok():
			case err = <-f.Err():
			}
			if p.onAck != nil {
				p.onAck(err)
			}
		}
	}()
	return p
}

// Publish sends msg; a failure to send is reported to onAck at once.
func (p *AsyncPublisher) Publish(msg *nats.Msg) {
	f, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		if p.onAck != nil {
			p.onAck(err)
		}
		return
	}
	p.futures <- f
}

// Close waits until every published message is settled. No Publish may
// follow.
func (p *AsyncPublisher) Close() {
	close(p.futures)
	<-p.done
}
