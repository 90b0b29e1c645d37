package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/testkit"
	"github.com/eventflow/eventflow/services/gateway/internal/api"
)

// TestAttackEveryOperation is a schemathesis-style negative test of the
// whole API: it reads openapi.json and, for every operation, sends a valid
// request with one thing made wrong (path parameters, query values,
// headers, bodies, content types, tokens) or odd but harmless, plus random
// mutations, from a fixed seed. For each answer: never a 5xx; a 4xx is the
// API's JSON error shape with a known code; a malformed request is never
// accepted; a refused request changes nothing (every stream and bucket the
// gateway writes keeps its last sequence and message count); another
// tenant's token sees none of acme's data.
func TestAttackEveryOperation(t *testing.T) {
	seed := uint64(20261207)
	if s := os.Getenv("EVENTFLOW_ATTACK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (EVENTFLOW_ATTACK_SEED=%d reproduces this run)", seed, seed)
	x := newAttack(t, seed)
	x.seedData()

	ops := x.operations()
	start := time.Now()
	before := x.apiSnapshot()
	total, accepted := 0, 0
	for _, op := range ops {
		reqs := x.requestsFor(op)
		for _, r := range reqs {
			if x.send(op, r) {
				accepted++
			}
		}
		total += len(reqs)
	}
	t.Logf("%d requests over %d operations in %s; %d accepted (2xx); by status: %v", total, len(ops), time.Since(start).Round(time.Millisecond), accepted, x.statuses)
	if !x.mutated {
		if after := x.apiSnapshot(); after != before {
			x.violation("API state", "functions or dead letters changed although no request that may change them was accepted:\nbefore %s\nafter  %s", before, after)
		}
	}
	if n := len(x.violations); n > 0 {
		shown := x.violations[:min(n, 60)]
		t.Fatalf("%d violations (seed %d):\n%s", n, seed, strings.Join(shown, "\n"))
	}
}

type attack struct {
	t   *testing.T
	rnd *rand.Rand
	url string
	js  jetstream.JetStream
	doc map[string]any
	// Tokens: acme's (all scopes), and the ones a request may swap in.
	acme, acmeRead, acmeInvoke, acmeWrite, other, expired, forged, none, badTenant string
	// acme's data another tenant must never see.
	secrets []string
	// Ids of an invocation of acme's, of its dead letter, and of another
	// tenant's invocation.
	invID, deadID, theirsID string
	codes                   []string // the error codes openapi.json lists
	client                  *http.Client
	violations              []string
	statuses                map[int]int
	mutated                 bool // a request that may change functions or dead letters was accepted
}

const (
	attackSecret = "acme-secret-7f3a9c"
	attackBody   = 64 << 10
)

func newAttack(t *testing.T, seed uint64) *attack {
	signer := testkit.Signer(t)
	srv, js, err := startGateway(t, Config{
		MaxBodyBytes: attackBody, EnableTokenIssuer: true, CallbackSecret: []byte(strings.Repeat("c", 32)),
		// The requests come from one tenant, faster than a person would
		// send them.
		Tenants: TenantLimits{RequestsPerSecond: Unlimited},
	}, signer)
	if err != nil {
		t.Fatal(err)
	}
	x := &attack{t: t, statuses: map[int]int{}, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), url: srv.URL, js: js,
		client: &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if err := json.Unmarshal(api.OpenAPIDocument, &x.doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range x.schema("#/components/schemas/Error")["properties"].(map[string]any)["error"].(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)["enum"].([]any) {
		x.codes = append(x.codes, c.(string))
	}
	x.acme = testkit.Token(t, signer, "acme")
	x.acmeRead = testkit.Token(t, signer, "acme", auth.ScopeRead)
	x.acmeInvoke = testkit.Token(t, signer, "acme", auth.ScopeInvoke)
	x.acmeWrite = testkit.Token(t, signer, "acme", auth.ScopeWrite)
	x.other = testkit.Token(t, signer, "other")
	claims := func(tenant string, exp time.Time) auth.Claims {
		return auth.Claims{Tenant: tenant, Scopes: auth.AllScopes, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "eventflow", Audience: jwt.ClaimStrings{"eventflow"}, ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	sign := func(m jwt.SigningMethod, key any, c auth.Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	x.expired = sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims("acme", time.Now().Add(-time.Hour)))
	x.forged = sign(jwt.SigningMethodHS256, []byte(strings.Repeat("f", 32)), claims("acme", time.Now().Add(time.Hour)))
	x.none = sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("acme", time.Now().Add(time.Hour)))
	x.badTenant = sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims("ACME.*", time.Now().Add(time.Hour)))

	// An invoker stand-in answers sync invocations at once, so a valid one
	// is 200, not 503 for want of an invoker.
	sub, err := js.Conn().QueueSubscribe(events.SubjectSync+".>", events.SyncQueueGroup, func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(events.HeaderStatus, events.StatusSucceeded)
		reply.Data = m.Data
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	// A deployer's sealing key, so secrets can be put.
	key, err := secrets.NewKey([]byte(strings.Repeat("s", 40)))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), events.BucketSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&secrets.Store{KV: kv, Key: key}).PublishKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	return x
}

// attackSecretValue is the value of acme's secret gamma: no answer may
// ever hold it.
const attackSecretValue = "acme-secret-value-5e1d0b"

// alphaSpec is acme's function: the valid body of POST and PUT, which
// stores nothing new (the generation only goes up when the spec changes).
const alphaSpec = `{"name":"alpha","command":["cat"],"env":{"MARK":"` + attackSecret + `"},"invocation":{"timeout":"10s","retry":{"maxAttempts":2}},"labels":{"team":"a"}}`

