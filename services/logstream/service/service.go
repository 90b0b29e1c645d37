// Package service assembles logstream: it follows every function's log
// lines from the runtime and publishes each to
// eventflow.logs.<tenant>.<function>.<instance>, where the gateway replays
// and follows them.
package service

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Deps are what logstream needs from its host.
type Deps struct {
	JS         jetstream.JetStream
	Source     runtime.LogSource
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Logstream publishes log lines until its context ends.
type Logstream struct {
	d         Deps
	published prometheus.Counter
	failed    prometheus.Counter
}

// New builds a logstream.
func New(d Deps) *Logstream {
	l := &Logstream{
		d: d,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventflow_log_lines_published_total", Help: "Function log lines published to the logs stream.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventflow_log_lines_failed_total", Help: "Function log lines the logs stream did not store.",
		}),
	}
	d.Registerer.MustRegister(l.published, l.failed)
	return l
}

// Run follows the runtime's lines and publishes them asynchronously (a
// bounded window of unacknowledged publishes), until ctx ends; lines read
// before that are flushed.
func (l *Logstream) Run(ctx context.Context) error {
	lines := make(chan events.LogLine, 1024)
	followErr := make(chan error, 1)
	go func() {
		followErr <- l.d.Source.FollowLogs(ctx, lines)
		close(lines)
	}()
	pub := bus.NewAsyncPublisher(l.d.JS, func(err error) {
		if err != nil {
			l.failed.Inc()
		} else {
			l.published.Inc()
		}
	})
	l.d.Log.Info("logstream running")
	for line := range lines {
		pub.Publish(lineMsg(line))
	}
	pub.Close()
	if err := <-followErr; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func lineMsg(line events.LogLine) *nats.Msg {
	b, _ := json.Marshal(line)
	msg := nats.NewMsg(events.LogSubject(line.Tenant, line.Function, line.Instance))
	msg.Data = b
	return msg
}
