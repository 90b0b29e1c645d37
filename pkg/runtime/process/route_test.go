package process

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// TestEndpointsFollowInstances: Observe lists each ready instance's URL
// (what the deployer stores for the gateway's HTTP route), and a restart
// on a new port is seen in it.
func TestEndpointsFollowInstances(t *testing.T) {
	r := newTestRuntime(t)
	spec := httpSpec("web", 2, echoServer)
	apply(t, r, spec)
	obs := waitReady(t, r, "acme", "web", 2)
	want := func() []string {
		var urls []string
		for _, in := range instances(r, "acme", "web") {
			urls = append(urls, "http://127.0.0.1:"+strconv.Itoa(in.port))
		}
		return urls
	}
	if !slices.Equal(obs.Endpoints, want()) {
		t.Fatalf("endpoints %v, want %v", obs.Endpoints, want())
	}
	for _, u := range obs.Endpoints {
		resp, err := http.Get(u + "/probe?x=1")
		if err != nil {
			t.Fatalf("endpoint %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("endpoint %s: %d", u, resp.StatusCode)
		}
	}

	// Kill one instance: its endpoint goes, and comes back on the port of
	// its next run (Observe is read on Changes, as the deployer does).
	old := instances(r, "acme", "web")[0]
	if err := syscall.Kill(old.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	obs = waitFor(t, r, "acme", "web", "the killed instance back", func(o runtime.Observed, found bool) bool {
		now := instances(r, "acme", "web")
		return found && len(o.Endpoints) == 2 && now[0].pid != old.pid && slices.Equal(o.Endpoints, want())
	})

	// Scale down: one endpoint.
	spec.Scale = &function.Scale{Min: 1, Max: 1}
	apply(t, r, spec)
	waitFor(t, r, "acme", "web", "one endpoint", func(o runtime.Observed, found bool) bool {
		return found && len(o.Endpoints) == 1 && o.Endpoints[0] == want()[0]
	})

	// A job-mode function has none.
	apply(t, r, jobSpec("job", "cat"))
	if o, _, _ := r.Observe(context.Background(), "acme", "job"); len(o.Endpoints) != 0 {
		t.Fatalf("job mode endpoints %v", o.Endpoints)
	}
}

// TestInvokeRouteRequest: an /async-fn/ route call's request is sent as it
// was made (method, path with query, headers), not as a POST to "/".
func TestInvokeRouteRequest(t *testing.T) {
	r := newTestRuntime(t)
	spec := httpSpec("web", 1, echoServer)
	apply(t, r, spec)
	waitReady(t, r, "acme", "web", 1)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "r-" + method, Payload: []byte("body"),
			Request: &events.HTTPRequest{Method: method, Path: "/a/b?x=1&y=two", Header: http.Header{"X-Custom": {"v1"}}}})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if want := method + " /a/b?x=1&y=two v1 body"; !res.Succeeded || string(res.Output) != want {
			t.Fatalf("%s: got %+v %q, want %q", method, res, res.Output, want)
		}
	}
	// Not an absolute path: a failed result, no request made.
	res, err := r.Invoke(context.Background(), "acme", spec, runtime.InvokeRequest{ID: "bad",
		Request: &events.HTTPRequest{Method: http.MethodGet, Path: "http://elsewhere/"}})
	if err != nil || res.Succeeded {
		t.Fatalf("bad path: %+v %v", res, err)
	}
}
