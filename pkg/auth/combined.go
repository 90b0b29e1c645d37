package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Combined accepts HS256 tokens (issuer "eventflow") and OIDC tokens
// (issuer the provider's), choosing the verifier by the token's iss. Each
// verifier still pins its own algorithms, so an HS256 token claiming the
// provider's issuer is refused, as is an RS256 token claiming "eventflow".
type Combined struct {
	hs   *HS256
	oidc *OIDC
}

var (
	_ Verifier = (*Combined)(nil)
	_ Issuer   = (*Combined)(nil)
)

// NewVerifier returns the verifier for what is configured: hs alone, oidc
// alone, or both combined. At least one must be non-nil. The result is an
// Issuer exactly when hs is non-nil.
func NewVerifier(hs *HS256, oidc *OIDC) (Verifier, error) {
	switch {
	case hs != nil && oidc != nil:
		if oidc.Issuer() == issuer {
			return nil, fmt.Errorf("the OIDC issuer must not be %q, the development tokens' issuer", issuer)
		}
		return &Combined{hs: hs, oidc: oidc}, nil
	case hs != nil:
		return hs, nil
	case oidc != nil:
		return oidc, nil
	}
	return nil, errors.New("no token verifier configured: set a JWT secret, an OIDC issuer, or both")
}

// Verify routes the token by its (not yet verified) iss claim.
func (c *Combined) Verify(token string) (*Claims, error) {
	var rc jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	switch rc.Issuer {
	case issuer:
		return c.hs.Verify(token)
	case c.oidc.Issuer():
		return c.oidc.Verify(token)
	}
	return nil, fmt.Errorf("%w: token issuer %q is not accepted (want %q or %q)", ErrUnauthenticated, rc.Issuer, c.oidc.Issuer(), issuer)
}

// Issue mints an HS256 development token.
func (c *Combined) Issue(req TokenRequest) (string, time.Time, error) { return c.hs.Issue(req) }
