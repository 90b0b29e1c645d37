package function

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones of cron triggers, also in images without /usr/share/zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// HTTP route authentication of an http-mode function (spec.http.auth).
const (
	// HTTPAuthToken: a bearer token of the function's tenant with the
	// functions:invoke scope (the default).
	HTTPAuthToken = "token"
	// HTTPAuthPublic: anyone may call the route.
	HTTPAuthPublic = "public"
)

// HTTP is how an http-mode function's public route
// (/fn/<tenant>/<name>/...) is reached.
type HTTP struct {
	Auth string `json:"auth,omitempty"`
}

// RouteAuth is the route's authentication with the default applied.
func (s Spec) RouteAuth() string {
	if s.HTTP == nil || s.HTTP.Auth == "" {
		return HTTPAuthToken
	}
	return s.HTTP.Auth
}

// Trigger types.
const (
	TriggerCron  = "cron"
	TriggerNATS  = "nats"
	TriggerEvent = "event"
)

// Missed-tick policies of a cron trigger: ticks that fell while the
// platform was down are skipped, or the latest of them runs once.
const (
	MissedSkip = "skip"
	MissedOnce = "once"
)

// Limits of triggers.
const (
	MaxTriggers         = 16
	MaxTriggerBody      = 64 << 10
	MaxTriggerSubject   = 200
	MinCronInterval     = time.Second
	maxTriggerFilterLen = 200
)

