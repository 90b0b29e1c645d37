// Package bus connects to NATS and provisions EventFlow's streams and
// buckets. Provisioning is idempotent, so every service may run it at start.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
)

// Connect dials NATS and keeps reconnecting for ever, as a long-running
// service must. The first connection attempt is retried until ctx ends.
// extra carries the identity (busauth.ConnectOptions).
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
		// Permission violations arrive here, not at the call that caused
		// them: log them, or a missing permission looks like a timeout.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats", "subject", sub.Subject, "err", err)
				return
			}
			log.Error("nats", "err", err)
		}),
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	// With RetryOnFailedConnect the first dial happens in the background.
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("connect to nats at %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nc, nil
}

// Provision creates or updates every stream and bucket. It is safe to run
// concurrently from several services.
func Provision(ctx context.Context, js jetstream.JetStream, o events.Options) error {
	for _, cfg := range o.Streams() {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("provision stream %s: %w", cfg.Name, err)
		}
	}
	for _, cfg := range o.Buckets() {
		if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
			return fmt.Errorf("provision bucket %s: %w", cfg.Bucket, err)
		}
	}
	return nil
}

// WaitProvisioned waits until every stream and bucket exists, for a
// service whose identity may use them but not create them (the deployer
// provisions when the bus has authentication).
func WaitProvisioned(ctx context.Context, js jetstream.JetStream, o events.Options, log *slog.Logger) error {
	logged := false
	for _, name := range o.StreamNames() {
		for {
			_, err := js.Stream(ctx, name)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			if !logged {
				log.Info("waiting for the deployer to create the streams", "stream", name)
				logged = true
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("stream %s was not created (is the deployer running?): %w", name, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// Buckets are the KV buckets the services share.
type Buckets struct {
	Functions   jetstream.KeyValue
	Status      jetstream.KeyValue
	Invocations jetstream.KeyValue
	Triggers    jetstream.KeyValue
	Secrets     jetstream.KeyValue
	Revisions   jetstream.KeyValue
}

// OpenBuckets binds to the provisioned buckets.
func OpenBuckets(ctx context.Context, js jetstream.JetStream) (Buckets, error) {
	var b Buckets
	var err error
	if b.Functions, err = js.KeyValue(ctx, events.BucketFunctions); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketFunctions, err)
	}
	if b.Status, err = js.KeyValue(ctx, events.BucketStatus); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketStatus, err)
	}
	if b.Invocations, err = js.KeyValue(ctx, events.BucketInvocations); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketInvocations, err)
	}
	if b.Triggers, err = js.KeyValue(ctx, events.BucketTriggers); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketTriggers, err)
	}
	if b.Secrets, err = js.KeyValue(ctx, events.BucketSecrets); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketSecrets, err)
	}
	if b.Revisions, err = js.KeyValue(ctx, events.BucketRevisions); err != nil {
		return b, fmt.Errorf("open bucket %s: %w", events.BucketRevisions, err)
	}
	return b, nil
}

// Ready reports whether NATS is connected and JetStream answers.
func Ready(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	if !nc.IsConnected() {
		return errors.New("nats not connected")
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// PullExpiry bounds each pull request of a long-running consumer. nats.go's
// Consume was seen to stop pulling with messages waiting, until its pull
// expired (30 s by default) and its heartbeat check pulled again; a short
// expiry makes such a pause short.
const PullExpiry = jetstream.PullExpiry(5 * time.Second)
