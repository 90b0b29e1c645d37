package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/telemetry"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// invoke serves POST /v1/functions/{name}:invoke.
func (a *API) invoke(c *gin.Context) {
	name := strings.TrimSuffix(c.Param("name"), ":invoke") // knownName checked the suffix
	async, err := wantsAsync(c)
	if err != nil {
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	tenant := claimsOf(c).Tenant
	rec, err := a.Cache.Lookup(c, tenant, name)
	if err == nil && rec.Deleting {
		err = store.ErrNotFound
	}
	if err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	payload, err := readBody(c.Request.Body)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.accept(c, tenant, longestRun(rec), async, payload, nil)
}

// longestRun is the spec a sync invocation waits by: the function's, with
// the longest timeout of the revisions its traffic may send a run to.
func longestRun(rec function.Record) function.Spec {
	spec := rec.Spec
	for _, s := range rec.TrafficSpecs {
		if s.Timeout() > spec.Timeout() {
			spec.Invocation.Timeout = function.Duration(s.Timeout())
		}
	}
	return spec
}

// accept takes an invocation whose function was found and body read: the
// Idempotency-Key and X-Callback-Url handling of POST …:invoke, then the
// sync or async invocation. req is the HTTP request of an /async-fn/
// route call (nil otherwise).
func (a *API) accept(c *gin.Context, tenant string, spec function.Spec, async bool, payload []byte, req *events.HTTPRequest) {
	name := spec.Name
	var id string
	key := c.GetHeader("Idempotency-Key")
	keyFound := false
	if key != "" {
		if err := checkIdempotencyKey(key); err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		prevID, found, err := a.Store.IdempotentID(c, tenant, name, key)
		if err != nil {
			a.fail(c, err)
			return
		}
		if found {
			// A repeat: the first request's invocation, or (if that one
			// was not recorded, e.g. not queued) the same id again.
			id, keyFound = prevID, true
			if prev, err := a.invocationRecord(c, tenant, id); err == nil {
				a.replay(c, prev, async)
				return
			}
		}
	}
	callback, err := a.callbackURL(c, c.GetHeader("X-Callback-Url"))
	if err != nil {
		a.fail(c, err)
		return
	}
	if !async && callback != "" {
		abort(c, http.StatusBadRequest, CodeBadRequest, "X-Callback-Url is for async invocations: add ?async=true")
		return
	}
	if id == "" {
		// Every id, also one an Idempotency-Key makes, is a new
		// time-ordered one, so the history lists invocations in the order
		// they were made; made only now, once the request is found valid
		// (a callback host's lookup may take seconds), its time is close to
		// when the invocation is stored, which a GET for it relies on
		// (invocationRecord).
		id = events.NewInvocationID()
	}
	if key != "" && !keyFound {
		// Only now, with the request found valid, is the key taken; a
		// request with the same key that took it first wins.
		claimed, err := a.Store.ClaimIdempotencyKey(c, tenant, name, key, id)
		if err != nil {
			a.fail(c, err)
			return
		}
		if claimed != id {
			id = claimed
			if prev, err := a.invocationRecord(c, tenant, id); err == nil {
				a.replay(c, prev, async)
				return
			}
		}
	}
	if async {
		a.invokeAsync(c, tenant, name, id, callback, payload, req)
		return
	}
	a.invokeSync(c, tenant, spec, id, payload)
}

// checkIdempotencyKey accepts an Idempotency-Key of 1 to 255 printable
// characters.
func checkIdempotencyKey(key string) error {
	if key == "" || len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("Idempotency-Key must be 1 to 255 printable characters")
	}
	return nil
}

// replay answers a repeated request (same Idempotency-Key) with the first
// one's invocation instead of invoking again: async, its id and status;
// sync, its recorded output once it has finished.
func (a *API) replay(c *gin.Context, prev events.InvocationRecord, async bool) {
	c.Header("Idempotent-Replayed", "true")
	c.Header("X-Invocation-Id", prev.ID)
	loc := "/v1/invocations/" + prev.ID
	if async || !prev.Done() {
		c.Header("Location", loc)
		c.PureJSON(http.StatusAccepted, gin.H{"id": prev.ID, "status": prev.Status, "location": loc})
		return
	}
	if prev.ExitCode != nil {
		c.Header("X-Exit-Code", strconv.Itoa(*prev.ExitCode))
	}
	if prev.Status == events.StatusSucceeded {
		c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(prev.Output))
		return
	}
	abort(c, http.StatusBadGateway, CodeFunctionFailed, prev.Error)
}

// wantsAsync reads ?async= (a boolean) and Prefer: respond-async.
func wantsAsync(c *gin.Context) (bool, error) {
	if async, err := queryBool(c, "async"); err != nil || async {
		return async, err
	}
	for _, p := range strings.Split(c.GetHeader("Prefer"), ",") {
		if strings.EqualFold(strings.TrimSpace(p), "respond-async") {
			return true, nil
		}
	}
	return false, nil
}

