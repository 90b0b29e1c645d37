package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
)

// maxDeadLetters bounds what one request lists or redrives.
const maxDeadLetters = 1000

// DeadLetter is one entry of GET /v1/functions/{name}/dead-letters.
type DeadLetter struct {
	ID             string    `json:"id"`
	Attempts       int       `json:"attempts"`
	Error          string    `json:"error"`
	DeadLetteredAt time.Time `json:"deadLetteredAt"`
	PayloadBytes   int       `json:"payloadBytes"`
	ContentType    string    `json:"contentType,omitempty"`
	Sequence       uint64    `json:"sequence"`
}

type storedDeadLetter struct {
	DeadLetter
	dl       events.DeadLetter
	parseErr error // a dead letter that could not be read is listed, not redriven
}

// deadLetters reads a function's dead letters, oldest first.
func (a *API) deadLetters(ctx context.Context, tenant, name string) ([]storedDeadLetter, error) {
	cons, release, err := a.openOrdered(ctx, events.StreamDeadLetters, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.DeadLetterSubject(tenant, name)},
	})
	if err != nil {
		return nil, fmt.Errorf("open dead letters: %w", err)
	}
	// The messages read stay usable (redrive reads their data and
	// headers, and deletes them by sequence) without the consumer.
	defer release()
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("open dead letters: %w", err)
	}
	pending := min(int(info.NumPending), maxDeadLetters)
	out := make([]storedDeadLetter, 0, pending)
	for len(out) < pending {
		batch, err := cons.Fetch(min(pending-len(out), 256), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read dead letters: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			dl, err := events.ParseDeadLetter(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				// Only EventFlow writes dead letters; one it cannot read
				// is shown (so it can be seen) but cannot be redriven.
				a.Log.WarnContext(ctx, "malformed dead letter", "sequence", md.Sequence.Stream, "err", err)
				h := m.Headers()
				attempts, _ := strconv.Atoi(h.Get(events.HeaderAttempts))
				out = append(out, storedDeadLetter{DeadLetter: DeadLetter{
					ID: h.Get(events.HeaderInvocationID), Attempts: attempts, Error: h.Get(events.HeaderError),
					DeadLetteredAt: md.Timestamp.UTC(), PayloadBytes: len(m.Data()), ContentType: h.Get(events.HeaderContentType),
					Sequence: md.Sequence.Stream,
				}, parseErr: err})
				continue
			}
			out = append(out, storedDeadLetter{DeadLetter: DeadLetter{
				ID: dl.ID, Attempts: dl.Attempts, Error: dl.Error,
				DeadLetteredAt: md.Timestamp.UTC(), PayloadBytes: len(dl.Payload), ContentType: dl.ContentType,
				Sequence: md.Sequence.Stream,
			}, dl: dl})
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read dead letters: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}

func (a *API) listDeadLetters(c *gin.Context) {
	name, tenant := c.Param("name"), claimsOf(c).Tenant
	if _, _, err := a.Store.Record(c, tenant, name); err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	dls, err := a.deadLetters(c, tenant, name)
	if err != nil {
		a.fail(c, err)
		return
	}
	items := make([]DeadLetter, len(dls))
	for i, d := range dls {
		items[i] = d.DeadLetter
	}
	c.PureJSON(http.StatusOK, gin.H{"items": items})
}

// redriveRequest names the dead letters to run again; no ids means all,
// an empty list is refused (a client that filtered its list down to
// nothing must not redrive everything).
type redriveRequest struct {
	IDs []string `json:"ids"`
}

// redrive runs dead letters again as new attempts of the same invocations:
// each is queued again (stored before the answer), its record set back to
// queued, and only then removed from the dead letters.
func (a *API) redrive(c *gin.Context) {
	name, tenant := c.Param("name"), claimsOf(c).Tenant
	if _, _, err := a.Store.Record(c, tenant, name); err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	var req redriveRequest
	if c.Request.ContentLength != 0 {
		if err := readJSON(c, &req); err != nil {
			a.fail(c, err)
			return
		}
	}
	if req.IDs != nil && len(req.IDs) == 0 {
		abort(c, http.StatusBadRequest, CodeBadRequest, `"ids" is empty: name the dead letters to redrive, or leave "ids" out to redrive them all; nothing was redriven`)
		return
	}
	dls, err := a.deadLetters(c, tenant, name)
	if err != nil {
		a.fail(c, err)
		return
	}
	chosen := dls
	if len(req.IDs) > 0 {
		byID := map[string]storedDeadLetter{}
		for _, d := range dls {
			byID[d.ID] = d
		}
		chosen = chosen[:0:0]
		for _, id := range req.IDs {
			d, ok := byID[id]
			if !ok {
				abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("invocation %q is not among %q's dead letters; nothing was redriven", id, name))
				return
			}
			chosen = append(chosen, d)
		}
	}
	stream, err := a.JS.Stream(c, events.StreamDeadLetters)
	if err != nil {
		a.fail(c, err)
		return
	}
	redriven := make([]string, 0, len(chosen))
	for _, d := range chosen {
		if d.parseErr != nil {
			a.fail(c, fmt.Errorf("redrive dead letter %d: %w", d.Sequence, d.parseErr))
			return
		}
		msg := d.dl.Redrive(d.Sequence)
		// The record first: once the message is queued the invoker may
		// finish it at once, and its records must not be overwritten.
		reset := a.Store.RedriveInvocation(c, tenant, name, d.ID)
		if reset != nil {
			a.Log.WarnContext(c, "redriven invocation's record not reset", "id", d.ID, "err", reset)
		}
		if _, err := a.JS.PublishMsg(c, msg); err != nil {
			if reset == nil {
				_ = a.Store.UndoRedrive(context.WithoutCancel(c), tenant, name, d.ID)
			}
			if events.IsQueueFull(err) {
				// The ones before stay redriven (they are no longer dead
				// letters), so repeating the request redrives the rest.
				a.refuseQueueFull(c, tenant, name, fmt.Sprintf(
					"%d of the %d dead letters were redriven, the others (from %s on) stay dead letters", len(redriven), len(chosen), d.ID))
				return
			}
			a.fail(c, fmt.Errorf("redrive %s: %w", d.ID, err))
			return
		}
		if err := stream.DeleteMsg(c, d.Sequence); err != nil {
			a.Log.WarnContext(c, "redriven dead letter not removed", "id", d.ID, "err", err)
		}
		redriven = append(redriven, d.ID)
	}
	c.PureJSON(http.StatusAccepted, gin.H{"redriven": redriven})
}
