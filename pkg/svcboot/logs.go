package svcboot

import (
	"context"

	"github.com/eventflow/eventflow/pkg/logship"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// ShipLogs makes a service that runs functions on the process runtime
// publish their log lines itself: they are its children, so only it can
// read their output (logstream, another process, cannot). rt is what
// BuildRuntime returned and closeRT its close. On the Kubernetes runtime
// it does nothing and returns closeRT: logstream follows the pods' logs.
//
// The returned close stops the functions (closeRT), then the shipper, and
// returns once their last lines are published; call it before Close drains
// the NATS connection.
func (s *Service) ShipLogs(ctx context.Context, rf RuntimeFlags, rt any, closeRT func()) func() {
	src, ok := rt.(runtime.LogSource)
	if rf.Name != RuntimeProcess || !ok {
		return closeRT
	}
	stop := logship.New(logship.Deps{JS: s.JS, Source: src, Log: s.Log, Registerer: s.Registry}).Start(ctx)
	return func() {
		closeRT()
		stop()
	}
}
