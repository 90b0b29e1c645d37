package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

// fuzzNow is the fuzz targets' clock, so a token's verdict does not depend
// on when the fuzzer runs.
var fuzzNow = time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)

// signHS256 makes a token of the header and claims JSON as they are,
// signed with the secret: what only the secret's holder can make.
func signHS256(header, claims []byte) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// FuzzHS256Verify: Verify never panics on any token string, refuses with
// ErrUnauthenticated, and what it accepts, also among tokens of any claims
// signed with the secret, has a valid tenant, EventFlow's issuer and
// audience, and an expiry not past.
func FuzzHS256Verify(f *testing.F) {
	h, _ := NewHS256(secret)
	h.now = func() time.Time { return fuzzNow }
	good, _, _ := h.Issue(TokenRequest{Tenant: "acme", Scopes: []string{ScopeRead}})
	exp := fuzzNow.Add(time.Hour).Unix()
	// The same signature written another way: the last character of a
	// 32-byte signature carries 2 unused bits.
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(b64, good[len(good)-1])
	malleable := good[:len(good)-1] + string(b64[last^1])
	f.Add(malleable, []byte(`{}`))
	for _, s := range []struct{ token, claims string }{
		{good, `{"tenant":"acme","iss":"eventflow","aud":"eventflow","exp":` + jsonInt(exp) + `}`},
		{"", `{"tenant":"acme","iss":"eventflow","aud":["x","eventflow"],"exp":` + jsonInt(exp) + `,"scopes":["functions:read","admin"]}`},
		{"not.a.token", `{"tenant":"Acme","iss":"eventflow","aud":"eventflow","exp":` + jsonInt(exp) + `}`},
		{"eyJhbGciOiJub25lIn0.e30.", `{"tenant":"acme","iss":"eventflow","aud":"eventflow"}`},
		{good + "x", `{"tenant":"acme","iss":"eventflow","aud":"eventflow","exp":1}`},
		{strings.ToUpper(good), `{"tenant":"acme","iss":"eventflow","aud":"eventflow","exp":1e300}`},
		{"a.b.c.d", `{"tenant":"acme","iss":"eventflow","aud":"eventflow","exp":` + jsonInt(exp) + `,"nbf":1e300}`},
		{"..", `{"tenant":["acme"],"exp":"soon"}`},
		{"\x00.\xff.", `null`},
	} {
		f.Add(s.token, []byte(s.claims))
	}
	f.Fuzz(func(t *testing.T, token string, claims []byte) {
		h, _ := NewHS256(secret)
		h.now = func() time.Time { return fuzzNow }
		for _, tok := range []string{token, signHS256([]byte(`{"alg":"HS256","typ":"JWT"}`), claims)} {
			c, err := h.Verify(tok)
			if err != nil {
				if c != nil || !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Verify(%q): %+v, %v", tok, c, err)
				}
				continue
			}
			// One token, one spelling: every part is canonical base64url, so
			// no other string passes for an accepted token.
			for _, part := range strings.Split(tok, ".") {
				if b, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil || base64.RawURLEncoding.EncodeToString(b) != part {
					t.Fatalf("Verify(%q) accepted a part not in canonical base64url: %q", tok, part)
				}
			}
			if function.ValidateTenant(c.Tenant) != nil {
				t.Fatalf("Verify(%q) accepted tenant %q", tok, c.Tenant)
			}
			if c.Issuer != issuer || !slices.Contains(c.Audience, audience) {
				t.Fatalf("Verify(%q) accepted issuer %q, audience %v", tok, c.Issuer, c.Audience)
			}
			if c.ExpiresAt == nil || c.ExpiresAt.Before(fuzzNow.Add(-time.Minute)) {
				t.Fatalf("Verify(%q) accepted expiry %v", tok, c.ExpiresAt)
			}
			if c.NotBefore != nil && c.NotBefore.After(fuzzNow.Add(time.Minute)) {
				t.Fatalf("Verify(%q) accepted not-before %v", tok, c.NotBefore)
			}
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// FuzzIssue: a token request is refused with ErrInvalidRequest, or its
// token verifies to exactly what was asked, expiring within MaxTTL.
func FuzzIssue(f *testing.F) {
	for _, s := range []struct{ tenant, subject, scopes, ttl string }{
		{"acme", "", "", ""}, {"acme", "ci", "functions:read functions:invoke", "1h"}, {"Acme", "", "", ""},
		{"a", "\x00", "admin", "720h"}, {"a", "", "", "720h1ns"}, {"a", "", "", "-1s"}, {"a", "", "", "9223372036854775807ns"},
		{strings.Repeat("a", 41), "", "", ""}, {"a-", "", "", ""}, {"a", "s", "functions:read functions:read", "1ns"},
	} {
		f.Add(s.tenant, s.subject, s.scopes, s.ttl)
	}
	f.Fuzz(func(t *testing.T, tenant, subject, scopes, ttl string) {
		h, _ := NewHS256(secret)
		h.now = func() time.Time { return fuzzNow }
		req := TokenRequest{Tenant: tenant, Subject: subject, Scopes: strings.Fields(scopes), TTL: ttl}
		tok, exp, err := h.Issue(req)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Issue(%+v): %v, want ErrInvalidRequest", req, err)
			}
			return
		}
		if exp.Before(fuzzNow.Add(-time.Second)) || exp.After(fuzzNow.Add(MaxTTL)) {
			t.Fatalf("Issue(%+v): expires %v", req, exp)
		}
		c, err := h.Verify(tok)
		if err != nil {
			// A token of under a second may expire in the second it was
			// made (NumericDate has seconds), within the leeway: never.
			t.Fatalf("Issue(%+v) made a token that does not verify: %v", req, err)
		}
		want := req.Scopes
		if len(want) == 0 {
			want = AllScopes
		}
		wantSubject := subject
		if wantSubject == "" {
			wantSubject = tenant
		}
		if c.Tenant != tenant || c.Subject != wantSubject || !slices.Equal(c.Scopes, want) {
			t.Fatalf("Issue(%+v) verified as %+v", req, c)
		}
	})
}

// FuzzParseJWK: the JSON Web Key parser never panics, and a key it accepts
// is one a signature can be checked with: the verifier answers "does not
// verify", not "this is no key".
func FuzzParseJWK(f *testing.F) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding.EncodeToString
	ecPub, _ := ek.PublicKey.Bytes()
	good := []map[string]string{
		{"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
		{"kty": "RSA", "kid": "even", "n": b64(new(big.Int).Lsh(big.NewInt(1), 2048).Bytes()), "e": "AQAB"},
		{"kty": "RSA", "kid": "even-e", "n": b64(rk.N.Bytes()), "e": "BA"},
		{"kty": "EC", "kid": "off", "crv": "P-256", "x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))},
	}
	for _, k := range good {
		b, _ := json.Marshal(k)
		f.Add(b)
	}
	for _, s := range []string{`{}`, `null`, `[]`, `{"kty":"oct","kid":"k","k":"c2VjcmV0"}`, `{"kty":"RSA","kid":"k","n":"=","e":"AQAB"}`} {
		f.Add([]byte(s))
	}
	digest := sha256.Sum256([]byte("payload"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		kid, k, err := parseJWK(raw)
		if err != nil {
			return
		}
		if kid == "" {
			t.Fatalf("%s: accepted without a kid", raw)
		}
		switch pub := k.key.(type) {
		case *rsa.PublicKey:
			if k.alg != "RS256" || pub.N.BitLen() < minRSABits {
				t.Fatalf("%s: accepted as %s, %d bits", raw, k.alg, pub.N.BitLen())
			}
			sig := make([]byte, (pub.N.BitLen()+7)/8)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); !errors.Is(err, rsa.ErrVerification) {
				t.Fatalf("%s: accepted a key that cannot verify: %v", raw, err)
			}
		case *ecdsa.PublicKey:
			if k.alg != "ES256" || pub.Curve != elliptic.P256() {
				t.Fatalf("%s: accepted as %s on %v", raw, k.alg, pub.Curve)
			}
			_ = ecdsa.VerifyASN1(pub, digest[:], []byte{0x30, 0})
		default:
			t.Fatalf("%s: accepted a %T", raw, k.key)
		}
	})
}
