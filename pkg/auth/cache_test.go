package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// countingVerifier is a pure-logic stand-in for the inner verifier: the
// real HS256 verifier is tested in auth_test.go and behind the cache below.
type countingVerifier struct {
	calls int
	inner Verifier
}

func (c *countingVerifier) Verify(token string) (*Claims, error) {
	c.calls++
	return c.inner.Verify(token)
}

func TestCache(t *testing.T) {
	now := time.Now()
	h, err := NewHS256([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return now }
	inner := &countingVerifier{inner: h}
	c := NewCache(inner, 2, time.Minute)
	c.now = func() time.Time { return now }
	tok, _, err := h.Issue(TokenRequest{Tenant: "acme", TTL: "90s"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		cl, err := c.Verify(tok)
		if err != nil || cl.Tenant != "acme" || cl.Scopes[0] != ScopeRead {
			t.Fatalf("verify: %v %+v", err, cl)
		}
		cl.Tenant = "changed by a caller" // must not reach the next caller
		cl.Scopes[0] = "changed too"
	}
	if inner.calls != 1 {
		t.Fatalf("inner verifier called %d times for one token, want 1", inner.calls)
	}

	// After the ttl it is checked again.
	c.now = func() time.Time { return now.Add(61 * time.Second) }
	h.now = c.now
	if _, err := c.Verify(tok); err != nil || inner.calls != 2 {
		t.Fatalf("after ttl: %v, %d calls", err, inner.calls)
	}
	// Past its expiry (90 s) it is never answered from the cache, and the
	// inner verifier refuses it once its leeway is over.
	c.now = func() time.Time { return now.Add(2*time.Minute + 5*time.Second) }
	h.now = c.now
	if _, err := c.Verify(tok); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}

	// A refused token is not remembered: each try is checked again.
	calls := inner.calls
	for range 3 {
		if _, err := c.Verify(tok + "x"); err == nil {
			t.Fatal("tampered token accepted")
		}
	}
	if inner.calls != calls+3 {
		t.Fatalf("refused token cached: %d calls", inner.calls-calls)
	}

	// Bounded: never more entries than its size.
	c.now, h.now = func() time.Time { return now }, func() time.Time { return now }
	for i := range 5 {
		tok, _, _ := h.Issue(TokenRequest{Subject: fmt.Sprint("user", i), Tenant: "acme", TTL: "1h"})
		if _, err := c.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if len(c.seen) > 2 {
			t.Fatalf("cache holds %d entries, bound 2", len(c.seen))
		}
	}
}
