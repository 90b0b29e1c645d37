package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/auth/oidctest"
)

const audience = "eventflow-api"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type setup struct {
	idp   *oidctest.Provider
	clock *clock
	v     *auth.OIDC
}

// newSetup starts a provider with one RSA key ("rsa-1") and one P-256 key
// ("ec-1") and a verifier for it.
func newSetup(t *testing.T, mod ...func(*auth.OIDCConfig)) *setup {
	t.Helper()
	s := &setup{idp: oidctest.Start(t), clock: newClock()}
	s.idp.NewRSAKey(t, "rsa-1")
	s.idp.NewECKey(t, "ec-1")
	cfg := auth.OIDCConfig{Issuer: s.idp.Issuer, Audience: audience, Now: s.clock.Now}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := auth.NewOIDC(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.v = v
	return s
}

// claims are valid claims for tenant acme, changed by mod.
func (s *setup) claims(mod ...func(jwt.MapClaims)) jwt.MapClaims {
	now := s.clock.Now()
	c := jwt.MapClaims{
		"iss":    s.idp.Issuer,
		"aud":    audience,
		"sub":    "user-1",
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
		"tenant": "acme",
		"scope":  "openid profile functions:read functions:invoke",
	}
	for _, m := range mod {
		if m != nil {
			m(c)
		}
	}
	return c
}

func TestOIDCAcceptsRS256AndES256(t *testing.T) {
	s := newSetup(t)
	for _, kid := range []string{"rsa-1", "ec-1"} {
		c, err := s.v.Verify(s.idp.Sign(t, kid, s.claims()))
		if err != nil {
			t.Fatalf("%s: %v", kid, err)
		}
		if c.Tenant != "acme" || c.Subject != "user-1" || c.Issuer != s.idp.Issuer {
			t.Errorf("%s: claims %+v", kid, c)
		}
		if want := []string{auth.ScopeRead, auth.ScopeInvoke}; !slices.Equal(c.Scopes, want) {
			t.Errorf("%s: scopes %v, want %v", kid, c.Scopes, want)
		}
		if !c.Has(auth.ScopeRead) || c.Has(auth.ScopeWrite) {
			t.Errorf("%s: Has disagrees with scopes %v", kid, c.Scopes)
		}
	}
}

func TestOIDCScopesClaimForms(t *testing.T) {
	s := newSetup(t, func(c *auth.OIDCConfig) {
		c.ScopesClaim = "permissions"
		c.TenantClaim = "https://eventflow.example/tenant"
	})
	cases := []struct {
		value any
		want  []string
	}{
		{[]any{"functions:write", "email", "functions:write", 7, "functions:read"}, []string{auth.ScopeRead, auth.ScopeWrite}},
		{"functions:invoke  functions:write", []string{auth.ScopeWrite, auth.ScopeInvoke}},
		{"openid", []string{}},
		{nil, []string{}},
	}
	for _, tc := range cases {
		tok := s.idp.Sign(t, "rsa-1", s.claims(func(c jwt.MapClaims) {
			delete(c, "scope")
			delete(c, "tenant")
			c["https://eventflow.example/tenant"] = "team-a"
			if tc.value != nil {
				c["permissions"] = tc.value
			}
		}))
		c, err := s.v.Verify(tok)
		if err != nil {
			t.Fatalf("%v: %v", tc.value, err)
		}
		if c.Tenant != "team-a" || !slices.Equal(c.Scopes, tc.want) {
			t.Errorf("%v: tenant %q scopes %v, want team-a %v", tc.value, c.Tenant, c.Scopes, tc.want)
		}
	}
}

func TestOIDCRefuses(t *testing.T) {
	s := newSetup(t)
	// A key the provider never published, under a published kid.
	rogue := oidctest.Start(t)
	rogue.NewRSAKey(t, "rsa-1")
	rogue.NewECKey(t, "no-such-key")
	pubPEM := publishedPEM(t, s)

	with := func(kid string, mod func(jwt.MapClaims)) string { return s.idp.Sign(t, kid, s.claims(mod)) }
	hmacWith := func(key []byte, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, s.claims())
		tok.Header["kid"] = kid
		str, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	noneTok := jwt.NewWithClaims(jwt.SigningMethodNone, s.claims())
	noneTok.Header["kid"] = "rsa-1"
	none, err := noneTok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	past := s.clock.Now().Add(-2 * time.Hour)
	cases := map[string]string{
		"wrong issuer":      with("rsa-1", func(c jwt.MapClaims) { c["iss"] = s.idp.Issuer + "/other" }),
		"issuer with slash": with("rsa-1", func(c jwt.MapClaims) { c["iss"] = s.idp.Issuer + "/" }),
		"wrong audience":    with("ec-1", func(c jwt.MapClaims) { c["aud"] = []string{"someone-else"} }),
		"no audience":       with("ec-1", func(c jwt.MapClaims) { delete(c, "aud") }),
		"expired":           with("rsa-1", func(c jwt.MapClaims) { c["exp"] = s.clock.Now().Add(-time.Minute).Unix() }),
		"no expiry":         with("rsa-1", func(c jwt.MapClaims) { delete(c, "exp") }),
		"expired long ago": with("ec-1", func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = past.Unix(), past.Unix(), past.Add(time.Hour).Unix()
		}),
		"not yet valid":         with("ec-1", func(c jwt.MapClaims) { c["nbf"] = s.clock.Now().Add(time.Minute).Unix() }),
		"alg none":              none,
		"HS256 with public key": hmacWith(pubPEM, "rsa-1"),
		"HS256, guessed secret": hmacWith([]byte(s.idp.Issuer), "rsa-1"),
		"unknown kid":           rogue.Sign(t, "no-such-key", s.claims()),
		"no kid":                reKid(t, s, "rsa-1", ""),
		"signed by another key": rogue.Sign(t, "rsa-1", s.claims()),
		"kid of the other alg":  reKid(t, s, "rsa-1", "ec-1"),
		"missing tenant":        with("rsa-1", func(c jwt.MapClaims) { delete(c, "tenant") }),
		"invalid tenant":        with("rsa-1", func(c jwt.MapClaims) { c["tenant"] = "Bad_Tenant" }),
		"tenant not a string":   with("rsa-1", func(c jwt.MapClaims) { c["tenant"] = 42 }),
		"tenant too long":       with("rsa-1", func(c jwt.MapClaims) { c["tenant"] = strings.Repeat("a", 64) }),
		"garbage":               "not.a.token",
	}
	for name, tok := range cases {
		c, err := s.v.Verify(tok)
		if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: claims %+v, err %v; want ErrUnauthenticated", name, c, err)
		}
	}
	// The messages say why.
	for name, want := range map[string]string{"unknown kid": `no key "no-such-key"`, "missing tenant": `claim "tenant"`, "wrong audience": "aud", "alg none": "signing method"} {
		if _, err := s.v.Verify(cases[name]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v should mention %q", name, err, want)
		}
	}
}

