package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/eventflow/eventflow/pkg/function"
)

// ErrOIDCDiscovery is wrapped by every failure to read the provider's
// discovery document or key set.
var ErrOIDCDiscovery = errors.New("oidc discovery")

// Defaults of OIDCConfig.
const (
	DefaultTenantClaim     = "tenant"
	DefaultScopesClaim     = "scope"
	DefaultRefetchInterval = 30 * time.Second
	DefaultKeysMaxAge      = time.Hour
	oidcLeeway             = 30 * time.Second
	maxDocumentBytes       = 1 << 20
	minRSABits             = 2048
)

// oidcAlgs are the only algorithms OIDC tokens may use: never "none", never
// HS* (an HMAC "signed" with the provider's public key must not verify).
var oidcAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// OIDCConfig configures an OIDC verifier.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; the discovery document must
	// name exactly this issuer, and so must every token's iss.
	Issuer string
	// Audience must be among every token's aud.
	Audience string
	// TenantClaim names the claim holding the EventFlow tenant (default
	// "tenant").
	TenantClaim string
	// ScopesClaim names the claim holding the scopes, a space-separated
	// string or an array of strings (default "scope"). Scopes EventFlow
	// does not know are ignored.
	ScopesClaim string
	// RefetchInterval is the least time between two fetches of the key set
	// (default 30 s): a token with an unknown kid triggers a fetch at most
	// this often, so a flood of made-up kids cannot hammer the provider.
	RefetchInterval time.Duration
	// KeysMaxAge is how long a key set is trusted before the next token
	// verification fetches it again (default 1 h), so keys the provider
	// withdrew stop being accepted.
	KeysMaxAge time.Duration
	// HTTPClient fetches discovery and keys (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type jwk struct {
	alg string
	key crypto.PublicKey
}

// OIDC verifies RS256 and ES256 tokens from an OpenID Connect provider
// against its published keys (JWKS).
type OIDC struct {
	cfg      OIDCConfig
	jwksURI  string
	verifier *oidc.IDTokenVerifier

	fetchMu sync.Mutex // one key-set fetch at a time

	mu        sync.Mutex
	keys      map[string]jwk
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt, successful or not
}

var (
	_ Verifier    = (*OIDC)(nil)
	_ oidc.KeySet = (*OIDC)(nil)
)

// NewOIDC reads the provider's discovery document and key set once; it
// fails (wrapping ErrOIDCDiscovery) when either cannot be read or the
// discovery document names another issuer.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	o := &OIDC{cfg: cfg}
	uri, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	o.jwksURI = uri
	if err := o.fetchKeys(ctx); err != nil {
		return nil, err
	}
	algs := make([]string, len(oidcAlgs))
	for i, a := range oidcAlgs {
		algs[i] = string(a)
	}
	o.verifier = oidc.NewVerifier(cfg.Issuer, o, &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: algs,
		// go-oidc allows no leeway on exp: its clock runs 30 s behind.
		Now: func() time.Time { return cfg.Now().Add(-oidcLeeway) },
	})
	return o, nil
}

