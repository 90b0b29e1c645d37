package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// watchPuts connects to the platform's NATS (as name), watches bucket —
// the keys given, or all of them — and calls onPut with every put, from
// one goroutine, until stop is called. Stop (idempotent) waits for the
// last call to return and closes the connection.
func watchPuts(ctx context.Context, natsURL string, id []nats.Option, name, bucket string, keys []string, updatesOnly bool, onPut func(jetstream.KeyValueEntry)) (stop func(), err error) {
	nc, err := nats.Connect(natsURL, append(id, nats.Name(name), nats.Timeout(5*time.Second))...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var opts []jetstream.WatchOpt
	if updatesOnly {
		opts = append(opts, jetstream.UpdatesOnly())
	}
	var w jetstream.KeyWatcher
	if len(keys) == 0 {
		w, err = kv.WatchAll(wctx, opts...)
	} else {
		w, err = kv.WatchFiltered(wctx, keys, opts...)
	}
	if err != nil {
		cancel()
		nc.Close()
		return nil, err
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-wctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil && e.Operation() == jetstream.KeyValuePut {
					onPut(e)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			_ = w.Stop()
			<-stopped
			nc.Close()
		})
	}, nil
}