// seedData gives acme two functions, invocations (one with an
// Idempotency-Key) and a dead letter, and another tenant one of each.
func (x *attack) seedData() {
	t := x.t
	do := func(tok, method, path, body string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, x.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := x.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("seed %s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return resp, b
	}
	id := func(resp *http.Response, _ []byte) string { return resp.Header.Get("X-Invocation-Id") }
	do(x.acme, "POST", "/v1/functions", alphaSpec)
	do(x.acme, "POST", "/v1/functions", `{"name":"beta","image":"ghcr.io/acme/beta:1","replicas":2,"invocation":{"mode":"http"}}`)
	do(x.other, "POST", "/v1/functions", `{"name":"theirs","command":["cat"]}`)
	x.invID = id(do(x.acme, "POST", "/v1/functions/alpha:invoke?async=true", "one"))
	idem := id(do(x.acme, "POST", "/v1/functions/alpha:invoke?async=true", "two", "Idempotency-Key", "order-1"))
	x.theirsID = id(do(x.other, "POST", "/v1/functions/theirs:invoke?async=true", "x"))
	do(x.acme, "PUT", "/v1/secrets/gamma", `{"value":"`+attackSecretValue+`"}`)
	var key struct{ Key string }
	if _, b := do(x.acme, "GET", "/v1/callback-key", ""); json.Unmarshal(b, &key) != nil || key.Key == "" {
		t.Fatalf("callback key: %s", b)
	}

	// A dead letter of alpha, as the invoker stores one.
	x.deadID = events.NewInvocationID()
	dl := events.DeadLetter{Invocation: events.Invocation{ID: x.deadID, Tenant: "acme", Function: "alpha", Payload: []byte("dead payload")},
		Attempts: 2, Error: "exit status 1"}.Msg()
	if _, err := x.js.PublishMsg(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	kv, err := x.js.KeyValue(context.Background(), events.BucketInvocations)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(events.InvocationRecord{ID: x.deadID, Tenant: "acme", Function: "alpha", Async: true, Status: events.StatusDeadLettered, Attempts: 2, CreatedAt: time.Now().UTC()})
	if _, err := kv.Put(context.Background(), events.InvocationKey("acme", "alpha", x.deadID), rec); err != nil {
		t.Fatal(err)
	}
	x.secrets = []string{attackSecret, x.invID, idem, x.deadID, key.Key, attackSecretValue}
}

// attackOp is one operation of openapi.json.
type attackOp struct {
	method, path string
	op           map[string]any
	params       []map[string]any // resolved
	body         string           // "", "json" or "raw"
	bodyRequired bool
	bodySchema   map[string]any
	scopes       []string // any one of them will do; none: public
}

func (o attackOp) String() string { return strings.ToUpper(o.method) + " " + o.path }

var scopeRe = regexp.MustCompile("`((?:functions|secrets):[a-z]+)`")

func (x *attack) operations() []attackOp {
	var ops []attackOp
	paths := x.doc["paths"].(map[string]any)
	for p, v := range paths {
		// Not attacked: /fn/, the proxying route of http-mode functions.
		// Its valid request needs a ready instance to proxy to, which this
		// gateway without a runtime has not (it answers 503, a 5xx, by
		// design); route_test.go tests it against a live instance. Its
		// queuing twin /async-fn/ needs none and is attacked.
		if strings.HasPrefix(p, "/fn/") {
			continue
		}
		item := v.(map[string]any)
		var shared []any
		if ps, ok := item["parameters"].([]any); ok {
			shared = ps
		}
		for m, ov := range item {
			if m == "parameters" {
				continue
			}
			op := ov.(map[string]any)
			ao := attackOp{method: strings.ToUpper(m), path: p, op: op}
			ps, _ := op["parameters"].([]any)
			for _, pv := range append(slices.Clone(shared), ps...) {
				ao.params = append(ao.params, x.resolve(pv.(map[string]any)))
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				ao.bodyRequired, _ = rb["required"].(bool)
				content := rb["content"].(map[string]any)
				if s, ok := content["application/json"].(map[string]any); ok {
					ao.body, ao.bodySchema = "json", x.resolve(s["schema"].(map[string]any))
				} else {
					ao.body = "raw"
				}
			}
			if sec, ok := op["security"].([]any); ok && len(sec) > 0 {
				desc, _ := op["description"].(string)
				if i := strings.Index(desc, "Requires a bearer token"); i >= 0 {
					for _, m := range scopeRe.FindAllStringSubmatch(desc[i:], -1) {
						ao.scopes = append(ao.scopes, m[1])
					}
				}
				if len(ao.scopes) == 0 {
					x.t.Fatalf("%s: secured, but its description names no scope", ao)
				}
			}
			ops = append(ops, ao)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

func (x *attack) schema(ref string) map[string]any {
	var v any = x.doc
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		v = v.(map[string]any)[p]
	}
	return v.(map[string]any)
}

// resolve follows $ref and a lone allOf.
func (x *attack) resolve(s map[string]any) map[string]any {
	for {
		if ref, ok := s["$ref"].(string); ok {
			s = x.schema(ref)
			continue
		}
		if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
			s = all[0].(map[string]any)
			continue
		}
		if sc, ok := s["schema"].(map[string]any); ok && s["in"] != nil {
			out := map[string]any{}
			for k, v := range s {
				out[k] = v
			}
			out["schema"] = x.resolve(sc)
			return out
		}
		return s
	}
}

// attackReq is one request: a baseline with one thing changed.
type attackReq struct {
	what    string
	path    map[string]string
	query   string // raw
	header  http.Header
	body    []byte
	auth    string // the Authorization header; "" none
	refused bool   // malformed: must be a 4xx
	want    []int  // if set: the statuses allowed
	foreign bool   // sent with another tenant's token
	stream  bool   // may answer a stream (SSE or a followed log)
	param   string // the query or header parameter changed: "<in> <name>"
}

func (r attackReq) clone() attackReq {
	c := r
	c.path = map[string]string{}
	for k, v := range r.path {
		c.path[k] = v
	}
	c.header = r.header.Clone()
	c.body = slices.Clone(r.body)
	c.want = nil
	return c
}

// creates reports whether op makes what it names when the caller's tenant
// has none (so another tenant's token, or a name not found, makes its own).
func creates(op attackOp) bool {
	return (op.method == "post" || op.method == "POST") && op.path == "/v1/functions" ||
		(op.method == "put" || op.method == "PUT") && op.path == "/v1/secrets/{name}"
}

// baseline is the operation's valid request; destructive operations
// (DELETE) get only malformed variations.
func (x *attack) baseline(op attackOp) (r attackReq, destructive bool) {
	r = attackReq{what: "valid", path: map[string]string{}, header: http.Header{}}
	if len(op.scopes) > 0 {
		r.auth = "Bearer " + x.acme
	}
	switch op.String() {
	case "GET /healthz", "GET /readyz", "GET /version", "GET /metrics", "GET /openapi.json", "GET /schemas/function-file.json",
		"GET /v1/functions", "GET /v1/callback-key":
	case "POST /auth/token":
		r.body, r.header["Content-Type"] = []byte(`{"tenant":"acme","scopes":["functions:read"],"ttl":"1h"}`), []string{"application/json"}
	case "POST /v1/functions":
		r.body, r.header["Content-Type"] = []byte(alphaSpec), []string{"application/json"}
	case "GET /v1/functions/{name}", "GET /v1/functions/{name}/dead-letters":
		r.path["name"] = "alpha"
	case "PUT /v1/functions/{name}":
		r.path["name"], r.body = "alpha", []byte(alphaSpec)
	case "DELETE /v1/functions/{name}":
		r.path["name"] = "alpha"
		return r, true
	case "POST /v1/functions/{name}:invoke":
		r.path["name"], r.body = "alpha", []byte("payload")
	case "GET /v1/functions/{name}/logs":
		r.path["name"], r.query, r.stream = "alpha", "tail=10", true
	case "GET /v1/functions/{name}/invocations":
		r.path["name"], r.query = "alpha", "limit=10&status=queued"
	case "POST /v1/functions/{name}/dead-letters/redrive":
		// An id that is not a dead letter: 404 and nothing redriven, so
		// the variations of this request do not use up the dead letter.
		r.path["name"], r.body = "alpha", []byte(`{"ids":["`+events.NewInvocationID()+`"]}`)
	case "GET /v1/invocations/{id}":
		r.path["id"] = x.invID
	case "GET /v1/secrets":
	case "GET /v1/secrets/{name}":
		r.path["name"] = "gamma"
	case "PUT /v1/secrets/{name}":
		// The same value again: a new version, nothing else changes.
		r.path["name"], r.body, r.header["Content-Type"] = "gamma", []byte(`{"value":"`+attackSecretValue+`"}`), []string{"application/json"}
	case "DELETE /v1/secrets/{name}":
		r.path["name"] = "gamma"
		return r, true
	case "GET /v1/functions/{name}/revisions":
		r.path["name"] = "alpha"
	case "GET /v1/functions/{name}/revisions/{revision}":
		r.path["name"], r.path["revision"] = "alpha", "1"
	case "POST /v1/functions/{name}:rollback":
		// Revision 1 is what runs: 200, nothing written.
		r.path["name"], r.body, r.header["Content-Type"] = "alpha", []byte(`{"revision":1}`), []string{"application/json"}
	case "GET /v1/events":
		r.query, r.stream = "follow=false&since=0", true
	case "GET /async-fn/{tenant}/{function}/{path}", "POST /async-fn/{tenant}/{function}/{path}", "PUT /async-fn/{tenant}/{function}/{path}",
		"PATCH /async-fn/{tenant}/{function}/{path}", "DELETE /async-fn/{tenant}/{function}/{path}", "HEAD /async-fn/{tenant}/{function}/{path}",
		"OPTIONS /async-fn/{tenant}/{function}/{path}":
		// beta is acme's http-mode function (token auth): the request is
		// queued, whatever its method.
		r.path["tenant"], r.path["function"], r.path["path"], r.query = "acme", "beta", "orders/7", "x=1"
		if op.body != "" {
			r.body = []byte("payload")
		}
	default:
		x.t.Fatalf("%s is in openapi.json but has no baseline here: add one", op)
	}
	return r, false
}

// Values for each kind of parameter: bad ones must be refused, odd ones
// are harmless.
var (
	badNames = []string{
		"", " ", ".", "..", "a..b", "alpha.beta", "*", ">", "a*", "alpha>", "\x00", "%00", "alpha%00", "%2e%2e",
		"../alpha", "alpha/..", "UPPER", "-lead", "trail-", "a_b", "ünïcødé", "名前", "a b", "alpha\t",
		strings.Repeat("a", 64), strings.Repeat("x", 5000), "alpha:invoke", ":invoke", "$", "a;b", "'", `"`, "{name}",
	}
	missingNames = []string{"nope", "theirs", "a", strings.Repeat("z", 63)}
	badIDs       = []string{
		"", "x", "..", "*", ">", "\x00", strings.Repeat("0", 31), strings.Repeat("0", 33), strings.Repeat("g", 32),
		"alpha", "acme.alpha", strings.Repeat("f", 5000), "ünïcødé0123456789abcdef01234567",
	}
	badInts  = []string{"-1", "abc", "1.5", "1e3", " 1", "+1", "0x10", "18446744073709551616", "9223372036854775808", "99999999999999999999999", "٣", "1,2", "NaN", "Infinity", "-0.0"}
	badBools = []string{"yes", "no", "2", "-1", "tru", "null", " true", "on", "1.0"}
	oddStrs  = []string{"", " ", "*", ">", "..", "\x00", "ünïcødé", strings.Repeat("s", 3000), "%", "%zz", "a&b=c", "null", "[]", "{}"}
	// Content types a JSON body may not come with, and harmless ones.
	badTypes = []string{"text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=latin1", "garbage", "/", "application/yaml", "image/png"}
	okTypes  = []string{"application/json; charset=utf-8", "application/merge-patch+json", "application/x-www-form-urlencoded", ""}
	badJSON  = []string{
		"hello", "{", `{"name":"alpha"`, "{} {}", "{}x", "{}}", "[]", "null", `""`, "123", "true", "\xff\xfe\xfd", "\ufeff{}",
		`{"name":"alpha",}`, `{'name':'alpha'}`, `{"name":"alpha" "x":1}`, strings.Repeat("[", 100000), `{"a":` + strings.Repeat("[", 10000),
		`{"name":"` + strings.Repeat("x", attackBody) + `"}`, "\x00", `{"name":"\ud800"}`,
	}
)

// requestsFor builds an operation's requests: the catalogue, then random
// variations, about 150 in all.
func (x *attack) requestsFor(op attackOp) []attackReq {
	base, destructive := x.baseline(op)
	var out []attackReq
	add := func(r attackReq) {
		if destructive && !r.refused {
			return
		}
		out = append(out, r)
	}
	if !destructive {
		add(base)
	}
	secured := len(op.scopes) > 0
	hasName := strings.Contains(op.path, "{name}")
	// Harmless changes, to add to malformed requests: a request refused
	// for one thing must change nothing whatever else it carries (an
	// Idempotency-Key, say).
	var harmless []func(r *attackReq)
	harmlessOf := map[string][]func(r *attackReq){}

	// Path parameters.
	for _, p := range op.params {
		if p["in"] != "path" {
			continue
		}
		name := p["name"].(string)
		if name == "path" {
			// The rest of an /async-fn/ path is the function's business:
			// any value is queued, none is malformed.
			for _, v := range []string{"", "a/b/c/", "..", "../../etc/passwd", "%2e%2e", "ünïcødé", "a b", "*", "%00", strings.Repeat("p", 3000)} {
				r := base.clone()
				r.what, r.path[name] = fmt.Sprintf("path %s=%.40q", name, v), v
				add(r)
			}
			continue
		}
		vals, missing := badNames, missingNames
		if name == "id" {
			vals, missing = badIDs, []string{events.NewInvocationID(), strings.ToUpper(x.invID), x.theirsID}
		}
		for _, v := range vals {
			r := base.clone()
			r.what, r.path[name], r.refused = fmt.Sprintf("path %s=%.40q", name, v), v, true
			add(r)
		}
		for _, v := range missing {
			r := base.clone()
			r.what, r.path[name], r.refused = fmt.Sprintf("path %s=%.40q (none such)", name, v), v, true
			r.want = []int{404}
			if op.method == "PUT" {
				r.want = []int{400, 404} // the body's name is alpha's: they differ
			}
			if creates(op) {
				r.refused, r.want = false, nil // a PUT of a secret makes it
			}
			add(r)
		}
	}

	// Query and header parameters.
	for _, p := range op.params {
		in, name := p["in"].(string), p["name"].(string)
		if in != "query" && in != "header" {
			continue
		}
		s, _ := p["schema"].(map[string]any)
		bad, odd := x.paramValues(op, name, s)
		if in == "header" {
			bad, odd = sendable(bad), sendable(odd)
		}
		for _, v := range bad {
			r := base.clone()
			r.what, r.refused = fmt.Sprintf("%s %s=%.40q", in, name, v), true
			r.set(in, name, v)
			if op.String() == "POST /v1/functions/{name}:invoke" && name == "X-Callback-Url" {
				r.setQuery("async", "true") // sync with a callback is refused anyway
			}
			add(r)
		}
		for _, v := range odd {
			r := base.clone()
			r.what = fmt.Sprintf("%s %s=%.40q (harmless)", in, name, v)
			r.set(in, name, v)
			add(r)
			h := func(r *attackReq) {
				if r.param != in+" "+name { // not the one made wrong
					r.what += fmt.Sprintf(" + %s %s=%.40q", in, name, v)
					r.set(in, name, v)
				}
			}
			harmless = append(harmless, h)
			harmlessOf[in+" "+name] = append(harmlessOf[in+" "+name], h)
		}
		if q, _ := url.ParseQuery(base.query); in == "query" && q.Has(name) {
			// Repeated: the first value counts (as for any Go server).
			r := base.clone()
			r.what = fmt.Sprintf("query %s repeated, the second bad", name)
			second := "x"
			if len(bad) > 0 {
				second = bad[0]
			}
			r.query += "&" + url.QueryEscape(name) + "=" + url.QueryEscape(second)
			add(r)
		}
	}
	// Each parameter made wrong, with a harmless value of each other one.
	for _, r := range slices.Clone(out) {
		if !r.refused || r.param == "" {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(harmlessOf)) {
			if k != r.param {
				c := r.clone()
				harmlessOf[k][x.rnd.IntN(len(harmlessOf[k]))](&c)
				add(c)
			}
		}
	}
	// Unknown query parameters and headers are ignored.
	for _, q := range []string{"bogus=1", "limit=-1&x=y", "%zz=1", "a=%zz", strings.Repeat("q", 2000) + "=1", "follow"} {
		r := base.clone()
		r.what = fmt.Sprintf("unknown query %.40q", q)
		if !slices.ContainsFunc(op.params, func(p map[string]any) bool { return p["in"] == "query" && strings.HasPrefix(q, p["name"].(string)) }) {
			r.query = strings.TrimPrefix(r.query+"&"+q, "&")
			add(r)
		}
	}

	// Bodies.
	switch op.body {
	case "json":
		for _, b := range badJSON {
			r := base.clone()
			r.what, r.body, r.refused = fmt.Sprintf("body %.40q", b), []byte(b), true
			add(r)
		}
		for _, ct := range badTypes {
			r := base.clone()
			r.what, r.refused = fmt.Sprintf("Content-Type %q", ct), true
			r.header.Set("Content-Type", ct)
			r.want = []int{415}
			add(r)
		}
		for _, ct := range okTypes {
			r := base.clone()
			r.what = fmt.Sprintf("Content-Type %q (harmless)", ct)
			if ct == "" {
				r.header.Del("Content-Type")
			} else {
				r.header.Set("Content-Type", ct)
			}
			add(r)
		}
		for _, m := range x.wrongTypes(base.body, op.bodySchema) {
			r := base.clone()
			r.what, r.body, r.refused = "body "+m.what, m.body, true
			add(r)
		}
		{
			r := base.clone()
			r.what, r.refused = "body too large", true
			r.body = append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), attackBody+1)...)
			r.body = append(r.body, `"}`...)
			r.want = []int{413}
			add(r)
		}
	case "raw":
		for _, b := range []string{"", "\x00\xff", "{", strings.Repeat("p", 1000)} {
			r := base.clone()
			r.what, r.body = fmt.Sprintf("payload %.20q (any bytes)", b), []byte(b)
			add(r)
		}
		r := base.clone()
		r.what, r.refused, r.want = "payload too large", true, []int{413}
		r.body = bytes.Repeat([]byte("p"), attackBody+1)
		add(r)
	default:
		r := base.clone()
		r.what, r.body = "a body where none is taken (ignored)", []byte(`{"x":1}`)
		add(r)
	}

	// Tokens.
	if secured {
		for _, a := range []struct{ what, header string }{
			{"no Authorization", ""}, {"empty bearer", "Bearer "}, {"Basic", "Basic YWNtZTpzZWNyZXQ="},
			{"garbage token", "Bearer not.a.token"}, {"forged token", "Bearer " + x.forged}, {"expired token", "Bearer " + x.expired},
			{"alg none", "Bearer " + x.none}, {"invalid tenant claim", "Bearer " + x.badTenant}, {"token twice", "Bearer " + x.acme + " " + x.acme},
			{"no scheme", x.acme}, {"Bearer without space", "Bearer" + x.acme}, {"truncated token", "Bearer " + x.acme[:len(x.acme)-5]},
		} {
			r := base.clone()
			r.what, r.auth, r.refused, r.want = a.what, a.header, true, []int{401}
			if hasName && slices.Contains(badNames, r.path["name"]) {
				r.want = nil
			}
			add(r)
		}
		for _, tok := range []struct{ scope, token string }{{auth.ScopeRead, x.acmeRead}, {auth.ScopeInvoke, x.acmeInvoke}, {auth.ScopeWrite, x.acmeWrite}} {
			if slices.Contains(op.scopes, tok.scope) {
				continue
			}
			r := base.clone()
			r.what, r.auth, r.refused, r.want = "token of scope "+tok.scope+" only", "Bearer "+tok.token, true, []int{403}
			add(r)
		}
		// Another tenant's token: acme's names and ids are not found;
		// its own lists are its own. (No create: that would be its own.)
		if !creates(op) {
			r := base.clone()
			r.what, r.auth, r.foreign = "another tenant's token", "Bearer "+x.other, true
			if hasName || strings.Contains(op.path, "{id}") {
				r.refused, r.want = true, []int{404}
			}
			add(r)
		}
	}

	// Methods the path does not have.
	for _, m := range []string{"PATCH", "POST", "PUT", "DELETE", "GET"} {
		if !x.hasMethod(op.path, m) {
			r := base.clone()
			r.what, r.refused = "method "+m, true
			r.header.Set("X-Attack-Method", m)
			out = append(out, r)
		}
	}

	// Random variations, up to 150 requests: random bytes in a JSON body,
	// a random name, a random value of a query parameter, a token with a
	// character changed, a random unknown query parameter.
	var gens []func(r *attackReq)
	if op.body == "json" && len(base.body) > 0 {
		gens = append(gens, func(r *attackReq) {
			r.what, r.body = "mutated body", x.mutate(base.body)
			// A body that is still JSON may still be valid, and so is
			// none where the body is optional.
			var v any
			r.refused = json.Unmarshal(r.body, &v) != nil && (len(r.body) > 0 || op.bodyRequired)
		})
	}
	if hasName {
		gens = append(gens, func(r *attackReq) {
			n := x.randString()
			r.what, r.path["name"] = fmt.Sprintf("path name=%.40q", n), n
			r.refused, r.want = true, nil
			if validName.MatchString(n) && len(n) <= 63 {
				r.want = []int{404} // none such
				if n == "alpha" || n == "beta" || creates(op) {
					r.refused, r.want = false, nil
				}
			}
		})
	}
	var queryParams []map[string]any
	for _, p := range op.params {
		if p["in"] == "query" {
			queryParams = append(queryParams, p)
		}
	}
	if len(queryParams) > 0 {
		gens = append(gens, func(r *attackReq) {
			p := queryParams[x.rnd.IntN(len(queryParams))]
			v := x.randString()
			r.what = fmt.Sprintf("query %s=%.40q (random)", p["name"], v)
			r.set("query", p["name"].(string), v)
			bad, odd := x.paramValues(op, p["name"].(string), p["schema"].(map[string]any))
			// Random text is bad where the parameter has a type or a
			// shape; an empty value is the default.
			r.refused = v != "" && (len(bad) > 0 || len(odd) == 0) && !x.validParam(op, p["name"].(string), v)
		})
	}
	if secured {
		gens = append(gens, func(r *attackReq) {
			tok := []byte(x.acme)
			i := x.rnd.IntN(len(tok))
			c := byte('A' + x.rnd.IntN(26))
			if tok[i] == c {
				c = '~'
			}
			tok[i] = c
			r.what, r.auth, r.refused, r.want = "token with a changed character", "Bearer "+string(tok), true, []int{401}
		})
	}
	gens = append(gens, func(r *attackReq) {
		k, v := x.randString(), x.randString()
		r.what = fmt.Sprintf("unknown query %.20q=%.20q (ignored)", k, v)
		if k == "" || slices.ContainsFunc(op.params, func(p map[string]any) bool { return p["name"] == k }) {
			k = "zz" + k
		}
		r.query = strings.TrimPrefix(r.query+"&"+url.QueryEscape(k)+"="+url.QueryEscape(v), "&")
	})
	var refused []attackReq
	for _, r := range out {
		if r.refused {
			refused = append(refused, r)
		}
	}
	if len(harmless) > 0 && len(refused) > 0 {
		combine := func(r *attackReq) {
			*r = refused[x.rnd.IntN(len(refused))].clone()
			r.refused = true
			harmless[x.rnd.IntN(len(harmless))](r)
		}
		gens = append(gens, combine, combine)
	}
	for len(out) < 150 {
		r := base.clone()
		gens[x.rnd.IntN(len(gens))](&r)
		if destructive && !r.refused {
			continue
		}
		out = append(out, r)
	}
	return out
}