// WaitOIDC is NewOIDC retried with backoff for up to wait, for gateways
// that start before their identity provider. A discovery document naming
// another issuer, or a bad configuration, fails at once.
func WaitOIDC(ctx context.Context, cfg OIDCConfig, wait time.Duration, onRetry func(err error, next time.Duration)) (*OIDC, error) {
	deadline := time.Now().Add(wait)
	backoff := 250 * time.Millisecond
	for {
		o, err := NewOIDC(ctx, cfg)
		var perm *permanentError
		if err == nil || errors.As(err, &perm) || ctx.Err() != nil {
			return o, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w (gave up after %s)", err, wait)
		}
		d := min(backoff, left)
		if onRetry != nil {
			onRetry(err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 4*time.Second)
	}
}

// permanentError marks a discovery failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (c *OIDCConfig) normalize() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &permanentError{fmt.Errorf("%w: issuer %q must be an http(s) URL", ErrOIDCDiscovery, c.Issuer)}
	}
	if c.Audience == "" {
		return &permanentError{fmt.Errorf("%w: an audience is required with issuer %s", ErrOIDCDiscovery, c.Issuer)}
	}
	if c.TenantClaim == "" {
		c.TenantClaim = DefaultTenantClaim
	}
	if c.ScopesClaim == "" {
		c.ScopesClaim = DefaultScopesClaim
	}
	if c.RefetchInterval <= 0 {
		c.RefetchInterval = DefaultRefetchInterval
	}
	if c.KeysMaxAge <= 0 {
		c.KeysMaxAge = DefaultKeysMaxAge
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Issuer is the issuer URL tokens must carry.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// getJSON fetches url into v; non-2xx answers and bodies over 1 MiB fail.
func (o *OIDC) getJSON(ctx context.Context, what, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &permanentError{fmt.Errorf("%w: %s %s: %w", ErrOIDCDiscovery, what, u, err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrOIDCDiscovery, what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s %s: HTTP %d", ErrOIDCDiscovery, what, u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrOIDCDiscovery, what, u, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("%w: %s %s is larger than %d bytes", ErrOIDCDiscovery, what, u, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrOIDCDiscovery, what, u, err)
	}
	return nil
}

func (o *OIDC) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(o.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := o.getJSON(ctx, "discovery document", u, &doc); err != nil {
		return "", err
	}
	if doc.Issuer != o.cfg.Issuer {
		return "", &permanentError{fmt.Errorf("%w: %s names issuer %q, want exactly %q", ErrOIDCDiscovery, u, doc.Issuer, o.cfg.Issuer)}
	}
	j, err := url.Parse(doc.JWKSURI)
	if err != nil || (j.Scheme != "https" && j.Scheme != "http") || j.Host == "" {
		return "", &permanentError{fmt.Errorf("%w: %s has no usable jwks_uri (%q)", ErrOIDCDiscovery, u, doc.JWKSURI)}
	}
	// The keys decide which tokens are genuine: an https issuer's must not
	// come over plain http, where anyone on the path could swap them.
	if iss, _ := url.Parse(o.cfg.Issuer); iss.Scheme == "https" && j.Scheme != "https" {
		return "", &permanentError{fmt.Errorf("%w: %s names jwks_uri %q, not https like the issuer", ErrOIDCDiscovery, u, doc.JWKSURI)}
	}
	return doc.JWKSURI, nil
}

// fetchKeys reads the key set and replaces the cache. A set with no usable
// key fails and leaves the cache as it was.
func (o *OIDC) fetchKeys(ctx context.Context) error {
	o.mu.Lock()
	o.triedAt = o.cfg.Now()
	o.mu.Unlock()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := o.getJSON(ctx, "key set", o.jwksURI, &set); err != nil {
		return err
	}
	keys := map[string]jwk{}
	var skipped []string
	for _, raw := range set.Keys {
		kid, k, err := parseJWK(raw)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		keys[kid] = k
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: key set %s has no usable RS256 or ES256 signing key %v", ErrOIDCDiscovery, o.jwksURI, skipped)
	}
	o.mu.Lock()
	o.keys, o.fetchedAt = keys, o.cfg.Now()
	o.mu.Unlock()
	return nil
}

// parseJWK reads one JSON Web Key (go-jose parses it). Keys without a kid,
// for encryption only, private or symmetric, for algorithms other than
// RS256 and ES256, RSA keys under 2048 bits and EC keys off P-256 are
// refused.
func parseJWK(raw json.RawMessage) (string, jwk, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return "", jwk{}, err
	}
	if k.KeyID == "" {
		return "", jwk{}, fmt.Errorf("a %T key has no kid", k.Key)
	}
	if k.Use != "" && k.Use != "sig" {
		return "", jwk{}, fmt.Errorf("key %q is for %q, not sig", k.KeyID, k.Use)
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
			return "", jwk{}, fmt.Errorf("key %q: algorithm %q not accepted", k.KeyID, k.Algorithm)
		}
		// An RSA modulus and exponent are odd: crypto/rsa refuses to
		// verify with any other, so such a key is no usable key.
		if pub.E < 3 || pub.E%2 == 0 || pub.N.Bit(0) == 0 {
			return "", jwk{}, fmt.Errorf("key %q: bad RSA modulus or exponent", k.KeyID)
		}
		if pub.N.BitLen() < minRSABits {
			return "", jwk{}, fmt.Errorf("key %q: RSA key of %d bits, want at least %d", k.KeyID, pub.N.BitLen(), minRSABits)
		}
		return k.KeyID, jwk{alg: string(jose.RS256), key: pub}, nil
	case *ecdsa.PublicKey:
		if k.Algorithm != "" && k.Algorithm != string(jose.ES256) {
			return "", jwk{}, fmt.Errorf("key %q: algorithm %q not accepted", k.KeyID, k.Algorithm)
		}
		if pub.Curve != elliptic.P256() {
			return "", jwk{}, fmt.Errorf("key %q: curve %s not accepted", k.KeyID, pub.Curve.Params().Name)
		}
		return k.KeyID, jwk{alg: string(jose.ES256), key: pub}, nil
	default:
		return "", jwk{}, fmt.Errorf("key %q: a %T is not accepted", k.KeyID, k.Key)
	}
}

