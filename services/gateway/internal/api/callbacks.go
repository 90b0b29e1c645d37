package api

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/events"
)

// callbackURL checks an X-Callback-Url: absolute http or https, bounded.
func callbackURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return "", fmt.Errorf("X-Callback-Url %q must be an absolute http or https URL of at most 2048 characters", raw)
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
		"key":       hex.EncodeToString(key),
		"algorithm": "HMAC-SHA256",
		"header":    events.CallbackSignatureHeader,
		"format":    "sha256=<hex HMAC-SHA256 of the request body, keyed with the hex-decoded key>",
	})
}
