package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
)

// Callbacks: when an async invocation that asked for one (X-Callback-Url)
// ends, its final record is queued on EVENTFLOW_CALLBACKS before the
// invocation is acked, so a crash cannot lose it; a consumer of its own
// POSTs it, signed, and JetStream redelivers on failure after the backoff.

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
func (iv *Invoker) queueCallback(ctx context.Context, r events.InvocationRecord) error {
	if r.Callback == nil {
		return nil
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(events.CallbackSubject(r.Tenant, r.Function))
	msg.Data = body
	msg.Header.Set(events.HeaderCallbackURL, r.Callback.URL)
	msg.Header.Set(events.HeaderInvocationID, r.ID)
	msg.Header.Set(nats.MsgIdHdr, r.ID+"-callback-"+r.Status)
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
	case attempt >= iv.cfg.CallbackAttempts:
		status = events.CallbackFailed
		log.WarnContext(ctx, "callback not delivered; giving up", "err", err)
	default:
		status = events.CallbackPending
	}
	iv.recordCallback(ctx, log, tenant, fn, id, status, attempt, err)
	switch status {
	case events.CallbackDelivered:
		_ = msg.Ack()
	case events.CallbackFailed:
		_ = msg.Term()
	default:
		_ = msg.NakWithDelay(iv.callbackBackoff()[attempt-1])
	}
}

func (iv *Invoker) post(ctx context.Context, url, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(events.CallbackIDHeader, id)
	if len(iv.cfg.CallbackSecret) > 0 {
		var tenant struct{ Tenant string }
		_ = json.Unmarshal(body, &tenant)
		req.Header.Set(events.CallbackSignatureHeader, events.SignCallback(events.CallbackKey(iv.cfg.CallbackSecret, tenant.Tenant), body))
	}
	resp, err := iv.callbackClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// recordCallback updates only the callback part of the invocation record.
func (iv *Invoker) recordCallback(ctx context.Context, log *slog.Logger, tenant, fn, id, status string, attempts int, deliveryErr error) {
	r, ok, err := iv.records.Get(ctx, tenant, fn, id)
	if err != nil || !ok || r.Callback == nil {
		log.WarnContext(ctx, "callback outcome not recorded", "err", err)
		return
	}
	r.Callback.Status, r.Callback.Attempts, r.Callback.LastError = status, attempts, ""
	if deliveryErr != nil {
		r.Callback.LastError = deliveryErr.Error()
	}
	if err := iv.records.Put(ctx, r); err != nil {
		log.WarnContext(ctx, "callback outcome not recorded", "err", err)
	}
}
