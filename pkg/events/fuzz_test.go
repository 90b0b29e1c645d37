package events_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// badTokenRune: what no subject token may hold. NATS splits on '.', takes
// '*' and '>' as wildcards and refuses whitespace, NUL and invalid UTF-8;
// control characters are refused here too (they break logs and headers).
func badTokenRune(r rune) bool {
	return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

// checkToken fails unless tok is one literal subject token.
func checkToken(t *testing.T, what, tok string) {
	t.Helper()
	if tok == "" || !utf8.ValidString(tok) || strings.ContainsFunc(tok, badTokenRune) {
		t.Fatalf("%s: %q is not a subject token", what, tok)
	}
}

// checkSubject fails unless s is a literal subject of n tokens.
func checkSubject(t *testing.T, what, s string, n int) {
	t.Helper()
	parts := strings.Split(s, ".")
	if len(parts) != n {
		t.Fatalf("%s: %q has %d tokens, want %d", what, s, len(parts), n)
	}
	for _, p := range parts {
		checkToken(t, what+" "+s, p)
	}
}

// checkFilter fails unless s is a subject filter: literal tokens, '*'
// tokens, and '>' only as the last one.
func checkFilter(t *testing.T, what, s string) {
	t.Helper()
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p == "*" || (p == ">" && i == len(parts)-1) {
			continue
		}
		checkToken(t, what+" "+s, p)
	}
}

// kvKey is what JetStream KV accepts as a key (nats.go's validKeyRe), and
// no empty token.
var kvKey = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

func checkKey(t *testing.T, what, k string) {
	t.Helper()
	if !kvKey.MatchString(k) {
		t.Fatalf("%s: %q is not a KV key", what, k)
	}
}

// FuzzSubjects: for tenant and function names that validation accepts,
// every subject and key built from them is valid (no empty tokens, no
// wildcards, no whitespace), has its shape, and gives the names back;
// SubjectToken makes any string one token.
func FuzzSubjects(f *testing.F) {
	for _, s := range []struct {
		tenant, fn, instance, key, id string
		typ                           uint8
	}{
		{"acme", "upper", "upper-0", "order-42", "01a24e648f7458bb6493788d572b6857", 0},
		{"a", "b", "", "", "", 3},
		{"t-1", "f-2", "upper.x*y>z 1", "k e y.*>", "0123456789ABCDEF0123456789abcdef", 9},
		{"tenant-with-forty-characters-0123456789", strings.Repeat("f", 63), "\f\v\x00\x85\u00a0\u2028", "\xff", "../../etc", 255},
		{"Acme", "Upper", "\xff\xfe", "ключ", "zz", 1},
	} {
		f.Add(s.tenant, s.fn, s.instance, s.key, s.id, s.typ)
	}
	f.Fuzz(func(t *testing.T, tenant, fn, instance, key, id string, typ uint8) {
		checkToken(t, "SubjectToken", events.SubjectToken(instance))
		if function.ValidateTenant(tenant) != nil || function.ValidateName(fn) != nil {
			return
		}
		eventType := events.EventTypes[int(typ)%len(events.EventTypes)]
		for _, c := range []struct {
			what, subject string
			tokens        int
		}{
			{"CommandSubject", events.CommandSubject(tenant, fn), 4},
			{"InvocationSubject", events.InvocationSubject(tenant, fn), 4},
			{"SyncSubject", events.SyncSubject(tenant, fn), 4},
			{"DeadLetterSubject", events.DeadLetterSubject(tenant, fn), 4},
			{"CallbackSubject", events.CallbackSubject(tenant, fn), 4},
			{"EventSubject", events.EventSubject(tenant, fn, eventType), 6},
			{"LogSubject", events.LogSubject(tenant, fn, instance), 5},
		} {
			checkSubject(t, c.what, c.subject, c.tokens)
			gotTenant, gotFn, err := events.TenantFunction(c.subject)
			if err != nil || gotTenant != tenant || gotFn != fn {
				t.Fatalf("TenantFunction(%s(%q, %q)) = %q, %q, %v", c.what, tenant, fn, gotTenant, gotFn, err)
			}
		}
		for _, fl := range []string{
			events.EventFilter(tenant, "", ""), events.EventFilter(tenant, fn, ""),
			events.EventFilter(tenant, "", eventType), events.EventFilter(tenant, fn, eventType),
			events.LogFilter(tenant, fn),
		} {
			checkFilter(t, "filter", fl)
		}
		checkKey(t, "FunctionKey", events.FunctionKey(tenant, fn))
		checkKey(t, "IdempotencyKey", events.IdempotencyKey(tenant, fn, key))
		checkKey(t, "InvocationKey", events.InvocationKey(tenant, fn, events.NewInvocationID()))
		if events.ValidInvocationID(id) {
			checkKey(t, "InvocationKey", events.InvocationKey(tenant, fn, id))
			checkFilter(t, "InvocationKeyByID", events.InvocationKeyByID(tenant, id))
			// Never the shape of an idempotency entry, nor the other way.
			if strings.Count(events.InvocationKey(tenant, fn, id), ".") == strings.Count(events.IdempotencyKey(tenant, fn, key), ".") {
				t.Fatal("an invocation key and an idempotency entry have the same shape")
			}
		}
	})
}

