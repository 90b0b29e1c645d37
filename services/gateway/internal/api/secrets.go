package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// Secrets (docs/SECRETS.md): a value goes in with PUT and never comes out
// of the API again; it is sealed to the deployer's key before it is
// stored, so this gateway could not read it back either.

// SecretView is what the API answers about a secret.
type SecretView struct {
	secrets.Meta
	// UsedBy are the tenant's functions that name the secret.
	UsedBy []string `json:"usedBy"`
}

// putSecretRequest is PUT /v1/secrets/{name}'s body.
type putSecretRequest struct {
	Value *string `json:"value"`
}

func (a *API) putSecret(c *gin.Context) {
	if a.Secrets == nil {
		a.fail(c, secrets.ErrNotConfigured)
		return
	}
	name := c.Param("name")
	if err := function.ValidateSecretName(name); err != nil {
		a.fail(c, err)
		return
	}
	var req putSecretRequest
	if err := readJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	if req.Value == nil {
		a.fail(c, &function.FieldError{Field: "value", Reason: "is required"})
		return
	}
	tenant := claimsOf(c).Tenant
	if len(*req.Value) <= secrets.MaxValueBytes { // Put words the larger ones
		if err := a.fitsUsers(c, tenant, name, len(*req.Value)); err != nil {
			a.fail(c, err)
			return
		}
	}
	meta, created, err := a.Secrets.Put(c, tenant, name, []byte(*req.Value))
	if err != nil {
		a.fail(c, err)
		return
	}
	// The value is stored: from here on the answer is a success.
	users, err := a.secretUsers(c, tenant, name)
	if err != nil {
		a.Log.WarnContext(c, "secret stored, its functions not listed (they get the value at their next reconcile)", "tenant", tenant, "secret", name, "err", err)
		users = []string{}
	}
	if !created {
		// A new value: every function reading it gets a new revision,
		// which rolls its instances onto the value. The value is stored
		// whatever happens here: a function not rolled now (deleted
		// meanwhile, or a failed write) still gets it at its next
		// reconcile, which reads its secrets again.
		for _, fn := range users {
			rec, err := a.Store.Roll(c, tenant, fn, function.Change{Cause: function.CauseSecretRotated,
				Message: fmt.Sprintf("secret %q rotated (version %d)", name, meta.Version), By: author(c)})
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					a.Log.WarnContext(c, "function not rolled onto a rotated secret; its next reconcile will", "tenant", tenant, "function", fn, "secret", name, "err", err)
				}
				continue
			}
			a.sendCommand(c, events.Command{Tenant: tenant, Function: fn, Generation: rec.Generation, Action: events.ActionApply})
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", "/v1/secrets/"+name)
	}
	c.PureJSON(status, SecretView{Meta: meta, UsedBy: users})
}

func (a *API) listSecrets(c *gin.Context) {
	if a.Secrets == nil {
		c.PureJSON(http.StatusOK, gin.H{"items": []SecretView{}})
		return
	}
	tenant := claimsOf(c).Tenant
	metas, err := a.Secrets.List(c, tenant)
	if err != nil {
		a.fail(c, err)
		return
	}
	usedBy, err := a.secretsUsedBy(c, tenant)
	if err != nil {
		a.fail(c, err)
		return
	}
	items := make([]SecretView, len(metas))
	for i, m := range metas {
		items[i] = SecretView{Meta: m, UsedBy: nonNil(usedBy[m.Name])}
	}
	c.PureJSON(http.StatusOK, gin.H{"items": items})
}

func (a *API) getSecret(c *gin.Context) {
	view, ok := a.secretView(c)
	if ok {
		c.PureJSON(http.StatusOK, view)
	}
}

func (a *API) deleteSecret(c *gin.Context) {
	view, ok := a.secretView(c)
	if !ok {
		return
	}
	if len(view.UsedBy) > 0 {
		abort(c, http.StatusConflict, CodeConflict, fmt.Sprintf(
			"secret %q is used by %s; remove it from their spec.secrets (or delete them) first", view.Name, quoteList(view.UsedBy)))
		return
	}
	if err := a.Secrets.Delete(c, claimsOf(c).Tenant, view.Name, view.Version); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// secretView reads the secret the path names, answering the request
// itself when it cannot.
func (a *API) secretView(c *gin.Context) (SecretView, bool) {
	name := c.Param("name")
	if a.Secrets == nil {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("secret %q: not found", name))
		return SecretView{}, false
	}
	tenant := claimsOf(c).Tenant
	meta, err := a.Secrets.Get(c, tenant, name)
	if err != nil {
		a.fail(c, err)
		return SecretView{}, false
	}
	users, err := a.secretUsers(c, tenant, name)
	if err != nil {
		a.fail(c, err)
		return SecretView{}, false
	}
	return SecretView{Meta: meta, UsedBy: users}, true
}

