package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte(strings.Repeat("s", 32))

func TestIssueAndVerify(t *testing.T) {
	h, err := NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := h.Issue(TokenRequest{Tenant: "acme", TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiry in %s, want about 1h", d)
	}
	c, err := h.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenant != "acme" || c.Subject != "acme" || !slices.Equal(c.Scopes, AllScopes) || !c.Has(ScopeSecretsWrite) {
		t.Fatalf("claims %+v", c)
	}
}

func TestIssueRefusesBadRequests(t *testing.T) {
	h, _ := NewHS256(secret)
	for _, req := range []TokenRequest{
		{Tenant: ""}, {Tenant: "Bad_Tenant"}, {Tenant: "a", Scopes: []string{"admin"}}, {Tenant: "a", TTL: "forever"}, {Tenant: "a", TTL: "9999h"},
	} {
		if _, _, err := h.Issue(req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v: %v, want ErrInvalidRequest", req, err)
		}
	}
	if _, err := NewHS256([]byte("short")); err == nil {
		t.Error("a short secret must be refused")
	}
}

func TestVerifyRefuses(t *testing.T) {
	h, _ := NewHS256(secret)
	claims := func(mod func(*Claims)) Claims {
		c := Claims{Tenant: "acme", Scopes: AllScopes, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Audience: jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		}}
		mod(&c)
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := map[string]string{
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(func(*Claims) {})),
		"wrong secret":   sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), claims(func(*Claims) {})),
		"HS512":          sign(jwt.SigningMethodHS512, secret, claims(func(*Claims) {})),
		"expired":        sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })),
		"no expiry":      sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.ExpiresAt = nil })),
		"not yet valid":  sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })),
		"wrong issuer":   sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.Issuer = "someone" })),
		"wrong audience": sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })),
		"no tenant":      sign(jwt.SigningMethodHS256, secret, claims(func(c *Claims) { c.Tenant = "" })),
		"garbage":        "not.a.token",
	}
	for name, tok := range cases {
		if _, err := h.Verify(tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}