var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// validParam tells the random values of a query parameter the gateway
// must accept.
func (x *attack) validParam(op attackOp, name, v string) bool {
	switch name {
	case "limit", "tail", "since":
		if op.path == "/v1/functions/{name}/logs" && name == "since" {
			return false // random text is neither a duration nor a time
		}
		n, err := strconv.ParseUint(v, 10, 63)
		return err == nil && (name != "limit" || (n >= 1 && n <= 1000)) && (name != "tail" || n <= 10000)
	case "follow", "async":
		_, err := strconv.ParseBool(v)
		return err == nil
	case "function":
		return validName.MatchString(v) && len(v) <= 63
	case "before":
		return events.ValidInvocationID(v)
	}
	return false
}

// freshKeys numbers the Idempotency-Keys of the requests.
var freshKeys int

func (r *attackReq) set(in, name, v string) {
	if r.param == "" {
		r.param = in + " " + name
	}
	if name == "Idempotency-Key" && strings.HasSuffix(v, "fresh") {
		freshKeys++
		v += strconv.Itoa(freshKeys)
	}
	if in == "header" {
		r.header.Set(name, v)
		return
	}
	r.setQuery(name, v)
}

func (r *attackReq) setQuery(name, v string) {
	q, _ := url.ParseQuery(r.query)
	q.Set(name, v)
	r.query = q.Encode()
}

