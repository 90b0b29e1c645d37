package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// fnView is the part of a function answer these tests look at.
type fnView struct {
	Name       string   `json:"name"`
	Generation int64    `json:"generation"`
	Command    []string `json:"command"`
}

type errView struct {
	Error struct{ Code, Message string } `json:"error"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

// TestCreateIfNoneMatch: with If-None-Match: * a POST creates and never
// replaces; a taken name (also one being deleted) is 412 already_exists
// with nothing written or published; without the header POST still upserts.
func TestCreateIfNoneMatch(t *testing.T) {
	f := start(t)
	inm := []string{"If-None-Match", "*"}

	resp, body := f.do(t, "POST", "/v1/functions", `{"name":"once","command":["cat"]}`, inm...)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("create with If-None-Match: *: %d %s", resp.StatusCode, body)
	}
	if fn := decode[fnView](t, body); fn.Generation != 1 || resp.Header.Get("Location") != "/v1/functions/once" {
		t.Fatalf("create: generation %d, Location %q", fn.Generation, resp.Header.Get("Location"))
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 1 {
		t.Fatalf("%d commands after the create, want 1", n)
	}

	// Again, with another spec: refused, and the stored function is untouched.
	resp, body = f.do(t, "POST", "/v1/functions", `{"name":"once","command":["tr","a-z","A-Z"]}`, inm...)
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("second create: %d %s, want 412", resp.StatusCode, body)
	}
	e := decode[errView](t, body)
	if e.Error.Code != "already_exists" || e.Error.Message != `function "once" already exists; replace it with POST /v1/functions without If-None-Match: *, or PUT /v1/functions/once` {
		t.Fatalf("second create: %s", body)
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 1 {
		t.Fatalf("%d commands after a refused create, want 1", n)
	}
	_, body = f.do(t, "GET", "/v1/functions/once", "")
	if fn := decode[fnView](t, body); fn.Generation != 1 || !slices.Equal(fn.Command, []string{"cat"}) {
		t.Fatalf("after the refused create: generation %d, command %v; want 1, [cat]", fn.Generation, fn.Command)
	}

	// The identical spec is refused too: the header asks "create", not "make it so".
	if resp, body := f.do(t, "POST", "/v1/functions", `{"name":"once","command":["cat"]}`, inm...); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("identical create: %d %s, want 412", resp.StatusCode, body)
	}

	// Without the header POST is still an upsert.
	resp, body = f.do(t, "POST", "/v1/functions", `{"name":"once","command":["tr","a-z","A-Z"]}`)
	if fn := decode[fnView](t, body); resp.StatusCode != http.StatusAccepted || fn.Generation != 2 {
		t.Fatalf("upsert without the header: %d %s, want 202 generation 2", resp.StatusCode, body)
	}

	// A function being deleted still holds its name (no deployer runs here,
	// so the record stays marked deleting).
	if resp, body := f.do(t, "DELETE", "/v1/functions/once", ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	commands := testkit.StreamState(t, f.js, events.StreamCommands).Msgs
	resp, body = f.do(t, "POST", "/v1/functions", `{"name":"once","command":["cat"]}`, inm...)
	if e := decode[errView](t, body); resp.StatusCode != http.StatusPreconditionFailed || e.Error.Code != "already_exists" || !strings.Contains(e.Error.Message, "being deleted") {
		t.Fatalf("create while deleting: %d %s, want 412 already_exists saying it is being deleted", resp.StatusCode, body)
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != commands {
		t.Fatalf("%d commands after a create refused while deleting, want %d", n, commands)
	}

	// Once the deployer has purged the record (as it does when the runtime
	// has let go), the name is free again and starts over at generation 1.
	kv, err := f.js.KeyValue(context.Background(), events.BucketFunctions)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(context.Background(), events.FunctionKey("acme", "once")); err != nil {
		t.Fatal(err)
	}
	resp, body = f.do(t, "POST", "/v1/functions", `{"name":"once","command":["cat"]}`, inm...)
	if fn := decode[fnView](t, body); resp.StatusCode != http.StatusAccepted || fn.Generation != 1 {
		t.Fatalf("create after the purge: %d %s, want 202 generation 1", resp.StatusCode, body)
	}
}

// TestCreateIfNoneMatchRefusesOtherValues: only "*" is supported; anything
// else is 400 before the body is read, and nothing is stored.
func TestCreateIfNoneMatchRefusesOtherValues(t *testing.T) {
	f := start(t)
	for _, v := range []string{`"abc"`, `W/"abc"`, `*, "abc"`, `**`, ``} {
		resp, body := f.do(t, "POST", "/v1/functions", `{"name":"odd","command":["cat"]}`, "If-None-Match", v)
		e := decode[errView](t, body)
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "bad_request" || !strings.Contains(e.Error.Message, `only "*"`) {
			t.Errorf("If-None-Match: %s: %d %s, want 400 bad_request", v, resp.StatusCode, body)
		}
	}
	if resp, body := f.do(t, "GET", "/v1/functions/odd", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after refused creates: %d %s, want 404", resp.StatusCode, body)
	}
	if n := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; n != 0 {
		t.Fatalf("%d commands published by refused creates", n)
	}
}

// TestCreateIfNoneMatchConcurrent: of 20 simultaneous creates of one name
// exactly one is stored; the others are 412 and publish nothing.
func TestCreateIfNoneMatchConcurrent(t *testing.T) {
	f := start(t)
	const n = 20
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make([]answer, n)
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each spec differs, so the stored one tells which request won.
			req, _ := http.NewRequest("POST", f.srv.URL+"/v1/functions", strings.NewReader(fmt.Sprintf(`{"name":"race","command":["echo","%d"]}`, i)))
			req.Header.Set("Authorization", "Bearer "+f.token)
			req.Header.Set("If-None-Match", "*")
			<-ready
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i] = answer{resp.StatusCode, string(b), err}
		}()
	}
	close(ready)
	wg.Wait()

	winner := -1
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("request %d: %v", i, a.err)
		case a.status == http.StatusAccepted:
			if winner >= 0 {
				t.Fatalf("requests %d and %d both created the function", winner, i)
			}
			winner = i
		case a.status == http.StatusPreconditionFailed:
			if e := decode[errView](t, a.body); e.Error.Code != "already_exists" {
				t.Fatalf("request %d: %s", i, a.body)
			}
		default:
			t.Fatalf("request %d: %d %s, want 202 or 412", i, a.status, a.body)
		}
	}
	if winner < 0 {
		t.Fatal("no request created the function")
	}
	_, body := f.do(t, "GET", "/v1/functions/race", "")
	if fn := decode[fnView](t, body); fn.Generation != 1 || !slices.Equal(fn.Command, []string{"echo", fmt.Sprint(winner)}) {
		t.Fatalf("stored: generation %d, command %v; want 1, the winner's [echo %d]", fn.Generation, fn.Command, winner)
	}
	if c := testkit.StreamState(t, f.js, events.StreamCommands).Msgs; c != 1 {
		t.Fatalf("%d commands published, want 1", c)
	}
}