// FuzzTenantFunction: the subject parser of every bus consumer never
// panics, and what it accepts is two literal tokens of the subject.
func FuzzTenantFunction(f *testing.F) {
	for _, s := range []string{
		"eventflow.invoke.acme.upper", "eventflow.logs.acme.upper.upper-0", "eventflow.events.acme.upper.function.ready",
		"eventflow.sync", "", ".", "a.b..", "a.b.*.>", "a.b. .x", "a.b.c", "eventflow.invoke.acme.upper.", "\xff.\xfe.\x00.\x01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		tenant, fn, err := events.TenantFunction(subject)
		if err != nil {
			if tenant != "" || fn != "" {
				t.Fatalf("TenantFunction(%q) failed with %q, %q", subject, tenant, fn)
			}
			return
		}
		checkToken(t, "tenant", tenant)
		checkToken(t, "function", fn)
		if parts := strings.Split(subject, "."); parts[2] != tenant || parts[3] != fn {
			t.Fatalf("TenantFunction(%q) = %q, %q", subject, tenant, fn)
		}
	})
}

// FuzzParseCloudEvent: the CloudEvent parser never panics; what it accepts
// has the required attributes, encodes again, and reads back the same.
func FuzzParseCloudEvent(f *testing.F) {
	ev, _ := events.NewCloudEvent(events.TypeFunctionReady, "/eventflow/deployer", "acme", "upper", map[string]int{"readyReplicas": 2})
	good, _ := json.Marshal(ev)
	for _, s := range []string{
		string(good), `{}`, `null`, `[]`, `{"specversion":"1.0","id":"1","source":"/s","type":"t"}`,
		`{"specversion":"0.3","id":"1","source":"/s","type":"t"}`, `{"specversion":"1.0","id":"","source":"/s","type":"t"}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"9999-12-31T23:59:59-23:59","data":null}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{ "a" : [1, 2] }}`, `{"specversion":1}`, `{"time":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := events.ParseCloudEvent(data)
		if err != nil {
			return
		}
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" || ev.Type == "" {
			t.Fatalf("accepted %q without the required attributes: %+v", data, ev)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted %q that does not encode: %v", data, err)
		}
		again, err := events.ParseCloudEvent(b)
		if err != nil {
			t.Fatalf("%s (from %q) does not parse again: %v", b, data, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) || !again.Time.Equal(ev.Time) {
			t.Fatalf("round trip of %q: %s, then %s", data, b, b2)
		}
		if function.ValidateTenant(ev.Tenant) == nil && function.ValidateName(ev.Subject) == nil {
			for _, typ := range events.EventTypes {
				if ev.Type == typ {
					msg, err := ev.Msg()
					if err != nil {
						t.Fatalf("Msg of %s: %v", b, err)
					}
					checkSubject(t, "Msg", msg.Subject, 6)
				}
			}
		}
	})
}

// FuzzParseCommand: the deployer's command parser never panics; what it
// accepts names a tenant and a function that are subject tokens, a known
// action, and reads back the same.
func FuzzParseCommand(f *testing.F) {
	good, _ := json.Marshal(events.Command{Tenant: "acme", Function: "upper", Generation: 3, Action: events.ActionApply})
	for _, s := range []string{
		string(good), `{}`, `null`, `[]`, `{"tenant":"acme","function":"upper","action":"delete"}`,
		`{"tenant":"acme","function":"","action":"apply"}`, `{"tenant":"a.b","function":"*","action":"apply"}`,
		`{"tenant":"acme","function":"upper","action":"explode"}`, `{"tenant":"acme","function":"upper","generation":-1,"action":"apply"}`,
		`{"tenant":"acme","function":"upper","generation":1e30,"action":"apply"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := events.ParseCommand(data)
		if err != nil {
			return
		}
		checkToken(t, "tenant", cmd.Tenant)
		checkToken(t, "function", cmd.Function)
		if cmd.Action != events.ActionApply && cmd.Action != events.ActionDelete {
			t.Fatalf("accepted action %q", cmd.Action)
		}
		if cmd.Generation < 0 {
			t.Fatalf("accepted generation %d", cmd.Generation)
		}
		b, _ := json.Marshal(cmd)
		again, err := events.ParseCommand(b)
		if err != nil || !reflect.DeepEqual(again, cmd) {
			t.Fatalf("round trip of %q: %+v, %v", data, again, err)
		}
	})
}

