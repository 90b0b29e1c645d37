// Command webhook-receiver receives EventFlow callbacks (the final record
// of an async invocation that asked for one with X-Callback-Url) and
// verifies them as Standard Webhooks (docs/API.md, Callbacks) before acting
// on them:
//
//  1. webhook-id, webhook-timestamp and webhook-signature must be present;
//  2. the timestamp must be within 5 minutes of this machine's clock, so a
//     captured request cannot be replayed later;
//  3. one of the "v1,<base64>" signatures must equal HMAC-SHA256, keyed with
//     the tenant's key, of "{webhook-id}.{webhook-timestamp}.{raw body}",
//     compared in constant time;
//  4. a webhook-id already handled is acknowledged and not handled again
//     (EventFlow retries a delivery whose answer it did not get, with the
//     same id; and within the 5 minutes a replay would pass steps 1-3).
//
// pkg/webhook does steps 1-3; any Standard Webhooks library can, given the
// secret. Run it with the tenant's secret from GET /v1/callback-key:
//
//	go run ./webhook-receiver -secret whsec_...
//	EVENTFLOW_URL=http://127.0.0.1:8080 EVENTFLOW_TOKEN=... go run ./webhook-receiver   # fetches it
//	eventflow invoke upper --async --callback http://127.0.0.1:9000/hook -d hi
//
// A loopback receiver like this one gets callbacks from `eventflow dev`;
// standalone services send callbacks to public addresses only unless
// EVENTFLOW_CALLBACK_ALLOW_PRIVATE or EVENTFLOW_CALLBACK_ALLOW_CIDRS say
// otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/webhook"
)

// Record is the part of the invocation record (the callback's body) this
// receiver uses.
type Record struct {
	ID       string `json:"id"`
	Function string `json:"function"`
	Status   string `json:"status"` // succeeded, failed or dead_lettered
	Attempts int    `json:"attempts"`
	Output   string `json:"output"`
	Error    string `json:"error"`
}

// Receiver verifies callbacks and hands each message to Handle once.
type Receiver struct {
	Key []byte
	// Tolerance is how old (or how far ahead) a timestamp may be;
	// 0 means webhook.DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// Handle acts on a verified record; an error answers 500, so the
	// callback is delivered again.
	Handle func(Record) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // webhook-id: when it was handled
}

func (rv *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	now, tolerance := time.Now(), rv.Tolerance
	if rv.Now != nil {
		now = rv.Now()
	}
	if tolerance == 0 {
		tolerance = webhook.DefaultTolerance
	}
	// The raw bytes, before any parsing: re-encoded JSON would not verify.
	if err := webhook.VerifyAt(rv.Key, r.Header, body, now, tolerance); err != nil {
		// Stale (webhook.ErrTimestampTooOld: a replay, or a clock far off),
		// forged or tampered with: do not act on it.
		log.Printf("refused a callback: %v", err)
		http.Error(w, "invalid webhook signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	if rv.handled(id, now, tolerance) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var rec Record
	if err := json.Unmarshal(body, &rec); err != nil {
		http.Error(w, "not an invocation record", http.StatusBadRequest)
		return
	}
	if err := rv.Handle(rec); err != nil {
		log.Printf("callback %s: %v", id, err)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	rv.remember(id, now)
	w.WriteHeader(http.StatusNoContent)
}

// handled reports whether the message id was handled already. Ids are
// kept for twice the tolerance: older messages fail the timestamp check.
func (rv *Receiver) handled(id string, now time.Time, tolerance time.Duration) bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for k, at := range rv.seen {
		if now.Sub(at) > 2*tolerance {
			delete(rv.seen, k)
		}
	}
	_, ok := rv.seen[id]
	return ok
}

func (rv *Receiver) remember(id string, now time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.seen == nil {
		rv.seen = map[string]time.Time{}
	}
	rv.seen[id] = now
}

// secret is -secret, or else the token's tenant's secret from the gateway.
func secret(flagValue string) ([]byte, error) {
	if flagValue == "" {
		c, err := client.New(os.Getenv("EVENTFLOW_URL"), os.Getenv("EVENTFLOW_TOKEN"))
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		k, err := c.CallbackKey(ctx)
		if err != nil {
			return nil, err
		}
		flagValue = k.Secret
	}
	return webhook.DecodeSecret(flagValue)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	sec := flag.String("secret", os.Getenv("WEBHOOK_SECRET"), "the tenant's callback secret, whsec_... (GET /v1/callback-key); default: fetched with EVENTFLOW_URL and EVENTFLOW_TOKEN [WEBHOOK_SECRET]")
	flag.Parse()
	key, err := secret(*sec)
	if err != nil {
		log.Fatalf("callback secret: %v", err)
	}
	rv := &Receiver{Key: key, Handle: func(r Record) error {
		log.Printf("invocation %s of %s: %s after %d attempt(s); output %q, error %q", r.ID, r.Function, r.Status, r.Attempts, r.Output, r.Error)
		return nil
	}}
	log.Printf("receiving callbacks on http://%s/", *addr)
	srv := &http.Server{Addr: *addr, Handler: rv, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
