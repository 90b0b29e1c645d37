package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

const (
	defaultTail = 100
	maxTail     = 10000
	// maxSinceAge bounds since=<duration>; the logs stream keeps less.
	maxSinceAge = 30 * 24 * time.Hour
)

// logs serves GET /v1/functions/{name}/logs: the last `tail` lines of every
// instance (of those stored at or after `since`, when given), then (with
// follow) new lines as they come. Text by default, SSE on Accept:
// text/event-stream (where follow defaults to true).
func (a *API) logs(c *gin.Context) {
	name := c.Param("name")
	tenant := claimsOf(c).Tenant
	rec, _, err := a.Store.Record(c, tenant, name)
	if err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	tail, err := queryInt(c, "tail", defaultTail, 0, maxTail)
	if err != nil {
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	sse := strings.Contains(c.GetHeader("Accept"), "text/event-stream")
	follow := sse && c.Query("follow") == ""
	if c.Query("follow") != "" {
		if follow, err = queryBool(c, "follow"); err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.LogFilter(tenant, name)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	// The revisions its traffic runs beside it log under their own
	// runtime names (<name>--r<N>, in the instance names too): theirs are
	// the function's lines as well.
	for _, n := range rec.TrafficRevisions() {
		cfg.FilterSubjects = append(cfg.FilterSubjects, events.LogFilter(tenant, function.RevisionName(name, n)))
	}
	if v := c.Query("since"); v != "" {
		start, err := parseSince(v, time.Now())
		if err != nil {
			abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		// The server skips older lines; the time is when each was stored.
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	ctx, cons, end, ok := a.openStream(c, tenant, events.StreamLogs, "logs", cfg)
	if !ok {
		return
	}
	defer end()
	info, err := cons.Info(ctx)
	if err != nil {
		a.fail(c, fmt.Errorf("open logs: %w", err))
		return
	}
	w := a.newLogWriter(c, sse)
	// Replay: keep the last `tail` of what is stored now.
	ring := make([]logEntry, 0, min(tail, 1024))
	var it jetstream.MessagesContext
	if info.NumPending > 0 || follow {
		if it, err = cons.Messages(); err != nil {
			a.fail(c, fmt.Errorf("open logs: %w", err))
			return
		}
		defer it.Stop()
	}
	err = replay(ctx, it, info.NumPending, func(m jetstream.Msg, md *jetstream.MsgMetadata) {
		if tail > 0 {
			if len(ring) == tail {
				ring = ring[1:]
			}
			ring = append(ring, decodeLog(m.Data(), md))
		}
	})
	if ctx.Err() != nil {
		return // the client is gone
	}
	if err != nil {
		a.fail(c, fmt.Errorf("read logs: %w", err))
		return
	}
	w.start()
	for _, e := range ring {
		w.write(e)
	}
	w.flush()
	if !follow {
		return
	}
	followStream(ctx, it, func(m jetstream.Msg) {
		md, _ := m.Metadata()
		w.write(decodeLog(m.Data(), md))
		w.flush()
	}, w.keepAlive)
}

// parseSince reads since=: a positive Go duration up to maxSinceAge before
// now, or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, error) {
	maxHours := int(maxSinceAge.Hours())
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 || d > maxSinceAge {
			return time.Time{}, fmt.Errorf("query parameter since=%q: a duration must be more than 0 and at most %dh (30 days)", v, maxHours)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("query parameter since=%q must be a duration such as 10m or 1h30m (units h, m, s; at most %dh) or an RFC 3339 time such as 2026-01-02T15:04:05Z", v, maxHours)
}

type logEntry struct {
	seq  uint64
	line events.LogLine
}

func decodeLog(data []byte, md *jetstream.MsgMetadata) logEntry {
	var e logEntry
	if md != nil {
		e.seq = md.Sequence.Stream
	}
	if err := json.Unmarshal(data, &e.line); err != nil {
		e.line.Line = string(data)
	}
	return e
}

// logWriter writes log lines as text or as SSE events, each write bounded
// by the server's write timeout.
type logWriter struct {
	a   *API
	c   *gin.Context
	sse bool
}

func (a *API) newLogWriter(c *gin.Context, sse bool) *logWriter {
	return &logWriter{a: a, c: c, sse: sse}
}

func (w *logWriter) start() {
	w.a.writeWithin(w.c)
	h := w.c.Writer.Header()
	if w.sse {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.c.Status(http.StatusOK)
	w.c.Writer.WriteHeaderNow()
}

func (w *logWriter) write(e logEntry) {
	w.a.writeWithin(w.c)
	if w.sse {
		b, _ := json.Marshal(e.line)
		_, _ = w.c.Writer.WriteString("id: " + strconv.FormatUint(e.seq, 10) + "\nevent: log\ndata: " + string(b) + "\n\n")
		return
	}
	_, _ = w.c.Writer.WriteString(e.line.FormatText() + "\n")
}

func (w *logWriter) keepAlive() {
	if w.sse {
		w.a.writeWithin(w.c)
		_, _ = w.c.Writer.WriteString(": keep-alive\n\n")
		w.flush()
	}
}

func (w *logWriter) flush() { w.c.Writer.Flush() }