func (x *attack) hasMethod(path, method string) bool {
	_, ok := x.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)]
	return ok
}

// sendable keeps the header values a client can send as they are: no
// control characters, and no spaces at the ends (servers trim them).
func sendable(vals []string) []string {
	var out []string
	for _, v := range vals {
		if v == strings.TrimSpace(v) && !strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }) {
			out = append(out, v)
		}
	}
	return out
}

// paramValues: values a parameter must refuse, and harmless ones.
func (x *attack) paramValues(op attackOp, name string, s map[string]any) (bad, odd []string) {
	switch name {
	case "If-None-Match":
		return []string{"abc", `W/"x"`, "*, *", "**", `"*"`}, nil
	case "Idempotency-Key":
		// Each use of these gets a new key (attackReq.set): a key already
		// taken would hide a request that takes one when it must not.
		return []string{strings.Repeat("k", 256)}, []string{"fresh", "ünïcødé-fresh", strings.Repeat("k", 240) + "fresh"}
	case "X-Callback-Url":
		return []string{"ftp://x", "not a url", "http://", "/relative", "http://" + strings.Repeat("h", 3000), "javascript:alert(1)"}, nil
	case "Prefer":
		return nil, []string{"respond-async", "garbage", "wait=5", "respond-async, wait=1"}
	case "Last-Event-ID":
		return append(slices.Clone(badInts[:11]), "18446744073709551615"), []string{"0", "9223372036854775807"}
	case "since":
		if op.path == "/v1/events" {
			return append(slices.Clone(badInts[:11]), "18446744073709551615"), []string{"0", "1", "9223372036854775807"}
		}
		return []string{"-1h", "0s", "721h", "abc", "2026-13-45T00:00:00Z", "9999999999h", "1e9h", "1h-1s", "10"}, []string{"10m", "720h", "2026-01-02T15:04:05Z", "0001-01-01T00:00:00Z"}
	}
	typ, _ := s["type"].(string)
	switch {
	case typ == "integer":
		bad = slices.Clone(badInts)
		if m, ok := s["maximum"].(float64); ok && m < 1e18 {
			bad = append(bad, strconv.FormatInt(int64(m)+1, 10))
		}
		if m, ok := s["minimum"].(float64); ok && m > 0 {
			bad = append(bad, strconv.FormatInt(int64(m)-1, 10))
		}
		odd = []string{"", "007"}
		if m, ok := s["maximum"].(float64); ok {
			odd = append(odd, strconv.FormatInt(int64(m), 10))
		}
		return bad, odd
	case typ == "boolean":
		return badBools, []string{"", "true", "false", "1", "0", "TRUE", "F"}
	case s["enum"] != nil:
		return []string{"nope", "QUEUED", " queued", "*", ">", strings.Repeat("s", 3000), "io.eventflow.>"}, []string{""}
	case s["pattern"] != nil:
		return []string{"*", ">", "..", "a.b", "UPPER", "\x00", "ünïcødé", strings.Repeat("a", 3000)}, []string{""}
	}
	return nil, oddStrs
}

