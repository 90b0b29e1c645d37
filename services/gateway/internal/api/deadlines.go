package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// The gateway's http.Server bounds every request (service.HTTPLimits): its
// headers and body must arrive within ReadTimeout and its answer be written
// within WriteTimeout, so a slow or stalled client cannot hold a connection
// forever. ReadTimeout needs nothing here: net/http lifts the read deadline
// itself once the body has been read. WriteTimeout would cut off the routes
// that answer late on purpose: streams (logs and events, open until the
// client leaves) and sync invocations (up to the function's timeout, 15
// minutes at most). Rather than run the whole server without a write
// timeout, those routes move the deadline on their own connection with
// http.ResponseController and keep a bound of their own: a stream bounds
// each write, a sync invocation its wait.

// streaming lifts the write deadline for a stream (whose replay may take a
// while before the first write); call writeWithin before each write.
func (a *API) streaming(c *gin.Context) {
	// An error means no net/http connection (a test's recorder): nothing to lift.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
}

// writeWithin bounds the next write of a stream by WriteTimeout: a client
// that stops reading is cut off (the write fails, which cancels the
// request's context) instead of holding the handler and its consumer
// forever.
func (a *API) writeWithin(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(a.cfg.WriteTimeout))
}

// waitUpTo lets a request run for up to d before its answer is written,
// and WriteTimeout more to write it.
func (a *API) waitUpTo(c *gin.Context, d time.Duration) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(d + a.cfg.WriteTimeout))
}