// FuzzInvocationFromMsg: the invoker's reader of invocation messages never
// panics, and whatever it accepts is an invocation it can run and record
// (an id usable as a key token, tenant and function tokens, attempts not
// negative, a callback URL absolute http or https), written back by Msg to
// the same invocation.
func FuzzInvocationFromMsg(f *testing.F) {
	const id = "01a24e6700000000000000000000aaaa"
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", "", "", "", "", []byte("hi"))
	f.Add("eventflow.invoke.acme.upper", id, "application/json", "https://hooks.example.com/x", "2026-12-07T04:05:06.789Z", "3", "", "", "", "", []byte("{}"))
	f.Add("eventflow.invoke.acme.upper", id, "", "/relative", "", "", "", "", "", "", []byte(nil))
	f.Add("eventflow.invoke.*.upper", id, "", "", "", "", "", "", "", "", []byte(nil))
	f.Add("eventflow.invoke.acme.upper", "acme.other.x", "", "", "", "-1", "", "", "", "", []byte(nil))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "yesterday", "+1", "", "", "", "", []byte(nil))
	f.Add("eventflow.dlq.acme.upper", id, "", "", "", "", "", "", "", "", []byte(nil))
	// Made by a trigger (Eventflow-Trigger), and queued by /async-fn/ (Eventflow-Http-*).
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T04:05:00Z"}`, "", "", "", []byte("tick"))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"nats","key":"nats-0a1b2c3d4e5f","subject":"orders.eu.created","seq":42}`, "", "", "", []byte("{}"))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"event","key":"event-0a1b2c3d4e5f","event":"0193a5f0c2e14b6f9d2a7c1e5b3d8f40"}`, "", "", "", []byte("{}"))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"webhook","key":"x"}`, "", "", "", []byte(nil))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"cron","key":"a.b"}`, "", "", "", []byte(nil))
	f.Add("eventflow.invoke.acme.upper", id, "", "", "", "", `{"type":"cron","key":"k","extra":1}`, "", "", "", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "text/plain", "", "", "", "", "POST", "/orders?id=7", "X-Request-Id: abc", []byte("body"))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "GET", "/", "Accept: */*", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "GET", "relative", "", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "GE T", "/", "", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "", "/only-a-path", "", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "PUT", "/a\x00b", "Bad Name: v", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "POST", "/", "X-A: a\r\nInjected: 1", []byte(nil))
	f.Add("eventflow.invoke.acme.web", id, "", "", "", "", "", "POST", "/", "X-A: tab\tok, obs-text \xe9", []byte(nil))
	f.Fuzz(func(t *testing.T, subject, invID, contentType, callback, acceptedAt, prior, trigger, method, path, header string, payload []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{events.HeaderInvocationID: invID, events.HeaderContentType: contentType,
			events.HeaderCallbackURL: callback, events.HeaderAcceptedAt: acceptedAt, events.HeaderPriorAttempts: prior,
			events.HeaderTrigger: trigger, events.HeaderHTTPMethod: method, events.HeaderHTTPPath: path} {
			if v != "" {
				h.Set(k, v)
			}
		}
		if name, value, ok := strings.Cut(header, ": "); ok {
			h.Add(events.HeaderHTTPPrefix+name, value)
		}
		inv, err := events.ParseInvocation(subject, h, payload)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if !events.ValidInvocationID(inv.ID) || strings.ContainsAny(inv.ID, ".*> ") {
			t.Fatalf("id %q accepted", inv.ID)
		}
		checkToken(t, "tenant", inv.Tenant)
		checkToken(t, "function", inv.Function)
		if inv.PriorAttempts < 0 {
			t.Fatalf("prior attempts %d", inv.PriorAttempts)
		}
		if inv.CallbackURL != "" && !strings.HasPrefix(inv.CallbackURL, "http://") && !strings.HasPrefix(inv.CallbackURL, "https://") {
			t.Fatalf("callback %q accepted", inv.CallbackURL)
		}
		if (trigger != "") != (inv.Trigger != nil) {
			t.Fatalf("trigger header %q read as %+v", trigger, inv.Trigger)
		}
		if r := inv.Request; r != nil {
			if !strings.HasPrefix(r.Path, "/") || r.Method == "" || strings.ContainsAny(r.Method, " /") {
				t.Fatalf("request %+v accepted", r)
			}
			// What the invoker sends must be a request net/http sends.
			req, err := http.NewRequest(r.Method, "http://function.invalid"+r.Path, nil)
			if err != nil {
				t.Fatalf("request %+v accepted, which is no HTTP request: %v", r, err)
			}
			for name, vs := range r.Header {
				for _, v := range vs {
					req.Header.Add(name, v)
				}
			}
			// net/http's client refuses such a request: header names are
			// tokens, values have no control character but tab.
			if err := req.Header.Write(io.Discard); err != nil || headerInvalid(req.Header) {
				t.Fatalf("request headers %q accepted", r.Header)
			}
		}
		back, err := events.InvocationFromMsg(inv.Msg())
		if err != nil {
			t.Fatalf("Msg of %+v is refused: %v", inv, err)
		}
		if back.ID != inv.ID || back.Tenant != inv.Tenant || back.Function != inv.Function || back.PriorAttempts != inv.PriorAttempts ||
			back.ContentType != inv.ContentType || back.CallbackURL != inv.CallbackURL || !back.AcceptedAt.Equal(inv.AcceptedAt) || string(back.Payload) != string(payload) {
			t.Fatalf("round trip of %+v gave %+v", inv, back)
		}
		if (back.Trigger == nil) != (inv.Trigger == nil) || (inv.Trigger != nil && !sameTriggerRef(*back.Trigger, *inv.Trigger)) {
			t.Fatalf("trigger %+v came back as %+v", inv.Trigger, back.Trigger)
		}
		if (back.Request == nil) != (inv.Request == nil) || (inv.Request != nil && (back.Request.Method != inv.Request.Method ||
			back.Request.Path != inv.Request.Path || !reflect.DeepEqual(back.Request.Header, inv.Request.Header))) {
			t.Fatalf("request %+v came back as %+v", inv.Request, back.Request)
		}
	})
}