// reKid takes a valid token signed with kid's key and names another kid
// in its header (or none), keeping the signature.
func reKid(t *testing.T, s *setup, kid, named string) string {
	t.Helper()
	parsed, parts, err := jwt.NewParser().ParseUnverified(s.idp.Sign(t, kid, s.claims()), jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if named == "" {
		delete(parsed.Header, "kid")
	} else {
		parsed.Header["kid"] = named
	}
	signing, err := parsed.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + parts[2]
}

// publishedPEM is the PEM of the provider's RSA public key, as an attacker
// would use it for an HMAC secret.
func publishedPEM(t *testing.T, s *setup) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.idp.PublicKey("rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestOIDCKeyRotation(t *testing.T) {
	s := newSetup(t, func(c *auth.OIDCConfig) { c.RefetchInterval = time.Minute })
	old := s.idp.Sign(t, "rsa-1", s.claims())
	if _, err := s.v.Verify(old); err != nil {
		t.Fatal(err)
	}
	// The provider rotates: a new key in, the old one out.
	s.idp.NewRSAKey(t, "rsa-2")
	s.idp.Unpublish("rsa-1")
	s.clock.Advance(time.Minute)
	hits := s.idp.JWKSHits()
	fresh := s.idp.Sign(t, "rsa-2", s.claims())
	c, err := s.v.Verify(fresh)
	if err != nil {
		t.Fatalf("a token with the new kid after a rotation: %v", err)
	}
	if c.Tenant != "acme" {
		t.Fatalf("claims %+v", c)
	}
	if n := s.idp.JWKSHits() - hits; n != 1 {
		t.Fatalf("%d key set fetches for the new kid, want 1", n)
	}
	// Verified again from the cache.
	if _, err := s.v.Verify(fresh); err != nil || s.idp.JWKSHits()-hits != 1 {
		t.Fatalf("second verification: %v, %d fetches", err, s.idp.JWKSHits()-hits)
	}
	// The withdrawn key is no longer trusted.
	if _, err := s.v.Verify(old); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a token of the withdrawn key: %v", err)
	}
}

