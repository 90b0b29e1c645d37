package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/services/gateway/internal/store"
)

// Revisions: every new generation of a function is an immutable revision
// (store.writeRevision), listed here; a rollback makes a new revision
// with an older one's spec.

// functionAction serves POST /v1/functions/{name}:invoke and …:rollback
// (gin cannot route "{name}:verb" as patterns of their own), each with its
// own scope.
func (a *API) functionAction(c *gin.Context) {
	if strings.HasSuffix(c.Param("name"), ":rollback") {
		a.require(auth.ScopeWrite)(c)
		if !c.IsAborted() {
			a.rollback(c)
		}
		return
	}
	a.require(auth.ScopeInvoke)(c)
	if !c.IsAborted() {
		a.invoke(c)
	}
}

func (a *API) listRevisions(c *gin.Context) {
	name := c.Param("name")
	tenant := claimsOf(c).Tenant
	if _, _, err := a.Store.Record(c, tenant, name); err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	items, err := a.Store.Revisions(c, tenant, name)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, gin.H{"items": items})
}

func (a *API) getRevision(c *gin.Context) {
	name := c.Param("name")
	n, err := strconv.ParseInt(c.Param("revision"), 10, 64)
	if err != nil || n < 1 {
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("function %q has no revision %q: revisions are numbered from 1", name, c.Param("revision")))
		return
	}
	r, err := a.Store.Revision(c, claimsOf(c).Tenant, name, n)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.PureJSON(http.StatusOK, r)
}

// rollbackRequest is POST …:rollback's body; without one (or without
// revision), the revision before the current one.
type rollbackRequest struct {
	Revision *int64 `json:"revision"`
}

func (a *API) rollback(c *gin.Context) {
	name := strings.TrimSuffix(c.Param("name"), ":rollback")
	tenant := claimsOf(c).Tenant
	var req rollbackRequest
	body, err := readBody(c.Request.Body)
	if err != nil {
		a.fail(c, err)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := jsonContentType(c.Request.Header); err != nil {
			a.fail(c, err)
			return
		}
		if err := decodeJSON(bytes.NewReader(body), &req); err != nil {
			a.fail(c, err)
			return
		}
	}
	cur, _, err := a.Store.Record(c, tenant, name)
	if err != nil {
		a.fail(c, notFound(name, err))
		return
	}
	if cur.Deleting {
		abort(c, http.StatusConflict, CodeConflict, fmt.Sprintf("function %q is being deleted", name))
		return
	}
	var target function.Revision
	if req.Revision != nil {
		if *req.Revision < 1 {
			a.fail(c, &function.FieldError{Field: "revision", Reason: "revisions are numbered from 1"})
			return
		}
		if target, err = a.Store.Revision(c, tenant, name, *req.Revision); err != nil {
			a.fail(c, err)
			return
		}
	} else if ro := cur.Rollout; ro.Splits() {
		// During a rollout (or after one rolled back) the previous
		// revision is the one rolled out from: an older revision of the
		// new code (before a scale change, say) is no way back.
		if target, err = a.Store.Revision(c, tenant, name, ro.From); err != nil {
			a.fail(c, err)
			return
		}
	} else {
		// The previous revision: the newest older one whose spec is not
		// what runs (a secret-rotated revision repeats its spec).
		revs, err := a.Store.Revisions(c, tenant, name)
		if err != nil {
			a.fail(c, err)
			return
		}
		current, found := function.Digest(cur.Spec), false
		for _, r := range revs {
			if r.Revision < cur.Generation && r.Digest != current {
				target, found = r, true
				break
			}
		}
		if !found {
			a.fail(c, fmt.Errorf("%w: function %q has no earlier revision with another spec to roll back to", store.ErrConflict, name))
			return
		}
	}
	spec := target.Spec
	spec.Name = name
	a.save(c, spec, false, function.Change{Cause: function.CauseRollback,
		Message: fmt.Sprintf("rolled back to revision %d", target.Revision), By: author(c)})
}

// trafficSpecs reads the specs of the revisions spec.traffic sends a
// share to, for the record (function.Record.TrafficSpecs): a revision
// the function does not keep is refused by number.
func (a *API) trafficSpecs(ctx context.Context, tenant string, spec function.Spec) (map[int64]function.Spec, error) {
	revs := spec.TrafficRevisions()
	if len(revs) == 0 {
		return nil, nil
	}
	// A revision already in the split keeps the spec it was copied with
	// (even once it is no longer kept in the history).
	var current map[int64]function.Spec
	if cur, _, err := a.Store.Record(ctx, tenant, spec.Name); err == nil {
		current = cur.TrafficSpecs
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	specs := make(map[int64]function.Spec, len(revs))
	for _, n := range revs {
		// The revision runs as <name>--r<N>: a function of that name
		// (made before such names were kept) would be taken over.
		if _, _, err := a.Store.Record(ctx, tenant, function.RevisionName(spec.Name, n)); err == nil {
			return nil, &function.FieldError{Field: "traffic", Reason: fmt.Sprintf("revision %d would run as %q, which is the name of another function of yours; rename that one first", n, function.RevisionName(spec.Name, n))}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if s, ok := current[n]; ok {
			specs[n] = s
			continue
		}
		r, err := a.Store.Revision(ctx, tenant, spec.Name, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &function.FieldError{Field: "traffic", Reason: fmt.Sprintf("function %q has no revision %d (GET /v1/functions/%s/revisions lists those kept)", spec.Name, n, spec.Name)}
		}
		if err != nil {
			return nil, err
		}
		if r.Spec.Mode() != function.ModeHTTP {
			return nil, &function.FieldError{Field: "traffic", Reason: fmt.Sprintf("revision %d is job mode: only http-mode revisions take a share", n)}
		}
		specs[n] = r.Spec.ForRuntime()
	}
	return specs, nil
}

// revisionLikeName refuses a new function named as a revision running
// beside another (<name>--r<N>, function.RevisionName); one made before
// such names were kept is still updated.
func (a *API) revisionLikeName(ctx context.Context, tenant, name string) error {
	base, rev, ok := function.ParseRevisionName(name)
	if !ok {
		return nil
	}
	_, _, err := a.Store.Record(ctx, tenant, name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return &function.FieldError{Field: "name", Reason: fmt.Sprintf("%q is how revision %d of a function %q runs beside its latest: names ending in --r<number> are kept for revisions", name, rev, base)}
}
