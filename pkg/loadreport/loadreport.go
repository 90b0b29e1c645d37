// Package loadreport counts the work a process (a gateway or an invoker
// replica) does on each function's instances and reports it to the
// deployer's scaler as events.Load messages: every interval while there is
// work, once more when it ends, and at once when a request finds no ready
// instance and is held (a wake).
package loadreport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
)

// DefaultInterval is how often a function's load is reported while it has
// work (held requests included: that repeats their wake).
const DefaultInterval = time.Second

// MaxFunctions bounds the functions tracked at once: past it, new
// functions' work is run but not reported (the scaler then sees only the
// others' load; the cap is far above what one process serves).
const MaxFunctions = 10000

type key struct{ tenant, fn string }

type counts struct {
	inFlight, held int
	// peak is the most in flight since the last report: a request that
	// began and ended between two reports still counts (else a function
	// with short, sparse requests would look idle and scale to zero).
	peak     int
	reported bool // the last report sent was non-zero
	// served counts the requests finished by revision since the last
	// report (Served), at most events.MaxServed revisions.
	served []events.Served
}

// Reporter counts in-flight and held requests per function. Its methods
// are safe for concurrent use; Run sends the periodic reports.
type Reporter struct {
	nc       *nats.Conn
	source   string
	interval time.Duration
	log      *slog.Logger

	mu sync.Mutex
	fn map[key]*counts
}

// New makes a reporter publishing on nc as source (e.g. "gateway"; a random
// suffix keeps replicas apart). interval 0 is DefaultInterval.
func New(nc *nats.Conn, source string, interval time.Duration, log *slog.Logger) *Reporter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Reporter{nc: nc, source: source + "-" + hex.EncodeToString(b[:]), interval: interval, log: log, fn: map[key]*counts{}}
}

// Source is the name the reports carry.
func (r *Reporter) Source() string { return r.source }

// Interval is the report period.
func (r *Reporter) Interval() time.Duration { return r.interval }

// Begin counts one request running on the function's instances until the
// returned func is called (once).
func (r *Reporter) Begin(tenant, fn string) (end func()) {
	return r.add(tenant, fn, 1, 0, false)
}

// Hold counts one request waiting for a ready instance of the function
// and sends a wake at once; the returned func ends the hold. While it
// lasts, Run's rounds repeat the wake (a report with held requests is
// one): one report a round for all of the function's holds, not one per
// hold.
func (r *Reporter) Hold(tenant, fn string) (release func()) {
	return r.add(tenant, fn, 0, 1, true)
}

// wake sends the function's current counts now.
func (r *Reporter) wake(tenant, fn string) {
	r.mu.Lock()
	c := r.fn[key{tenant, fn}]
	var l events.Load
	if c != nil {
		l = events.Load{Source: r.source, InFlight: c.inFlight, Held: c.held}
		c.reported = c.inFlight > 0 || c.held > 0
	}
	r.mu.Unlock()
	if c != nil {
		r.publish(tenant, fn, l)
	}
}

// Served counts one request the function's revision finished, and
// whether it failed, for the deployer to judge a rollout by (sent with
// the next report). Callers count only while the function rolls out.
func (r *Reporter) Served(tenant, fn string, revision int64, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts(key{tenant, fn})
	if c == nil {
		return
	}
	i := slices.IndexFunc(c.served, func(s events.Served) bool { return s.Revision == revision })
	if i < 0 {
		if len(c.served) >= events.MaxServed {
			return
		}
		c.served = append(c.served, events.Served{Revision: revision})
		i = len(c.served) - 1
	}
	c.served[i].Requests++
	if failed {
		c.served[i].Failed++
	}
}

// counts is k's counts, made if need be (nil past MaxFunctions). r.mu
// held.
func (r *Reporter) counts(k key) *counts {
	c := r.fn[k]
	if c == nil {
		if len(r.fn) >= MaxFunctions {
			return nil
		}
		c = &counts{}
		r.fn[k] = c
	}
	return c
}

func (r *Reporter) add(tenant, fn string, inFlight, held int, wake bool) func() {
	k := key{tenant, fn}
	r.mu.Lock()
	c := r.counts(k)
	if c == nil {
		r.mu.Unlock()
		return func() {}
	}
	c.inFlight += inFlight
	c.held += held
	c.peak = max(c.peak, c.inFlight)
	r.mu.Unlock()
	if wake {
		r.wake(tenant, fn)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			c.inFlight -= inFlight
			c.held -= held
			r.mu.Unlock()
		})
	}
}

// Run sends the reports every interval until ctx ends: each function with
// work in the interval (the most in flight at once, so short requests
// count), and once more each function whose work has ended (then
// forgotten).
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Flush()
		}
	}
}

// Flush sends one round of reports now.
func (r *Reporter) Flush() { r.flush(false) }

// Final sends what is still running now, without the interval's peak:
// the last round of a process that stops taking work.
func (r *Reporter) Final() { r.flush(true) }

func (r *Reporter) flush(final bool) {
	type report struct {
		k key
		l events.Load
	}
	var out []report
	r.mu.Lock()
	for k, c := range r.fn {
		if final {
			c.peak = c.inFlight
		}
		inFlight := max(c.inFlight, c.peak)
		busy := inFlight > 0 || c.held > 0 || len(c.served) > 0
		if busy || c.reported {
			out = append(out, report{k, events.Load{Source: r.source, InFlight: inFlight, Held: c.held, Served: c.served}})
		}
		c.served = nil
		c.reported = busy
		c.peak = c.inFlight
		if !busy {
			delete(r.fn, k)
		}
	}
	r.mu.Unlock()
	for _, rp := range out {
		r.publish(rp.k.tenant, rp.k.fn, rp.l)
	}
}

func (r *Reporter) publish(tenant, fn string, l events.Load) {
	if r.nc == nil {
		return
	}
	// Core NATS, fire and forget: a lost report (a wake too) is repeated
	// next interval.
	if err := r.nc.Publish(events.ScaleSubject(tenant, fn), l.Data()); err != nil {
		r.log.Debug("load report not sent", "tenant", tenant, "function", fn, "err", err)
	}
}
