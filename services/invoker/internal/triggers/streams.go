package triggers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/bus"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// nats and event triggers: each is one durable pull consumer, on
// EVENTFLOW_TRIGGERS (nats.go) or EVENTFLOW_EVENTS (event.go), that every
// invoker replica consumes (JetStream hands each message to one of them).
// A message becomes an invocation with an id derived from the message, so
// a redelivery (a nak, a crash before the ack, two replicas) is the same
// invocation and JetStream drops the second publish; the message is acked
// only once its invocation is stored. The consumer lives as long as the
// trigger does: a redeployed function keeps it (and whatever was published
// meanwhile), a removed trigger or a deleted function loses it.

const (
	// streamConsumerPrefix starts every trigger consumer's name.
	streamConsumerPrefix = "trigger"
	// streamRetryEvery is how often consumers that could not be created or
	// deleted are tried again.
	streamRetryEvery = 2 * time.Second
	// streamFireTimeout bounds one message's publish and ack.
	streamFireTimeout = 30 * time.Second
	// triggerAckWait is the consumers' ack wait: a fire (publish, then
	// ack) takes milliseconds, so a message not acked by then was lost
	// with its replica and goes to another.
	triggerAckWait = 30 * time.Second
	// streamNewWithin: a consumer made for a record changed less than this ago
	// starts at the change, not at the moment it is made, so messages a
	// producer sent right after the API's answer are not missed. It is
	// below the invocations stream's de-duplication window (2 min), so a
	// message fired twice that way is still one invocation.
	streamNewWithin = time.Minute
	// triggerInactiveThreshold: see startConsumer.
	triggerInactiveThreshold = 24 * time.Hour
)

// streamConsumerName names a trigger's consumer: '_' cannot appear in tenant
// or function names, nor in trigger keys, so the name is unique.
func streamConsumerName(tenant, fn, key string) string {
	return streamConsumerPrefix + "_" + tenant + "_" + fn + "_" + key
}

// streamKind is what differs between nats and event triggers.
type streamKind interface {
	stream() string
	config() (jetstream.ConsumerConfig, error)
	// handle turns one message into a fire; skip true acks the message
	// without firing (it is not for this trigger).
	handle(msg jetstream.Msg, md *jetstream.MsgMetadata) (fire Fire, skip bool, err error)
	// window is how many of its messages one replica fires at once.
	window() int
}

// streamConsumer is one running trigger consumer.
type streamConsumer struct {
	tenant, fn, key string
	k               streamKind
	cc              jetstream.ConsumeContext
	slots           chan struct{}
	inflight        sync.WaitGroup
}

// fnTriggers is what the runner knows of one function.
type fnTriggers struct {
	tenant, fn string
	// want: the function's nats and event triggers by key (none once it
	// is deleted or being deleted); at: when its record last changed.
	want map[string]function.Trigger
	at   time.Time
	// running consumers, by trigger key; gone: keys whose consumer is to
	// be deleted (tried again until it is).
	running map[string]*streamConsumer
	gone    map[string]string // key → stream
	failed  bool              // something to try again
}

type streamRunner struct {
	f *Firer

	mu      sync.Mutex
	changes map[string]catalog.Change // latest change per function, not yet applied
	lost    map[*streamConsumer]bool  // consumers deleted under a running consume
	kick    chan struct{}
	done    chan struct{}

	// Owned by the run goroutine.
	fns     map[string]*fnTriggers
	fireCtx context.Context
}

func newStreams(f *Firer) *streamRunner {
	return &streamRunner{f: f, changes: map[string]catalog.Change{}, lost: map[*streamConsumer]bool{}, kick: make(chan struct{}, 1),
		done: make(chan struct{}), fns: map[string]*fnTriggers{}}
}

// onChange is the catalog's hook: it only records the change (latest per
// function), the run goroutine acts on it, so a slow JetStream never holds
// up the catalog's watch.
func (s *streamRunner) onChange(ch catalog.Change) {
	s.mu.Lock()
	s.changes[events.FunctionKey(ch.Tenant, ch.Name)] = ch
	s.mu.Unlock()
	s.wake()
}

func (s *streamRunner) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// consumerLost is a consume's error hook: a consumer deleted while it runs
// (by a replica that saw the trigger go and come back before this one
// caught up, or by hand) is made again if its trigger is still there.
func (s *streamRunner) consumerLost(c *streamConsumer) func(jetstream.ConsumeContext, error) {
	return func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrConsumerDeleted) && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return
		}
		s.mu.Lock()
		s.lost[c] = true
		s.mu.Unlock()
		s.wake()
	}
}

func (s *streamRunner) start(ctx context.Context, wg *sync.WaitGroup) {
	// Fires in flight when ctx ends finish (bounded by streamFireTimeout), so a
	// stored invocation is also an acked message.
	s.fireCtx = context.WithoutCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(s.done)
		s.run(ctx)
	}()
}