// key returns the key for kid, fetching the key set again when kid is
// unknown or the set is older than KeysMaxAge, but never more often than
// RefetchInterval. While one request fetches an old set, others with a
// known kid use the cached key.
func (o *OIDC) key(kid string) (jwk, bool) {
	o.mu.Lock()
	k, ok := o.keys[kid]
	stale := o.cfg.Now().Sub(o.fetchedAt) > o.cfg.KeysMaxAge
	o.mu.Unlock()
	if ok && !stale {
		return k, true
	}
	if ok {
		// Only the set's age calls for this fetch, and another request is
		// already at it: use the key rather than wait behind that fetch, or
		// a slow provider would hold up every request once an hour.
		if !o.fetchMu.TryLock() {
			return k, true
		}
	} else {
		o.fetchMu.Lock()
	}
	defer o.fetchMu.Unlock()
	o.mu.Lock()
	k, ok = o.keys[kid]
	stale = o.cfg.Now().Sub(o.fetchedAt) > o.cfg.KeysMaxAge
	mayFetch := o.cfg.Now().Sub(o.triedAt) >= o.cfg.RefetchInterval
	o.mu.Unlock()
	if (ok && !stale) || !mayFetch {
		return k, ok
	}
	// The fetch serves every waiting request, so no one request's
	// cancellation may cut it short.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = o.fetchKeys(ctx) // on failure the old keys stay
	o.mu.Lock()
	defer o.mu.Unlock()
	k, ok = o.keys[kid]
	return k, ok
}

// VerifySignature is the oidc.KeySet go-oidc's verifier checks signatures
// with: the token's kid chooses the key (a token without one is refused),
// whose algorithm must be the token's.
func (o *OIDC) VerifySignature(_ context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, oidcAlgs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token has not exactly one signature")
	}
	h := jws.Signatures[0].Header
	if h.KeyID == "" {
		return nil, errors.New("token has no kid")
	}
	k, ok := o.key(h.KeyID)
	if !ok {
		return nil, fmt.Errorf("no key %q in the issuer's key set", h.KeyID)
	}
	if k.alg != h.Algorithm {
		return nil, fmt.Errorf("key %q is for %s, the token is %s", h.KeyID, k.alg, h.Algorithm)
	}
	return jws.Verify(k.key)
}

// compactParts checks that token is three parts of canonical base64url (no
// padding, unused bits zero, no line breaks), as HS256.Verify does: one
// token has one spelling. go-jose alone would also accept a signature whose
// last character was changed in its unused bits.
func compactParts(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("token is not three dot-separated parts")
	}
	for _, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return errors.New("token part is not canonical base64url")
		}
	}
	return nil
}

// Verify checks an OIDC token: RS256 or ES256 only, signed by a key of the
// provider's key set chosen by kid, iss exactly the issuer, aud including
// the audience, exp required, nbf honoured (30 s leeway), and a valid
// tenant in the tenant claim. Scopes EventFlow does not know are dropped.
//
// go-oidc checks the signature (through VerifySignature), the algorithm,
// iss, aud and exp; this adds the canonical encoding, nbf with the same
// 30 s leeway as exp (go-oidc allows 5 minutes), tenant and scopes.
func (o *OIDC) Verify(token string) (*Claims, error) {
	if err := compactParts(token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if alg := headerAlg(token); !slices.Contains(oidcAlgs, jose.SignatureAlgorithm(alg)) {
		return nil, fmt.Errorf("%w: signing method %q is not accepted (RS256 or ES256)", ErrUnauthenticated, alg)
	}
	idt, err := o.verifier.Verify(context.Background(), token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	mc := jwt.MapClaims{}
	if err := idt.Claims(&mc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	nbf, err := mc.GetNotBefore()
	if err != nil {
		return nil, fmt.Errorf("%w: nbf: %w", ErrUnauthenticated, err)
	}
	if now := o.cfg.Now(); nbf != nil && now.Add(oidcLeeway).Before(nbf.Time) {
		return nil, fmt.Errorf("%w: token is not valid before %s", ErrUnauthenticated, nbf.Time.UTC().Format(time.RFC3339))
	}
	tenant, _ := mc[o.cfg.TenantClaim].(string)
	if err := function.ValidateTenant(tenant); err != nil {
		return nil, fmt.Errorf("%w: token has no valid tenant in claim %q: %w", ErrUnauthenticated, o.cfg.TenantClaim, err)
	}
	c := &Claims{Tenant: tenant, Scopes: mapScopes(mc[o.cfg.ScopesClaim])}
	c.Issuer, _ = mc.GetIssuer()
	c.Subject, _ = mc.GetSubject()
	c.Audience, _ = mc.GetAudience()
	c.ExpiresAt, _ = mc.GetExpirationTime()
	c.NotBefore = nbf
	c.IssuedAt, _ = mc.GetIssuedAt()
	c.ID, _ = mc["jti"].(string)
	return c, nil
}

// headerAlg is the alg of a token whose parts compactParts accepted, or
// "" when its header is no JSON object.
func headerAlg(token string) string {
	b, _ := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')])
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Alg
}

// mapScopes keeps EventFlow's scopes from a space-separated string or an
// array of strings, in AllScopes order, each once.
func mapScopes(v any) []string {
	var given []string
	switch s := v.(type) {
	case string:
		given = strings.Fields(s)
	case []any:
		for _, e := range s {
			if str, ok := e.(string); ok {
				given = append(given, str)
			}
		}
	}
	scopes := []string{}
	for _, s := range AllScopes {
		if slices.Contains(given, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes
}
