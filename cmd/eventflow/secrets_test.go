package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// secretFunction answers every request with the SHA-256 of its secret
// file db-password (so the value itself is never an output to be stored),
// or 500 if the value is in its environment too.
const secretFunction = `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		v, err := os.ReadFile(filepath.Join(os.Getenv("EVENTFLOW_SECRETS_DIR"), "db-password"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		for _, kv := range os.Environ() {
			if strings.Contains(kv, string(v)) {
				http.Error(w, "the value is in the environment", 500)
				return
			}
		}
		sum := sha256.Sum256(v)
		w.Write([]byte(hex.EncodeToString(sum[:])))
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

// TestSecretsJourney: a secret read by an http-mode function and by a job
// on the process runtime, as files in $EVENTFLOW_SECRETS_DIR; a missing
// one refused by name; a new value rolls the http function (a new
// revision) and is read at once; and the value is in no API answer of
// the journey, no line `eventflow dev` logged, no lifecycle event and no
// file of the data dir (it is stored sealed).
func TestSecretsJourney(t *testing.T) {
	dataDir := t.TempDir()
	p := startDev(t, dataDir)
	c := newClient(t, p.URL, token(t, p.URL, "vault"))
	const first, second = "first-VALUE-4f9c2a", "second-VALUE-7b1e5d"
	rec := &recorder{c: c}
	do := rec.do

	do("PUT", "/v1/secrets/db-password", map[string]any{"value": first}, http.StatusCreated)
	r := do("POST", "/v1/functions", map[string]any{"name": "bad", "command": []string{"cat"}, "secrets": []string{"db-password", "nope"}}, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), `\"nope\"`) {
		t.Fatalf("missing secret refused without its name: %s", r.Body)
	}
	// An http function answers with the file's content; a job cats it.
	do("POST", "/v1/functions", map[string]any{"name": "web", "command": []string{proctest.BuildProgram(t, secretFunction)},
		"invocation": map[string]any{"mode": "http"}, "secrets": []string{"db-password"}}, http.StatusAccepted)
	do("POST", "/v1/functions", map[string]any{"name": "job", "command": []string{"sh", "-c",
		`env | grep -q -F -- "VALUE" && echo IN-ENV; ls -ld "$EVENTFLOW_SECRETS_DIR" | cut -c1-10; sha256sum < "$EVENTFLOW_SECRETS_DIR/db-password" | cut -c1-64`},
		"secrets": []string{"db-password"}}, http.StatusAccepted)
	waitPhase(t, c, "job", "Ready")
	r = do("POST", "/v1/functions/job:invoke", "", http.StatusOK)
	if got := string(r.Body); got != "drwx------\n"+sum(first)+"\n" {
		t.Fatalf("job read %q, want a private directory and the value", got)
	}
	waitPhase(t, c, "web", "Ready")
	r = do("POST", "/v1/functions/web:invoke", "", http.StatusOK)
	if string(r.Body) != sum(first) {
		t.Fatalf("http function read %q", r.Body)
	}

	// Rotation: a new revision of each function that names it, and the
	// new value is what they read.
	r = do("PUT", "/v1/secrets/db-password", map[string]any{"value": second}, http.StatusOK)
	if !strings.Contains(string(r.Body), `"usedBy":["job","web"]`) {
		t.Fatalf("rotation answered %s", r.Body)
	}
	testkit.Eventually(t, 30*time.Second, "the rotated value read by the job", func() (bool, string) {
		r := c.do("POST", "/v1/functions/job:invoke", "")
		return r.Status == http.StatusOK && strings.HasSuffix(string(r.Body), sum(second)+"\n"), fmt.Sprint(r.Status, " ", string(r.Body))
	})
	testkit.Eventually(t, 30*time.Second, "the rotated value read by the http function", func() (bool, string) {
		r := c.do("POST", "/v1/functions/web:invoke", "")
		return r.Status == http.StatusOK && string(r.Body) == sum(second), fmt.Sprint(r.Status, " ", string(r.Body))
	})
	r = do("GET", "/v1/functions/job/revisions", nil, http.StatusOK)
	if !strings.Contains(string(r.Body), `"cause":"secret-rotated"`) {
		t.Fatalf("revisions after the rotation: %s", r.Body)
	}
	do("GET", "/v1/secrets", nil, http.StatusOK)
	do("GET", "/v1/secrets/db-password", nil, http.StatusOK)
	do("DELETE", "/v1/secrets/db-password", nil, http.StatusConflict)

	// The value is nowhere but in the function's own files.
	events := collectEvents(t, p.URL, c.token)
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.stderr)
	}
	for _, v := range []string{first, second} {
		for _, a := range rec.holding(v) {
			t.Errorf("an API answer holds the value: %s", a)
		}
		if strings.Contains(p.stderr.String(), v) {
			t.Errorf("eventflow dev logged the value %q", v)
		}
		if strings.Contains(events, v) {
			t.Errorf("a lifecycle event holds the value %q", v)
		}
		_ = filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), v) {
				t.Errorf("%s holds the value in the clear", path)
			}
			return nil
		})
	}
}

// sum is what the test functions print of a value: its SHA-256.
func sum(v string) string {
	s := sha256.Sum256([]byte(v))
	return hex.EncodeToString(s[:])
}

// collectEvents reads every lifecycle event of the tenant so far.
func collectEvents(t *testing.T, base, tok string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var b strings.Builder
	for ev := range sseStream(ctx, t, base, tok, "/v1/events?since=0", "") {
		b.WriteString(ev.Data)
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		t.Fatal("no lifecycle events at all: the check would prove nothing")
	}
	return b.String()
}
