// Package events is the contract between EventFlow's services: subject names,
// stream and bucket definitions, message headers, payload types and the
// CloudEvents envelope. Every service imports it; nothing else is shared.
package events

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Subject roots. Each is followed by ".<tenant>.<function>" (and more).
const (
	SubjectCommands    = "eventflow.cmd"
	SubjectInvocations = "eventflow.invoke"
	SubjectSync        = "eventflow.sync"
	SubjectDeadLetters = "eventflow.dlq"
	SubjectEvents      = "eventflow.events"
	SubjectLogs        = "eventflow.logs"
	SubjectCallbacks   = "eventflow.callback"
)

// SyncQueueGroup is the core NATS queue group invokers share for sync
// invocations, so each request reaches exactly one invoker.
const SyncQueueGroup = "eventflow-invoker"

// CommandSubject is where commands for one function go.
func CommandSubject(tenant, fn string) string { return join(SubjectCommands, tenant, fn) }

// InvocationSubject is where async invocations for one function are queued.
func InvocationSubject(tenant, fn string) string { return join(SubjectInvocations, tenant, fn) }

// SyncSubject is the request/reply subject for sync invocations.
func SyncSubject(tenant, fn string) string { return join(SubjectSync, tenant, fn) }

// DeadLetterSubject is where invocations go after their last attempt.
func DeadLetterSubject(tenant, fn string) string { return join(SubjectDeadLetters, tenant, fn) }

// EventSubject is where a lifecycle event of one function goes:
// eventflow.events.<tenant>.<function>.<kind>.<type>, e.g.
// "...acme.upper.function.ready" or "...acme.upper.invocation.failed", from
// the CloudEvents type "io.eventflow.<kind>.<type>".
func EventSubject(tenant, fn, eventType string) string {
	return join(SubjectEvents, tenant, fn, EventTypeTokens(eventType))
}

// EventFilter matches a tenant's events, optionally of one function
// ("" for all) and one CloudEvents type ("" for all).
func EventFilter(tenant, fn, eventType string) string {
	if fn == "" {
		fn = "*"
	}
	if eventType == "" {
		return join(SubjectEvents, tenant, fn, ">")
	}
	return join(SubjectEvents, tenant, fn, EventTypeTokens(eventType))
}

// LogSubject is where the log lines of one instance of a function go.
func LogSubject(tenant, fn, instance string) string {
	return join(SubjectLogs, tenant, fn, SubjectToken(instance))
}

// CallbackSubject is where callbacks of one function's invocations wait
// for delivery.
func CallbackSubject(tenant, fn string) string { return join(SubjectCallbacks, tenant, fn) }

// LogFilter matches every instance's log lines of one function.
func LogFilter(tenant, fn string) string { return join(SubjectLogs, tenant, fn, ">") }

// TenantFunction extracts tenant and function from a subject made by the
// helpers above ("<root a>.<root b>.<tenant>.<function>..."). Both must be
// literal tokens: never empty, a wildcard or whitespace.
func TenantFunction(subject string) (tenant, fn string, err error) {
	parts := strings.SplitN(subject, ".", 5)
	if len(parts) < 4 || !validToken(parts[2]) || !validToken(parts[3]) {
		return "", "", fmt.Errorf("subject %q has no tenant and function", subject)
	}
	return parts[2], parts[3], nil
}

// InvocationKey is the key of an invocation record: by tenant and
// function first, so a function's invocations are one filtered watch, and
// an id alone is found with the wildcard subject of InvocationKeyByID.
func InvocationKey(tenant, fn, id string) string { return tenant + "." + fn + "." + id }

// InvocationKeyByID matches the record of id among a tenant's functions.
func InvocationKeyByID(tenant, id string) string { return tenant + ".*." + id }

// IdempotencyKey is the key, in the invocations bucket, that maps an
// Idempotency-Key of a function to the id of the invocation it made (kept,
// like the records, for the bucket's TTL). It has four tokens, so neither
// "<tenant>.<function>.*" (a function's records) nor InvocationKeyByID
// ever matches it.
func IdempotencyKey(tenant, fn, key string) string {
	return tenant + "." + fn + ".idempotency." + IdempotencyHash(tenant, fn, key)
}

// FunctionKey is the key of a function in the functions and status buckets.
func FunctionKey(tenant, fn string) string { return tenant + "." + fn }

// SecretKey is a secret's key in BucketSecrets.
func SecretKey(tenant, name string) string { return tenant + "." + name }

// SecretsPublicKeyKey is where the deployer keeps the public key secrets
// are sealed to, in BucketSecrets: one token, so no tenant's secret can
// have that key (SecretKey has two).
const SecretsPublicKeyKey = "_sealing-key"

// RevisionKey is a function revision's key in BucketRevisions.
func RevisionKey(tenant, fn string, revision int64) string {
	return tenant + "." + fn + "." + strconv.FormatInt(revision, 10)
}

// SubjectToken makes s safe as one subject token: every character NATS
// forbids inside a token (badTokenRune: '.', '*', '>', whitespace, NUL,
// invalid UTF-8) becomes '_', and an empty s is "_".
func SubjectToken(s string) string {
	if s == "" {
		return "_"
	}
	// strings.Map sees each invalid UTF-8 byte as utf8.RuneError.
	return strings.Map(func(r rune) rune {
		if badTokenRune(r) {
			return '_'
		}
		return r
	}, s)
}

// validToken reports whether s can be one literal subject token as it is.
func validToken(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsFunc(s, badTokenRune)
}

// badTokenRune is what a token may not hold: NATS splits subjects on '.',
// takes '*' and '>' as wildcards, and refuses whitespace, NUL and invalid
// UTF-8; control characters are refused too.
func badTokenRune(r rune) bool {
	return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

func join(parts ...string) string { return strings.Join(parts, ".") }