// stop waits for the run goroutine, which drains every consumer when its
// context ends.
func (s *streamRunner) stop() { <-s.done }

func (s *streamRunner) run(ctx context.Context) {
	t := time.NewTicker(streamRetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.drainAll()
			return
		case <-s.kick:
			s.mu.Lock()
			changes, lost := s.changes, s.lost
			s.changes, s.lost = map[string]catalog.Change{}, map[*streamConsumer]bool{}
			s.mu.Unlock()
			for key, ch := range changes {
				s.apply(ctx, key, ch)
			}
			for c := range lost {
				s.restart(ctx, c)
			}
		case <-t.C:
			for _, ft := range s.fns {
				if ft.failed {
					s.reconcile(ctx, ft)
				}
			}
		}
	}
}

// apply records a function's wanted triggers and reconciles them.
func (s *streamRunner) apply(ctx context.Context, key string, ch catalog.Change) {
	ft := s.fns[key]
	if ft == nil {
		ft = &fnTriggers{tenant: ch.Tenant, fn: ch.Name, running: map[string]*streamConsumer{}, gone: map[string]string{}}
		s.fns[key] = ft
	}
	ft.want = map[string]function.Trigger{}
	if !ch.Deleted && !ch.Record.Deleting {
		for _, t := range ch.Record.Spec.Triggers {
			if t.Type == function.TriggerNATS || t.Type == function.TriggerEvent {
				ft.want[t.Key()] = t
			}
		}
		ft.at = ch.Record.UpdatedAt
	}
	s.reconcile(ctx, ft)
	if len(ft.want) == 0 && len(ft.running) == 0 && len(ft.gone) == 0 {
		delete(s.fns, key)
	}
}

// restart stops a consume whose consumer was deleted under it and makes
// the consumer again, if the trigger is still wanted.
func (s *streamRunner) restart(ctx context.Context, c *streamConsumer) {
	ft := s.fns[events.FunctionKey(c.tenant, c.fn)]
	if ft == nil || ft.running[c.key] != c {
		return // already replaced or gone
	}
	s.f.log.Warn("trigger consumer deleted while running; making it again", "tenant", c.tenant, "function", c.fn, "trigger", c.key)
	c.cc.Stop()
	<-c.cc.Closed()
	c.inflight.Wait()
	delete(ft.running, c.key)
	s.reconcile(ctx, ft)
}

// reconcile stops and deletes the consumers of triggers no longer wanted
// and starts those of new ones. A trigger unchanged by an update keeps its
// consumer as it is.
func (s *streamRunner) reconcile(ctx context.Context, ft *fnTriggers) {
	ft.failed = false
	log := s.f.log.With("tenant", ft.tenant, "function", ft.fn)
	for key, c := range ft.running {
		if _, ok := ft.want[key]; ok {
			continue
		}
		// Removed: stop taking messages; fires in flight finish (their
		// messages are acked), the rest stays in the stream unfired.
		c.cc.Stop()
		<-c.cc.Closed()
		c.inflight.Wait()
		delete(ft.running, key)
		ft.gone[key] = c.k.stream()
	}
	for key, stream := range ft.gone {
		if _, ok := ft.want[key]; ok {
			delete(ft.gone, key) // added back before its consumer went
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.f.js.DeleteConsumer(dctx, stream, s.f.consumerName(ft.tenant, ft.fn, key))
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Another replica may delete it first: either way it goes.
			log.Warn("trigger consumer not deleted; trying again", "trigger", key, "err", err)
			ft.failed = true
			continue
		}
		delete(ft.gone, key)
	}
	for key, t := range ft.want {
		if ft.running[key] != nil {
			continue
		}
		c, err := s.startConsumer(ctx, ft, key, t)
		if errors.Is(err, errStreamUnusable) {
			log.Warn("trigger not started", "trigger", key, "err", err)
			continue // the spec must change first
		}
		if err != nil {
			log.Warn("trigger consumer not started; trying again", "trigger", key, "err", err)
			ft.failed = true
			continue
		}
		ft.running[key] = c
	}
}

// errStreamUnusable marks a trigger no retry can start.
var errStreamUnusable = errors.New("unusable trigger")

