package busauth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// The services, each with its own identity on the bus.
const (
	Gateway   = "gateway"
	Deployer  = "deployer"
	Invoker   = "invoker"
	Logstream = "logstream"
)

// Services lists every service identity, in a stable order.
var Services = []string{Gateway, Deployer, Invoker, Logstream}

// SubjectTriggers is the root of the subjects a tenant's own producers
// publish to for NATS triggers: eventflow.in.<tenant>.<subject...>.
const SubjectTriggers = events.SubjectTriggers

// Permissions is what one identity may publish and subscribe to. Anything
// not listed is refused by the server.
type Permissions struct {
	Publish   []string
	Subscribe []string
	// Reply lets the identity answer requests it received (the invoker's
	// sync invocations) without a publish right on the requester's inbox.
	Reply bool
	// InboxPrefix replaces nats.go's shared "_INBOX": each identity reads
	// replies only under its own prefix, so no one sees another's replies.
	InboxPrefix string
}

// ServiceInboxPrefix is a service's own reply prefix.
func ServiceInboxPrefix(service string) string { return "_INBOX_eventflow_" + service }

// TenantInboxPrefix is the reply prefix of a tenant's producers and
// subscribers (the nats CLI's --inbox-prefix).
func TenantInboxPrefix(tenant string) string { return "_INBOX_tenant_" + tenant }

// ServicePermissions is the least a service needs, stream by stream. The
// deployer alone creates and updates streams and buckets (provisioning);
// the others may only use them.
func ServicePermissions(service string) (Permissions, error) {
	inbox := ServiceInboxPrefix(service)
	p := Permissions{InboxPrefix: inbox, Subscribe: []string{inbox + ".>"}, Publish: []string{"$JS.API.INFO"}}
	// Every service may see that the streams exist (bus.WaitProvisioned):
	// one wildcard rather than an entry per stream, which keeps the JWT
	// within the server's 4 KiB control line. Info shows a stream's
	// configuration and counts, never its messages.
	p.Publish = append(p.Publish, streamInfoAll)
	switch service {
	case Gateway:
		p.read(events.StreamCommands, events.StreamInvocations, events.StreamDeadLetters, events.StreamEvents, events.StreamLogs)
		p.readBucket(events.BucketFunctions, events.BucketStatus, events.BucketInvocations, events.BucketTriggers, events.BucketSecrets, events.BucketRevisions)
		p.write(events.SubjectCommands, events.SubjectInvocations, events.SubjectEvents, events.SubjectSync, events.SubjectScale)
		// Secrets: it stores values sealed to the deployer's key, which it
		// reads from the bucket and cannot open.
		p.writeBucket(events.BucketFunctions, events.BucketInvocations, events.BucketRevisions)
		// Tenants' secrets only (<tenant>.<name>): never the sealing key,
		// which is one token and the deployer's.
		p.Publish = append(p.Publish, "$KV."+events.BucketSecrets+".*.*")
		// Redrive removes a dead letter once it is queued again.
		p.Publish = append(p.Publish, "$JS.API.STREAM.MSG.DELETE."+events.StreamDeadLetters)
	case Deployer:
		p.provision()
		p.read(events.StreamCommands, events.StreamEvents)
		p.readBucket(events.BucketFunctions, events.BucketStatus)
		p.write(events.SubjectCommands, events.SubjectEvents, events.SubjectLogs)
		// It purges a function's spec once the function is gone.
		p.writeBucket(events.BucketStatus, events.BucketFunctions)
		// It records revisions the gateway did not (creates only), and
		// lists and deletes a deleted function's: no reads of them.
		p.writeBucket(events.BucketRevisions)
		p.Publish = append(p.Publish, "$JS.API.CONSUMER.*.KV_"+events.BucketRevisions+".>")
		// Secrets: it reads the sealed values (direct gets, no watches)
		// and publishes the key they are sealed to, nothing else there.
		p.Publish = append(p.Publish, "$JS.API.DIRECT.GET.KV_"+events.BucketSecrets+".>",
			"$KV."+events.BucketSecrets+"."+events.SecretsPublicKeyKey)
		// Its scaler hears load reports and reads the depth of functions'
		// queues (consumer info only: it neither pulls nor acks there).
		p.Subscribe = append(p.Subscribe, events.SubjectScale+".>")
		p.Publish = append(p.Publish, "$JS.API.CONSUMER.INFO."+events.StreamInvocations+".*")
	case Invoker:
		// Triggers: messages of nats triggers, events of event triggers.
		p.read(events.StreamInvocations, events.StreamDeadLetters, events.StreamCallbacks, events.StreamTriggers, events.StreamEvents)
		p.readBucket(events.BucketFunctions, events.BucketStatus, events.BucketInvocations, events.BucketTriggers)
		// Secrets: jobs on the process runtime read them (direct gets;
		// opened only where it has the key).
		p.Publish = append(p.Publish, "$JS.API.DIRECT.GET.KV_"+events.BucketSecrets+".>")
		p.write(events.SubjectInvocations, events.SubjectDeadLetters, events.SubjectCallbacks, events.SubjectEvents, events.SubjectLogs, events.SubjectScale)
		p.writeBucket(events.BucketInvocations, events.BucketTriggers)
		p.Subscribe = append(p.Subscribe, events.SubjectSync+".>")
		p.Reply = true
	case Logstream:
		p.read(events.StreamLogs)
		p.write(events.SubjectLogs)
	default:
		return Permissions{}, fmt.Errorf("unknown service %q (want one of %v)", service, Services)
	}
	p.Publish = slices.DeleteFunc(p.Publish, func(s string) bool {
		return s != streamInfoAll && strings.HasPrefix(s, "$JS.API.STREAM.INFO.")
	})
	slices.Sort(p.Publish)
	p.Publish = slices.Compact(p.Publish)
	return p, nil
}