func TestOIDCRefetchRateLimit(t *testing.T) {
	const interval = 30 * time.Second
	s := newSetup(t, func(c *auth.OIDCConfig) { c.RefetchInterval = interval })
	if n := s.idp.JWKSHits(); n != 1 {
		t.Fatalf("%d key set fetches at start, want 1", n)
	}
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				tok := reKid(t, s, "ec-1", fmt.Sprintf("bogus-%d-%d", round, i))
				if _, err := s.v.Verify(tok); !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("bogus kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	// Right after the start fetch: no fetch at all.
	flood(0)
	if n := s.idp.JWKSHits(); n != 1 {
		t.Fatalf("%d key set fetches after a flood within the interval, want 1", n)
	}
	// Once the interval has passed: one fetch for the whole flood.
	s.clock.Advance(interval)
	flood(1)
	if n := s.idp.JWKSHits(); n != 2 {
		t.Fatalf("%d key set fetches after a flood past the interval, want 2", n)
	}
	s.clock.Advance(interval - time.Second)
	flood(2)
	if n := s.idp.JWKSHits(); n != 2 {
		t.Fatalf("%d key set fetches within the next interval, want 2", n)
	}
	// A rotation inside the interval is seen once it has passed.
	s.idp.NewECKey(t, "ec-2")
	tok := s.idp.Sign(t, "ec-2", s.claims())
	if _, err := s.v.Verify(tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a new kid within the interval: %v, want refused", err)
	}
	s.clock.Advance(time.Second)
	if _, err := s.v.Verify(tok); err != nil {
		t.Fatalf("a new kid once the interval passed: %v", err)
	}
	if n := s.idp.JWKSHits(); n != 3 {
		t.Fatalf("%d key set fetches, want 3", n)
	}
}

func TestOIDCKeysMaxAge(t *testing.T) {
	s := newSetup(t, func(c *auth.OIDCConfig) { c.KeysMaxAge = 10 * time.Minute })
	s.idp.Unpublish("rsa-1")
	tok := s.idp.Sign(t, "rsa-1", s.claims())
	if _, err := s.v.Verify(tok); err != nil {
		t.Fatalf("cached key: %v", err)
	}
	s.clock.Advance(11 * time.Minute)
	if _, err := s.v.Verify(s.idp.Sign(t, "rsa-1", s.claims())); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a key withdrawn longer ago than KeysMaxAge: %v, want refused", err)
	}
	if n := s.idp.JWKSHits(); n != 2 {
		t.Fatalf("%d key set fetches, want 2", n)
	}
	if _, err := s.v.Verify(s.idp.Sign(t, "ec-1", s.claims())); err != nil {
		t.Fatalf("a still published key: %v", err)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	ctx := context.Background()
	t.Run("issuer must match exactly", func(t *testing.T) {
		idp := oidctest.Start(t)
		idp.NewRSAKey(t, "k")
		idp.SetDocumentIssuer(idp.Issuer + "/")
		_, err := auth.WaitOIDC(ctx, auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience}, 30*time.Second, nil)
		if !errors.Is(err, auth.ErrOIDCDiscovery) || !strings.Contains(err.Error(), "names issuer") {
			t.Fatalf("err %v", err)
		}
		if n := idp.DiscoveryHits(); n != 1 {
			t.Fatalf("%d discovery fetches for a mismatch, want 1 (not retried)", n)
		}
	})
	t.Run("retried while the provider starts", func(t *testing.T) {
		idp := oidctest.Start(t)
		idp.NewECKey(t, "k")
		idp.FailDiscovery(2)
		var retries int
		v, err := auth.WaitOIDC(ctx, auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience}, 30*time.Second,
			func(error, time.Duration) { retries++ })
		if err != nil {
			t.Fatal(err)
		}
		if retries != 2 || idp.DiscoveryHits() != 3 || v.Issuer() != idp.Issuer {
			t.Fatalf("%d retries, %d discovery fetches; want 2, 3", retries, idp.DiscoveryHits())
		}
	})
	t.Run("gives up after the wait", func(t *testing.T) {
		idp := oidctest.Start(t)
		idp.FailDiscovery(1 << 30)
		start := time.Now()
		_, err := auth.WaitOIDC(ctx, auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience}, time.Second, nil)
		if !errors.Is(err, auth.ErrOIDCDiscovery) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("gave up after %s, want about 1s", d)
		}
		if n := idp.DiscoveryHits(); n < 2 {
			t.Fatalf("%d discovery fetches, want retries", n)
		}
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		idp := oidctest.Start(t)
		idp.FailDiscovery(1 << 30)
		cctx, cancel := context.WithCancel(ctx)
		_, err := auth.WaitOIDC(cctx, auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience}, time.Hour,
			func(error, time.Duration) { cancel() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("https issuer", func(t *testing.T) {
		idp := oidctest.StartTLS(t)
		idp.NewRSAKey(t, "k")
		cfg := auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience, HTTPClient: idp.Client()}
		if _, err := auth.NewOIDC(ctx, cfg); err != nil {
			t.Fatalf("keys over https: %v", err)
		}
		// The same server's key set named over plain http: refused before
		// it is fetched, and not retried.
		idp.SetJWKSURI("http" + strings.TrimPrefix(idp.Issuer, "https") + "/jwks")
		hits := idp.JWKSHits()
		_, err := auth.WaitOIDC(ctx, cfg, 30*time.Second, nil)
		if !errors.Is(err, auth.ErrOIDCDiscovery) || !strings.Contains(err.Error(), "not https") {
			t.Fatalf("an http jwks_uri for an https issuer: %v", err)
		}
		if idp.JWKSHits() != hits || idp.DiscoveryHits() != 2 {
			t.Fatalf("%d key set fetches, %d discovery fetches; want none, 2", idp.JWKSHits()-hits, idp.DiscoveryHits())
		}
	})
	t.Run("no usable keys", func(t *testing.T) {
		idp := oidctest.Start(t)
		_, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: idp.Issuer, Audience: audience})
		if !errors.Is(err, auth.ErrOIDCDiscovery) || !strings.Contains(err.Error(), "no usable") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		idp := oidctest.Start(t)
		url := idp.Issuer
		idp.Close()
		_, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: url, Audience: audience})
		if !errors.Is(err, auth.ErrOIDCDiscovery) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		for _, cfg := range []auth.OIDCConfig{{Issuer: "http://127.0.0.1:1"}, {Issuer: "issuer", Audience: "a"}, {Issuer: "ftp://x", Audience: "a"}} {
			if _, err := auth.WaitOIDC(ctx, cfg, time.Hour, nil); !errors.Is(err, auth.ErrOIDCDiscovery) {
				t.Errorf("%+v: %v", cfg, err)
			}
		}
	})
}

