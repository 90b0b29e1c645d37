package api

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// defaultMaxStreamsPerTenant is Config.MaxStreamsPerTenant's default.
const defaultMaxStreamsPerTenant = 32

// streamLimiter bounds how many streams (log and event reads, each holding
// a JetStream consumer and a connection) each tenant has open on this
// gateway at once.
type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes one of tenant's streams; false when all are taken.
func (l *streamLimiter) acquire(tenant string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[tenant] >= l.max {
		return false
	}
	l.open[tenant]++
	return true
}

func (l *streamLimiter) release(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[tenant] <= 1 {
		delete(l.open, tenant)
		return
	}
	l.open[tenant]--
}

// acquireStream takes one of tenant's streams for the request, or answers
// 429 (with Retry-After) and returns false. The caller defers the returned
// release.
func (a *API) acquireStream(c *gin.Context, tenant string) (release func(), ok bool) {
	if !a.streams.acquire(tenant) {
		c.Header("Retry-After", "1")
		abort(c, http.StatusTooManyRequests, CodeTooManyRequests,
			fmt.Sprintf("too many streams: tenant %q has %d log or event streams open on this gateway, the most it allows; close one or retry later", tenant, a.streams.max))
		return nil, false
	}
	return func() { a.streams.release(tenant) }, true
}
