package service

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/auth/oidctest"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
)

const oidcAudience = "eventflow-gateway"

// oidcGateway is a gateway on a real NATS whose tokens come from a test
// identity provider (and, with a secret, from POST /auth/token too).
type oidcGateway struct {
	idp *oidctest.Provider
	srv *httptest.Server
	js  jetstream.JetStream
}

// startOIDCGateway starts a provider with an RSA key "rsa" and a P-256 key
// "ec", and a gateway that trusts it. Tenants are in the "org" claim and
// scopes in the "scp" claim, as the gateway's flags allow.
func startOIDCGateway(t *testing.T, hs *auth.HS256, tokenEndpoint bool) (*oidcGateway, error) {
	t.Helper()
	idp := oidctest.Start(t)
	idp.NewRSAKey(t, "rsa")
	idp.NewECKey(t, "ec")
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{
		Issuer: idp.Issuer, Audience: oidcAudience, TenantClaim: "org", ScopesClaim: "scp",
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(hs, o)
	if err != nil {
		t.Fatal(err)
	}
	srv, js, err := startGateway(t, Config{MaxBodyBytes: 4096, EnableTokenIssuer: tokenEndpoint}, v)
	if err != nil {
		return nil, err
	}
	return &oidcGateway{idp: idp, srv: srv, js: js}, nil
}

// token signs claims for tenant with scopes (an array), changed by mod.
func (g *oidcGateway) token(t *testing.T, kid, tenant string, scopes []string, mod ...func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": g.idp.Issuer, "aud": []string{oidcAudience, "account"}, "sub": "user@" + tenant,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"org": tenant, "scp": scopes,
	}
	for _, m := range mod {
		m(c)
	}
	return g.idp.Sign(t, kid, c)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (g *oidcGateway) call(t *testing.T, token, method, path, body string) reply {
	t.Helper()
	resp, b := testkit.Call(t, method, g.srv.URL+path, token, body)
	return reply{resp.StatusCode, resp.Header, b}
}

func functionNames(t *testing.T, r reply) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatalf("list %s: %v", r.body, err)
	}
	names := []string{}
	for _, f := range list.Items {
		names = append(names, f.Name)
	}
	return names
}

// TestOIDCTokensThroughTheAPI: with a JWT secret and an issuer, OIDC tokens
// (RS256 and ES256) and development tokens both work, each confined to its
// tenant; refused tokens get 401 with the reason.
func TestOIDCTokensThroughTheAPI(t *testing.T) {
	hs := testkit.Signer(t)
	g, err := startOIDCGateway(t, hs, true)
	if err != nil {
		t.Fatal(err)
	}
	acme := g.token(t, "rsa", "acme", []string{"openid", auth.ScopeRead, auth.ScopeWrite})

	r := g.call(t, acme, "POST", "/v1/functions", `{"name":"hello","command":["cat"]}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("create with an OIDC token: %d %s", r.status, r.body)
	}
	if names := functionNames(t, g.call(t, acme, "GET", "/v1/functions", "")); !slices.Equal(names, []string{"hello"}) {
		t.Fatalf("acme lists %v, want [hello]", names)
	}
	// The command went out under the token's tenant.
	s, err := g.js.Stream(context.Background(), events.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLastMsgForSubject(context.Background(), events.CommandSubject("acme", "hello")); err != nil {
		t.Fatalf("no command for acme/hello: %v", err)
	}

	// Another tenant's OIDC token (ES256) sees nothing of acme's.
	globex := g.token(t, "ec", "globex", []string{auth.ScopeRead, auth.ScopeWrite})
	if names := functionNames(t, g.call(t, globex, "GET", "/v1/functions", "")); len(names) != 0 {
		t.Fatalf("globex lists %v, want nothing", names)
	}
	if r := g.call(t, globex, "GET", "/v1/functions/hello", ""); r.status != http.StatusNotFound {
		t.Fatalf("globex gets acme's function: %d %s", r.status, r.body)
	}

	// A development token from POST /auth/token works beside them.
	r = g.call(t, "", "POST", "/auth/token", `{"tenant":"acme","scopes":["functions:read"]}`)
	var issued struct{ Token string }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &issued) != nil || issued.Token == "" {
		t.Fatalf("POST /auth/token: %d %s", r.status, r.body)
	}
	if names := functionNames(t, g.call(t, issued.Token, "GET", "/v1/functions", "")); !slices.Equal(names, []string{"hello"}) {
		t.Fatalf("acme's development token lists %v, want [hello]", names)
	}

	// Scopes come from the token: read only cannot write.
	readOnly := g.token(t, "ec", "acme", []string{auth.ScopeRead, "functions:admin"})
	if r := g.call(t, readOnly, "POST", "/v1/functions", `{"name":"nope","command":["cat"]}`); r.status != http.StatusForbidden {
		t.Fatalf("create with a read-only token: %d %s", r.status, r.body)
	}

	// Refused tokens: 401, the unauthenticated code and the reason.
	for name, tc := range map[string]struct{ token, reason string }{
		"wrong audience": {g.token(t, "rsa", "acme", []string{auth.ScopeRead}, func(c jwt.MapClaims) { c["aud"] = "another-api" }), "audience"},
		"expired":        {g.token(t, "ec", "acme", []string{auth.ScopeRead}, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), "expired"},
		"no tenant":      {g.token(t, "rsa", "", []string{auth.ScopeRead}), `claim "org"`},
		"other issuer":   {g.token(t, "rsa", "acme", []string{auth.ScopeRead}, func(c jwt.MapClaims) { c["iss"] = "https://elsewhere.example" }), "not accepted"},
	} {
		r := g.call(t, tc.token, "GET", "/v1/functions", "")
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != http.StatusUnauthorized ||
			e.Error.Code != "unauthenticated" || !strings.Contains(e.Error.Message, tc.reason) {
			t.Errorf("%s: %d %s; want 401 unauthenticated mentioning %q", name, r.status, r.body, tc.reason)
		}
		if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, "invalid_token") {
			t.Errorf("%s: WWW-Authenticate %q", name, h)
		}
	}
}

// TestOIDCOnlyGateway: with only an issuer, OIDC tokens work, HS256 tokens
// do not, and the token endpoint cannot be turned on.
func TestOIDCOnlyGateway(t *testing.T) {
	if _, err := startOIDCGateway(t, nil, true); err == nil || !strings.Contains(err.Error(), "needs a JWT secret") {
		t.Fatalf("token endpoint with OIDC only: %v, want a refusal", err)
	}
	g, err := startOIDCGateway(t, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	tok := g.token(t, "ec", "acme", []string{auth.ScopeRead, auth.ScopeWrite})
	if r := g.call(t, tok, "POST", "/v1/functions", `{"name":"only","command":["cat"]}`); r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if names := functionNames(t, g.call(t, tok, "GET", "/v1/functions", "")); !slices.Equal(names, []string{"only"}) {
		t.Fatalf("list %v, want [only]", names)
	}
	// A development token of another signer over the same key.
	dev := testkit.Token(t, testkit.Signer(t), "acme")
	if r := g.call(t, dev, "GET", "/v1/functions", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("an HS256 token with OIDC only: %d %s", r.status, r.body)
	}
	if r := g.call(t, "", "POST", "/auth/token", `{"tenant":"acme"}`); r.status != http.StatusNotFound {
		t.Fatalf("POST /auth/token with OIDC only: %d %s", r.status, r.body)
	}
}
