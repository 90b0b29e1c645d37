package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
)

// MaxSecretBytes bounds a secret's value, as the gateway does.
const MaxSecretBytes = 64 << 10

// Secret is what the API shows of a tenant's secret: never its value.
type Secret struct {
	Name string `json:"name"`
	// Version changes whenever the value does.
	Version uint64 `json:"version"`
	// Size is the value's length in bytes.
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// UsedBy names the functions whose spec.secrets name it.
	UsedBy []string `json:"usedBy"`
}

// Revision is one stored revision of a function's spec; a function's
// generation is its revision number.
type Revision struct {
	Revision int64         `json:"revision"`
	Spec     function.Spec `json:"spec"`
	// Digest is "sha256:<hex>" of the spec.
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// Cause is what made the revision (the Cause* constants).
	Cause   string `json:"cause"`
	Message string `json:"message"`
}

// Causes of a revision.
const (
	CauseCreated       = "created"
	CauseUpdated       = "updated"
	CauseRollback      = "rollback"
	CauseSecretRotated = "secret-rotated"
)

// SetSecret creates the tenant's secret name or replaces its value (PUT
// /v1/secrets/{name}); created tells which. Replacing a value rolls every
// function that uses it (the answer's UsedBy). The value never comes back
// from any call. ErrUnavailable: the installation has no secrets key.
func (c *Client) SetSecret(ctx context.Context, name, value string) (s Secret, created bool, err error) {
	resp, err := c.send(ctx, request{method: http.MethodPut, path: "/v1/secrets/" + pathEscape(name),
		json: map[string]string{"value": value}})
	if err != nil {
		return Secret{}, false, err
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, http.MethodPut, "/v1/secrets/"+pathEscape(name), &s); err != nil {
		return Secret{}, false, err
	}
	return s, resp.StatusCode == http.StatusCreated, nil
}

// ListSecrets returns the tenant's secrets (without values).
func (c *Client) ListSecrets(ctx context.Context) ([]Secret, error) {
	var page struct {
		Items []Secret `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/secrets"}, &page)
	return page.Items, err
}

// GetSecret returns one secret's metadata (ErrNotFound when there is none).
func (c *Client) GetSecret(ctx context.Context, name string) (Secret, error) {
	var s Secret
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/secrets/" + pathEscape(name)}, &s)
	return s, err
}

// DeleteSecret deletes a secret; ErrConflict while functions use it (the
// message names them).
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/secrets/" + pathEscape(name)}, nil)
}

// Revisions returns a function's revisions, newest first.
func (c *Client) Revisions(ctx context.Context, name string) ([]Revision, error) {
	var page struct {
		Items []Revision `json:"items"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/functions/" + pathEscape(name) + "/revisions"}, &page)
	return page.Items, err
}

// Revision returns revision n of a function (ErrNotFound when there is
// none).
func (c *Client) Revision(ctx context.Context, name string, n int64) (Revision, error) {
	var r Revision
	err := c.do(ctx, request{method: http.MethodGet,
		path: "/v1/functions/" + pathEscape(name) + "/revisions/" + strconv.FormatInt(n, 10)}, &r)
	return r, err
}

// Rollback makes revision n's spec the function's again, as a new
// revision (POST /v1/functions/{name}:rollback); n 0 rolls back to the
// revision before the current one. changed is false when revision n's spec
// was current already (nothing was written). ErrNotFound: no such
// revision; ErrConflict: no earlier revision to roll back to.
func (c *Client) Rollback(ctx context.Context, name string, n int64) (f function.Function, changed bool, err error) {
	r := request{method: http.MethodPost, path: "/v1/functions/" + pathEscape(name) + ":rollback"}
	if n > 0 {
		r.json = map[string]int64{"revision": n}
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return function.Function{}, false, err
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, r.method, r.path, &f); err != nil {
		return function.Function{}, false, err
	}
	return f, resp.StatusCode == http.StatusAccepted, nil
}