// knownName answers 404 for a path that cannot name a function: a name
// that is not a DNS label cannot exist, and POST /v1/functions/{name} is
// only an endpoint with the ":invoke" suffix. It runs before the scope
// check so the answer does not depend on the token's scopes.
func (a *API) knownName(c *gin.Context) {
	name := c.Param("name")
	if c.Request.Method == http.MethodPost && c.FullPath() == "/v1/functions/:name" {
		var ok bool
		if name, ok = strings.CutSuffix(name, ":invoke"); !ok {
			if name, ok = strings.CutSuffix(c.Param("name"), ":rollback"); !ok {
				abort(c, http.StatusNotFound, CodeNotFound, "no such endpoint: POST "+c.Request.URL.Path+" (to invoke, POST "+c.Request.URL.Path+":invoke; to roll back, …:rollback)")
				return
			}
		}
	}
	if function.ValidateName(name) != nil {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("function %q: not found", name))
		return
	}
	c.Next()
}

// invokeSync sends the payload to one invoker over core NATS request/reply:
// nothing touches disk on the way, the invoker records the result after it
// has answered.
func (a *API) invokeSync(c *gin.Context, tenant string, spec function.Spec, id string, payload []byte) {
	c.Header("X-Invocation-Id", id)
	msg := nats.NewMsg(events.SyncSubject(tenant, spec.Name))
	msg.Header.Set(events.HeaderInvocationID, id)
	if ct := c.GetHeader("Content-Type"); ct != "" {
		msg.Header.Set(events.HeaderContentType, ct)
	}
	msg.Data = payload
	telemetry.Inject(c, msg)

	// The wait may outlast the server's write timeout (a function may run
	// 15 minutes); ctx bounds it instead (syncWait).
	wait := a.syncWait(spec)
	a.waitUpTo(c, wait)
	ctx, cancel := context.WithTimeout(c, wait)
	defer cancel()
	reply, err := a.NC.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		a.Metrics.invocations.WithLabelValues("sync", "unavailable").Inc()
		unavailable(c, "no invoker is running to serve the invocation; try again")
		return
	case errors.Is(err, context.DeadlineExceeded):
		a.Metrics.invocations.WithLabelValues("sync", "timeout").Inc()
		abort(c, http.StatusGatewayTimeout, CodeTimeout, fmt.Sprintf("no answer within %s", wait))
		return
	case err != nil:
		a.fail(c, fmt.Errorf("sync invocation: %w", err))
		return
	}
	if d := reply.Header.Get(events.HeaderDurationMs); d != "" {
		c.Header("X-Duration-Ms", d)
	}
	if code := reply.Header.Get(events.HeaderExitCode); code != "" {
		c.Header("X-Exit-Code", code)
	}
	if reply.Header.Get(events.HeaderStatus) == events.StatusSucceeded {
		a.Metrics.invocations.WithLabelValues("sync", "succeeded").Inc()
		ct := reply.Header.Get(events.HeaderContentType)
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		c.Data(http.StatusOK, ct, reply.Data)
		return
	}
	msgText := reply.Header.Get(events.HeaderError)
	switch reply.Header.Get(events.HeaderErrorCode) {
	case events.ErrorCodeNotFound:
		a.Metrics.invocations.WithLabelValues("sync", "not_found").Inc()
		abort(c, http.StatusNotFound, CodeNotFound, msgText)
	case events.ErrorCodeTimeout:
		a.Metrics.invocations.WithLabelValues("sync", "timeout").Inc()
		abort(c, http.StatusGatewayTimeout, CodeTimeout, msgText)
	case events.ErrorCodeUnavailable:
		// No instance became ready within the function's timeout (the
		// invoker held the request while it woke the function).
		a.Metrics.invocations.WithLabelValues("sync", "unavailable").Inc()
		unavailable(c, msgText)
	default:
		a.Metrics.invocations.WithLabelValues("sync", "failed").Inc()
		abort(c, http.StatusBadGateway, CodeFunctionFailed, msgText)
	}
}

// syncWait is how long the gateway waits for a sync invocation's reply:
// the function's timeout for its run, plus SyncTimeoutGrace for the trip
// through NATS and the invoker. An http-mode function may also be cold
// (scaled to zero): the invoker then holds the run for up to another
// timeout while the function wakes, and the run that follows gets its full
// timeout, so its wait is twice the timeout plus the grace.
func (a *API) syncWait(spec function.Spec) time.Duration {
	wait := spec.Timeout() + a.cfg.SyncTimeoutGrace
	if spec.Mode() == function.ModeHTTP {
		wait += spec.Timeout()
	}
	return wait
}

