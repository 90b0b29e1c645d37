package auth

import (
	"slices"
	"sync"
	"time"
)

// Cache defaults: a client sends the same token with every request, so
// remembering the last few thousand verified tokens for a minute spares
// nearly every request the signature check and claims decoding, which were
// a quarter of the gateway's time per async accept.
const (
	DefaultCacheSize = 4096
	DefaultCacheTTL  = time.Minute
	// maxCachedToken bounds the length of a token kept (and so the
	// cache's memory, with DefaultCacheSize, to about 8 MiB); longer ones
	// are verified every time.
	maxCachedToken = 2048
)

// Cache is a Verifier that remembers the tokens its inner Verifier
// accepted, each until it expires or for ttl, whichever is first; a
// refused token is never remembered, so a flood of bad tokens costs a full
// check each. Keys are whole token strings: only the same bytes hit. The
// price: a token signed with an OIDC key the provider has since withdrawn
// is still accepted for up to ttl after it was last verified.
type Cache struct {
	v    Verifier
	ttl  time.Duration
	max  int
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]cached
}

type cached struct {
	claims Claims
	until  time.Time
}

// NewCache wraps v; size and ttl of 0 take the defaults.
func NewCache(v Verifier, size int, ttl time.Duration) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &Cache{v: v, ttl: ttl, max: size, now: time.Now, seen: make(map[string]cached, size)}
}

// Verify answers from the cache, or verifies and remembers.
func (c *Cache) Verify(token string) (*Claims, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.seen[token]
	if ok && now.Before(e.until) {
		c.mu.Unlock()
		return e.copy(), nil
	}
	if ok {
		delete(c.seen, token)
	}
	c.mu.Unlock()
	cl, err := c.v.Verify(token)
	if err != nil || len(token) > maxCachedToken {
		return cl, err
	}
	until := now.Add(c.ttl)
	if cl.ExpiresAt == nil {
		return cl, nil // never here: every verifier requires exp
	}
	if exp := cl.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	c.mu.Lock()
	if len(c.seen) >= c.max {
		for k := range c.seen { // Go's map order is random: drop any one
			delete(c.seen, k)
			break
		}
	}
	c.seen[token] = cached{claims: *cached{claims: *cl}.copy(), until: until}
	c.mu.Unlock()
	return cl, nil
}

// copy is the claims for one caller, sharing nothing with the cache: no
// caller can change what the next one gets.
func (e cached) copy() *Claims {
	cl := e.claims
	cl.Scopes = slices.Clone(cl.Scopes)
	cl.Audience = slices.Clone(cl.Audience)
	if cl.ExpiresAt != nil {
		exp := *cl.ExpiresAt
		cl.ExpiresAt = &exp
	}
	if cl.IssuedAt != nil {
		iat := *cl.IssuedAt
		cl.IssuedAt = &iat
	}
	if cl.NotBefore != nil {
		nbf := *cl.NotBefore
		cl.NotBefore = &nbf
	}
	return &cl
}
