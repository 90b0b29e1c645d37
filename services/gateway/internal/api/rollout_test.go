package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/function"
)

// rolloutSpec is an http-mode function with spec.rollout (as JSON: "" for
// none), env V=v and a fixed scale of n.
func rolloutSpec(name, v string, n int, rollout string) string {
	ro := ""
	if rollout != "" {
		ro = `,"rollout":` + rollout
	}
	return fmt.Sprintf(`{"name":%q,"command":["cat"],"env":{"V":%q},"invocation":{"mode":"http"},"scale":{"min":%d,"max":%d}%s}`, name, v, n, n, ro)
}

// TestRolloutAPI: spec.rollout is stored with its defaults; an update of
// what the function runs starts a rollout (status.rollout), an update of
// its scale alone carries it on to the new generation, going back to the
// code rolled out from (a rollback without a body, or an update) keeps
// everything on that revision, a rollback to another revision or an
// update without spec.rollout ends it at once; rollout with traffic, on a
// job, or with an interval out of bounds is refused naming the field.
func TestRolloutAPI(t *testing.T) {
	url, tok, _, b := oneGateway(t, "acme")
	get := func(name string) (function.Function, string) {
		t.Helper()
		code, body := acceptCall(t, "GET", url+"/v1/functions/"+name, tok, "")
		var f function.Function
		if err := json.Unmarshal([]byte(body), &f); code != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %s", name, code, body)
		}
		return f, body
	}
	put := func(name, spec string) function.Function {
		t.Helper()
		code, body := acceptCall(t, "PUT", url+"/v1/functions/"+name, tok, spec)
		if code != http.StatusAccepted {
			t.Fatalf("PUT %s: %d %s", spec, code, body)
		}
		f, _ := get(name)
		return f
	}
	// rev is the revision rolled out: the first with its code.
	wantRollout := func(what string, f function.Function, gen, rev, from int64, percent int) {
		t.Helper()
		ro := f.Status.Rollout
		if f.Generation != gen || ro == nil || ro.Revision != rev || ro.From != from || ro.Percent != percent ||
			ro.Phase != function.RolloutProgressing || ro.UpdatedAt.IsZero() || ro.Message == "" {
			t.Fatalf("%s: generation %d, status.rollout %+v; want revision %d from %d at %d%%, progressing", what, f.Generation, ro, rev, from, percent)
		}
	}

	// Created with rollout {}: the defaults are stored and shown, and a
	// new function rolls nothing out.
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, rolloutSpec("web", "1", 1, `{}`)); code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	f, raw := get("web")
	want := function.Rollout{StepPercent: 20, Interval: function.Duration(time.Minute), MaxErrorPercent: 5, MinRequests: 10}
	if f.Spec.Rollout == nil || *f.Spec.Rollout != want {
		t.Fatalf("spec.rollout %+v, want the defaults %+v", f.Spec.Rollout, want)
	}
	if !strings.Contains(raw, `"rollout":{"stepPercent":20,"interval":"1m0s","maxErrorPercent":5,"minRequests":10}`) {
		t.Errorf("spec.rollout as shown: %s", raw)
	}
	if f.Status.Rollout != nil || strings.Contains(raw, `"status":{"rollout"`) {
		t.Fatalf("a new function has status.rollout: %s", raw)
	}

	// A change of code: revision 2 takes stepPercent, revision 1 the rest.
	before := time.Now().UTC()
	f = put("web", rolloutSpec("web", "2", 1, `{}`))
	wantRollout("update of env", f, 2, 2, 1, 20)
	started := f.Status.Rollout.UpdatedAt
	if started.Before(before.Add(-time.Second)) {
		t.Errorf("rollout updatedAt %s is older than the update (%s)", started, before)
	}
	rec, _, err := catalog.Get(context.Background(), b.Functions, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := rec.TrafficSpecs[1]; len(rec.TrafficSpecs) != 1 || !ok || s.Env["V"] != "1" || s.Rollout != nil {
		t.Fatalf("record's traffic specs %+v, want revision 1's spec (for the runtime)", rec.TrafficSpecs)
	}
	if tr := rec.Traffic(); len(tr) != 2 || tr[0].Revision != 1 || tr[0].Percent != 80 || tr[1].Tag != function.TagLatest || tr[1].Percent != 20 {
		t.Fatalf("record's split %+v, want 80%% to revision 1, 20%% to the latest", tr)
	}

	// The scale alone: the same rollout (of revision 2's code) goes on.
	f = put("web", rolloutSpec("web", "2", 2, `{}`))
	wantRollout("update of scale", f, 3, 2, 1, 20)
	if !f.Status.Rollout.UpdatedAt.Equal(started) {
		t.Errorf("a scale change restarted the rollout's interval: updatedAt %s, was %s", f.Status.Rollout.UpdatedAt, started)
	}
	// A repeated spec is no change: the rollout is as it was.
	f = put("web", rolloutSpec("web", "2", 2, `{}`))
	wantRollout("repeated spec", f, 3, 2, 1, 20)

	// Refused, naming the field; nothing written.
	for _, c := range []struct{ what, method, path, body, field string }{
		{"rollout with traffic", "PUT", "/v1/functions/web",
			`{"name":"web","command":["cat"],"invocation":{"mode":"http"},"rollout":{},"traffic":[{"revision":1,"percent":50},{"tag":"latest","percent":50}]}`, "rollout"},
		{"rollout of a job", "POST", "/v1/functions", `{"name":"job","command":["cat"],"rollout":{}}`, "rollout"},
		{"rollout of an explicit job", "POST", "/v1/functions", `{"name":"job","command":["cat"],"invocation":{"mode":"job"},"rollout":{"stepPercent":50}}`, "rollout"},
		{"interval too short", "PUT", "/v1/functions/web", rolloutSpec("web", "3", 1, `{"interval":"10ms"}`), "rollout.interval"},
		{"interval too long", "PUT", "/v1/functions/web", rolloutSpec("web", "3", 1, `{"interval":"2h"}`), "rollout.interval"},
		{"step above 100", "PUT", "/v1/functions/web", rolloutSpec("web", "3", 1, `{"stepPercent":101}`), "rollout.stepPercent"},
		{"negative error percent", "PUT", "/v1/functions/web", rolloutSpec("web", "3", 1, `{"maxErrorPercent":-1}`), "rollout.maxErrorPercent"},
		{"unknown field", "PUT", "/v1/functions/web", rolloutSpec("web", "3", 1, `{"steps":3}`), "steps"},
	} {
		code, body := acceptCall(t, c.method, url+c.path, tok, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.what, code, body, c.field)
		}
	}
	if code, _ := acceptCall(t, "GET", url+"/v1/functions/job", tok, ""); code != http.StatusNotFound {
		t.Errorf("a refused job was stored: GET %d", code)
	}
	f, _ = get("web")
	wantRollout("after refused updates", f, 3, 2, 1, 20)

	// A rollback without a body goes to the code rolled out from, and
	// keeps everything on that revision until the latest runs it again
	// (the deployer then completes the rollout).
	code, body := acceptCall(t, "POST", url+"/v1/functions/web:rollback", tok, "")
	if code != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", code, body)
	}
	f, raw = get("web")
	if ro := f.Status.Rollout; f.Generation != 4 || f.Spec.Env["V"] != "1" || ro == nil || ro.Phase != function.RolloutRolledBack || ro.Percent != 0 || ro.From != 1 || ro.Revision != 4 {
		t.Fatalf("after the rollback: generation %d, status.rollout %+v (%s)", f.Generation, f.Status.Rollout, raw)
	}
	rec, _, err = catalog.Get(context.Background(), b.Functions, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	if tr := rec.Traffic(); !rec.Returning() || len(tr) != 2 || tr[0].Revision != 1 || tr[0].Percent != 100 || rec.Change.Cause != function.CauseRollback {
		t.Fatalf("rolled-back record: rollout %+v, traffic %+v, change %+v", rec.Rollout, tr, rec.Change)
	}
	// A rollback to another revision than the one rolled out from is
	// immediate.
	code, body = acceptCall(t, "POST", url+"/v1/functions/web:rollback", tok, `{"revision":2}`)
	if code != http.StatusAccepted {
		t.Fatalf("rollback to 2: %d %s", code, body)
	}
	if f, raw = get("web"); f.Generation != 5 || f.Spec.Env["V"] != "2" || f.Status.Rollout != nil {
		t.Fatalf("after the rollback to 2: generation %d, status.rollout %+v (%s)", f.Generation, f.Status.Rollout, raw)
	}

	// A second function: an update of the scale alone with no rollout
	// under way rolls nothing out; a new code during a rollout starts
	// over from the same revision; going back to that revision's code
	// keeps everything on it (until the deployer sees the latest run it);
	// dropping spec.rollout ends a rollout at once.
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, rolloutSpec("api", "1", 1, `{"stepPercent":30,"interval":"5s"}`)); code != http.StatusAccepted {
		t.Fatalf("create api: %d %s", code, body)
	}
	cfg := `{"stepPercent":30,"interval":"5s"}`
	if f = put("api", rolloutSpec("api", "1", 2, cfg)); f.Generation != 2 || f.Status.Rollout != nil {
		t.Fatalf("a scale change rolled out: generation %d, %+v", f.Generation, f.Status.Rollout)
	}
	f = put("api", rolloutSpec("api", "2", 2, cfg))
	wantRollout("api: new code", f, 3, 3, 2, 30)
	f = put("api", rolloutSpec("api", "3", 2, cfg))
	wantRollout("api: newer code during the rollout", f, 4, 4, 2, 30)
	if f = put("api", rolloutSpec("api", "1", 2, cfg)); f.Generation != 5 || f.Status.Rollout == nil || f.Status.Rollout.Phase != function.RolloutRolledBack || f.Status.Rollout.From != 2 {
		t.Fatalf("back to the code rolled out from: generation %d, %+v", f.Generation, f.Status.Rollout)
	}
	if rec, _, err = catalog.Get(context.Background(), b.Functions, "acme", "api"); err != nil || !rec.Returning() {
		t.Fatalf("back to the code rolled out from: record %+v, %v", rec, err)
	}
	// Still on revision 2 (no deployer here completed the return): new
	// code rolls out from it.
	f = put("api", rolloutSpec("api", "4", 2, cfg))
	wantRollout("api: new code again", f, 6, 6, 2, 30)
	if f = put("api", rolloutSpec("api", "4", 2, "")); f.Generation != 7 || f.Status.Rollout != nil || f.Spec.Rollout != nil {
		t.Fatalf("spec.rollout dropped during a rollout: generation %d, %+v", f.Generation, f.Status.Rollout)
	}
	if rec, _, err = catalog.Get(context.Background(), b.Functions, "acme", "api"); err != nil || len(rec.TrafficSpecs) != 0 || len(rec.Traffic()) != 0 {
		t.Fatalf("spec.rollout dropped: record %+v, %v", rec, err)
	}
}

