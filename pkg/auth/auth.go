// Package auth issues and verifies EventFlow's JWT bearer tokens: HS256
// tokens signed with a shared secret (HS256), tokens from an OpenID Connect
// provider (OIDC), or either (NewVerifier). The tenant comes from the token
// only; scopes say what the bearer may do.
package auth

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventflow/eventflow/pkg/function"
)

// Scopes.
const (
	ScopeRead   = "functions:read"
	ScopeWrite  = "functions:write"
	ScopeInvoke = "functions:invoke"
	// Secrets have scopes of their own: reading a function never lists
	// them, and writing one never sets them.
	ScopeSecretsRead  = "secrets:read"
	ScopeSecretsWrite = "secrets:write"
)

// AllScopes is what a token gets when none are asked for.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeInvoke, ScopeSecretsRead, ScopeSecretsWrite}

const (
	issuer     = "eventflow"
	audience   = "eventflow"
	DefaultTTL = 24 * time.Hour
	MaxTTL     = 30 * 24 * time.Hour
)

// Sentinel errors for the API to map to status codes.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrInvalidRequest  = errors.New("invalid token request")
)

// Verifier checks a bearer token and returns its claims. Every refusal
// wraps ErrUnauthenticated.
type Verifier interface {
	Verify(token string) (*Claims, error)
}

// Issuer mints development tokens (POST /auth/token). Only verifiers that
// hold the HS256 secret are issuers.
type Issuer interface {
	Issue(req TokenRequest) (token string, expiresAt time.Time, err error)
}

var (
	_ Verifier = (*HS256)(nil)
	_ Issuer   = (*HS256)(nil)
)

// Claims are the token's claims.
type Claims struct {
	Tenant string   `json:"tenant"`
	Scopes []string `json:"scopes"`
	jwt.RegisteredClaims
}

// Has reports whether the claims grant scope.
func (c *Claims) Has(scope string) bool { return slices.Contains(c.Scopes, scope) }

// HS256 signs and verifies tokens with a shared secret.
type HS256 struct {
	secret []byte
	now    func() time.Time
}

// NewHS256 returns an HS256 signer; the secret must be at least 32 bytes.
func NewHS256(secret []byte) (*HS256, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("jwt secret must be at least 32 bytes, got %d", len(secret))
	}
	return &HS256{secret: secret, now: time.Now}, nil
}

// TokenRequest is the body of POST /auth/token.
type TokenRequest struct {
	Subject string   `json:"subject"`
	Tenant  string   `json:"tenant"`
	Scopes  []string `json:"scopes"`
	TTL     string   `json:"ttl"` // Go duration; default 24h
}

// Issue signs a token for req.
func (h *HS256) Issue(req TokenRequest) (token string, expiresAt time.Time, err error) {
	if err := function.ValidateTenant(req.Tenant); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if !utf8.ValidString(req.Subject) {
		// JSON would carry it as U+FFFD: the token would name another subject.
		return "", time.Time{}, fmt.Errorf("%w: subject %q is not valid UTF-8", ErrInvalidRequest, req.Subject)
	}
	if req.Subject == "" {
		req.Subject = req.Tenant
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = AllScopes
	}
	for _, s := range scopes {
		if !slices.Contains(AllScopes, s) {
			return "", time.Time{}, fmt.Errorf("%w: unknown scope %q (known: %v)", ErrInvalidRequest, s, AllScopes)
		}
	}
	ttl := DefaultTTL
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 || ttl > MaxTTL {
			return "", time.Time{}, fmt.Errorf("%w: ttl %q must be a duration like \"1h\", at most %s", ErrInvalidRequest, req.TTL, MaxTTL)
		}
	}
	now := h.now()
	exp := now.Add(ttl)
	claims := Claims{
		Tenant: req.Tenant,
		Scopes: scopes,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			Subject:   req.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(h.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp.Truncate(time.Second), nil
}

// Verify parses and checks a token: algorithm pinned to HS256 (so "none"
// and key-confusion tokens fail), expiry required, issuer and audience
// checked, and a valid tenant present.
func (h *HS256) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return h.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(h.now),
		// One token has one spelling: base64url with unused bits set
		// (another string for the same signature) is refused.
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if function.ValidateTenant(c.Tenant) != nil {
		return nil, fmt.Errorf("%w: token has no valid tenant", ErrUnauthenticated)
	}
	return &c, nil
}
