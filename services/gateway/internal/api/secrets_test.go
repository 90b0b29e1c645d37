package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/catalog"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestSecretsAPI: a secret's value goes in with PUT and never comes out:
// not in any answer, and not in the bucket in the clear (it is sealed to
// the deployer's key, which opens it); names are checked, scopes are the
// secrets' own, tenants are apart, a function may name only secrets that
// exist, a new value rolls the functions naming it, and a secret in use
// cannot be deleted.
func TestSecretsAPI(t *testing.T) {
	url, tok, signer, b := oneGateway(t, "acme")
	const value = "s3cr3t-VALUE-never-shown"
	put := func(name, body string) (int, string) {
		t.Helper()
		return acceptCall(t, "PUT", url+"/v1/secrets/"+name, tok, body)
	}

	// No deployer has published its key: nothing could open a value.
	if code, body := put("db-password", `{"value":"`+value+`"}`); code != http.StatusServiceUnavailable || !strings.Contains(body, "EVENTFLOW_SECRETS_KEY_FILE") {
		t.Fatalf("PUT without a sealing key: %d %s", code, body)
	}
	key, err := secrets.NewKey(bytes.Repeat([]byte("k"), 40))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&secrets.Store{KV: b.Secrets, Key: key}).PublishKey(context.Background()); err != nil {
		t.Fatal(err)
	}

	code, body := put("db-password", `{"value":"`+value+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	var view SecretView
	if err := json.Unmarshal([]byte(body), &view); err != nil || view.Name != "db-password" || view.Version == 0 || view.Size != len(value) || len(view.UsedBy) != 0 {
		t.Fatalf("PUT answer %s (%v)", body, err)
	}
	// Stored sealed: the bucket holds no plain text, and the key opens it.
	e, err := b.Secrets.Get(context.Background(), events.SecretKey("acme", "db-password"))
	if err != nil || bytes.Contains(e.Value(), []byte(value)) {
		t.Fatalf("stored secret: %v; in the clear: %v", err, err == nil && bytes.Contains(e.Value(), []byte(value)))
	}
	got, err := (&secrets.Store{KV: b.Secrets, Key: key}).ReadSecrets(context.Background(), "acme", []string{"db-password"})
	if err != nil || len(got) != 1 || string(got[0].Value) != value || got[0].Version != view.Version {
		t.Fatalf("ReadSecrets = %v, %v", got, err)
	}

	// Refused, with nothing stored.
	for _, c := range []struct{ name, body string }{
		{"Bad_Name", `{"value":"x"}`},
		{"ok-name", `{}`},
		{"ok-name", `{"value":"x","extra":1}`},
		{"ok-name", `{"value":"` + strings.Repeat("v", secrets.MaxValueBytes+1) + `"}`},
		{"ok-name", `{"value":7}`},
	} {
		if code, body := put(c.name, c.body); code != http.StatusBadRequest || strings.Contains(body, "vvvv") {
			t.Errorf("PUT %s %.40s: %d %.200s, want 400 without the value", c.name, c.body, code, body)
		}
	}
	if code, _ := acceptCall(t, "GET", url+"/v1/secrets/ok-name", tok, ""); code != http.StatusNotFound {
		t.Errorf("a refused PUT stored something: GET answered %d", code)
	}

	// Scopes: reading functions does not read secrets; invoking cannot
	// write them.
	readOnly := testkit.Token(t, signer, "acme", auth.ScopeRead)
	if code, _ := acceptCall(t, "GET", url+"/v1/secrets", readOnly, ""); code != http.StatusForbidden {
		t.Errorf("GET /v1/secrets with functions:read only: %d, want 403", code)
	}
	secretsRead := testkit.Token(t, signer, "acme", auth.ScopeSecretsRead)
	if code, _ := acceptCall(t, "PUT", url+"/v1/secrets/x", secretsRead, `{"value":"v"}`); code != http.StatusForbidden {
		t.Errorf("PUT with secrets:read only: %d, want 403", code)
	}
	// Another tenant sees nothing of it.
	other := testkit.Token(t, signer, "other")
	if code, _ := acceptCall(t, "GET", url+"/v1/secrets/db-password", other, ""); code != http.StatusNotFound {
		t.Errorf("another tenant's GET: %d, want 404", code)
	}
	if code, body := acceptCall(t, "GET", url+"/v1/secrets", other, ""); code != http.StatusOK || strings.Contains(body, "db-password") {
		t.Errorf("another tenant's list: %d %s", code, body)
	}

	// Functions name secrets that exist, or are refused with the name.
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, `{"name":"app","command":["cat"],"secrets":["db-password","api-key"]}`); code != http.StatusBadRequest || !strings.Contains(body, `"api-key`) {
		t.Fatalf("create naming a missing secret: %d %s", code, body)
	}
	if _, _, err := catalog.Get(context.Background(), b.Functions, "acme", "app"); err == nil {
		t.Fatal("a refused create stored the function")
	}
	// A function reads what it names: storing one takes secrets:read.
	writeOnly := testkit.Token(t, signer, "acme", auth.ScopeWrite, auth.ScopeInvoke, auth.ScopeRead)
	for _, name := range []string{"db-password", "no-such-secret"} { // the same answer: nothing says which exist
		if code, body := acceptCall(t, "POST", url+"/v1/functions", writeOnly, `{"name":"app","command":["cat"],"secrets":["`+name+`"]}`); code != http.StatusForbidden || !strings.Contains(body, "secrets:read") {
			t.Fatalf("create naming secret %s without secrets:read: %d %s", name, code, body)
		}
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, `{"name":"app","command":["cat"],"secrets":["db-password"]}`); code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	// Together, the secrets a function names hold at most 512 KiB.
	big := strings.Repeat("b", secrets.MaxValueBytes)
	var bigNames []string
	for i := range secrets.MaxBytesPerFunction/secrets.MaxValueBytes + 1 {
		n := fmt.Sprintf("big-%d", i)
		if code, body := put(n, `{"value":"`+big+`"}`); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %.200s", n, code, body)
		}
		bigNames = append(bigNames, `"`+n+`"`)
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, `{"name":"heavy","command":["cat"],"secrets":[`+strings.Join(bigNames, ",")+`]}`); code != http.StatusBadRequest || !strings.Contains(body, "bytes together") {
		t.Fatalf("a function naming %d KiB of secrets: %d %s", (len(bigNames)*secrets.MaxValueBytes)>>10, code, body)
	}
	// Nor can a new value take a function that names the secret past it.
	// 7 × 64 KiB + 1 KiB + 1 byte fit; with "small" at 64 KiB they do not.
	if code, body := put("pad", `{"value":"`+strings.Repeat("p", 1024)+`"}`); code != http.StatusCreated {
		t.Fatalf("PUT pad: %d %s", code, body)
	}
	fits := append(bigNames[:len(bigNames)-2:len(bigNames)-2], `"pad"`)
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, `{"name":"heavy","command":["cat"],"secrets":[`+strings.Join(append(fits, `"small"`), ",")+`]}`); code != http.StatusBadRequest {
		t.Fatalf("naming a missing secret: %d %s", code, body)
	}
	if code, body := put("small", `{"value":"s"}`); code != http.StatusCreated {
		t.Fatalf("PUT small: %d %s", code, body)
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, `{"name":"heavy","command":["cat"],"secrets":[`+strings.Join(append(fits, `"small"`), ",")+`]}`); code != http.StatusAccepted {
		t.Fatalf("a function within the limit: %d %s", code, body)
	}
	if code, body := put("small", `{"value":"`+big+`"}`); code != http.StatusBadRequest || !strings.Contains(body, `\"heavy\"`) {
		t.Fatalf("a new value taking heavy past the limit: %d %.300s", code, body)
	}
	if m, err := (&secrets.Store{KV: b.Secrets}).Get(context.Background(), "acme", "small"); err != nil || m.Size != 1 {
		t.Fatalf("the refused value was stored: %+v %v", m, err)
	}

	// A new value rolls the function: a new generation, a revision saying why.
	code, body = put("db-password", `{"value":"rotated-`+value+`"}`)
	if code != http.StatusOK {
		t.Fatalf("PUT again: %d %s", code, body)
	}
	var rotated SecretView
	_ = json.Unmarshal([]byte(body), &rotated)
	if rotated.Version <= view.Version || len(rotated.UsedBy) != 1 || rotated.UsedBy[0] != "app" || !rotated.CreatedAt.Equal(view.CreatedAt) {
		t.Fatalf("PUT again answered %s (first %+v)", body, view)
	}
	rec, _, err := catalog.Get(context.Background(), b.Functions, "acme", "app")
	if err != nil || rec.Generation != 2 || rec.Change.Cause != "secret-rotated" {
		t.Fatalf("after the rotation the function is %+v (%v), want generation 2 for secret-rotated", rec, err)
	}

	// A rollback without a revision skips the rotation's revision, whose
	// spec is what runs: there is nothing earlier to go back to.
	if code, body := acceptCall(t, "POST", url+"/v1/functions/app:rollback", tok, ""); code != http.StatusConflict {
		t.Errorf("rollback over a rotation: %d %s, want 409", code, body)
	}

	// Listed and read: metadata only.
	for _, path := range []string{"/v1/secrets", "/v1/secrets/db-password"} {
		code, body := acceptCall(t, "GET", url+path, tok, "")
		if code != http.StatusOK || strings.Contains(body, value) || strings.Contains(body, "sealed") || !strings.Contains(body, `"usedBy":["app"]`) {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	// In use: not deleted, and the message names who uses it.
	if code, body := acceptCall(t, "DELETE", url+"/v1/secrets/db-password", tok, ""); code != http.StatusConflict || !strings.Contains(body, `\"app\"`) {
		t.Fatalf("DELETE in use: %d %s", code, body)
	}
	if code, body := acceptCall(t, "PUT", url+"/v1/functions/app", tok, `{"command":["cat"]}`); code != http.StatusAccepted {
		t.Fatalf("update without secrets: %d %s", code, body)
	}
	if code, body := acceptCall(t, "DELETE", url+"/v1/secrets/db-password", tok, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := acceptCall(t, "GET", url+"/v1/secrets/db-password", tok, ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	if code, _ := acceptCall(t, "DELETE", url+"/v1/secrets/db-password", tok, ""); code != http.StatusNotFound {
		t.Errorf("DELETE again: %d, want 404", code)
	}

	// A revision the traffic runs beside the latest reads its own
	// secrets: they are in use, and must exist when the split is stored.
	for _, n := range []string{"canary-key", "gone-key"} {
		if code, body := put(n, `{"value":"v"}`); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", n, code, body)
		}
	}
	web := func(extra string) string {
		return `{"name":"web","command":["serve"],"invocation":{"mode":"http"}` + extra + `}`
	}
	for i, body := range []string{web(`,"secrets":["canary-key"]`), web(`,"secrets":["gone-key"]`), web(``)} {
		if code, resp := acceptCall(t, "POST", url+"/v1/functions", tok, body); code != http.StatusAccepted {
			t.Fatalf("web revision %d: %d %s", i+1, code, resp)
		}
	}
	if code, body := acceptCall(t, "DELETE", url+"/v1/secrets/gone-key", tok, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE gone-key (no longer named): %d %s", code, body)
	}
	split := func(rev int) string {
		return web(fmt.Sprintf(`,"traffic":[{"revision":%d,"percent":50},{"tag":"latest","percent":50}]`, rev))
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, split(2)); code != http.StatusBadRequest || !strings.Contains(body, "gone-key") {
		t.Fatalf("a split onto a revision whose secret is gone: %d %s", code, body)
	}
	if code, body := acceptCall(t, "POST", url+"/v1/functions", tok, split(1)); code != http.StatusAccepted {
		t.Fatalf("split: %d %s", code, body)
	}
	if code, body := acceptCall(t, "DELETE", url+"/v1/secrets/canary-key", tok, ""); code != http.StatusConflict || !strings.Contains(body, `\"web\"`) {
		t.Fatalf("DELETE of a secret the split's revision reads: %d %s", code, body)
	}
}