func (s *streamRunner) startConsumer(ctx context.Context, ft *fnTriggers, key string, t function.Trigger) (*streamConsumer, error) {
	var k streamKind
	switch t.Type {
	case function.TriggerNATS:
		k = &natsTrigger{tenant: ft.tenant, fn: ft.fn, key: key, subject: t.Subject}
	case function.TriggerEvent:
		var f function.EventFilter
		if t.Filter != nil {
			f = *t.Filter
		}
		k = &eventTrigger{tenant: ft.tenant, fn: ft.fn, key: key, filter: f}
	default:
		return nil, errStreamUnusable
	}
	cfg, err := k.config()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errStreamUnusable, err)
	}
	cfg.Durable = s.f.consumerName(ft.tenant, ft.fn, key)
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	cfg.AckWait = triggerAckWait
	cfg.MaxDeliver = -1 // a message waits (nak'ed with a delay) until it is stored or ages out
	// A consumer no invoker pulled from for a day is removed by the
	// server: that is a trigger removed (or its function deleted) while
	// no invoker ran, which no replica will delete. By then the triggers
	// stream has dropped what it held for it anyway (24 h).
	cfg.InactiveThreshold = triggerInactiveThreshold
	cfg.Metadata = map[string]string{"eventflow.tenant": ft.tenant, "eventflow.function": ft.fn, "eventflow.trigger": key}
	cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	if !ft.at.IsZero() && time.Since(ft.at) < streamNewWithin {
		// Only a new consumer takes this; an existing one keeps its place.
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &ft.at
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := s.f.js.CreateConsumer(cctx, k.stream(), cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Made earlier (by this replica before a restart, or another):
		// it keeps its position; take it as it is, bounds updated.
		cons, err = s.f.js.Consumer(cctx, k.stream(), cfg.Durable)
		if err == nil {
			cur := cons.CachedInfo().Config
			if cur.MaxAckPending != cfg.MaxAckPending || cur.FilterSubject != cfg.FilterSubject {
				cur.MaxAckPending, cur.FilterSubject = cfg.MaxAckPending, cfg.FilterSubject
				cons, err = s.f.js.UpdateConsumer(cctx, k.stream(), cur)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", cfg.Durable, k.stream(), err)
	}
	c := &streamConsumer{tenant: ft.tenant, fn: ft.fn, key: key, k: k, slots: make(chan struct{}, k.window())}
	c.cc, err = cons.Consume(func(msg jetstream.Msg) { s.take(c, msg) },
		jetstream.PullMaxMessages(k.window()), bus.PullExpiry, jetstream.ConsumeErrHandler(s.consumerLost(c)))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// take waits for one of the consumer's slots (so a replica has at most
// window fires of a trigger in flight) and fires the message.
func (s *streamRunner) take(c *streamConsumer, msg jetstream.Msg) {
	c.slots <- struct{}{}
	c.inflight.Add(1)
	go func() {
		defer func() { <-c.slots; c.inflight.Done() }()
		s.fire(c, msg)
	}()
}

// fire makes the message an invocation and acks it once the invocation is
// stored (or found stored already); on a failure it naks it with a delay.
func (s *streamRunner) fire(c *streamConsumer, msg jetstream.Msg) {
	ctx, cancel := context.WithTimeout(s.fireCtx, streamFireTimeout)
	defer cancel()
	log := s.f.log.With("tenant", c.tenant, "function", c.fn, "trigger", c.key)
	md, err := msg.Metadata()
	if err != nil {
		log.Warn("trigger message without metadata; dropped", "err", err)
		_ = msg.Term()
		return
	}
	fire, skip, err := c.k.handle(msg, md)
	switch {
	case skip:
		_ = msg.Ack() // a redelivery is skipped again
		return
	case err != nil:
		// The message can never be an invocation: count it, drop it.
		s.f.Failed(ctx, fire, err)
		log.Warn("trigger message dropped", "seq", md.Sequence.Stream, "err", err)
		_ = msg.Term()
		return
	}
	if _, err := s.f.Fire(ctx, fire); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			// Payload and invocation headers exceed what the bus takes:
			// no retry will change that (Fire counted the error).
			log.Warn("trigger message too large to be an invocation; dropped", "seq", md.Sequence.Stream, "bytes", len(fire.Payload))
			_ = msg.Term()
			return
		}
		delay := nakDelay(md.NumDelivered)
		log.Warn("trigger message not made an invocation; trying again", "seq", md.Sequence.Stream, "in", delay, "err", err)
		_ = msg.NakWithDelay(delay)
		return
	}
	ackLogged(ctx, log, msg)
}

// ackLogged acks and waits for the server's confirmation. A lost ack only
// means a redelivery, which fires the same invocation id: a duplicate.
func ackLogged(ctx context.Context, log *slog.Logger, msg jetstream.Msg) {
	if err := msg.DoubleAck(ctx); err != nil {
		log.Debug("trigger message ack not confirmed; a redelivery will be a duplicate", "err", err)
	}
}

// nakDelay: 500 ms doubling per delivery, at most 30 s.
func nakDelay(delivered uint64) time.Duration {
	return doubling(500*time.Millisecond, 30*time.Second, int(min(delivered, 64)))
}

// drainAll stops every consumer at shutdown: messages already pulled are
// fired, fires in flight finish, nothing new is taken.
func (s *streamRunner) drainAll() {
	var all []*streamConsumer
	for _, ft := range s.fns {
		for _, c := range ft.running {
			all = append(all, c)
		}
	}
	for _, c := range all {
		c.cc.Drain()
	}
	for _, c := range all {
		<-c.cc.Closed()
		c.inflight.Wait()
	}
}