// secretUsers are the tenant's functions naming the secret.
func (a *API) secretUsers(ctx context.Context, tenant, name string) ([]string, error) {
	usedBy, err := a.secretsUsedBy(ctx, tenant)
	return nonNil(usedBy[name]), err
}

// secretsUsedBy maps each secret the tenant's functions name to them.
func (a *API) secretsUsedBy(ctx context.Context, tenant string) (map[string][]string, error) {
	recs, err := a.Store.Records(ctx, tenant)
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, r := range recs {
		for _, s := range namedSecrets(r.Spec, r.TrafficSpecs) {
			m[s] = append(m[s], r.Spec.Name)
		}
	}
	for _, fns := range m {
		slices.Sort(fns)
	}
	return m, nil
}

// namedSecrets are the secrets a function reads: its own and those of the
// revisions its traffic runs beside it, each once.
func namedSecrets(spec function.Spec, traffic map[int64]function.Spec) []string {
	var names []string
	seen := map[string]bool{}
	add := func(ns []string) {
		for _, n := range ns {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	add(spec.Secrets)
	revs := make([]int64, 0, len(traffic))
	for n := range traffic {
		revs = append(revs, n)
	}
	slices.Sort(revs)
	for _, n := range revs {
		add(traffic[n].Secrets)
	}
	return names
}

// secretsExist refuses a spec naming secrets the tenant does not have, or
// more of them than a function may read (checkSecrets).
func (a *API) secretsExist(ctx context.Context, tenant string, names []string) error {
	return a.checkSecrets(ctx, tenant, names, "", 0)
}

// checkSecrets checks that each of names exists and that together they
// hold at most MaxBytesPerFunction, counting secret replaced (if any) at
// size bytes: a value about to be put.
func (a *API) checkSecrets(ctx context.Context, tenant string, names []string, replaced string, size int) error {
	if len(names) == 0 {
		return nil
	}
	if a.Secrets == nil {
		return &function.FieldError{Field: "secrets", Reason: "secrets are not configured on this installation (the deployer has no secrets key)"}
	}
	var missing []string
	total := 0
	for _, n := range names {
		if n == replaced {
			total += size
			continue
		}
		m, err := a.Secrets.Get(ctx, tenant, n)
		if errors.Is(err, secrets.ErrNotFound) {
			missing = append(missing, n)
			continue
		}
		if err != nil {
			return err
		}
		total += m.Size
	}
	if len(missing) > 0 {
		return &function.FieldError{Field: "secrets", Reason: fmt.Sprintf(
			"%s not found; create it first with PUT /v1/secrets/%s (or `eventflow secret set %s`)", describeMissing(missing), missing[0], missing[0])}
	}
	if total > secrets.MaxBytesPerFunction {
		return &function.FieldError{Field: "secrets", Reason: fmt.Sprintf(
			"the secrets named hold %d bytes together; a function reads at most %d (on Kubernetes they are one Secret, of at most 1 MiB)", total, secrets.MaxBytesPerFunction)}
	}
	return nil
}

// fitsUsers refuses a new value of secret name that would take a function
// (or a revision its traffic runs) naming it past MaxBytesPerFunction.
func (a *API) fitsUsers(ctx context.Context, tenant, name string, size int) error {
	recs, err := a.Store.Records(ctx, tenant)
	if err != nil {
		return err
	}
	for _, r := range recs {
		specs := []function.Spec{r.Spec}
		for _, ts := range r.TrafficSpecs {
			specs = append(specs, ts)
		}
		for _, sp := range specs {
			if !slices.Contains(sp.Secrets, name) {
				continue
			}
			if err := a.checkSecrets(ctx, tenant, sp.Secrets, name, size); err != nil {
				var fe *function.FieldError
				if errors.As(err, &fe) {
					return &function.FieldError{Field: "value", Reason: fmt.Sprintf("function %q names this secret: %s", r.Spec.Name, fe.Reason)}
				}
				return err
			}
		}
	}
	return nil
}

func describeMissing(names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf("secret %q is", names[0])
	}
	return "secrets " + quoteList(names) + " are"
}

func quoteList(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", n)
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// secretError maps the secrets store's errors (fail calls it).
func secretError(err error) (status int, code string, ok bool) {
	switch {
	case errors.Is(err, secrets.ErrNotConfigured):
		return http.StatusServiceUnavailable, CodeUnavailable, true
	case errors.Is(err, secrets.ErrNotFound):
		return http.StatusNotFound, CodeNotFound, true
	case errors.Is(err, secrets.ErrTooMany):
		return http.StatusForbidden, CodeQuotaExceeded, true
	case errors.Is(err, secrets.ErrChanged):
		return http.StatusConflict, CodeConflict, true
	}
	return 0, "", false
}
