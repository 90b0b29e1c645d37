package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/webhook"
)

// Callbacks: when an async invocation that asked for one (X-Callback-Url)
// ends, its final record is queued on EVENTFLOW_CALLBACKS before the
// invocation is acked, so a crash cannot lose it; a consumer of its own
// POSTs it, signed, and JetStream redelivers on failure after the backoff.
// Whatever checked the URL before (the gateway; nothing, for a producer
// publishing on the bus), the address dialled is checked here.

// callbackBackoff is the wait before each further delivery attempt.
func (iv *Invoker) callbackBackoff() []time.Duration {
	out := make([]time.Duration, iv.cfg.CallbackAttempts-1)
	d := iv.cfg.CallbackRetryDelay
	for i := range out {
		out[i] = d
		d *= 2
	}
	return out
}

func (iv *Invoker) callbacksConsumer(ctx context.Context) (jetstream.Consumer, error) {
	return iv.d.JS.CreateOrUpdateConsumer(ctx, events.StreamCallbacks, jetstream.ConsumerConfig{
		Durable:       events.ConsumerCallback,
		Description:   "EventFlow invoker: callback deliveries",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    iv.cfg.CallbackAttempts,
		BackOff:       iv.callbackBackoff(), // for redeliveries after a crash
		MaxAckPending: 256,
		FilterSubject: events.SubjectCallbacks + ".>",
	})
}

// queueCallback stores the final record for delivery, if asked for.
func (iv *Invoker) queueCallback(ctx context.Context, r events.StoredInvocation) error {
	if r.Callback == nil {
		return nil
	}
	body, err := json.Marshal(r.View()) // the API's view of the record
	if err != nil {
		return err
	}
	msg := nats.NewMsg(events.CallbackSubject(r.Tenant, r.Function))
	msg.Data = body
	msg.Header.Set(events.HeaderCallbackURL, r.Callback.URL)
	msg.Header.Set(events.HeaderInvocationID, r.ID)
	// One per end: a redriven invocation that ends again within the
	// de-duplication window is called back again.
	msg.Header.Set(nats.MsgIdHdr, r.ID+"-callback-"+r.Status+"-"+strconv.Itoa(r.Attempts))
	_, err = iv.d.JS.PublishMsg(ctx, msg)
	return err
}

// deliverCallback POSTs one callback and records how it went.
func (iv *Invoker) deliverCallback(ctx context.Context, msg jetstream.Msg) {
	id := msg.Headers().Get(events.HeaderInvocationID)
	url := msg.Headers().Get(events.HeaderCallbackURL)
	tenant, fn, _ := events.TenantFunction(msg.Subject())
	md, err := msg.Metadata()
	if err != nil || url == "" {
		_ = msg.Term()
		return
	}
	attempt := int(md.NumDelivered)
	log := iv.d.Log.With("id", id, "callback", url, "attempt", attempt)
	err = iv.post(ctx, url, id, msg.Data())
	status := events.CallbackDelivered
	switch {
	case err == nil:
	case errors.Is(err, egress.ErrRefused):
		// A destination the policy refuses stays refused: no retries.
		status = events.CallbackFailed
		log.WarnContext(ctx, "callback destination not allowed; giving up", "err", err)
	case attempt >= iv.cfg.CallbackAttempts:
		status = events.CallbackFailed
		log.WarnContext(ctx, "callback not delivered; giving up", "err", err)
	default:
		status = events.CallbackPending
	}
	var end struct{ Attempts int }
	_ = json.Unmarshal(msg.Data(), &end)
	iv.recordCallback(ctx, log, tenant, fn, id, end.Attempts, status, attempt, err)
	switch status {
	case events.CallbackDelivered:
		_ = msg.Ack()
	case events.CallbackFailed:
		_ = msg.Term()
	default:
		_ = msg.NakWithDelay(iv.callbackBackoff()[attempt-1])
	}
}

// post sends one callback: the record JSON, signed as Standard Webhooks
// are (pkg/webhook) with the tenant's key, and, for receivers written
// before that, with the deprecated X-Eventflow-Signature over the body
// alone. The client dials only permitted destinations and follows no
// redirects (egress.Policy.HTTPClient).
func (iv *Invoker) post(ctx context.Context, url, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	var rec struct {
		Tenant   string
		Attempts int
	}
	_ = json.Unmarshal(body, &rec)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(events.CallbackIDHeader, id)
	msgID, now := callbackMessageID(id, rec.Attempts), time.Now()
	if len(iv.cfg.CallbackSecret) > 0 {
		key := events.CallbackKey(iv.cfg.CallbackSecret, rec.Tenant)
		webhook.SetHeaders(req.Header, key, msgID, now, body)
		req.Header.Set(events.CallbackSignatureHeader, events.SignCallback(key, body))
	} else {
		req.Header.Set(webhook.HeaderID, msgID)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	}
	resp, err := iv.callbackClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 3:
		return fmt.Errorf("HTTP %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// callbackMessageID is a callback's webhook-id: the same on every delivery
// attempt of it (receivers de-duplicate by it), and new when a redriven
// invocation ends again (its attempts go on counting).
func callbackMessageID(invocationID string, attempts int) string {
	return invocationID + "-" + strconv.Itoa(attempts)
}

// recordCallback updates only the callback part of the invocation record,
// revision-checked, and only while the record still is the end the
// callback is about (endAttempts): never the status, so a redrive that
// queued the invocation again meanwhile is kept (events.WithCallbackOutcome).
func (iv *Invoker) recordCallback(ctx context.Context, log *slog.Logger, tenant, fn, id string, endAttempts int, status string, attempts int, deliveryErr error) {
	lastError := ""
	if deliveryErr != nil {
		lastError = deliveryErr.Error()
	}
	_, err := iv.records.Update(ctx, tenant, fn, id, func(cur events.StoredInvocation, exists bool) (events.StoredInvocation, error) {
		if !exists {
			return cur, errors.New("no record")
		}
		return events.WithCallbackOutcome(cur, endAttempts, status, attempts, lastError)
	})
	switch {
	case errors.Is(err, events.ErrInvalidTransition):
		log.InfoContext(ctx, "callback outcome of an earlier end not recorded", "err", err)
	case err != nil:
		log.WarnContext(ctx, "callback outcome not recorded", "err", err)
	}
}
