package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Source is the CloudEvents source of the gateway's events.
const Source = "/eventflow/gateway"

// maxEventID bounds Last-Event-ID and since: event ids are stream
// sequences, and the stream resumes at id+1, which must not wrap around to
// 0 (JetStream refuses a start sequence of 0: that was a 500). The int64
// range is what clients' integers hold, and more than a stream will reach.
const maxEventID = math.MaxInt64

// parseEventID reads the id of an event to resume after; from names where
// it came from for the message.
func parseEventID(from, v string) (uint64, error) {
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq > maxEventID {
		return 0, fmt.Errorf("%s=%q must be the id of an event: a whole number from 0 to %d", from, truncate(v), uint64(maxEventID))
	}
	return seq, nil
}

// lifecycleEvents serves GET /v1/events: the caller's tenant's lifecycle
// events as SSE (CloudEvents JSON as data, the stream sequence as id),
// optionally of one function (?function=) and one type (?type=). New events
// by default; with Last-Event-ID (or ?since=) everything after that event,
// so a client that reconnects misses nothing. With ?follow=false it sends
// what is stored (from the first event unless since is given) and ends.
func (a *API) lifecycleEvents(c *gin.Context) {
	tenant := claimsOf(c).Tenant
	fn, typ := c.Query("function"), c.Query("type")
	if fn != "" && function.ValidateName(fn) != nil {
		abort(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("function=%q is not a function name", fn))
		return
	}
	if typ != "" && !slices.Contains(events.EventTypes, typ) {
		abort(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("type=%q is not an event type; known: %s", typ, strings.Join(events.EventTypes, ", ")))
		return
	}
	follow := true
	if c.Query("follow") != "" {
		var err error
		if follow, err = queryBool(c, "follow"); err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventFilter(tenant, fn, typ)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	if !follow {
		// Only stored events would be sent: all of them.
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	// Last-Event-ID (an EventSource reconnecting) wins over since, but a
	// malformed since is refused all the same.
	last, from := c.GetHeader("Last-Event-ID"), "Last-Event-ID"
	if since := c.Query("since"); since != "" {
		if _, err := parseEventID("query parameter since", since); err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		if last == "" {
			last, from = since, "query parameter since"
		}
	}
	if last != "" {
		seq, err := parseEventID(from, last)
		if err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	ctx, cons, end, ok := a.openStream(c, tenant, events.StreamEvents, "events", cfg)
	if !ok {
		return
	}
	defer end()
	// Without follow the response ends after the events stored now: as many
	// as the consumer has pending when it opens.
	var pending uint64
	if !follow {
		info, err := cons.Info(ctx)
		if err != nil {
			a.fail(c, fmt.Errorf("open events: %w", err))
			return
		}
		pending = info.NumPending
	}
	var it jetstream.MessagesContext
	if follow || pending > 0 {
		var err error
		if it, err = cons.Messages(); err != nil {
			a.fail(c, fmt.Errorf("open events: %w", err))
			return
		}
		defer it.Stop()
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	// A comment first, so clients see the stream open before any event.
	a.writeWithin(c)
	_, _ = c.Writer.WriteString(": stream of " + events.EventFilter(tenant, fn, typ) + "\n\n")
	c.Writer.Flush()

	write := func(m jetstream.Msg, md *jetstream.MsgMetadata) {
		typ := strings.TrimPrefix(m.Subject(), events.SubjectEvents+".")
		if parts := strings.SplitN(typ, ".", 3); len(parts) == 3 {
			typ = "io.eventflow." + parts[2]
		}
		a.writeWithin(c)
		_, _ = c.Writer.WriteString("id: " + strconv.FormatUint(md.Sequence.Stream, 10) + "\nevent: " + typ + "\ndata: " + string(m.Data()) + "\n\n")
		c.Writer.Flush()
	}
	if !follow {
		// The status is sent: an error can only end the stream early.
		if err := replay(ctx, it, pending, write); err != nil && ctx.Err() == nil {
			a.Log.ErrorContext(ctx, "events replay ended early", "err", err)
		}
		return
	}
	followStream(ctx, it, func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		write(m, md)
	}, func() {
		a.writeWithin(c)
		_, _ = c.Writer.WriteString(": keep-alive\n\n")
		c.Writer.Flush()
	})
}