// TestRollbackDuringRolloutGoesToFrom: POST …:rollback without a
// revision during a rollout goes back to the code rolled out from
// (status.rollout.from), even when the function's scale changed since the
// rollout began (that makes a revision of the new code with another
// digest, which is not what to roll back to).
func TestRollbackDuringRolloutGoesToFrom(t *testing.T) {
	url, tok, _, _ := oneGateway(t, "acme")
	for i, spec := range []string{rolloutSpec("web", "1", 1, `{}`), rolloutSpec("web", "2", 1, `{}`), rolloutSpec("web", "2", 2, `{}`)} {
		method, path := "PUT", "/v1/functions/web"
		if i == 0 {
			method, path = "POST", "/v1/functions"
		}
		if code, body := acceptCall(t, method, url+path, tok, spec); code != http.StatusAccepted {
			t.Fatalf("%s %s: %d %s", method, spec, code, body)
		}
	}
	code, body := acceptCall(t, "POST", url+"/v1/functions/web:rollback", tok, "")
	if code != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", code, body)
	}
	var f function.Function
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatal(err)
	}
	if f.Spec.Env["V"] != "1" || f.Status.Rollout == nil || f.Status.Rollout.Phase != function.RolloutRolledBack || f.Status.Rollout.From != 1 {
		t.Fatalf("rollback during the rollout of V=2 from revision 1 went to env %v (%s), want revision 1's V=1, everything kept on revision 1", f.Spec.Env, body)
	}
}
