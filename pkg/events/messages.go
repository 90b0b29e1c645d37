package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Headers carried on invocation, reply and command messages. Payloads travel
// raw in the message body; metadata travels in headers so nothing is
// re-encoded on the hot path.
const (
	HeaderInvocationID = "Eventflow-Invocation-Id"
	HeaderContentType  = "Content-Type"
	HeaderStatus       = "Eventflow-Status"
	HeaderError        = "Eventflow-Error"
	HeaderExitCode     = "Eventflow-Exit-Code"
	HeaderDurationMs   = "Eventflow-Duration-Ms"
	HeaderAcceptedAt   = "Eventflow-Accepted-At"
	HeaderErrorCode    = "Eventflow-Error-Code"
	// HeaderPriorAttempts on a redriven invocation: attempts it had made
	// before it was dead-lettered (attempts go on counting from there).
	HeaderPriorAttempts = "Eventflow-Prior-Attempts"
	// HeaderAttempts on a dead letter: attempts made in all.
	HeaderAttempts = "Eventflow-Attempts"
	// HeaderCallbackURL carries X-Callback-Url with an async invocation.
	HeaderCallbackURL = "Eventflow-Callback-Url"
)

// Headers of a callback POST, besides the Standard Webhooks ones
// (pkg/webhook), which sign the id and the time with the body.
const (
	// CallbackSignatureHeader is "sha256=<hex HMAC-SHA256 of the body>",
	// keyed with the tenant's callback key. Deprecated: it does not cover
	// the time, so a captured callback can be replayed; it is still sent
	// for receivers written before webhook-signature.
	CallbackSignatureHeader = "X-Eventflow-Signature"
	CallbackIDHeader        = "X-Eventflow-Invocation-Id"
)

// Callback delivery statuses.
const (
	CallbackPending   = "pending"
	CallbackDelivered = "delivered"
	CallbackFailed    = "failed"
)

// CallbackStatus is where a callback stands.
type CallbackStatus struct {
	URL       string `json:"url"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// CallbackKey is a tenant's key for callback signatures, derived from the
// platform's callback secret, so each tenant verifies with its own key and
// no tenant can sign for another.
func CallbackKey(secret []byte, tenant string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("eventflow-callback:" + tenant))
	return m.Sum(nil)
}

// SignCallback is the deprecated CallbackSignatureHeader value of a
// callback body.
func SignCallback(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Error codes an invoker puts in HeaderErrorCode of a sync reply.
const (
	ErrorCodeNotFound       = "not_found"
	ErrorCodeTimeout        = "timeout"
	ErrorCodeFunctionFailed = "function_failed"
	ErrorCodeUnavailable    = "unavailable"
)

// Command actions.
const (
	ActionApply  = "apply"
	ActionDelete = "delete"
)

// Command asks the deployer to reconcile one function to (at least) a
// generation. The deployer always reads the latest desired record, so a
// command is only a nudge: duplicates and reordering are harmless.
type Command struct {
	Tenant     string `json:"tenant"`
	Function   string `json:"function"`
	Generation int64  `json:"generation"`
	Action     string `json:"action"`
}

// ParseCommand reads a command message: a JSON object naming a tenant and
// a function (each one subject token) and a known action.
func ParseCommand(data []byte) (Command, error) {
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return Command{}, fmt.Errorf("command: %w", err)
	}
	switch {
	case !validToken(c.Tenant) || !validToken(c.Function):
		return Command{}, fmt.Errorf("command: tenant %q and function %q must be names", c.Tenant, c.Function)
	case c.Action != ActionApply && c.Action != ActionDelete:
		return Command{}, fmt.Errorf("command: action %q is not %s or %s", c.Action, ActionApply, ActionDelete)
	case c.Generation < 0:
		return Command{}, fmt.Errorf("command: generation %d", c.Generation)
	}
	return c, nil
}

// MsgID is the de-duplication id of the command.
func (c Command) MsgID() string {
	return fmt.Sprintf("%s.%s.%d.%s", c.Tenant, c.Function, c.Generation, c.Action)
}

// Invocation statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	// StatusRetrying: an attempt failed; the next one waits its backoff.
	StatusRetrying = "retrying"
	// StatusDeadLettered: the last attempt failed; the invocation is in the
	// dead-letter stream, from where it can be redriven.
	StatusDeadLettered = "dead_lettered"
)

// InvocationStatuses lists every invocation status, in the order an
// invocation goes through them.
var InvocationStatuses = []string{StatusQueued, StatusRunning, StatusRetrying, StatusSucceeded, StatusFailed, StatusDeadLettered}

// InvocationRecord is an invocation as the API answers it
// (GET /v1/invocations/{id}, the history, a callback's body, the data of
// invocation events): the view of the stored record (StoredInvocation.View).
type InvocationRecord struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant"`
	Function   string     `json:"function"`
	Async      bool       `json:"async"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	Output     string     `json:"output,omitempty"`
	Error      string     `json:"error,omitempty"`
	ExitCode   *int       `json:"exitCode,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	DurationMs *int64     `json:"durationMs,omitempty"`
	// Callback is set when the invocation asked for one (X-Callback-Url).
	Callback *CallbackStatus `json:"callback,omitempty"`
	// Trigger is set when a trigger made the invocation.
	Trigger *TriggerRef `json:"trigger,omitempty"`
	// Revision is the function revision that served the last run (http
	// mode: its traffic split picks one per run).
	Revision int64 `json:"revision,omitempty"`
}

