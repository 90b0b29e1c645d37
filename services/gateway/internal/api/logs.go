package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
)

const (
	defaultTail = 100
	maxTail     = 10000
)

// logs serves GET /v1/functions/{name}/logs: the last `tail` lines of every
// instance, then (with follow) new lines as they come. Text by default, SSE
// on Accept: text/event-stream (where follow defaults to true).
func (a *API) logs(c *gin.Context) {
	name := c.Param("name")
	tenant := claimsOf(c).Tenant
	if _, _, err := a.Store.Record(c, tenant, name); err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	tail, err := queryInt(c, "tail", defaultTail, maxTail)
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

	ctx, cancel := context.WithCancel(c)
	defer cancel()
	cons, err := a.JS.OrderedConsumer(ctx, events.StreamLogs, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.LogFilter(tenant, name)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		a.fail(c, fmt.Errorf("open logs: %w", err))
		return
	}
	info, err := cons.Info(ctx)
	if err != nil {
		a.fail(c, fmt.Errorf("open logs: %w", err))
		return
	}
	w := newLogWriter(c, sse)
	// Replay: keep the last `tail` of what is stored now.
	ring := make([]logEntry, 0, min(tail, 1024))
	pending := info.NumPending
	var it jetstream.MessagesContext
	if pending > 0 || follow {
		if it, err = cons.Messages(); err != nil {
			a.fail(c, fmt.Errorf("open logs: %w", err))
			return
		}
		defer it.Stop()
	}
	for pending > 0 {
		m, err := it.Next()
		if err != nil {
			a.fail(c, fmt.Errorf("read logs: %w", err))
			return
		}
		md, _ := m.Metadata()
		if tail > 0 {
			if len(ring) == tail {
				ring = ring[1:]
			}
			ring = append(ring, decodeLog(m.Data(), md))
		}
		if md == nil || md.NumPending == 0 {
			break
		}
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

// logWriter writes log lines as text or as SSE events.
type logWriter struct {
	c   *gin.Context
	sse bool
}

func newLogWriter(c *gin.Context, sse bool) *logWriter { return &logWriter{c: c, sse: sse} }

func (w *logWriter) start() {
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
	if w.sse {
		b, _ := json.Marshal(e.line)
		_, _ = w.c.Writer.WriteString("id: " + strconv.FormatUint(e.seq, 10) + "\nevent: log\ndata: " + string(b) + "\n\n")
		return
	}
	_, _ = w.c.Writer.WriteString(e.line.FormatText() + "\n")
}

func (w *logWriter) keepAlive() {
	if w.sse {
		_, _ = w.c.Writer.WriteString(": keep-alive\n\n")
		w.flush()
	}
}

func (w *logWriter) flush() { w.c.Writer.Flush() }