type bodyVariant struct {
	what string
	body []byte
}

// wrongTypes replaces, in the baseline body, each field the schema
// declares (one level of nesting in objects) with a value of another
// type, and adds an unknown field at each level.
func (x *attack) wrongTypes(body []byte, s map[string]any) []bodyVariant {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	var out []bodyVariant
	var walk func(prefix []string, s map[string]any, depth int)
	walk = func(prefix []string, s map[string]any, depth int) {
		s = x.resolve(s)
		props, _ := s["properties"].(map[string]any)
		out = append(out, bodyVariant{fmt.Sprintf("unknown field at %q", strings.Join(prefix, ".")), setPath(doc, append(slices.Clone(prefix), "bogusField"), 1)})
		for name, ps := range props {
			p := append(slices.Clone(prefix), name)
			ps := x.resolve(ps.(map[string]any))
			for _, v := range wrongValues(x.types(ps)) {
				b := setPath(doc, p, v)
				out = append(out, bodyVariant{fmt.Sprintf("%s = %s", strings.Join(p, "."), mustJSON(v)), b})
			}
			if x.types(ps)[0] == "object" && depth < 2 {
				if _, ok := ps["properties"]; ok {
					walk(p, ps, depth+1)
				}
			}
		}
	}
	walk(nil, s, 0)
	return out
}