func TestCombined(t *testing.T) {
	s := newSetup(t)
	hs, err := auth.NewHS256([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(hs, s.v)
	if err != nil {
		t.Fatal(err)
	}
	issuer, ok := v.(auth.Issuer)
	if !ok {
		t.Fatal("the combined verifier must issue development tokens")
	}
	dev, _, err := issuer.Issue(auth.TokenRequest{Tenant: "dev-team"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(dev); err != nil || c.Tenant != "dev-team" || !slices.Equal(c.Scopes, auth.AllScopes) {
		t.Fatalf("development token: %+v %v", c, err)
	}
	if c, err := v.Verify(s.idp.Sign(t, "ec-1", s.claims())); err != nil || c.Tenant != "acme" {
		t.Fatalf("OIDC token: %+v %v", c, err)
	}
	// An HS256 token claiming the provider's issuer, signed with the
	// gateway's own secret: routed to OIDC, which refuses HS256.
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, s.claims()).SignedString([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	// An RS256 token from the provider claiming the development issuer:
	// routed to HS256, which refuses RS256.
	rsEventflow := s.idp.Sign(t, "rsa-1", s.claims(func(c jwt.MapClaims) { c["iss"] = "eventflow"; c["aud"] = "eventflow" }))
	other := s.idp.Sign(t, "rsa-1", s.claims(func(c jwt.MapClaims) { c["iss"] = "https://elsewhere.example" }))
	for name, tok := range map[string]string{"HS256 as the provider": forged, "RS256 as eventflow": rsEventflow, "other issuer": other, "garbage": "x.y.z"} {
		if c, err := v.Verify(tok); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %+v %v, want ErrUnauthenticated", name, c, err)
		}
	}
	if _, err := v.Verify(other); err == nil || !strings.Contains(err.Error(), "is not accepted") {
		t.Errorf("other issuer: %v should say the issuer is not accepted", err)
	}

	// OIDC alone: no development tokens, and HS256 tokens are refused.
	only, err := auth.NewVerifier(nil, s.v)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := only.(auth.Issuer); ok {
		t.Error("an OIDC-only verifier must not issue tokens")
	}
	if _, err := only.Verify(dev); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("development token with OIDC only: %v", err)
	}
	if _, err := auth.NewVerifier(nil, nil); err == nil {
		t.Error("no verifier at all must fail")
	}
}

// TestOIDCStaleKeysDoNotWaitForAFetch: once the key set is due for a
// refresh, one request fetches it; the others, whose kid is known, are
// verified with the cached key instead of waiting behind a slow provider.
func TestOIDCStaleKeysDoNotWaitForAFetch(t *testing.T) {
	s := newSetup(t, func(c *auth.OIDCConfig) { c.KeysMaxAge = 10 * time.Minute })
	s.clock.Advance(11 * time.Minute)
	tok := s.idp.Sign(t, "rsa-1", s.claims())
	arrived, release := s.idp.HoldKeySet()
	defer release()
	fetcher := make(chan error, 1)
	go func() {
		_, err := s.v.Verify(tok)
		fetcher <- err
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the stale key set was not fetched again")
	}
	known := s.idp.Sign(t, "ec-1", s.claims())
	other := make(chan error, 1)
	go func() {
		_, err := s.v.Verify(known)
		other <- err
	}()
	select {
	case err := <-other:
		if err != nil {
			t.Fatalf("a known key while the set is fetched: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request with a known key waited for the provider's key set")
	}
	release()
	if err := <-fetcher; err != nil {
		t.Fatalf("the request that fetched: %v", err)
	}
	if n := s.idp.JWKSHits(); n != 2 {
		t.Fatalf("%d key set fetches, want 2", n)
	}
}

// TestOIDCLeeway: exp and nbf both get 30 s of clock skew, no more (go-oidc
// alone allows none on exp and 5 minutes on nbf).
func TestOIDCLeeway(t *testing.T) {
	s := newSetup(t)
	now := s.clock.Now()
	for _, kid := range []string{"rsa-1", "ec-1"} {
		for name, tc := range map[string]struct {
			mod func(jwt.MapClaims)
			ok  bool
		}{
			"expired 20 s ago":       {func(c jwt.MapClaims) { c["exp"] = now.Add(-20 * time.Second).Unix() }, true},
			"expired 40 s ago":       {func(c jwt.MapClaims) { c["exp"] = now.Add(-40 * time.Second).Unix() }, false},
			"valid in 20 s":          {func(c jwt.MapClaims) { c["nbf"] = now.Add(20 * time.Second).Unix() }, true},
			"valid in 40 s":          {func(c jwt.MapClaims) { c["nbf"] = now.Add(40 * time.Second).Unix() }, false},
			"valid in 4 minutes":     {func(c jwt.MapClaims) { c["nbf"] = now.Add(4 * time.Minute).Unix() }, false},
			"no nbf":                 {func(c jwt.MapClaims) { delete(c, "nbf") }, true},
			"nbf not a number":       {func(c jwt.MapClaims) { c["nbf"] = "now" }, false},
			"exp not a number":       {func(c jwt.MapClaims) { c["exp"] = "later" }, false},
			"audience as one string": {func(c jwt.MapClaims) { c["aud"] = audience }, true},
		} {
			c, err := s.v.Verify(s.idp.Sign(t, kid, s.claims(tc.mod)))
			if tc.ok && err != nil {
				t.Errorf("%s, %s: %v", kid, name, err)
			}
			if !tc.ok && !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%s, %s: claims %+v, err %v; want ErrUnauthenticated", kid, name, c, err)
			}
		}
	}
}

// TestOIDCCanonicalEncoding: a token has one spelling. The same signature
// written with its last base64url character's unused bits set, which
// go-jose alone decodes to the same bytes, is refused, as are padding and
// line breaks.
func TestOIDCCanonicalEncoding(t *testing.T) {
	s := newSetup(t)
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, kid := range []string{"rsa-1", "ec-1"} {
		good := s.idp.Sign(t, kid, s.claims())
		if _, err := s.v.Verify(good); err != nil {
			t.Fatalf("%s: %v", kid, err)
		}
		last := strings.IndexByte(b64, good[len(good)-1])
		dot := strings.IndexByte(good, '.')
		for name, tok := range map[string]string{
			"unused bits of the signature set": good[:len(good)-1] + string(b64[last^1]),
			"padded signature":                 good + "==",
			"line break in the header":         good[:dot-1] + "\n" + good[dot-1:],
			"four parts":                       good + ".",
		} {
			if c, err := s.v.Verify(tok); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%s, %s: claims %+v, err %v; want ErrUnauthenticated", kid, name, c, err)
			}
		}
	}
}
