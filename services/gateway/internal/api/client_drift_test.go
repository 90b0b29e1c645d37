package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/version"
)

// The typed Go client (pkg/client) must keep up with openapi.json: every
// operation a client program uses has a client call that requests exactly
// that method and path, and the client's own answer types have exactly the
// documented fields. These tests fail when the two drift apart.

// notForClients are operations for probes, scrapers and browsers.
var notForClients = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.json": true,
	"GET /schemas/function-file.json": true,
}

// isRouteOperation: the public routes of http-mode functions are the
// function's own HTTP interface, called with any HTTP client (and the
// function's status.url); pkg/client does not wrap them.
func isRouteOperation(op string) bool {
	_, path, _ := strings.Cut(op, " ")
	return isFunctionRoute(path)
}

func TestClientCoversEveryOperation(t *testing.T) {
	doc := loadOpenAPI(t)
	var (
		mu  sync.Mutex
		got []string // "METHOD /path" requested
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := function.Spec{Name: "f", Command: []string{"cat"}}
	calls := map[string]func() error{
		"POST /auth/token":            func() error { _, err := c.IssueToken(ctx, client.TokenRequest{Tenant: "t"}); return err },
		"GET /version":                func() error { _, err := c.Version(ctx); return err },
		"GET /v1/functions":           func() error { _, err := c.ListFunctions(ctx); return err },
		"POST /v1/functions":          func() error { _, err := c.ApplyFunction(ctx, spec); return err },
		"GET /v1/functions/{name}":    func() error { _, err := c.GetFunction(ctx, "f"); return err },
		"PUT /v1/functions/{name}":    func() error { _, err := c.UpdateFunction(ctx, spec); return err },
		"DELETE /v1/functions/{name}": func() error { _, err := c.DeleteFunction(ctx, "f"); return err },
		"POST /v1/functions/{name}:invoke": func() error {
			_, err := c.Invoke(ctx, "f", strings.NewReader("x"), client.InvokeOptions{})
			return err
		},
		"GET /v1/functions/{name}/logs": func() error { _, err := c.Logs(ctx, "f", client.LogsOptions{}); return err },
		"GET /v1/functions/{name}/invocations": func() error {
			_, err := c.Invocations(ctx, "f", client.InvocationsOptions{})
			return err
		},
		"GET /v1/invocations/{id}":                       func() error { _, err := c.Invocation(ctx, "0"); return err },
		"GET /v1/events":                                 func() error { _, err := c.Events(ctx, client.EventsOptions{}); return err },
		"GET /v1/functions/{name}/dead-letters":          func() error { _, err := c.DeadLetters(ctx, "f"); return err },
		"POST /v1/functions/{name}/dead-letters/redrive": func() error { _, err := c.Redrive(ctx, "f", nil); return err },
		"GET /v1/callback-key":                           func() error { _, err := c.CallbackKey(ctx); return err },
		"GET /v1/secrets":                                func() error { _, err := c.ListSecrets(ctx); return err },
		"GET /v1/secrets/{name}":                         func() error { _, err := c.GetSecret(ctx, "s"); return err },
		"PUT /v1/secrets/{name}":                         func() error { _, _, err := c.SetSecret(ctx, "s", "v"); return err },
		"DELETE /v1/secrets/{name}":                      func() error { return c.DeleteSecret(ctx, "s") },
		"GET /v1/functions/{name}/revisions":             func() error { _, err := c.Revisions(ctx, "f"); return err },
		"GET /v1/functions/{name}/revisions/{revision}":  func() error { _, err := c.Revision(ctx, "f", 1); return err },
		"POST /v1/functions/{name}:rollback":             func() error { _, _, err := c.Rollback(ctx, "f", 0); return err },
	}
	documented := operations(t, doc)
	for _, op := range sortedKeys(documented) {
		if notForClients[op] || isRouteOperation(op) {
			continue
		}
		call, ok := calls[op]
		if !ok {
			t.Errorf("openapi.json documents %s, but pkg/client has no call for it", op)
			continue
		}
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		if err := call(); err != nil {
			t.Errorf("%s: %v", op, err)
			continue
		}
		method, tmpl, _ := strings.Cut(op, " ")
		mu.Lock()
		requested := append([]string(nil), got...)
		mu.Unlock()
		if len(requested) != 1 || !pathMatches(method, tmpl, requested[0]) {
			t.Errorf("the client's call for %s requested %v", op, requested)
		}
	}
	for op := range calls {
		if _, ok := documented[op]; !ok {
			t.Errorf("pkg/client calls %s, which openapi.json does not document", op)
		}
	}
}

// pathMatches reports whether "METHOD /path" is a request of the OpenAPI
// operation method + template.
func pathMatches(method, tmpl, requested string) bool {
	m, p, _ := strings.Cut(requested, " ")
	if m != method {
		return false
	}
	parts := openAPIParm.Split(tmpl, -1)
	re := "^"
	for i, part := range parts {
		if i > 0 {
			re += `[^/]+`
		}
		re += regexp.QuoteMeta(part)
	}
	return regexp.MustCompile(re + "$").MatchString(p)
}

func TestClientTypesMatchOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		pointer string
		typ     reflect.Type
	}{
		{"#/components/schemas/DeadLetter", reflect.TypeFor[client.DeadLetter]()},
		{"#/components/schemas/InvocationAccepted", reflect.TypeFor[client.Accepted]()},
		{"#/components/schemas/TokenResponse", reflect.TypeFor[client.Token]()},
		{"#/components/schemas/TokenRequest", reflect.TypeFor[client.TokenRequest]()},
		{"#/components/schemas/VersionInfo", reflect.TypeFor[version.Info]()},
		{"#/paths/~1v1~1functions~1{name}~1invocations/get/responses/200/content/application~1json/schema", reflect.TypeFor[client.InvocationPage]()},
		{"#/paths/~1v1~1callback-key/get/responses/200/content/application~1json/schema", reflect.TypeFor[client.CallbackKey]()},
	} {
		assertSameFields(t, tc.pointer+" vs "+tc.typ.String(), schemaProperties(t, doc, tc.pointer), jsonFieldNames(tc.typ))
	}
}