// Trigger makes invocations of the function from something other than an
// API call: a schedule (cron), messages on the tenant's NATS subjects
// (nats) or EventFlow's own lifecycle events (event). Each one invokes the
// function asynchronously, with the function's retry policy.
type Trigger struct {
	Type string `json:"type"`
	// cron: Schedule is a standard 5-field cron expression, a descriptor
	// (@hourly, @daily...) or @every <duration> (at least 1s); Timezone
	// an IANA zone (default UTC); Body the payload of every tick; Missed
	// what to do with ticks missed while the platform was down.
	Schedule string `json:"schedule,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Body     string `json:"body,omitempty"`
	Missed   string `json:"missed,omitempty"`
	// nats: Subject, relative to the tenant's namespace
	// eventflow.in.<tenant>. ("orders.>" listens on
	// eventflow.in.<tenant>.orders.>); '*' and a final '>' are wildcards.
	Subject string `json:"subject,omitempty"`
	// event: Filter on the tenant's lifecycle events.
	Filter *EventFilter `json:"filter,omitempty"`
}

// EventFilter selects lifecycle events: each field empty or "*" matches
// anything; Type is a full CloudEvents type (io.eventflow.invocation.failed)
// or a prefix ending in ".*" (io.eventflow.invocation.*).
type EventFilter struct {
	Type     string `json:"type,omitempty"`
	Function string `json:"function,omitempty"`
	Source   string `json:"source,omitempty"`
}

// Key identifies a trigger by its type and content: the same trigger
// keeps its key (and its state, its consumer, its invocation ids) whatever
// its place in the list, and a changed trigger is a new one.
func (t Trigger) Key() string {
	b, _ := json.Marshal(t.withDefaults())
	sum := sha256.Sum256(b)
	return t.Type + "-" + hex.EncodeToString(sum[:6])
}

func (t Trigger) withDefaults() Trigger {
	if t.Type == TriggerCron {
		if t.Timezone == "" {
			t.Timezone = "UTC"
		}
		if t.Missed == "" {
			t.Missed = MissedSkip
		}
	}
	return t
}

// cronParser accepts standard 5-field expressions and descriptors
// (@every, @hourly...).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron trigger: Next(t) is the first tick after t.
type Schedule interface {
	Next(time.Time) time.Time
}

// CronSchedule parses a cron trigger's schedule in its time zone.
func (t Trigger) CronSchedule() (Schedule, error) {
	t = t.withDefaults()
	loc, err := loadZone(t.Timezone)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(t.Schedule, "\n\r") {
		return nil, fmt.Errorf("schedule %q is not one line", t.Schedule)
	}
	if strings.HasPrefix(t.Schedule, "CRON_TZ=") || strings.HasPrefix(t.Schedule, "TZ=") {
		return nil, fmt.Errorf("schedule %q: give the zone in timezone, not in the schedule", t.Schedule)
	}
	s, err := cronParser.Parse("CRON_TZ=" + loc.String() + " " + t.Schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule %q is not a 5-field cron expression, a descriptor such as @hourly, or @every <duration>: %v", t.Schedule, err)
	}
	// The parser raises an @every under a second (zero and negative ones
	// included) to a second, so the duration is checked as written.
	if rest, ok := strings.CutPrefix(strings.TrimSpace(t.Schedule), "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err != nil || d < MinCronInterval {
			return nil, fmt.Errorf("schedule %q: @every must be at least %s", t.Schedule, MinCronInterval)
		}
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return anchoredEvery(every.Delay), nil
	}
	return s, nil
}

// anchoredEvery is an @every schedule whose ticks are multiples of the
// interval since the zero time, not counted from the time asked: the cron
// library's @every counts from the time given to Next, so two invoker
// replicas (or one before and after a restart, or the gateway showing the
// next fire times) would disagree on the ticks of, say, @every 7s.
type anchoredEvery time.Duration

func (e anchoredEvery) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d).In(t.Location())
}

// loadZone loads a cron trigger's IANA time zone. "Local" is refused: it
// is whatever zone each process runs in, so the gateway's next fire times
// and the invoker's ticks could disagree.
func loadZone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, fmt.Errorf("timezone %q is not an IANA time zone such as UTC or Europe/Paris", name)
	}
	return loc, nil
}

// NextFires returns the next n ticks of a cron trigger after now (nil for
// another type or a schedule that does not parse).
func (t Trigger) NextFires(now time.Time, n int) []time.Time {
	if t.Type != TriggerCron {
		return nil
	}
	s, err := t.CronSchedule()
	if err != nil {
		return nil
	}
	out := make([]time.Time, 0, n)
	for range n {
		now = s.Next(now)
		if now.IsZero() {
			break
		}
		out = append(out, now.UTC())
	}
	return out
}

// TriggerStatus is a trigger's state, as the function's status shows it
// (status.triggers): the invoker keeps it, the gateway adds the next fire
// times of a cron trigger when it answers.
type TriggerStatus struct {
	Key    string `json:"key"`
	Type   string `json:"type"`
	Fires  int64  `json:"fires"`
	Errors int64  `json:"errors"`
	// LastFire is when the trigger last made an invocation, LastInvocation
	// that invocation's id.
	LastFire       time.Time `json:"lastFire,omitzero"`
	LastInvocation string    `json:"lastInvocation,omitempty"`
	// LastError is the last failure to make an invocation (never a
	// failure of the function itself: that is the invocation's).
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// NextFires are a cron trigger's next ticks.
	NextFires []time.Time `json:"nextFires,omitempty"`
}

// TriggerStatuses lists the state of each of the spec's triggers, in the
// spec's order, from the stored states by key (a trigger that never fired
// has zero counts), with a cron trigger's next three ticks after now.
func (s Spec) TriggerStatuses(stored map[string]TriggerStatus, now time.Time) []TriggerStatus {
	if len(s.Triggers) == 0 {
		return nil
	}
	out := make([]TriggerStatus, 0, len(s.Triggers))
	for _, t := range s.Triggers {
		k := t.Key()
		st := stored[k]
		st.Key, st.Type = k, t.Type
		st.NextFires = t.NextFires(now, 3)
		out = append(out, st)
	}
	return out
}

func (s Spec) validateHTTP() error {
	if s.HTTP == nil {
		return nil
	}
	if s.Invocation.Mode != ModeHTTP {
		return &FieldError{"http", "applies to http mode only: a job-mode function has no route"}
	}
	switch s.HTTP.Auth {
	case "", HTTPAuthToken, HTTPAuthPublic:
		return nil
	}
	return &FieldError{"http.auth", fmt.Sprintf("%q is not %q or %q", s.HTTP.Auth, HTTPAuthToken, HTTPAuthPublic)}
}

func (s Spec) validateTriggers() error {
	if len(s.Triggers) > MaxTriggers {
		return &FieldError{"triggers", fmt.Sprintf("must have at most %d triggers", MaxTriggers)}
	}
	seen := map[string]int{}
	for i, t := range s.Triggers {
		field := fmt.Sprintf("triggers[%d]", i)
		if err := t.validate(field); err != nil {
			return err
		}
		k := t.Key()
		if j, dup := seen[k]; dup {
			return &FieldError{field, fmt.Sprintf("is the same trigger as triggers[%d]", j)}
		}
		seen[k] = i
	}
	return nil
}

func (t Trigger) validate(field string) error {
	only := func(ok bool, name string) error {
		if ok {
			return nil
		}
		return &FieldError{field + "." + name, fmt.Sprintf("does not apply to a %s trigger", t.Type)}
	}
	// noCron names the first cron-only field set on a trigger of another type.
	noCron := func() error {
		for _, f := range []struct{ name, v string }{{"schedule", t.Schedule}, {"timezone", t.Timezone}, {"body", t.Body}, {"missed", t.Missed}} {
			if err := only(f.v == "", f.name); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.Type {
	case TriggerCron:
		if t.Schedule == "" {
			return &FieldError{field + ".schedule", "is required"}
		}
		if _, err := loadZone(t.withDefaults().Timezone); err != nil {
			return &FieldError{field + ".timezone", err.Error()}
		}
		if _, err := t.CronSchedule(); err != nil {
			return &FieldError{field + ".schedule", err.Error()}
		}
		if len(t.Body) > MaxTriggerBody {
			return &FieldError{field + ".body", fmt.Sprintf("must be at most %d bytes", MaxTriggerBody)}
		}
		switch t.Missed {
		case "", MissedSkip, MissedOnce:
		default:
			return &FieldError{field + ".missed", fmt.Sprintf("%q is not %q or %q", t.Missed, MissedSkip, MissedOnce)}
		}
		if err := only(t.Subject == "", "subject"); err != nil {
			return err
		}
		return only(t.Filter == nil, "filter")
	case TriggerNATS:
		if err := ValidateTriggerSubject(t.Subject); err != nil {
			return &FieldError{field + ".subject", err.Error()}
		}
		if err := noCron(); err != nil {
			return err
		}
		return only(t.Filter == nil, "filter")
	case TriggerEvent:
		if t.Filter == nil {
			return &FieldError{field + ".filter", "is required"}
		}
		// In field order, so the same spec always names the same field.
		for _, f := range []struct{ name, v string }{{"type", t.Filter.Type}, {"function", t.Filter.Function}, {"source", t.Filter.Source}} {
			if len(f.v) > maxTriggerFilterLen || !printable(f.v) {
				return &FieldError{field + ".filter." + f.name, fmt.Sprintf("must be at most %d printable characters", maxTriggerFilterLen)}
			}
		}
		if f := t.Filter.Function; f != "" && f != "*" {
			if err := ValidateName(f); err != nil {
				return &FieldError{field + ".filter.function", "must be a function name or *"}
			}
		}
		if ty := t.Filter.Type; ty != "" && ty != "*" && !strings.HasPrefix(ty, "io.eventflow.") {
			return &FieldError{field + ".filter.type", fmt.Sprintf("%q is not an EventFlow event type (io.eventflow.…)", ty)}
		}
		if err := noCron(); err != nil {
			return err
		}
		return only(t.Subject == "", "subject")
	case "":
		return &FieldError{field + ".type", "is required"}
	}
	return &FieldError{field + ".type", fmt.Sprintf("%q is not %q, %q or %q", t.Type, TriggerCron, TriggerNATS, TriggerEvent)}
}

// ValidateTriggerSubject checks a nats trigger's subject, relative to the
// tenant's namespace: dot-separated tokens of printable characters, '*'
// a whole token, '>' only as the last.
func ValidateTriggerSubject(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	if len(s) > MaxTriggerSubject {
		return fmt.Errorf("must be at most %d characters", MaxTriggerSubject)
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fmt.Errorf("%q has an empty token", s)
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("%q: '>' must be the last token", s)
		case tok == "*" || tok == ">":
		case strings.ContainsAny(tok, "*>") || !printable(tok) || strings.ContainsFunc(tok, unicode.IsSpace):
			return fmt.Errorf("%q: a token is printable characters without spaces, or '*', or a last '>'", s)
		}
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}
