package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestCLISecretsAndRevisions: against a real `eventflow dev`, a secret set
// from stdin is listed without its value and read by a function that names
// it in its file; the function's revisions are listed, diffed and rolled
// back; a new value rolls the function; a used secret cannot be deleted.
func TestCLISecretsAndRevisions(t *testing.T) {
	p := startDev(t, t.TempDir())
	c := newCLI(t)
	c.ok("", "login", "--url", p.URL, "--tenant", "demo")

	const value = "s3cret-Value-never-shown"
	out := c.ok(value, "secret", "set", "db-password")
	if !strings.Contains(out, "secret db-password created (version") || strings.Contains(out, value) {
		t.Fatalf("secret set:\n%s", out)
	}

	// list shows it, never the value.
	out = c.ok("", "secret", "list")
	if !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "db-password") || strings.Contains(out, value) {
		t.Errorf("secret list:\n%s", out)
	}
	type secretView struct {
		Name    string
		Version uint64
		Size    int
		UsedBy  []string
	}
	raw := c.ok("", "secret", "list", "-o", "json")
	list := parseJSON[struct{ Items []secretView }](t, raw)
	if len(list.Items) != 1 || list.Items[0].Name != "db-password" || list.Items[0].Size != len(value) || strings.Contains(raw, value) || strings.Contains(raw, `"value"`) {
		t.Errorf("secret list -o json:\n%s", raw)
	}
	if s := parseYAML[secretView](t, c.ok("", "secret", "get", "db-password", "-o", "yaml")); s.Name != "db-password" || s.Version == 0 {
		t.Errorf("secret get -o yaml: %+v", s)
	}

	// A function file naming a secret that does not exist is refused, and
	// says which.
	missing := "apiVersion: eventflow.io/v1\nkind: Function\nmetadata: {name: reader}\nspec:\n  command: [cat]\n  secrets: [no-such-secret]\n"
	if msg := c.fails(1, missing, "deploy", "-f", "-", "--project", "secrets"); !strings.Contains(msg, "no-such-secret") {
		t.Errorf("deploy naming a missing secret: %s", msg)
	}

	// Revision 1: the function reads the secret from its file.
	file := func(greeting string) string {
		return "apiVersion: eventflow.io/v1\nkind: Function\nmetadata: {name: reader}\nspec:\n" +
			"  command: sh -c 'cat >/dev/null; printf \"%s:\" \"$GREETING\"; cat \"$EVENTFLOW_SECRETS_DIR/db-password\"'\n" +
			"  env: {GREETING: " + greeting + "}\n" +
			"  secrets:\n    - db-password\n"
	}
	c.ok(file("hello"), "deploy", "-f", "-", "--project", "secrets", "--wait")
	if got := c.ok("", "invoke", "reader", "x"); got != "hello:"+value {
		t.Errorf("the function read %q, want hello:<the secret>", got)
	}
	if s := parseJSON[secretView](t, c.ok("", "secret", "get", "db-password", "-o", "json")); len(s.UsedBy) != 1 || s.UsedBy[0] != "reader" {
		t.Errorf("secret get: usedBy %v, want [reader]", s.UsedBy)
	}
	type revision struct {
		Revision int64
		Spec     function.Spec
		Digest   string
		Cause    string
	}
	revs := parseJSON[struct{ Items []revision }](t, c.ok("", "revisions", "reader", "-o", "json")).Items
	if len(revs) != 1 || revs[0].Revision != 1 || revs[0].Cause != "created" || !strings.HasPrefix(revs[0].Digest, "sha256:") {
		t.Fatalf("revisions after the first deploy: %+v", revs)
	}
	if out := c.ok("", "revisions", "reader"); !strings.HasPrefix(out, "REVISION") || !strings.Contains(out, "1 (current)") {
		t.Errorf("revisions table:\n%s", out)
	}

	// Revision 2: an update.
	c.ok(file("bonjour"), "deploy", "-f", "-", "--project", "secrets", "--wait")
	if got := c.ok("", "invoke", "reader", "x"); got != "bonjour:"+value {
		t.Errorf("after the update the function said %q", got)
	}
	out = c.ok("", "revisions", "reader", "--diff", "1", "2")
	for _, want := range []string{"--- reader revision 1\n", "+++ reader revision 2\n", "@@ ", `-    "GREETING": "hello"`, `+    "GREETING": "bonjour"`} {
		if !strings.Contains(out, want) {
			t.Errorf("revisions --diff 1 2 lacks %q:\n%s", want, out)
		}
	}

	// Rollback to the previous revision: revision 3, with revision 1's spec.
	out = c.ok("", "rollback", "reader", "--wait")
	if !strings.Contains(out, "rolled back to the spec of the previous revision, now revision 3") {
		t.Errorf("rollback:\n%s", out)
	}
	if got := c.ok("", "invoke", "reader", "x"); got != "hello:"+value {
		t.Errorf("after the rollback the function said %q", got)
	}
	out = c.ok("", "revisions", "reader")
	if !strings.Contains(out, "3 (current)") || !strings.Contains(out, "rollback") {
		t.Errorf("revisions after the rollback:\n%s", out)
	}
	if out := c.ok("", "revisions", "reader", "--diff", "1", "3"); out != "" {
		t.Errorf("revisions 1 and 3 should have the same spec:\n%s", out)
	}
	if out := c.ok("", "rollback", "reader", "--revision", "3"); !strings.Contains(out, "current already") {
		t.Errorf("rollback to the current revision:\n%s", out)
	}
	if msg := c.fails(1, "", "rollback", "reader", "--revision", "99"); !strings.Contains(msg, "eventflow revisions reader") {
		t.Errorf("rollback to an unknown revision: %s", msg)
	}
	c.fails(2, "", "revisions", "reader", "--diff", "one", "2")

	// A new value rolls the function that uses it.
	const value2 = "rotated-Value-never-shown"
	out = c.ok("", "secret", "set", "db-password", "--from-literal", value2)
	if !strings.Contains(out, "replaced") || !strings.Contains(out, "rolling the functions that use it: reader") || strings.Contains(out, value2) {
		t.Errorf("secret set of a used secret:\n%s", out)
	}
	testkit.Eventually(t, 60*time.Second, "the function to read the new value", func() (bool, string) {
		r := c.run("", "invoke", "reader", "x")
		return r.code == 0 && r.out == "hello:"+value2, r.out + r.err
	})

	// A used secret is not deleted; once unused it is.
	if msg := c.fails(1, "", "secret", "delete", "db-password"); !strings.Contains(msg, "reader") {
		t.Errorf("deleting a used secret: %s", msg)
	}
	c.ok("", "delete", "reader", "--wait")
	c.ok("", "secret", "delete", "db-password")
	if out := c.ok("", "secret", "list", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("secrets after delete: %q", out)
	}
}
