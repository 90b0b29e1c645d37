package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/functionfile"
	"github.com/eventflow/eventflow/pkg/version"
)

// These tests keep openapi.json in step with the handlers: every route New
// registers is documented and nothing else is, the schemas list exactly the
// JSON fields of the Go types, and the enums match the Go constants.

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// openAPITestEngine builds the engine as the gateway does, with the token
// issuer on. Store, Cache, NC and JS stay nil: requests that reach them
// panic and are answered 500 by the recovery middleware.
func openAPITestEngine(t *testing.T, signer *auth.HS256, ready func() error) *gin.Engine {
	t.Helper()
	d := Deps{
		Auth:    signer,
		Log:     slog.New(slog.DiscardHandler),
		Tracer:  noop.NewTracerProvider().Tracer(""),
		Metrics: NewMetrics(prometheus.NewRegistry(), prometheus.NewRegistry()),
	}
	if ready != nil {
		d.Ready = func(context.Context) error { return ready() }
	}
	return New(Config{EnableTokenIssuer: true}, d)
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns "METHOD /path" -> operation object.
func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json has no paths object")
	}
	ops := map[string]map[string]any{}
	for p, item := range paths {
		item, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("paths[%q] is not an object", p)
		}
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+p] = op
			}
		}
	}
	return ops
}

var (
	ginParam    = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)
	openAPIParm = regexp.MustCompile(`\{([^}]+)\}`)
)