// invokeAsync stores the invocation on the JetStream work queue and answers
// 202 once JetStream has acknowledged it: the accept's one durable write.
// The "queued" record and event follow without being waited for
// (queuedRecords); a GET right after the 202 still finds the record.
func (a *API) invokeAsync(c *gin.Context, tenant, name, id, callback string, payload []byte, req *events.HTTPRequest) {
	now := time.Now().UTC()
	msg := events.Invocation{ID: id, Tenant: tenant, Function: name, Payload: payload,
		ContentType: c.GetHeader("Content-Type"), CallbackURL: callback, AcceptedAt: now, Request: req}.Msg()
	telemetry.Inject(c, msg)
	ack, err := a.JS.PublishMsg(c, msg)
	if err != nil {
		if events.IsQueueFull(err) {
			a.Metrics.invocations.WithLabelValues("async", "queue_full").Inc()
			a.refuseQueueFull(c, tenant, name, "the invocation was not queued and nothing was stored")
			return
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			// The body and headers (an /async-fn/ call's forwarded ones)
			// exceed the bus's max_payload: no retry will change that.
			a.Metrics.invocations.WithLabelValues("async", "too_large").Inc()
			abort(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf(
				"the invocation (a %d-byte body with %d bytes of headers) is larger than the message bus takes; nothing was stored; send a smaller body or fewer headers", len(msg.Data), msg.Size()-len(msg.Subject)-len(msg.Reply)-len(msg.Data)))
			return
		}
		a.Metrics.invocations.WithLabelValues("async", "unavailable").Inc()
		a.Log.ErrorContext(c, "invocation not queued", "tenant", tenant, "function", name, "err", err)
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "the invocation could not be queued; nothing was stored; try again")
		return
	}
	if ack.Duplicate {
		// The same Idempotency-Key arrived twice at once: JetStream kept
		// one, and the request that stored it writes its record.
		c.Header("Idempotent-Replayed", "true")
	} else {
		rec := events.StoredInvocation{ID: id, Tenant: tenant, Function: name, Async: true, Status: events.StatusQueued, CreatedAt: now}
		if callback != "" {
			rec.Callback = &events.CallbackStatus{URL: callback, Status: events.CallbackPending}
		}
		var evMsg *nats.Msg
		if ev, err := events.InvocationEvent(events.TypeInvocationQueued, Source, rec.View()); err == nil {
			if evMsg, err = ev.Msg(); err == nil {
				telemetry.Inject(c, evMsg)
			}
		}
		a.queued.write(rec, evMsg)
	}
	a.Metrics.invocations.WithLabelValues("async", "accepted").Inc()
	loc := "/v1/invocations/" + id
	c.Header("Location", loc)
	c.Header("X-Invocation-Id", id)
	c.Header("Preference-Applied", "respond-async")
	// The same bytes PureJSON makes of {"id","location","status"} (its
	// encoder ends with a newline), without a map and reflection on the
	// hottest answer (an id is hex: nothing to escape).
	c.Data(http.StatusAccepted, "application/json; charset=utf-8", []byte(`{"id":"`+id+`","location":"`+loc+`","status":"`+events.StatusQueued+`"}`+"\n"))
}

func (a *API) getInvocation(c *gin.Context) {
	id := c.Param("id")
	if !events.ValidInvocationID(id) {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("invocation %q: not found", id))
		return
	}
	r, err := a.invocationRecord(c, claimsOf(c).Tenant, id)
	if err != nil {
		a.fail(c, fmt.Errorf("invocation %q: %w", id, err))
		return
	}
	c.PureJSON(http.StatusOK, r)
}

const (
	defaultPage = 50
	maxPage     = 1000
)

// listInvocations serves GET /v1/functions/{name}/invocations: the
// function's invocation records (kept for the invocation TTL), newest
// first, optionally of one status, a page at a time (?limit=, and ?before=
// the previous page's next).
func (a *API) listInvocations(c *gin.Context) {
	name, tenant := c.Param("name"), claimsOf(c).Tenant
	if _, _, err := a.Store.Record(c, tenant, name); err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	limit, err := queryInt(c, "limit", defaultPage, 1, maxPage)
	if err != nil {
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	status, before := c.Query("status"), c.Query("before")
	if status != "" && !slices.Contains(events.InvocationStatuses, status) {
		abort(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("status=%q is not an invocation status", status))
		return
	}
	if before != "" && !events.ValidInvocationID(before) {
		abort(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("before=%q is not an invocation id", before))
		return
	}
	a.queued.waitFunction(c, tenant, name) // what this gateway accepted is listed
	items, err := a.Store.Invocations(c, tenant, name, status, before, limit+1)
	if err != nil {
		a.fail(c, err)
		return
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	c.PureJSON(http.StatusOK, gin.H{"items": items, "next": next})
}
