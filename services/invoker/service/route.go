package service

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// route runs an invocation where the function's traffic split sends it
// (function.Record.Route): most often its latest revision, through
// invoke (held while cold); or another revision, which runs beside it as a
// runtime deployment of its own (function.RevisionName). That one is not
// held: with no ready instance (still starting, or drained since the
// split moved away from it) the run goes to the latest instead, so a
// change of the split never fails a request. It returns the revision
// that served.
func (iv *Invoker) route(ctx context.Context, tenant string, rec function.Record, req runtime.InvokeRequest, mode string, h *runHooks) (runtime.InvokeResult, int64, error) {
	if spec, revision, extra := rec.Route(rand.Float64()); extra {
		h.onAttempt()
		rq := req
		rq.Timeout = spec.Timeout() // the revision's own
		res, err := iv.d.Runtime.Invoke(ctx, tenant, spec, rq)
		if !errors.Is(err, runtime.ErrNoReadyInstance) {
			return res, revision, err
		}
		h.onCold()
	}
	res, err := iv.invoke(ctx, tenant, rec.Spec, req, mode, h)
	return res, rec.Generation, err
}
