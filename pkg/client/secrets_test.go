package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSecretsAndRevisions checks the requests the secrets and revisions
// calls make and how they read the answers.
func TestSecretsAndRevisions(t *testing.T) {
	type seen struct{ method, path, body string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.EscapedPath(), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "PUT /v1/secrets/new":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"name":"new","version":1,"size":3,"usedBy":[]}`))
		case "PUT /v1/secrets/old":
			_, _ = w.Write([]byte(`{"name":"old","version":7,"size":3,"usedBy":["api","worker"]}`))
		case "GET /v1/secrets":
			_, _ = w.Write([]byte(`{"items":[{"name":"a","version":2,"size":10,"usedBy":["f"]}]}`))
		case "GET /v1/secrets/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no secret \"missing\""}}`))
		case "DELETE /v1/secrets/used":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"conflict","message":"secret \"used\" is used by: api"}}`))
		case "GET /v1/functions/f/revisions":
			_, _ = w.Write([]byte(`{"items":[{"revision":2,"spec":{"name":"f","command":["b"]},"digest":"sha256:ab","cause":"updated"},{"revision":1,"spec":{"name":"f","command":["a"]},"cause":"created"}]}`))
		case "GET /v1/functions/f/revisions/1":
			_, _ = w.Write([]byte(`{"revision":1,"spec":{"name":"f","command":["a"]},"cause":"created"}`))
		case "POST /v1/functions/f:rollback":
			if len(b) == 0 {
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write([]byte(`{"name":"f","generation":3}`))
				return
			}
			_, _ = w.Write([]byte(`{"name":"f","generation":2}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"secrets are not configured"}}`))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	s, created, err := c.SetSecret(ctx, "new", "abc")
	if err != nil || !created || s.Version != 1 {
		t.Errorf("SetSecret new: %+v %v %v", s, created, err)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(got[0].body), &body); err != nil || body["value"] != "abc" || len(body) != 1 {
		t.Errorf("SetSecret sent %q", got[0].body)
	}
	s, created, err = c.SetSecret(ctx, "old", "xyz")
	if err != nil || created || len(s.UsedBy) != 2 {
		t.Errorf("SetSecret old: %+v %v %v", s, created, err)
	}
	if _, _, err := c.SetSecret(ctx, "other", "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("SetSecret without a secrets key: %v", err)
	}
	list, err := c.ListSecrets(ctx)
	if err != nil || len(list) != 1 || list[0].UsedBy[0] != "f" {
		t.Errorf("ListSecrets: %+v %v", list, err)
	}
	if _, err := c.GetSecret(ctx, "missing"); !errors.Is(err, ErrNotFound) || err.Error() != `no secret "missing"` {
		t.Errorf("GetSecret missing: %v", err)
	}
	if err := c.DeleteSecret(ctx, "used"); !errors.Is(err, ErrConflict) {
		t.Errorf("DeleteSecret used: %v", err)
	}
	revs, err := c.Revisions(ctx, "f")
	if err != nil || len(revs) != 2 || revs[0].Revision != 2 || revs[1].Spec.Command[0] != "a" {
		t.Errorf("Revisions: %+v %v", revs, err)
	}
	r, err := c.Revision(ctx, "f", 1)
	if err != nil || r.Cause != CauseCreated {
		t.Errorf("Revision: %+v %v", r, err)
	}
	got = nil
	f, changed, err := c.Rollback(ctx, "f", 0)
	if err != nil || !changed || f.Generation != 3 || got[0].body != "" {
		t.Errorf("Rollback to the previous: %+v %v %v, sent %q", f, changed, err, got[0].body)
	}
	f, changed, err = c.Rollback(ctx, "f", 2)
	if err != nil || changed || f.Generation != 2 || got[1].body != `{"revision":2}` {
		t.Errorf("Rollback to 2: %+v %v %v, sent %q", f, changed, err, got[1].body)
	}
	got = nil
	_, _ = c.GetSecret(ctx, "a/b")
	if got[0].path != "/v1/secrets/a%2Fb" {
		t.Errorf("a name with a slash requested %s", got[0].path)
	}
}
