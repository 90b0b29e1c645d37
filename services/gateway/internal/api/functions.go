package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/telemetry"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

func (a *API) createFunction(c *gin.Context) {
	createOnly, err := ifNoneMatchAny(c.Request.Header)
	if err != nil {
		abort(c, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	var spec function.Spec
	if err := readJSON(c, &spec); err != nil {
		a.fail(c, err)
		return
	}
	a.save(c, spec, createOnly, function.Change{By: author(c)})
}

// ifNoneMatchAny reports whether the request carries If-None-Match: *, a
// conditional create (RFC 9110, section 13.1.2): store the function only if
// none of that name exists, else 412. Functions have no entity tags, so any
// other value is refused rather than silently ignored.
func ifNoneMatchAny(h http.Header) (bool, error) {
	vals := h.Values("If-None-Match")
	switch {
	case len(vals) == 0:
		return false, nil
	case len(vals) == 1 && strings.TrimSpace(vals[0]) == "*":
		return true, nil
	default:
		got := strings.Join(vals, ", ")
		if strings.TrimSpace(got) == "" {
			got = "an empty value"
		}
		return false, fmt.Errorf(`If-None-Match: only "*" is supported (create only if no function of that name exists), not %s`, truncate(got))
	}
}

func (a *API) updateFunction(c *gin.Context) {
	name := c.Param("name")
	if err := function.ValidateName(name); err != nil {
		a.fail(c, err)
		return
	}
	var spec function.Spec
	if err := readJSON(c, &spec); err != nil {
		a.fail(c, err)
		return
	}
	switch spec.Name {
	case "":
		spec.Name = name
	case name:
	default:
		a.fail(c, &function.FieldError{Field: "name", Reason: fmt.Sprintf("%q does not match the name in the path, %q", spec.Name, name)})
		return
	}
	// PUT updates: it does not create (POST does).
	if _, _, err := a.Store.Record(c, claimsOf(c).Tenant, name); err != nil {
		a.fail(c, fmt.Errorf("function %q: %w", name, err))
		return
	}
	a.save(c, spec, false, function.Change{By: author(c)})
}

// author is who a change is recorded as made by: the token's subject, or
// the tenant when the token has none.
func author(c *gin.Context) string {
	cl := claimsOf(c)
	if cl.Subject != "" {
		return cl.Subject
	}
	return "tenant " + cl.Tenant
}

// save stores the desired spec durably, then nudges the deployer. The
// answer is 202 with phase Pending: the change is stored, not yet applied.
// createOnly stores it only if the name is free (store.ErrExists, 412,
// otherwise); else an existing function's spec is replaced. A new
// generation is a new revision, recorded as change.
func (a *API) save(c *gin.Context, spec function.Spec, createOnly bool, change function.Change) {
	if err := spec.Validate(); err != nil {
		a.fail(c, err)
		return
	}
	tenant := claimsOf(c).Tenant
	if err := a.revisionLikeName(c, tenant, spec.Name); err != nil {
		a.fail(c, err)
		return
	}
	traffic, err := a.trafficSpecs(c, tenant, spec)
	if err != nil {
		a.fail(c, err)
		return
	}
	// A function reads the secrets it names, and what it reads its
	// author can have it print: naming secrets takes their read scope,
	// checked before anything says whether they exist.
	if len(namedSecrets(spec, traffic)) > 0 && !claimsOf(c).Has(auth.ScopeSecretsRead) {
		abort(c, http.StatusForbidden, CodeForbidden, "the function names secrets, which it can read: storing it needs a token with scope "+auth.ScopeSecretsRead+" as well")
		return
	}
	if err := a.secretsExist(c, tenant, spec.Secrets); err != nil {
		a.fail(c, err)
		return
	}
	for _, n := range spec.TrafficRevisions() { // trafficSpecs has each
		if err := a.secretsExist(c, tenant, traffic[n].Secrets); err != nil {
			a.fail(c, fmt.Errorf("traffic: revision %d: %w", n, err))
			return
		}
	}
	if limit := a.cfg.MaxFunctionsPerTenant; limit > 0 {
		// Counted and written under the tenant's lock, so concurrent
		// creates on this gateway cannot both take the last place. Across
		// gateway replicas the count is not shared: creates racing on N
		// replicas can leave a tenant up to N-1 over the cap.
		unlock := a.writes.lock(tenant)
		defer unlock()
		n, exists, err := a.Store.CountFunctions(c, tenant, spec.Name)
		if err != nil {
			a.fail(c, err)
			return
		}
		// Replacing an existing function is never refused, even over a
		// cap lowered since it was made.
		if !exists && n >= limit {
			a.refused(c, limitFunctions, tenant)
			abort(c, http.StatusForbidden, CodeQuotaExceeded, fmt.Sprintf(
				"quota exceeded: tenant %q has %d functions and may have at most %d (functions being deleted count until they are gone); delete one, or ask the operator to raise the gateway's limit (--tenant-max-functions, EVENTFLOW_TENANT_MAX_FUNCTIONS)",
				tenant, n, limit))
			return
		}
	}
	// The status is read before the write, so the answer describes the
	// change as accepted (Pending) instead of racing the deployer, which
	// may have applied it by the time a later read ran.
	prev, err := a.Store.Status(c, tenant, spec.Name)
	if err != nil {
		a.fail(c, err)
		return
	}
	var (
		rec     function.Record
		changed = true
	)
	if createOnly && len(traffic) > 0 {
		a.fail(c, &function.FieldError{Field: "traffic", Reason: "a new function has no revisions to split traffic with"})
		return
	}
	if createOnly {
		rec, err = a.Store.Create(c, tenant, spec.WithDefaults(), change.By)
	} else {
		rec, changed, err = a.Store.Upsert(c, tenant, spec.WithDefaults(), change, traffic)
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	if changed {
		a.sendCommand(c, events.Command{Tenant: tenant, Function: spec.Name, Generation: rec.Generation, Action: events.ActionApply})
	}
	f := function.View(rec, prev)
	c.Header("Location", "/v1/functions/"+spec.Name)
	status := http.StatusAccepted
	if !changed && change.Cause == function.CauseRollback {
		status = http.StatusOK // the revision asked for is what runs already
	}
	c.PureJSON(status, f)
}

// sendCommand publishes a command and waits for JetStream's ack. The
// desired record is already stored, so if this fails the deployer's resync
// still converges; the failure is logged, not returned.
func (a *API) sendCommand(ctx context.Context, cmd events.Command) {
	body, _ := json.Marshal(cmd)
	msg := nats.NewMsg(events.CommandSubject(cmd.Tenant, cmd.Function))
	msg.Data = body
	msg.Header.Set(nats.MsgIdHdr, cmd.MsgID())
	telemetry.Inject(ctx, msg)
	if _, err := a.JS.PublishMsg(ctx, msg); err != nil {
		a.Log.WarnContext(ctx, "command not published; the deployer's resync will apply it", "tenant", cmd.Tenant, "function", cmd.Function, "generation", cmd.Generation, "err", err)
	}
}

func (a *API) listFunctions(c *gin.Context) {
	tenant := claimsOf(c).Tenant
	fns, err := a.Store.List(c, tenant)
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.listTriggers(c, tenant, fns); err != nil {
		a.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"items": fns})
}

func (a *API) getFunction(c *gin.Context) {
	name := c.Param("name")
	f, err := a.Store.Get(c, claimsOf(c).Tenant, name)
	if err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	if len(f.Triggers) > 0 {
		stored, err := a.Store.TriggerStates(c, f.Tenant, f.Spec)
		if err != nil {
			a.fail(c, err)
			return
		}
		f.Status.Triggers = f.TriggerStatuses(stored, time.Now())
	}
	c.PureJSON(http.StatusOK, f)
}

// listTriggers sets status.triggers of the listed functions that have
// triggers, reading their states in one go (nothing if none has any).
func (a *API) listTriggers(ctx context.Context, tenant string, fns []function.Function) error {
	var specs []function.Spec
	for _, f := range fns {
		if len(f.Triggers) > 0 {
			specs = append(specs, f.Spec)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	stored, err := a.Store.FunctionsTriggerStates(ctx, tenant, specs)
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range fns {
		fns[i].Status.Triggers = fns[i].TriggerStatuses(stored[fns[i].Name], now)
	}
	return nil
}

func (a *API) deleteFunction(c *gin.Context) {
	name := c.Param("name")
	tenant := claimsOf(c).Tenant
	rec, err := a.Store.MarkDeleting(c, tenant, name)
	if err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	a.sendCommand(c, events.Command{Tenant: tenant, Function: name, Generation: rec.Generation, Action: events.ActionDelete})
	f, err := a.Store.View(c, rec)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.PureJSON(http.StatusAccepted, f)
}

func notFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("function %q: %w", name, err)
	}
	return err
}
