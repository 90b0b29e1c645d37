package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/webhook"
)

// errCallbackURL: the X-Callback-Url is malformed or points where
// callbacks may not go (400).
var errCallbackURL = errors.New("invalid X-Callback-Url")

// callbackURL checks an X-Callback-Url: absolute http or https, bounded,
// and to a destination callbacks may reach. A literal address the policy
// refuses, or a name resolving only to refused addresses, is answered 400
// now instead of accepted for a delivery that cannot happen; a name that
// does not resolve now is accepted (the invoker checks every address it
// dials, which is what stops DNS rebinding).
func (a *API) callbackURL(ctx context.Context, raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return "", fmt.Errorf("%w: %q must be an absolute http or https URL of at most 2048 characters", errCallbackURL, raw)
	}
	if err := a.cfg.CallbackDestinations.CheckHost(ctx, u.Hostname()); err != nil {
		return "", fmt.Errorf("%w %q: %w; callbacks go to public addresses unless the platform's callback allow-list permits others", errCallbackURL, raw, err)
	}
	return u.String(), nil
}

// callbackKey serves GET /v1/callback-key: the key the caller's tenant
// verifies callback signatures with.
func (a *API) callbackKey(c *gin.Context) {
	if len(a.cfg.CallbackSecret) == 0 {
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "callbacks are not configured on this gateway (EVENTFLOW_CALLBACK_SECRET)")
		return
	}
	key := events.CallbackKey(a.cfg.CallbackSecret, claimsOf(c).Tenant)
	c.PureJSON(http.StatusOK, gin.H{
		// The Standard Webhooks form of the key (pkg/webhook).
		"secret":    webhook.EncodeSecret(key),
		"key":       hex.EncodeToString(key),
		"algorithm": "HMAC-SHA256",
		// The deprecated signature over the body alone.
		"header": events.CallbackSignatureHeader,
		"format": "sha256=<hex HMAC-SHA256 of the request body, keyed with the hex-decoded key>",
	})
}