// Done reports whether the invocation reached a final status.
func (r InvocationRecord) Done() bool { return FinalStatus(r.Status) }

// FinalStatus reports whether an invocation in status has ended: only a
// redrive moves it on (from dead_lettered).
func FinalStatus(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusDeadLettered
}

// StoredInvocation is what the invocations bucket keeps per invocation,
// under InvocationKey. It is written only through UpdateInvocation (see
// records.go for its state machine); what the API shows is its View. The
// two have the same fields today; a field only the store needs goes here,
// and View decides what the API shows.
type StoredInvocation struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant"`
	Function   string     `json:"function"`
	Async      bool       `json:"async"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	Output     string     `json:"output,omitempty"`
	Error      string     `json:"error,omitempty"`
	ExitCode   *int       `json:"exitCode,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	DurationMs *int64     `json:"durationMs,omitempty"`
	// Callback is set when the invocation asked for one (X-Callback-Url).
	Callback *CallbackStatus `json:"callback,omitempty"`
	// Trigger is set when a trigger made the invocation.
	Trigger *TriggerRef `json:"trigger,omitempty"`
	// Revision is the function revision that served the last run (http
	// mode: its traffic split picks one per run).
	Revision int64 `json:"revision,omitempty"`
}

// Done reports whether the invocation reached a final status.
func (r StoredInvocation) Done() bool { return FinalStatus(r.Status) }

// View is the API's answer for the stored record: the same fields, with
// the callback status copied (the view shares nothing with the record).
func (r StoredInvocation) View() InvocationRecord {
	v := InvocationRecord(r)
	if r.Callback != nil {
		cb := *r.Callback
		v.Callback = &cb
	}
	if r.Trigger != nil {
		t := *r.Trigger
		v.Trigger = &t
	}
	return v
}

// NewInvocationID returns a new id: a millisecond timestamp (so ids sort by
// time) and 80 random bits, in lower-case hex, valid as a KV key.
func NewInvocationID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%012x%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// IdempotencyHash identifies an Idempotency-Key of one tenant's function:
// the key itself may hold any printable character, a KV key may not.
func IdempotencyHash(tenant, fn, key string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + fn + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// LegacyIdempotentInvocationID is the id an invocation with an
// Idempotency-Key had before such ids were made by NewInvocationID like any
// other (they sorted out of time order): the key's hash. The gateway still
// looks it up, so a key used before an upgrade keeps its invocation until
// that record expires.
func LegacyIdempotentInvocationID(tenant, fn, key string) string {
	return IdempotencyHash(tenant, fn, key)
}

// ValidInvocationID reports whether s has the shape NewInvocationID makes;
// the gateway checks it before using s as a KV key.
func ValidInvocationID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// InvocationIDTime is when NewInvocationID made id (to the millisecond,
// the clock of the host that made it); ok is false for an id not of its
// shape. An id made otherwise (LegacyIdempotentInvocationID) gives a
// meaningless time.
func InvocationIDTime(id string) (t time.Time, ok bool) {
	if !ValidInvocationID(id) {
		return time.Time{}, false
	}
	ms, err := strconv.ParseUint(id[:12], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)), true
}

// LogLine is the body of a message on the logs stream.
type LogLine struct {
	Time     time.Time `json:"time"`
	Tenant   string    `json:"tenant"`
	Function string    `json:"function"`
	Instance string    `json:"instance"`
	Stream   string    `json:"stream"` // stdout or stderr
	Line     string    `json:"line"`
}

// FormatText is the line as the text log endpoint prints it.
func (l LogLine) FormatText() string {
	return l.Time.UTC().Format(time.RFC3339Nano) + " " + l.Instance + " " + l.Stream + " " + l.Line
}

// FormatInt is strconv.Itoa for header values.
func FormatInt(n int64) string { return strconv.FormatInt(n, 10) }
