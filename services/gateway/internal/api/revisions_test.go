package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestRevisions: ten changes make ten numbered revisions (newest first,
// each with its spec, digest, cause and author); a rollback to the third
// serves the third's spec as an eleventh revision; an empty rollback goes
// to the one before; rolling back to what runs changes nothing; unknown
// revisions, a first revision, other tenants and the wrong scope are
// refused.
func TestRevisions(t *testing.T) {
	url, tok, signer, b := oneGateway(t, "acme")
	specOf := func(i int) string {
		return fmt.Sprintf(`{"name":"app","command":["echo","v%d"],"env":{"N":"%d"}}`, i, i)
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, specOf(1)); code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	for i := 2; i <= 10; i++ {
		if code, body := acceptCall(t, "PUT", url+"/v1/functions/app", tok, specOf(i)); code != http.StatusAccepted {
			t.Fatalf("update %d: %d %s", i, code, body)
		}
	}
	// A repeated spec is no change, so no revision.
	if code, _ := acceptCall(t, "PUT", url+"/v1/functions/app", tok, specOf(10)); code != http.StatusAccepted {
		t.Fatal("repeat")
	}
	revisions := func() []function.Revision {
		t.Helper()
		code, body := acceptCall(t, "GET", url+"/v1/functions/app/revisions", tok, "")
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		var list struct{ Items []function.Revision }
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	revs := revisions()
	if len(revs) != 10 {
		t.Fatalf("%d revisions, want 10: %+v", len(revs), revs)
	}
	digests := map[string]bool{}
	for i, r := range revs {
		want := int64(10 - i)
		cause := function.CauseUpdated
		if want == 1 {
			cause = function.CauseCreated
		}
		if r.Revision != want || r.Cause != cause || r.CreatedBy == "" || r.CreatedAt.IsZero() ||
			r.Spec.Command[1] != fmt.Sprintf("v%d", want) || r.Digest != function.Digest(r.Spec) || !strings.HasPrefix(r.Digest, "sha256:") {
			t.Errorf("revision %d: %+v", want, r)
		}
		digests[r.Digest] = true
	}
	if len(digests) != 10 {
		t.Errorf("%d distinct digests of 10 different specs", len(digests))
	}
	third := revs[7]

	// Roll back to the third: a new revision with its spec, served as the function's.
	code, body := acceptCall(t, "POST", url+"/v1/functions/app:rollback", tok, `{"revision":3}`)
	if code != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", code, body)
	}
	var f function.Function
	_ = json.Unmarshal([]byte(body), &f)
	if f.Generation != 11 {
		t.Errorf("rollback answered generation %d, want 11", f.Generation)
	}
	code, body = acceptCall(t, "GET", url+"/v1/functions/app", tok, "")
	if err := json.Unmarshal([]byte(body), &f); code != http.StatusOK || err != nil {
		t.Fatalf("GET: %d %s", code, body)
	}
	if !reflect.DeepEqual(f.Spec, third.Spec) {
		t.Errorf("after the rollback the function serves %+v, want revision 3's %+v", f.Spec, third.Spec)
	}
	code, body = acceptCall(t, "GET", url+"/v1/functions/app/revisions/11", tok, "")
	var r11 function.Revision
	if err := json.Unmarshal([]byte(body), &r11); code != http.StatusOK || err != nil || r11.Cause != function.CauseRollback ||
		r11.Message != "rolled back to revision 3" || r11.Digest != third.Digest {
		t.Errorf("revision 11: %d %s", code, body)
	}
	// Again: already what runs.
	if code, body := acceptCall(t, "POST", url+"/v1/functions/app:rollback", tok, `{"revision":3}`); code != http.StatusOK {
		t.Errorf("rollback to what runs: %d %s, want 200", code, body)
	}
	// No body: the revision before the current one (10).
	if code, body := acceptCall(t, "POST", url+"/v1/functions/app:rollback", tok, ""); code != http.StatusAccepted || !strings.Contains(body, `"v10"`) {
		t.Errorf("empty rollback: %d %s, want revision 10's spec", code, body)
	}
	if n := len(revisions()); n != 12 {
		t.Errorf("%d revisions after two rollbacks, want 12", n)
	}

	// Refused.
	single := `{"name":"solo","command":["cat"]}`
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, single); code != http.StatusAccepted {
		t.Fatalf("create solo: %d %s", code, body)
	}
	invokeOnly := testkit.Token(t, signer, "acme", auth.ScopeInvoke, auth.ScopeRead)
	other := testkit.Token(t, signer, "other")
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"POST", "/v1/functions/app:rollback", tok, `{"revision":99}`, http.StatusNotFound},
		{"POST", "/v1/functions/app:rollback", tok, `{"revision":0}`, http.StatusBadRequest},
		{"POST", "/v1/functions/app:rollback", tok, `{"revision":"3"}`, http.StatusBadRequest},
		{"POST", "/v1/functions/app:rollback", tok, `{"rev":3}`, http.StatusBadRequest},
		{"POST", "/v1/functions/solo:rollback", tok, ``, http.StatusConflict},
		{"POST", "/v1/functions/app:rollback", invokeOnly, `{"revision":3}`, http.StatusForbidden},
		{"POST", "/v1/functions/app:rollback", other, `{"revision":3}`, http.StatusNotFound},
		{"GET", "/v1/functions/app/revisions", other, ``, http.StatusNotFound},
		{"GET", "/v1/functions/app/revisions/3", other, ``, http.StatusNotFound},
		{"GET", "/v1/functions/app/revisions/x", tok, ``, http.StatusNotFound},
		{"POST", "/v1/functions/app:undo", tok, ``, http.StatusNotFound},
		// Names of revisions running beside a function are kept.
		{"POST", "/v1/functions", tok, `{"name":"app--r3","command":["cat"]}`, http.StatusBadRequest},
	} {
		if code, body := acceptCall(t, c.method, url+c.path, c.token, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}
	if n := len(revisions()); n != 12 {
		t.Errorf("refused rollbacks made revisions: %d, want 12", n)
	}

	// A function made before those names were kept: still updated, and
	// a split that would run a revision under its name is refused.
	legacy, _ := json.Marshal(function.Record{Spec: function.Spec{Name: "web--r1", Command: []string{"cat"}}.WithDefaults(), Tenant: "acme", Generation: 1})
	if _, err := b.Functions.Put(context.Background(), events.FunctionKey("acme", "web--r1"), legacy); err != nil {
		t.Fatal(err)
	}
	if code, body := acceptCall(t, "PUT", url+"/v1/functions/web--r1", tok, `{"command":["cat","-"]}`); code != http.StatusAccepted {
		t.Errorf("update of an older function named like a revision: %d %s", code, body)
	}
	web := `{"name":"web","command":["serve"],"invocation":{"mode":"http"}%s}`
	for i, extra := range []string{``, `,"env":{"V":"2"}`} {
		if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, fmt.Sprintf(web, extra)); code != http.StatusAccepted {
			t.Fatalf("web %d: %d %s", i, code, body)
		}
	}
	split := fmt.Sprintf(web, `,"env":{"V":"2"},"traffic":[{"revision":1,"percent":50},{"tag":"latest","percent":50}]`)
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, split); code != http.StatusBadRequest || !strings.Contains(body, "web--r1") {
		t.Errorf("a split onto another function's name: %d %s", code, body)
	}
}
