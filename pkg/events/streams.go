package events

import (
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and bucket names.
const (
	StreamCommands    = "EVENTFLOW_COMMANDS"
	StreamInvocations = "EVENTFLOW_INVOCATIONS"
	StreamDeadLetters = "EVENTFLOW_DLQ"
	StreamEvents      = "EVENTFLOW_EVENTS"
	StreamLogs        = "EVENTFLOW_LOGS"
	StreamCallbacks   = "EVENTFLOW_CALLBACKS"
	// StreamTriggers holds the messages of nats triggers
	// (eventflow.in.<tenant>.>) until each trigger's consumer has made
	// them invocations.
	StreamTriggers = "EVENTFLOW_TRIGGERS"

	BucketFunctions   = "eventflow_functions"
	BucketStatus      = "eventflow_function_status"
	BucketInvocations = "eventflow_invocations"
	// BucketTriggers keeps each trigger's state (function.TriggerStatus)
	// under TriggerKey; the invoker writes it, the gateway reads it.
	BucketTriggers = "eventflow_triggers"
	// BucketSecrets keeps tenants' secrets sealed to the deployer's key
	// (pkg/secrets) under SecretKey, and that public key under
	// SecretsPublicKeyKey.
	BucketSecrets = "eventflow_secrets"
	// BucketRevisions keeps every revision of every function's spec under
	// RevisionKey; a revision is never rewritten.
	BucketRevisions = "eventflow_revisions"
)

// Durable consumer names.
const (
	ConsumerDeployer = "deployer"
	ConsumerCallback = "callbacks"
)

// Options size the streams and buckets.
type Options struct {
	Replicas       int // 1 for dev, 3 in a cluster
	Storage        jetstream.StorageType
	DedupeWindow   time.Duration // Nats-Msg-Id de-duplication window
	EventsMaxAge   time.Duration
	LogsMaxAge     time.Duration
	LogsMaxBytes   int64
	InvocationsTTL time.Duration // how long invocation records are kept
	DLQMaxAge      time.Duration
	// TriggersMaxAge and TriggersMaxBytes bound StreamTriggers: messages
	// no trigger took by then are dropped (oldest first).
	TriggersMaxAge   time.Duration
	TriggersMaxBytes int64
	// MaxConsumers per stream. Set explicitly because nats-server (2.11+)
	// otherwise caps a stream at 1,000 consumers, and the invocations
	// stream has one per function (the others one per open log or event
	// stream).
	MaxConsumers int
	// MaxQueuedPerFunction caps the async invocations one function has on
	// EVENTFLOW_INVOCATIONS (queued, running or waiting for a retry: a
	// work-queue message stays until its last attempt acks it). The server
	// enforces it per subject (MaxMsgsPerSubject with DiscardNew and
	// DiscardNewPerSubject), so it holds atomically for every publisher
	// and gateway; a publish past it fails with an error IsQueueFull
	// tells apart. 0 or less: no cap. Every service provisions the
	// streams, so all must use the same value.
	MaxQueuedPerFunction int
}

// DefaultMaxQueuedPerFunction is DefaultOptions' MaxQueuedPerFunction. It
// is well above the 20,000 invocations `make bench` queues for one function
// at once.
const DefaultMaxQueuedPerFunction = 100_000

// TriggersDedupeWindow is StreamTriggers' de-duplication window, the
// least the server allows: producers' Nats-Msg-Id does not de-duplicate
// their retries there (see docs/TRIGGERS.md).
const TriggersDedupeWindow = 100 * time.Millisecond

// DefaultOptions are the settings for one machine.
func DefaultOptions() Options {
	return Options{
		Replicas:       1,
		Storage:        jetstream.FileStorage,
		DedupeWindow:   2 * time.Minute,
		EventsMaxAge:   7 * 24 * time.Hour,
		LogsMaxAge:     24 * time.Hour,
		LogsMaxBytes:   512 << 20,
		InvocationsTTL: 24 * time.Hour,
		DLQMaxAge:      14 * 24 * time.Hour,

		TriggersMaxAge:   24 * time.Hour,
		TriggersMaxBytes: 1 << 30,
		MaxConsumers:     100_000,

		MaxQueuedPerFunction: DefaultMaxQueuedPerFunction,
	}
}

// Streams returns the stream configurations (docs/ARCHITECTURE.md, "The bus").
func (o Options) Streams() []jetstream.StreamConfig {
	invocations := jetstream.StreamConfig{
		Name:         StreamInvocations,
		Description:  "Queued asynchronous invocations",
		Subjects:     []string{SubjectInvocations + ".>"},
		Retention:    jetstream.WorkQueuePolicy,
		Storage:      o.Storage,
		Replicas:     o.Replicas,
		MaxConsumers: o.MaxConsumers,
		Duplicates:   o.DedupeWindow,
	}
	if o.MaxQueuedPerFunction > 0 {
		// One subject per function: a full function refuses new
		// invocations (DiscardNew per subject) instead of dropping queued
		// ones, and the others are not affected. The stream has no other
		// limit, so DiscardNew changes nothing else.
		invocations.MaxMsgsPerSubject = int64(o.MaxQueuedPerFunction)
		invocations.Discard = jetstream.DiscardNew
		invocations.DiscardNewPerSubject = true
	}
	return []jetstream.StreamConfig{
		{
			Name:         StreamCommands,
			Description:  "Function commands: reconcile <tenant>.<function> to a generation",
			Subjects:     []string{SubjectCommands + ".>"},
			Retention:    jetstream.WorkQueuePolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			Duplicates:   o.DedupeWindow,
		},
		invocations,
		{
			Name:         StreamDeadLetters,
			Description:  "Invocations that failed their last attempt",
			Subjects:     []string{SubjectDeadLetters + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			MaxAge:       o.DLQMaxAge,
		},
		{
			Name:         StreamEvents,
			Description:  "Lifecycle events (CloudEvents 1.0 JSON)",
			Subjects:     []string{SubjectEvents + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			MaxAge:       o.EventsMaxAge,
		},
		{
			Name:         StreamCallbacks,
			Description:  "Results waiting to be POSTed to their callback URL",
			Subjects:     []string{SubjectCallbacks + ".>"},
			Retention:    jetstream.WorkQueuePolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			Duplicates:   o.DedupeWindow,
		},
		{
			Name:         StreamLogs,
			Description:  "Function log lines",
			Subjects:     []string{SubjectLogs + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			MaxAge:       o.LogsMaxAge,
			MaxBytes:     o.LogsMaxBytes,
			Discard:      jetstream.DiscardOld,
		},
		{
			Name:         StreamTriggers,
			Description:  "Messages for nats triggers, kept until their triggers made them invocations",
			Subjects:     []string{SubjectTriggers + ".>"},
			Retention:    jetstream.LimitsPolicy,
			Storage:      o.Storage,
			Replicas:     o.Replicas,
			MaxConsumers: o.MaxConsumers,
			MaxAge:       o.TriggersMaxAge,
			MaxBytes:     o.TriggersMaxBytes,
			Discard:      jetstream.DiscardOld,
			// The stream is every tenant's and de-duplicates Nats-Msg-Id
			// across all of them: with a window of minutes a tenant could
			// publish another's ids first and have that tenant's messages
			// dropped as duplicates. So the window is the server's least.
			Duplicates: TriggersDedupeWindow,
		},
	}
}

// StreamNames are the names of every stream, the buckets' own streams
// (KV_<bucket>) included.
func (o Options) StreamNames() []string {
	var names []string
	for _, s := range o.Streams() {
		names = append(names, s.Name)
	}
	for _, b := range o.Buckets() {
		names = append(names, "KV_"+b.Bucket)
	}
	return names
}

// Buckets returns the KV bucket configurations (docs/ARCHITECTURE.md). Desired spec
// and observed status live in two buckets so each key has one writer (the
// gateway, the deployer) and no write ever races another service's.
func (o Options) Buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: BucketFunctions, Description: "Desired function specs", History: 1, Storage: o.Storage, Replicas: o.Replicas},
		{Bucket: BucketStatus, Description: "Observed function status", History: 1, Storage: o.Storage, Replicas: o.Replicas},
		{Bucket: BucketInvocations, Description: "Invocation records", History: 1, TTL: o.InvocationsTTL, Storage: o.Storage, Replicas: o.Replicas},
		{Bucket: BucketTriggers, Description: "Trigger states", History: 1, Storage: o.Storage, Replicas: o.Replicas},
		{Bucket: BucketSecrets, Description: "Tenants' secrets, sealed to the deployer's key", History: 1, Storage: o.Storage, Replicas: o.Replicas},
		{Bucket: BucketRevisions, Description: "Function spec revisions", History: 1, Storage: o.Storage, Replicas: o.Replicas},
	}
}

// errCodeStreamStoreFailed is nats-server's JSStreamStoreFailedF (nats.go
// names no constant for it): the stream did not store a publish, and the
// description says why.
const errCodeStreamStoreFailed jetstream.ErrorCode = 10077

// IsQueueFull reports whether err is JetStream refusing a publish to
// EVENTFLOW_INVOCATIONS because the function already has
// MaxQueuedPerFunction invocations there ("maximum messages per subject
// exceeded"). Nothing was stored.
func IsQueueFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStreamStoreFailed &&
		strings.Contains(apiErr.Description, "maximum messages per subject exceeded")
}