// types lists the JSON types a schema allows.
func (x *attack) types(s map[string]any) []string {
	switch t := s["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			out = append(out, v.(string))
		}
		return out
	}
	var out []string
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[k].([]any); ok {
			for _, a := range alts {
				out = append(out, x.types(x.resolve(a.(map[string]any)))...)
			}
		}
	}
	if len(out) == 0 {
		return []string{"any"}
	}
	return out
}

func wrongValues(types []string) []any {
	all := map[string][]any{
		"string":  {"x", "", strings.Repeat("s", 300)},
		"integer": {1, -1, 2147483648, 1e30},
		"number":  {1.5, -1e300},
		"boolean": {true},
		"array":   {[]any{}, []any{1, "x", nil}},
		"object":  {map[string]any{}, map[string]any{"k": []any{}}},
	}
	ok := map[string]bool{}
	for _, t := range types {
		ok[t] = true
		if t == "any" {
			return nil
		}
	}
	if ok["number"] {
		ok["integer"] = true
	}
	var out []any
	for _, t := range []string{"string", "integer", "number", "boolean", "array", "object"} {
		if ok[t] || (t == "number" && ok["integer"]) {
			continue
		}
		out = append(out, all[t][0])
	}
	return out
}

func setPath(doc map[string]any, path []string, v any) []byte {
	var cp map[string]any
	_ = json.Unmarshal(mustJSON(doc), &cp)
	m := cp
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return mustJSON(cp)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// mutate changes a JSON body at random: flips, cuts, inserts or repeats.
func (x *attack) mutate(b []byte) []byte {
	b = slices.Clone(b)
	for range 1 + x.rnd.IntN(3) {
		if len(b) == 0 {
			return []byte("{")
		}
		i := x.rnd.IntN(len(b))
		switch x.rnd.IntN(5) {
		case 0:
			b[i] ^= byte(1 << x.rnd.IntN(8))
		case 1:
			b = b[:i]
		case 2:
			const junk = "{}[]\",:\\0-e.nulltrue\x00\xff"
			b = slices.Insert(b, i, junk[x.rnd.IntN(len(junk))])
		case 3:
			b = slices.Delete(b, i, min(len(b), i+1+x.rnd.IntN(8)))
		default:
			j := x.rnd.IntN(len(b))
			lo, hi := min(i, j), max(i, j)
			b = slices.Insert(b, hi, b[lo:hi]...)
		}
	}
	return b
}

func (x *attack) randString() string {
	pools := []string{"abcdefghijklmnopqrstuvwxyz0123456789-", "ABC.*>%/\\ \t$;'\"{}[]:?#&=+", "é名ß\u00a0\u2028\ufeff", "\x00\x01\x7f\xff"}
	n := x.rnd.IntN(12)
	if x.rnd.IntN(10) == 0 {
		n = 64 + x.rnd.IntN(300)
	}
	var sb strings.Builder
	for range n {
		p := []rune(pools[x.rnd.IntN(len(pools))])
		sb.WriteRune(p[x.rnd.IntN(len(p))])
	}
	return sb.String()
}

// state is every gateway-written stream's last sequence and count (the
// buckets are streams too). Lifecycle events are left out: the gateway
// publishes them after answering, without waiting.
func (x *attack) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var parts []string
	l := x.js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Config.Name == events.StreamEvents {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%d/%d", info.Config.Name, info.State.LastSeq, info.State.Msgs))
	}
	if err := l.Err(); err != nil {
		x.t.Fatalf("list streams: %v", err)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// apiSnapshot is what the API shows of both tenants' functions and
// acme's dead letters.
func (x *attack) apiSnapshot() string {
	var sb strings.Builder
	for _, g := range []struct{ tok, path string }{
		{x.acme, "/v1/functions"}, {x.other, "/v1/functions"}, {x.acme, "/v1/functions/alpha/dead-letters"},
	} {
		req, _ := http.NewRequest("GET", x.url+g.path, nil)
		req.Header.Set("Authorization", "Bearer "+g.tok)
		resp, err := x.client.Do(req)
		if err != nil {
			x.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&sb, "%s %d %s\n", g.path, resp.StatusCode, b)
	}
	return sb.String()
}

// send sends r and checks the answer; it reports whether r was accepted.
func (x *attack) send(op attackOp, r attackReq) bool {
	method := op.method
	if m := r.header.Get("X-Attack-Method"); m != "" {
		method = m
		r.header.Del("X-Attack-Method")
	}
	p := op.path
	for k, v := range r.path {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	u, err := url.Parse(x.url)
	if err != nil {
		x.t.Fatal(err)
	}
	u.Path, u.RawQuery = p, r.query
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		// A path the client cannot even send (e.g. a bare "%").
		u.RawPath = ""
		if req, err = http.NewRequestWithContext(ctx, method, u.String(), body); err != nil {
			x.t.Fatalf("%s %s: %v", method, u, err)
		}
	}
	req.Header = r.header.Clone()
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	desc := fmt.Sprintf("%s [%s] %s %s", op, r.what, method, u.RequestURI())
	if len(desc) > 300 {
		desc = desc[:300] + "…"
	}

	before := x.state()
	resp, err := x.client.Do(req)
	if err != nil {
		x.violation(desc, "no answer: %v", err)
		return false
	}
	ct := resp.Header.Get("Content-Type")
	var b []byte
	if strings.HasPrefix(ct, "text/event-stream") || (r.stream && resp.StatusCode == 200) {
		// A stream, perhaps a followed one: what arrives at once is read
		// (for another tenant's, to look for acme's data), then it is
		// closed.
		wait := time.Millisecond
		if r.foreign {
			wait = 300 * time.Millisecond
		}
		timer := time.AfterFunc(wait, cancel)
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		timer.Stop()
	} else {
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	}
	resp.Body.Close()
	after := x.state()

	st := resp.StatusCode
	ok2xx := st/100 == 2
	switch {
	case st >= 500:
		x.violation(desc, "%d %.300s", st, b)
	case st/100 == 3:
		x.violation(desc, "%d redirect to %q: not the API's JSON answer", st, resp.Header.Get("Location"))
	case st/100 == 4:
		x.checkErrorShape(desc, resp, b)
	}
	x.statuses[st]++
	if r.what == "valid" && !ok2xx && op.String() != "POST /v1/functions/{name}/dead-letters/redrive" {
		// Each variation changes one thing of this request: it must be
		// valid, or the variations prove little.
		x.violation(desc, "the valid request was refused: %d %.200s", st, b)
	}
	if r.refused && ok2xx {
		x.violation(desc, "a malformed request was accepted: %d %.200s", st, b)
	}
	if len(r.want) > 0 && !slices.Contains(r.want, st) {
		x.violation(desc, "%d, want one of %v: %.200s", st, r.want, b)
	}
	if before != after && !ok2xx {
		x.violation(desc, "refused with %d, but the stored state changed:\nbefore %s\nafter  %s", st, before, after)
	}
	if st == http.StatusAccepted {
		// An async accept sends its "queued" record after the 202: wait
		// for it (a GET of the invocation waits until it is stored), so it
		// does not land during the next request and pass for that
		// request's write.
		x.awaitQueued(b)
	}
	if ok2xx && before != after && (op.path == "/v1/functions" || strings.HasPrefix(op.path, "/v1/functions/{name}") && op.method != "GET") {
		x.mutated = true
	}
	if r.foreign {
		for _, s := range x.secrets {
			if s != "" && bytes.Contains(b, []byte(s)) && !strings.Contains(desc, s) {
				x.violation(desc, "another tenant's answer holds acme's %q: %.300s", s, b)
			}
		}
	}
	return ok2xx
}

// awaitQueued waits until the invocation an async accept answered (its
// 202 body's id) has its record stored, reading it as acme (whose
// functions are attacked).
func (x *attack) awaitQueued(body []byte) {
	var a struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &a) != nil || a.ID == "" {
		return
	}
	req, _ := http.NewRequest("GET", x.url+"/v1/invocations/"+a.ID, nil)
	req.Header.Set("Authorization", "Bearer "+x.acme)
	resp, err := x.client.Do(req)
	if err != nil {
		x.t.Fatalf("read the accepted invocation %s: %v", a.ID, err)
	}
	resp.Body.Close()
}

// checkErrorShape: a 4xx is {"error":{"code","message"}} as JSON, with a
// code openapi.json lists, and nothing else.
func (x *attack) checkErrorShape(desc string, resp *http.Response, b []byte) {
	if resp.Request.Method == http.MethodHead {
		// An answer to HEAD has no body (net/http drops it): its headers
		// are all there is to check.
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			x.violation(desc, "%d with Content-Type %q", resp.StatusCode, ct)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			x.violation(desc, "401 without WWW-Authenticate")
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		x.violation(desc, "%d with Content-Type %q: %.200s", resp.StatusCode, ct, b)
		return
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() {
		x.violation(desc, "%d is not the error shape (%v): %.200s", resp.StatusCode, err, b)
		return
	}
	if !slices.Contains(x.codes, e.Error.Code) || e.Error.Message == "" {
		x.violation(desc, "%d with code %q, message %q", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		x.violation(desc, "401 without WWW-Authenticate")
	}
}

func (x *attack) violation(desc, format string, args ...any) {
	x.violations = append(x.violations, "  "+desc+": "+fmt.Sprintf(format, args...))
}