// streamInfoAll is every stream's info (it covers the per-stream entries
// read adds, which are dropped from a service's list).
const streamInfoAll = "$JS.API.STREAM.INFO.*"

// TenantPermissions is what a tenant's own programs may do on the bus:
// queue invocations of its functions, publish to its trigger subjects,
// and read its own events (live, or replayed from the events stream
// through a consumer filtered to them). Nothing else: no other tenant's
// subjects, no records, no stream administration.
func TenantPermissions(tenant string) (Permissions, error) {
	if err := function.ValidateTenant(tenant); err != nil {
		return Permissions{}, err
	}
	inbox := TenantInboxPrefix(tenant)
	own := events.EventFilter(tenant, "", "")
	return Permissions{
		InboxPrefix: inbox,
		Publish: []string{
			events.SubjectInvocations + "." + tenant + ".>",
			SubjectTriggers + "." + tenant + ".>",
			"$JS.API.INFO",
			// The filter is part of the subject (nats-server 2.10+), so
			// a consumer on another tenant's events is refused.
			"$JS.API.CONSUMER.CREATE." + events.StreamEvents + ".*." + own,
			"$JS.API.CONSUMER.MSG.NEXT." + events.StreamEvents + ".*",
		},
		Subscribe: []string{own, inbox + ".>"},
	}, nil
}

// read: a stream's info, its messages by sequence, and consumers on it
// (create, info, delete, pull, ack). A user JWT travels in the CONNECT
// line, which servers cap at 4 KiB by default, so each verb family is one
// wildcard entry where that grants nothing more than using the stream.
func (p *Permissions) read(streams ...string) {
	for _, s := range streams {
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.CONSUMER.*."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".>",
			"$JS.ACK."+s+".>",
		)
	}
}

// readBucket: a bucket's info, direct gets of keys, and watches (KV
// watches and key listings are ordered push consumers: no acks, and no
// pulls, so no CONSUMER.MSG.NEXT).
func (p *Permissions) readBucket(buckets ...string) {
	for _, b := range buckets {
		s := "KV_" + b
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.*."+s+".>",
		)
	}
}

func (p *Permissions) write(roots ...string) {
	for _, r := range roots {
		p.Publish = append(p.Publish, r+".>")
	}
}

func (p *Permissions) writeBucket(buckets ...string) {
	for _, b := range buckets {
		p.Publish = append(p.Publish, "$KV."+b+".>")
	}
}

// provision: create and update EventFlow's own streams and buckets, and
// nothing else (no deletes, no other streams).
func (p *Permissions) provision() {
	for _, n := range streamNames() {
		p.Publish = append(p.Publish, "$JS.API.STREAM.CREATE."+n, "$JS.API.STREAM.UPDATE."+n)
	}
}

// streamNames are EventFlow's streams, buckets' included.
func streamNames() []string { return events.DefaultOptions().StreamNames() }