// openAPIPath maps a gin route to the OpenAPI path it serves.
func openAPIPath(method, path string) string {
	if method == http.MethodPost && path == "/v1/functions/:name" {
		// gin cannot route "{name}:invoke"; functionAction dispatches on
		// the suffix (…:rollback too, added by the caller).
		return "/v1/functions/{name}:invoke"
	}
	return ginParam.ReplaceAllString(path, "{$1}")
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	v, _ := doc["openapi"].(string)
	if !strings.HasPrefix(v, "3.") {
		t.Fatalf(`openapi = %q, want a "3.x" version`, v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info needs a title and a version")
	}
	if d, _ := info["description"].(string); !strings.Contains(d, "/auth/token") {
		t.Error("info.description should tell users how to get a token (POST /auth/token)")
	}

	// Every local $ref resolves.
	walkJSON(doc, "#", func(ptr string, node map[string]any) {
		ref, ok := node["$ref"].(string)
		if !ok {
			return
		}
		if _, err := resolvePointer(doc, ref); err != nil {
			t.Errorf("%s: $ref %q: %v", ptr, ref, err)
		}
	})

	// Every {param} in a path is declared as a path parameter of each
	// operation, and no other path parameter is.
	paths := doc["paths"].(map[string]any)
	for p, item := range paths {
		item := item.(map[string]any)
		var want []string
		for _, m := range openAPIParm.FindAllStringSubmatch(p, -1) {
			want = append(want, m[1])
		}
		sort.Strings(want)
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			var got []string
			for _, list := range []any{item["parameters"], op["parameters"]} {
				params, _ := list.([]any)
				for _, prm := range params {
					prm := deref(t, doc, prm)
					if prm["in"] == "path" {
						got = append(got, prm["name"].(string))
						if prm["required"] != true {
							t.Errorf("%s %s: path parameter %q must be required", strings.ToUpper(m), p, prm["name"])
						}
					}
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: path parameters %v, want %v", strings.ToUpper(m), p, got, want)
			}
		}
	}
}

func TestOpenAPIRoutesMatchEngine(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := operations(t, doc)
	served := map[string]string{} // "METHOD /openapi/path" -> gin path
	for _, r := range openAPITestEngine(t, nil, nil).Routes() {
		served[r.Method+" "+openAPIPath(r.Method, r.Path)] = r.Path
		if r.Method == http.MethodPost && r.Path == "/v1/functions/:name" {
			// The same route serves …:rollback (functionAction).
			served["POST /v1/functions/{name}:rollback"] = r.Path
		}
	}
	if len(served) == 0 {
		t.Fatal("New registered no routes")
	}
	for _, k := range sortedKeys(served) {
		if _, ok := documented[k]; !ok {
			method, _, _ := strings.Cut(k, " ")
			t.Errorf("missing in openapi.json: %s (gin route %s %s) is served but not documented", k, method, served[k])
		}
	}
	for _, k := range sortedKeys(documented) {
		if _, ok := served[k]; !ok {
			t.Errorf("missing in New: openapi.json documents %s, but the engine has no such route", k)
		}
	}
}

// isFunctionRoute reports whether an OpenAPI path is one of the public
// routes of http-mode functions, whose auth follows the function's
// spec.http.auth rather than the path.
func isFunctionRoute(path string) bool {
	return strings.HasPrefix(path, "/fn/") || strings.HasPrefix(path, "/async-fn/")
}

func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := operations(t, doc)
	for _, k := range sortedKeys(ops) {
		op := ops[k]
		_, path, _ := strings.Cut(k, " ")
		if id, _ := op["operationId"].(string); id == "" {
			t.Errorf("%s: no operationId", k)
		}
		responses, ok := op["responses"].(map[string]any)
		if !ok || len(responses) == 0 {
			t.Errorf("%s: no responses", k)
			continue
		}
		has2xx := false
		for code, resp := range responses {
			if strings.HasPrefix(code, "2") {
				has2xx = true
			}
			resp := deref(t, doc, resp)
			if d, _ := resp["description"].(string); d == "" {
				t.Errorf("%s: response %s has no description", k, code)
			}
			if !isErrorStatus(code) {
				continue
			}
			content, _ := resp["content"].(map[string]any)
			media, _ := content["application/json"].(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if len(content) != 1 || schema["$ref"] != "#/components/schemas/Error" {
				t.Errorf("%s: error response %s must be application/json with schema $ref #/components/schemas/Error, got content %v", k, code, content)
			}
		}
		if !has2xx {
			t.Errorf("%s: declares no 2xx response", k)
		}
		if strings.HasPrefix(path, "/v1/") {
			if _, ok := responses["401"]; !ok {
				t.Errorf("%s: routes under /v1 need a bearer token and must declare a 401 response", k)
			}
			if _, ok := responses["403"]; !ok {
				t.Errorf("%s: routes under /v1 check a scope and must declare a 403 response", k)
			}
			// limitRate runs on every /v1 route.
			if r, ok := responses["429"]; !ok {
				t.Errorf("%s: routes under /v1 are rate limited per tenant and must declare a 429 response", k)
			} else if h, _ := deref(t, doc, r)["headers"].(map[string]any); h["Retry-After"] == nil {
				t.Errorf("%s: the 429 response must declare Retry-After", k)
			}
			sec, _ := op["security"].([]any)
			if len(sec) == 0 {
				t.Errorf("%s: routes under /v1 must declare security (bearerAuth)", k)
			}
		} else if isFunctionRoute(path) {
			// A bearer token, or none for a function whose http.auth is
			// public: both alternatives are declared.
			sec, _ := op["security"].([]any)
			if b, _ := json.Marshal(sec); string(b) != `[{"bearerAuth":[]},{}]` {
				t.Errorf("%s: a function route must declare security [{bearerAuth: []}, {}] (token or public), got %s", k, b)
			}
		} else if sec, ok := op["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("%s: public route must declare an empty security list", k)
		}
	}
}

func isErrorStatus(code string) bool {
	if code == "default" || code == "4XX" || code == "5XX" {
		return true
	}
	n, err := strconv.Atoi(code)
	return err == nil && n >= 400
}

// TestOpenAPIScopes checks each operation's x-required-scopes (and the
// scope named in its description) against what the route really accepts:
// a token with only that scope gets past the scope check, any other gets
// 403. It also checks the 401 without a token.
func TestOpenAPIScopes(t *testing.T) {
	doc := loadOpenAPI(t)
	signer, err := auth.NewHS256([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, s := range auth.AllScopes {
		tok, _, err := signer.Issue(auth.TokenRequest{Tenant: "t", Scopes: []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		tokens[s] = tok
	}
	h := openAPITestEngine(t, signer, nil)
	served := map[string]bool{}
	for _, r := range h.Routes() {
		served[r.Method+" "+openAPIPath(r.Method, r.Path)] = true
	}
	do := func(method, target, token string) (int, ErrorBody) {
		req := httptest.NewRequest(method, target, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body ErrorBody
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body
	}
	ops := operations(t, doc)
	for _, k := range sortedKeys(ops) {
		method, path, _ := strings.Cut(k, " ")
		if !strings.HasPrefix(path, "/v1/") || !served[k] {
			continue // TestOpenAPIRoutesMatchEngine reports undocumented routes
		}
		op := ops[k]
		var documented []string
		raw, _ := op["x-required-scopes"].([]any)
		for _, s := range raw {
			documented = append(documented, s.(string))
		}
		if len(documented) == 0 {
			t.Errorf("%s: no x-required-scopes", k)
			continue
		}
		desc, _ := op["description"].(string)
		for _, s := range documented {
			if !strings.Contains(desc, "`"+s+"`") {
				t.Errorf("%s: description does not name the scope `%s`", k, s)
			}
		}
		target := strings.NewReplacer("{name}", "fn", "{id}", "0123456789abcdef0123456789abcdef").Replace(path)
		if code, body := do(method, target, ""); code != http.StatusUnauthorized || body.Error.Code != CodeUnauthenticated {
			t.Errorf("%s without a token: %d %q, want 401 %q", k, code, body.Error.Code, CodeUnauthenticated)
		}
		var accepted []string
		for _, s := range auth.AllScopes {
			code, body := do(method, target, tokens[s])
			if code != http.StatusForbidden || body.Error.Code != CodeForbidden {
				accepted = append(accepted, s)
			}
		}
		sort.Strings(accepted)
		sort.Strings(documented)
		if !slices.Equal(accepted, documented) {
			t.Errorf("%s: the route accepts scopes %v, openapi.json documents %v", k, accepted, documented)
		}
	}
}

// TestOpenAPIPublicRoutes serves the routes that need no NATS and compares
// their answers with the document.
func TestOpenAPIPublicRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	signer, err := auth.NewHS256([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var readyErr error
	h := openAPITestEngine(t, signer, func() error { return readyErr })
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, r))
		return w
	}

	if w := serve("GET", "/openapi.json", ""); w.Code != http.StatusOK || w.Body.String() != string(OpenAPIDocument) {
		t.Errorf("GET /openapi.json: %d, body equal to the embedded document: %v", w.Code, w.Body.String() == string(OpenAPIDocument))
	}
	if w := serve("GET", "/healthz", ""); w.Code != http.StatusOK {
		t.Errorf("GET /healthz: %d", w.Code)
	}
	if w := serve("GET", "/readyz", ""); w.Code != http.StatusOK {
		t.Errorf("GET /readyz when ready: %d", w.Code)
	}
	readyErr = errors.New("nats: no servers available")
	if w := serve("GET", "/readyz", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz when not ready: %d, want 503", w.Code)
	}
	// GET /schemas/function-file.json is the function file's JSON Schema.
	if w := serve("GET", "/schemas/function-file.json", ""); w.Code != http.StatusOK || w.Body.String() != string(functionfile.Schema()) ||
		w.Header().Get("Content-Type") != "application/schema+json" {
		t.Errorf("GET /schemas/function-file.json: %d %s, body equal to functionfile.Schema(): %v", w.Code, w.Header().Get("Content-Type"), w.Body.String() == string(functionfile.Schema()))
	}
	if w := serve("GET", "/schemas/nothing.json", ""); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), CodeNotFound) {
		t.Errorf("GET /schemas/nothing.json: %d %s, want a JSON 404 (not the console)", w.Code, w.Body)
	}
	// GET /version answers, without a token, exactly the documented fields.
	w := serve("GET", "/version", "")
	var ver map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ver); w.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /version: %d %s", w.Code, w.Body)
	}
	assertSameFields(t, "VersionInfo (GET /version answer)", schemaProperties(t, doc, "#/components/schemas/VersionInfo"), sortedKeys(ver))
	if v := version.Get(); ver["version"] != v.Version || ver["goVersion"] != v.GoVersion {
		t.Errorf("GET /version = %v, want %+v", ver, v)
	}
	readyResponses, _ := operations(t, doc)["GET /readyz"]["responses"].(map[string]any)
	if _, ok := readyResponses["503"]; !ok {
		t.Error("GET /readyz: 503 not documented")
	}

	// POST /auth/token answers with exactly the documented fields.
	w = serve("POST", "/auth/token", `{"tenant":"demo"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("POST /auth/token: %d %s", w.Code, w.Body)
	}
	var tok map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
		t.Fatal(err)
	}
	assertSameFields(t, "TokenResponse (POST /auth/token answer)", schemaProperties(t, doc, "#/components/schemas/TokenResponse"), sortedKeys(tok))
	claims, err := signer.Verify(tok["token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if s := claims.Scopes; !slices.Equal(s, auth.AllScopes) {
		t.Errorf("a token asked for without scopes has %v; openapi.json says all scopes (%v)", s, auth.AllScopes)
	}
	for body, code := range map[string]int{
		`{"tenant":"demo","extra":1}`:      http.StatusBadRequest,
		`{"tenant":"Not A Label"}`:         http.StatusBadRequest,
		`{"tenant":"demo","scopes":["x"]}`: http.StatusBadRequest,
	} {
		if w := serve("POST", "/auth/token", body); w.Code != code {
			t.Errorf("POST /auth/token %s: %d, want %d", body, w.Code, code)
		}
	}
}

// TestOpenAPISchemasMatchGoTypes: each schema lists exactly the JSON fields
// of its Go type, so a new field cannot be forgotten in the document.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		pointer string
		typ     reflect.Type
	}{
		{"#/components/schemas/FunctionSpec", reflect.TypeFor[function.Spec]()},
		{"#/components/schemas/Function", reflect.TypeFor[function.Function]()},
		{"#/components/schemas/FunctionStatus", reflect.TypeFor[function.Status]()},
		{"#/components/schemas/Invocation", reflect.TypeFor[function.Invocation]()},
		{"#/components/schemas/Resources", reflect.TypeFor[function.Resources]()},
		{"#/components/schemas/InvocationRecord", reflect.TypeFor[events.InvocationRecord]()},
		{"#/components/schemas/LogLine", reflect.TypeFor[events.LogLine]()},
		{"#/components/schemas/TokenRequest", reflect.TypeFor[auth.TokenRequest]()},
		{"#/components/schemas/VersionInfo", reflect.TypeFor[version.Info]()},
		{"#/components/schemas/Error", reflect.TypeFor[ErrorBody]()},
		{"#/components/schemas/Error/properties/error", reflect.TypeFor[ErrorDetail]()},
		{"#/components/schemas/FunctionHTTP", reflect.TypeFor[function.HTTP]()},
		{"#/components/schemas/Trigger", reflect.TypeFor[function.Trigger]()},
		{"#/components/schemas/TrafficTarget", reflect.TypeFor[function.TrafficTarget]()},
		{"#/components/schemas/Revision", reflect.TypeFor[function.Revision]()},
		{"#/components/schemas/PutSecretRequest", reflect.TypeFor[putSecretRequest]()},
		{"#/components/schemas/RollbackRequest", reflect.TypeFor[rollbackRequest]()},
		{"#/components/schemas/EventFilter", reflect.TypeFor[function.EventFilter]()},
		{"#/components/schemas/TriggerStatus", reflect.TypeFor[function.TriggerStatus]()},
		{"#/components/schemas/TriggerRef", reflect.TypeFor[events.TriggerRef]()},
		{"#/components/schemas/TriggerEventData", reflect.TypeFor[events.TriggerEventData]()},
		{"#/components/schemas/Scale", reflect.TypeFor[function.Scale]()},
		{"#/components/schemas/ScaleDecision", reflect.TypeFor[function.ScaleDecision]()},
		{"#/components/schemas/ScaledEventData", reflect.TypeFor[events.ScaledEventData]()},
		{"#/components/schemas/Rollout", reflect.TypeFor[function.Rollout]()},
		{"#/components/schemas/RolloutState", reflect.TypeFor[function.RolloutState]()},
		{"#/components/schemas/RolloutEventData", reflect.TypeFor[events.RolloutEventData]()},
	} {
		props := schemaProperties(t, doc, tc.pointer)
		fields := slices.DeleteFunc(jsonFieldNames(tc.typ), func(f string) bool {
			// status.endpoints and revisionEndpoints are the deployer's
			// note to the gateway's route; function.View clears them, so
			// the API never shows them.
			return tc.typ == reflect.TypeFor[function.Status]() && (f == "endpoints" || f == "revisionEndpoints")
		})
		assertSameFields(t, tc.pointer+" vs "+tc.typ.String(), props, fields)
		schema, _ := resolvePointer(doc, tc.pointer)
		req, _ := schema.(map[string]any)["required"].([]any)
		for _, r := range req {
			if !slices.Contains(props, r.(string)) {
				t.Errorf("%s: required field %q is not a property", tc.pointer, r)
			}
		}
	}

	// Request bodies refuse unknown fields (decodeJSON does).
	for _, p := range []string{"FunctionSpec", "Invocation", "Resources", "TokenRequest", "FunctionHTTP", "Trigger", "EventFilter", "Scale", "Rollout"} {
		s, _ := resolvePointer(doc, "#/components/schemas/"+p)
		if s.(map[string]any)["additionalProperties"] != false {
			t.Errorf("schema %s: want additionalProperties: false (the gateway refuses unknown fields)", p)
		}
	}
}

func TestOpenAPIEnumsAndLimits(t *testing.T) {
	doc := loadOpenAPI(t)
	enum := func(ptr string) []string {
		t.Helper()
		v, err := resolvePointer(doc, ptr)
		if err != nil {
			t.Fatalf("%s: %v", ptr, err)
		}
		raw, _ := v.(map[string]any)["enum"].([]any)
		var out []string
		for _, e := range raw {
			out = append(out, e.(string))
		}
		return out
	}
	number := func(ptr string) float64 {
		t.Helper()
		v, err := resolvePointer(doc, ptr)
		if err != nil {
			t.Fatalf("%s: %v", ptr, err)
		}
		n, ok := v.(float64)
		if !ok {
			t.Fatalf("%s is %v, not a number", ptr, v)
		}
		return n
	}

	// Every error code of errors.go; add new Code* constants here.
	codes := []string{
		CodeBadRequest, CodeInvalidJSON, CodeValidation, CodeUnauthenticated,
		CodeForbidden, CodeNotFound, CodeConflict, CodeAlreadyExists, CodeTooLarge,
		CodeUnsupportedMedia, CodeRequestTimeout, CodeMethodNotAllowed, CodeUnavailable, CodeTooManyRequests, CodeFunctionFailed, CodeTimeout,
		CodeInternal, CodeQuotaExceeded, CodeQueueFull,
	}
	assertSameSet(t, "Error code enum vs the Code* constants", enum("#/components/schemas/Error/properties/error/properties/code"), codes)
	assertSameSet(t, "FunctionStatus.phase enum", enum("#/components/schemas/FunctionStatus/properties/phase"), []string{
		string(function.PhasePending), string(function.PhaseDeploying), string(function.PhaseReady),
		string(function.PhaseFailed), string(function.PhaseDeleting),
	})
	assertSameSet(t, "InvocationRecord.status enum", enum("#/components/schemas/InvocationRecord/properties/status"), []string{
		events.StatusQueued, events.StatusRunning, events.StatusRetrying, events.StatusSucceeded, events.StatusFailed, events.StatusDeadLettered,
	})
	assertSameSet(t, "Invocation.mode enum", enum("#/components/schemas/Invocation/properties/mode"), []string{function.ModeJob, function.ModeHTTP})
	assertSameSet(t, "FunctionHTTP.auth enum", enum("#/components/schemas/FunctionHTTP/properties/auth"), []string{function.HTTPAuthToken, function.HTTPAuthPublic})
	triggerTypes := []string{function.TriggerCron, function.TriggerNATS, function.TriggerEvent}
	for _, ptr := range []string{"Trigger/properties/type", "TriggerStatus/properties/type", "TriggerRef/properties/type"} {
		assertSameSet(t, ptr+" enum", enum("#/components/schemas/"+ptr), triggerTypes)
	}
	assertSameSet(t, "Trigger.missed enum", enum("#/components/schemas/Trigger/properties/missed"), []string{function.MissedSkip, function.MissedOnce})
	var eventTypes []string
	for _, p := range operations(t, doc)["GET /v1/events"]["parameters"].([]any) {
		if p := deref(t, doc, p); p["name"] == "type" {
			for _, e := range p["schema"].(map[string]any)["enum"].([]any) {
				eventTypes = append(eventTypes, e.(string))
			}
		}
	}
	assertSameSet(t, "GET /v1/events type enum vs events.EventTypes", eventTypes, events.EventTypes)
	if got := number("#/components/schemas/FunctionSpec/properties/triggers/maxItems"); got != function.MaxTriggers {
		t.Errorf("triggers maxItems = %v, want %d", got, function.MaxTriggers)
	}
	if got := number("#/components/schemas/Trigger/properties/body/maxLength"); got != function.MaxTriggerBody {
		t.Errorf("trigger body maxLength = %v, want %d", got, function.MaxTriggerBody)
	}
	if got := number("#/components/schemas/Trigger/properties/subject/maxLength"); got != function.MaxTriggerSubject {
		t.Errorf("trigger subject maxLength = %v, want %d", got, function.MaxTriggerSubject)
	}
	assertSameSet(t, "TokenRequest.scopes enum", enum("#/components/schemas/TokenRequest/properties/scopes/items"), auth.AllScopes)

	if got := number("#/components/schemas/FunctionSpec/properties/replicas/minimum"); got != 0 {
		t.Errorf("replicas minimum = %v, want 0", got)
	}
	if got := number("#/components/schemas/FunctionSpec/properties/replicas/maximum"); got != function.MaxReplicas {
		t.Errorf("replicas maximum = %v, want %d", got, function.MaxReplicas)
	}
	// replicas and autoscaling are the older forms of scale, mapped to it.
	for _, f := range []string{"replicas", "autoscaling"} {
		for _, s := range []string{"FunctionSpec", "Function"} {
			v, _ := resolvePointer(doc, "#/components/schemas/"+s+"/properties/"+f)
			if p, _ := v.(map[string]any); p["deprecated"] != true || !strings.Contains(fmt.Sprint(p["description"]), "mapped to `scale`") {
				t.Errorf("%s.%s: want deprecated, mapped to `scale`: %v", s, f, v)
			}
		}
	}
	assertSameSet(t, "Scale.metric enum", enum("#/components/schemas/Scale/properties/metric"), []string{function.MetricConcurrency, function.MetricQueue, function.MetricCPU})
	for ptr, want := range map[string]float64{
		"Scale/properties/min/minimum":    0,
		"Scale/properties/min/maximum":    function.MaxReplicas,
		"Scale/properties/max/maximum":    function.MaxReplicas,
		"Scale/properties/target/maximum": function.MaxScaleTarget,
		"Scale/properties/target/default": function.DefaultScaleTarget,
	} {
		if got := number("#/components/schemas/" + ptr); got != want {
			t.Errorf("%s = %v, want %v", ptr, got, want)
		}
	}
	if v, _ := resolvePointer(doc, "#/components/schemas/Scale/properties/idleAfter/default"); v != function.DefaultIdleAfter.String() {
		t.Errorf("Scale.idleAfter default = %v, want %s", v, function.DefaultIdleAfter)
	}
	rolloutPhases := []string{function.RolloutProgressing, function.RolloutComplete, function.RolloutRolledBack}
	assertSameSet(t, "RolloutState.phase enum", enum("#/components/schemas/RolloutState/properties/phase"), rolloutPhases)
	assertSameSet(t, "RolloutEventData.phase enum", enum("#/components/schemas/RolloutEventData/properties/phase"), rolloutPhases)
	for ptr, want := range map[string]float64{
		"Rollout/properties/stepPercent/maximum":     100,
		"Rollout/properties/stepPercent/default":     function.DefaultRolloutStep,
		"Rollout/properties/maxErrorPercent/maximum": 100,
		"Rollout/properties/maxErrorPercent/default": function.DefaultRolloutMaxErrors,
		"Rollout/properties/minRequests/maximum":     1000000,
		"Rollout/properties/minRequests/default":     function.DefaultRolloutMinRequests,
	} {
		if got := number("#/components/schemas/" + ptr); got != want {
			t.Errorf("%s = %v, want %v", ptr, got, want)
		}
	}
	v, _ := resolvePointer(doc, "#/components/schemas/Rollout/properties/interval/default")
	if d, err := time.ParseDuration(fmt.Sprint(v)); err != nil || d != function.DefaultRolloutInterval {
		t.Errorf("Rollout.interval default = %v, want %s", v, function.DefaultRolloutInterval)
	}
	if got := number("#/components/schemas/FunctionName/maxLength"); got != function.MaxNameLen {
		t.Errorf("FunctionName maxLength = %v, want %d", got, function.MaxNameLen)
	}
	if got := number("#/components/schemas/TokenRequest/properties/tenant/maxLength"); got != function.MaxTenantLen {
		t.Errorf("TokenRequest.tenant maxLength = %v, want %d", got, function.MaxTenantLen)
	}

	// The name pattern accepts exactly what function.ValidateName accepts.
	nameSchema, _ := resolvePointer(doc, "#/components/schemas/FunctionName")
	re, err := regexp.Compile(nameSchema.(map[string]any)["pattern"].(string))
	if err != nil {
		t.Fatalf("FunctionName pattern: %v", err)
	}
	for _, name := range []string{"a", "upper", "a-b", "0", "a1-2b", "-a", "a-", "A", "a_b", "a.b", "", "ä", strings.Repeat("a", 63), strings.Repeat("a", 64)} {
		doc := re.MatchString(name) && len(name) <= function.MaxNameLen
		if code := function.ValidateName(name) == nil; doc != code {
			t.Errorf("name %q: openapi.json says valid=%v, function.ValidateName says valid=%v", name, doc, code)
		}
	}

	// Logs query parameters.
	logs := operations(t, doc)["GET /v1/functions/{name}/logs"]
	params := map[string]map[string]any{}
	for _, p := range logs["parameters"].([]any) {
		p := deref(t, doc, p)
		params[p["name"].(string)] = p
	}
	tail, ok := params["tail"]["schema"].(map[string]any)
	if !ok {
		t.Fatal("GET /v1/functions/{name}/logs: no tail parameter")
	}
	if tail["minimum"] != 0.0 || tail["maximum"] != float64(maxTail) || tail["default"] != float64(defaultTail) {
		t.Errorf("logs tail: minimum %v maximum %v default %v, want 0, %d, %d", tail["minimum"], tail["maximum"], tail["default"], maxTail, defaultTail)
	}
	if follow, _ := params["follow"]["schema"].(map[string]any); follow["type"] != "boolean" {
		t.Errorf("logs follow: want a boolean query parameter, got %v", params["follow"])
	}
	if since, _ := params["since"]["schema"].(map[string]any); since["type"] != "string" {
		t.Errorf("logs since: want a string query parameter, got %v", params["since"])
	}
	if d, _ := params["since"]["description"].(string); !strings.Contains(d, fmt.Sprintf("`%dh`", int(maxSinceAge.Hours()))) {
		t.Errorf("logs since: the description should give the longest duration, %dh: %q", int(maxSinceAge.Hours()), d)
	}

	// Events query parameters: follow is a boolean that defaults to true.
	eventParams := map[string]map[string]any{}
	for _, p := range operations(t, doc)["GET /v1/events"]["parameters"].([]any) {
		p := deref(t, doc, p)
		eventParams[p["name"].(string)] = p
	}
	if follow, _ := eventParams["follow"]["schema"].(map[string]any); follow["type"] != "boolean" || follow["default"] != true {
		t.Errorf("events follow: want a boolean query parameter defaulting to true, got %v", eventParams["follow"])
	}
}

// jsonFieldNames lists the JSON object keys encoding/json writes for t,
// with embedded structs' fields inlined.
func jsonFieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFieldNames(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func schemaProperties(t *testing.T, doc map[string]any, ptr string) []string {
	t.Helper()
	s, err := resolvePointer(doc, ptr)
	if err != nil {
		t.Fatalf("%s: %v", ptr, err)
	}
	props, ok := s.(map[string]any)["properties"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no properties", ptr)
	}
	return sortedKeys(props)
}

func assertSameFields(t *testing.T, what string, documented, actual []string) {
	t.Helper()
	for _, f := range actual {
		if !slices.Contains(documented, f) {
			t.Errorf("%s: field %q is missing in openapi.json", what, f)
		}
	}
	for _, f := range documented {
		if !slices.Contains(actual, f) {
			t.Errorf("%s: openapi.json documents field %q, which the Go type does not have", what, f)
		}
	}
}

func assertSameSet(t *testing.T, what string, documented, actual []string) {
	t.Helper()
	for _, v := range actual {
		if !slices.Contains(documented, v) {
			t.Errorf("%s: %q is missing in openapi.json", what, v)
		}
	}
	for _, v := range documented {
		if !slices.Contains(actual, v) {
			t.Errorf("%s: openapi.json lists %q, which the code does not have", what, v)
		}
	}
}

// deref follows a $ref, if v is one.
func deref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		r, err := resolvePointer(doc, ref)
		if err != nil {
			t.Fatalf("$ref %q: %v", ref, err)
		}
		m, _ = r.(map[string]any)
	}
	return m
}

// resolvePointer resolves a local reference "#/a/b~1c".
func resolvePointer(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, &pointerError{ref, "not a local reference"}
	}
	var cur any = doc
	if rest == "" {
		return cur, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, &pointerError{ref, "no " + strconv.Quote(tok)}
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, &pointerError{ref, "bad index " + strconv.Quote(tok)}
			}
			cur = c[i]
		default:
			return nil, &pointerError{ref, "cannot descend into " + strconv.Quote(tok)}
		}
	}
	return cur, nil
}

type pointerError struct{ ref, why string }

func (e *pointerError) Error() string { return "cannot resolve " + e.ref + ": " + e.why }

// walkJSON calls fn for every object in v, with its JSON pointer.
func walkJSON(v any, ptr string, fn func(ptr string, node map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(ptr, x)
		for k, c := range x {
			walkJSON(c, ptr+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), fn)
		}
	case []any:
		for i, c := range x {
			walkJSON(c, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
