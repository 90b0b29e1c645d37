// Package logship publishes function log lines: it follows a
// runtime.LogSource and publishes every line to
// eventflow.logs.<tenant>.<function>.<instance>, where the gateway replays
// and follows them.
//
// One shipper follows each source. Logstream runs it on the Kubernetes
// runtime's pod logs; with the process runtime, whichever process runs the
// functions runs it over its own runtime (`eventflow dev` once for all
// services; standalone, the invoker and the deployer each for theirs).
package logship

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Deps are what a shipper needs from its host.
type Deps struct {
	JS         jetstream.JetStream
	Source     runtime.LogSource
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Shipper publishes a source's log lines until its context ends.
type Shipper struct {
	d         Deps
	published prometheus.Counter
	failed    prometheus.Counter
}

// New builds a shipper and registers its metrics.
func New(d Deps) *Shipper {
	s := &Shipper{
		d: d,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventflow_log_lines_published_total", Help: "Function log lines published to the logs stream.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventflow_log_lines_failed_total", Help: "Function log lines the logs stream did not store.",
		}),
	}
	d.Registerer.MustRegister(s.published, s.failed)
	return s
}

// Run follows the source's lines and publishes them asynchronously (a
// bounded window of unacknowledged publishes) until ctx ends; every line
// the source delivered by then is published and settled before Run
// returns.
func (s *Shipper) Run(ctx context.Context) error {
	lines := make(chan events.LogLine, 1024)
	followErr := make(chan error, 1)
	go func() {
		followErr <- s.d.Source.FollowLogs(ctx, lines)
		close(lines)
	}()
	pub := bus.NewAsyncPublisher(s.d.JS, func(err error) {
		if err != nil {
			s.failed.Inc()
		} else {
			s.published.Inc()
		}
	})
	s.d.Log.Info("shipping function log lines")
	for line := range lines {
		pub.Publish(lineMsg(line))
	}
	pub.Close()
	if err := <-followErr; err != nil && ctx.Err() == nil {
		return fmt.Errorf("follow logs: %w", err)
	}
	return nil
}

// Start runs the shipper in the background, detached from ctx's
// cancellation so it outlives the host's work: the host stops its
// functions first (so their last lines are in the source), then calls
// stop, which ends the shipper and returns once every line is published.
// Calling stop again does nothing.
func (s *Shipper) Start(ctx context.Context) (stop func()) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(sctx); err != nil {
			s.d.Log.Error("log shipping stopped", "err", err)
		}
	}()
	return sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
}

func lineMsg(line events.LogLine) *nats.Msg {
	b, _ := json.Marshal(line)
	msg := nats.NewMsg(events.LogSubject(line.Tenant, line.Function, line.Instance))
	msg.Data = b
	return msg
}