// headerInvalid reports a header net/http would not send.
func headerInvalid(h http.Header) bool {
	for name, vs := range h {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
			return true
		}
		for _, v := range vs {
			if strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
				return true
			}
		}
	}
	return false
}

func sameTriggerRef(a, b events.TriggerRef) bool {
	return a.Type == b.Type && a.Key == b.Key && a.Tick.Equal(b.Tick) && a.Subject == b.Subject && a.Seq == b.Seq && a.Event == b.Event
}

// FuzzTriggerRef: an Eventflow-Trigger header is accepted only as a
// trigger of a known type with a key usable as a KV token, short printable
// text, and within the header's bound; what is accepted is written back
// (by an invocation's Msg) as a header that reads the same.
func FuzzTriggerRef(f *testing.F) {
	for _, s := range []string{
		`{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T04:05:00Z"}`,
		`{"type":"cron","key":"cron-0a1b2c3d4e5f","tick":"2026-12-07T04:05:00.123456789+02:00"}`,
		`{"type":"nats","key":"nats-0a1b2c3d4e5f","subject":"orders.eu.created","seq":18446744073709551615}`,
		`{"type":"event","key":"event-0a1b2c3d4e5f","event":"0193a5f0c2e14b6f9d2a7c1e5b3d8f40"}`,
		`{"type":"nats","key":"k","subject":"<a&b>","event":"\u2028\u2029"}`,
		`{"type":"cron","key":""}`, `{"type":"cron"}`, `{"key":"k"}`, `{"type":"CRON","key":"k"}`,
		`{"type":"cron","key":"a.b"}`, `{"type":"cron","key":"a*"}`, `{"type":"cron","key":"` + strings.Repeat("k", 65) + `"}`,
		`{"type":"cron","key":"k","subject":"a\nb"}`, `{"type":"cron","key":"k","tick":"yesterday"}`, `{"type":"cron","key":"k","seq":-1}`,
		`{"type":"cron","key":"k"} {}`, `{"type":"cron","key":"k","key":"j"}`, `{"type":"cron","key":"k","x":1}`, `null`, `[]`, `""`, "",
		`{"type":"nats","key":"k","subject":"` + strings.Repeat(" ", 85) + `","event":"` + strings.Repeat(" ", 85) + `"}`,
		`{"type":"nats","key":"k","subject":"ÿþ"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ref, err := events.ParseTriggerRef(v)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		switch ref.Type {
		case function.TriggerCron, function.TriggerNATS, function.TriggerEvent:
		default:
			t.Fatalf("%q: type %q accepted", v, ref.Type)
		}
		checkToken(t, "key", ref.Key)
		if len(ref.Key) > 64 || len(ref.Subject) > 256 || len(ref.Event) > 256 {
			t.Fatalf("%q: %+v accepted", v, ref)
		}
		for _, s := range []string{ref.Subject, ref.Event} {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("%q: control characters in %q accepted", v, s)
			}
		}
		const id = "01a24e6700000000000000000000aaaa"
		m := events.Invocation{ID: id, Tenant: "acme", Function: "upper", Trigger: &ref}.Msg()
		hv := m.Header.Get(events.HeaderTrigger)
		if strings.ContainsAny(hv, "\r\n") {
			t.Fatalf("%q: written as a header of several lines: %q", v, hv)
		}
		back, err := events.ParseTriggerRef(hv)
		if err != nil {
			t.Fatalf("%q: accepted as %+v, written as %q, which is refused: %v", v, ref, hv, err)
		}
		if !sameTriggerRef(back, ref) {
			t.Fatalf("%q: %+v read back as %+v", v, ref, back)
		}
	})
}

// FuzzInvocationIDTime: an id's time is read only from ids of
// NewInvocationID's shape, and is the time written in its first 12 hex
// characters (so a GET's wait for a fresh id is bounded by what the id
// says, not by anything else in it).
func FuzzInvocationIDTime(f *testing.F) {
	for _, s := range []string{events.NewInvocationID(), "", "zz", strings.Repeat("f", 32), strings.Repeat("0", 32), "0123456789abcdef0123456789ABCDEF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		tm, ok := events.InvocationIDTime(id)
		if ok != events.ValidInvocationID(id) {
			t.Fatalf("InvocationIDTime(%q) ok=%v, ValidInvocationID %v", id, ok, !ok)
		}
		if !ok {
			if !tm.IsZero() {
				t.Fatalf("InvocationIDTime(%q) = %v for an invalid id", id, tm)
			}
			return
		}
		if got := fmt.Sprintf("%012x", tm.UnixMilli()); !strings.EqualFold(got, id[:12]) {
			t.Fatalf("InvocationIDTime(%q) = %v, which writes as %s", id, tm, got)
		}
	})
}
