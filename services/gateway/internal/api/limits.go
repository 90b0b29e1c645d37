package api

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// The per-tenant limits of this gateway (docs/API.md, "Limits"): the
// request rate (a token bucket per tenant, limitRate), the functions a
// tenant may have (checked on create, see save), the open streams
// (streamLimiter). The fourth, the invocations a function may have queued,
// is the invocations stream's own (events.Options.MaxQueuedPerFunction).
// The rate and the streams are counted per gateway: with N replicas a
// tenant may have N times as much.

// maxRateTenants bounds how many tenants' token buckets a gateway keeps.
const maxRateTenants = 10_000

// tenantRates holds a token bucket per tenant, at most max of them: on
// each new tenant, the least recently seen buckets that have been idle
// long enough to be full again are forgotten (a new bucket is the same
// thing), and past max the least recently seen one is forgotten even if
// not full (that tenant starts again with a full bucket: generous to it,
// but memory stays bounded however many tenants valid tokens name).
type tenantRates struct {
	limit rate.Limit
	burst int
	max   int
	idle  time.Duration // after this long unused, a bucket is full again
	now   func() time.Time

	mu       sync.Mutex
	lru      *list.List // of *tenantBucket, most recently seen first
	byTenant map[string]*list.Element
}

type tenantBucket struct {
	tenant string
	lim    *rate.Limiter
	seen   time.Time
}

func newTenantRates(perSecond float64, burst, max int) *tenantRates {
	return &tenantRates{
		limit: rate.Limit(perSecond), burst: burst, max: max,
		// Refilling burst tokens takes burst/perSecond; the second more
		// covers a bucket left a little below empty by concurrent takes.
		idle:     time.Duration(float64(burst)/perSecond*float64(time.Second)) + time.Second,
		now:      time.Now,
		lru:      list.New(),
		byTenant: map[string]*list.Element{},
	}
}

// take spends one of tenant's tokens. When there is none it spends
// nothing and says how long until there is one.
func (r *tenantRates) take(tenant string) (ok bool, wait time.Duration) {
	now := r.now()
	lim := r.bucket(tenant, now)
	res := lim.ReserveN(now, 1)
	if !res.OK() { // only if burst < 1, which New prevents
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (r *tenantRates) bucket(tenant string, now time.Time) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byTenant[tenant]; ok {
		r.lru.MoveToFront(el)
		b := el.Value.(*tenantBucket)
		b.seen = now
		return b.lim
	}
	for el := r.lru.Back(); el != nil; el = r.lru.Back() {
		b := el.Value.(*tenantBucket)
		if r.lru.Len() < r.max && now.Sub(b.seen) < r.idle {
			break // the least recently seen is in use: so are the others
		}
		r.lru.Remove(el)
		delete(r.byTenant, b.tenant)
	}
	b := &tenantBucket{tenant: tenant, lim: rate.NewLimiter(r.limit, r.burst), seen: now}
	r.byTenant[tenant] = r.lru.PushFront(b)
	return b.lim
}

// len is how many buckets are kept.
func (r *tenantRates) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byTenant)
}

// limitRate answers 429 too_many_requests, with Retry-After, to a request
// over its tenant's rate. It runs after authenticate, on every /v1
// request; a stream counts once, when it is opened.
func (a *API) limitRate() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.rates == nil {
			c.Next()
			return
		}
		tenant := claimsOf(c).Tenant
		if ok, wait := a.rates.take(tenant); !ok {
			a.refused(c, limitRate, tenant)
			c.Header("Retry-After", retryAfter(wait))
			abort(c, http.StatusTooManyRequests, CodeTooManyRequests,
				fmt.Sprintf("too many requests: tenant %q may make %s requests per second to this gateway (bursts of %d); retry after %s s",
					tenant, strconv.FormatFloat(float64(a.rates.limit), 'f', -1, 64), a.rates.burst, retryAfter(wait)))
			return
		}
		c.Next()
	}
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// queueFullRetryAfter is the Retry-After of a queue_full answer: a hint,
// as how soon the queue drains depends on the function.
const queueFullRetryAfter = 5 * time.Second

// refuseQueueFull answers 429 queue_full: JetStream refused to queue an
// invocation of name because the function already has as many queued,
// running or waiting for a retry as the invocations stream allows
// (events.IsQueueFull). outcome says what became of the request.
func (a *API) refuseQueueFull(c *gin.Context, tenant, name, outcome string) {
	a.refused(c, limitQueue, tenant)
	c.Header("Retry-After", retryAfter(queueFullRetryAfter))
	abort(c, http.StatusTooManyRequests, CodeQueueFull, fmt.Sprintf(
		"queue full: function %q already has as many async invocations queued, running or waiting for a retry as one function may have (EVENTFLOW_MAX_QUEUED_PER_FUNCTION); %s; retry once some have finished",
		name, outcome))
}

// refused counts a request refused for limit (and logs its tenant, which
// the metric does not carry).
func (a *API) refused(c *gin.Context, limit, tenant string) {
	a.Metrics.limited.WithLabelValues(limit).Inc()
	a.Log.DebugContext(c.Request.Context(), "request refused by a per-tenant limit", "limit", limit, "tenant", tenant, "route", c.FullPath())
}

// tenantLocks serialises each tenant's function writes on this gateway,
// so that counting its functions and storing a new one are not
// interleaved with another create of the same tenant: the cap is exact on
// one gateway. Only tenants with a write in progress have an entry.
type tenantLocks struct {
	mu   sync.Mutex
	held map[string]*tenantLock
}

type tenantLock struct {
	mu   sync.Mutex
	refs int
}

func (l *tenantLocks) lock(tenant string) (unlock func()) {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*tenantLock{}
	}
	tl := l.held[tenant]
	if tl == nil {
		tl = &tenantLock{}
		l.held[tenant] = tl
	}
	tl.refs++
	l.mu.Unlock()
	tl.mu.Lock()
	return func() {
		tl.mu.Unlock()
		l.mu.Lock()
		if tl.refs--; tl.refs == 0 {
			delete(l.held, tenant)
		}
		l.mu.Unlock()
	}
}

// defaultMaxStreamsPerTenant is Config.MaxStreamsPerTenant's default.
const defaultMaxStreamsPerTenant = 32

// defaultMaxRouteRequestsPerTenant is Config.MaxRouteRequestsPerTenant's
// default.
const defaultMaxRouteRequestsPerTenant = 256

// streamLimiter bounds how many streams (log and event reads, each holding
// a JetStream consumer and a connection) each tenant has open on this
// gateway at once; another one bounds the tenant's route requests in
// flight.
type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes one of tenant's streams; false when all are taken. A max
// below 1 counts without limit.
func (l *streamLimiter) acquire(tenant string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open[tenant] >= l.max {
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
	return a.acquireSlot(c, a.streams, limitStreams, tenant, func() string {
		return fmt.Sprintf("too many streams: tenant %q has %d log or event streams open on this gateway, the most it allows; close one or retry later", tenant, a.streams.max)
	})
}

// acquireSlot takes one of tenant's slots of l, or counts the refusal
// (limit), answers 429 with Retry-After and the message, and returns
// false. The caller defers the returned release.
func (a *API) acquireSlot(c *gin.Context, l *streamLimiter, limit, tenant string, message func() string) (release func(), ok bool) {
	if !l.acquire(tenant) {
		a.refused(c, limit, tenant)
		c.Header("Retry-After", "1")
		abort(c, http.StatusTooManyRequests, CodeTooManyRequests, message())
		return nil, false
	}
	return func() { l.release(tenant) }, true
}
