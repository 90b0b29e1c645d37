package service

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime/process/proctest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// exitServer listens on 127.0.0.1:$PORT, answers "ok", and exits on GET
// /exit (so the runtime restarts it on another port).
const exitServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) { os.Exit(0) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

// buildProgram builds a one-file Go program where the function user can
// run it.
func buildProgram(t *testing.T, src string) string { return proctest.BuildProgram(t, src) }

// TestStatusCarriesEndpoints: the status of an http-mode function lists
// where its ready instances serve (the gateway's HTTP route reads it), and
// is rewritten when an endpoint changes though the phase does not.
func TestStatusCarriesEndpoints(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := start(t, time.Hour)
	one := int32(1)
	spec := function.Spec{Name: "web", Command: []string{bin}, Replicas: &one, Invocation: function.Invocation{Mode: function.ModeHTTP}}.WithDefaults()
	f.putRecord(t, function.Record{Spec: spec, Tenant: "t1", Generation: 1})
	f.command(t, "t1", "web", 1, events.ActionApply)
	var first []string
	testkit.WaitFor(t, 15*time.Second, "Ready with one endpoint", func() bool {
		st := f.status(t, "t1", "web")
		if st == nil || st.Phase != function.PhaseReady || len(st.Endpoints) != 1 {
			return false
		}
		first = st.Endpoints
		return true
	})
	resp, err := http.Get(first[0] + "/")
	if err != nil {
		t.Fatalf("endpoint %s: %v", first[0], err)
	}
	resp.Body.Close()

	// The instance exits and comes back on another port: the status
	// follows, Ready all along as far as the phase goes.
	if resp, err := http.Get(first[0] + "/exit"); err == nil {
		resp.Body.Close()
	}
	testkit.WaitFor(t, 15*time.Second, "a new endpoint in the status", func() bool {
		st := f.status(t, "t1", "web")
		return st != nil && st.Phase == function.PhaseReady && len(st.Endpoints) == 1 && !slices.Equal(st.Endpoints, first)
	})

	// A job-mode function has none.
	f.putRecord(t, function.Record{Spec: jobSpec("job", 1), Tenant: "t1", Generation: 1})
	f.command(t, "t1", "job", 1, events.ActionApply)
	testkit.WaitFor(t, 10*time.Second, "job Ready", func() bool {
		st := f.status(t, "t1", "job")
		return st != nil && st.Phase == function.PhaseReady
	})
	if st := f.status(t, "t1", "job"); len(st.Endpoints) != 0 {
		t.Fatalf("job endpoints %v", st.Endpoints)
	}
}

// TestStatusCarriesRevisionEndpoints: a revision a traffic split runs
// beside the latest has its endpoints in the function's status, by
// revision (the gateway's route splits with them), and loses them when
// the split no longer sends it anything.
func TestStatusCarriesRevisionEndpoints(t *testing.T) {
	bin := buildProgram(t, exitServer)
	f := start(t, time.Hour)
	one := int32(1)
	web := function.Spec{Name: "web", Command: []string{bin}, Replicas: &one, Invocation: function.Invocation{Mode: function.ModeHTTP}}.WithDefaults()
	rec := function.Record{Spec: web, Tenant: "t1", Generation: 2, TrafficSpecs: map[int64]function.Spec{1: web}}
	rec.Spec.Traffic = []function.TrafficTarget{{Revision: 1, Percent: 50}, {Tag: function.TagLatest, Percent: 50}}
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 2, events.ActionApply)
	var st *function.Status
	testkit.Eventually(t, 15*time.Second, "the revision's endpoint in the status", func() (bool, string) {
		st = f.status(t, "t1", "web")
		return st != nil && st.Phase == function.PhaseReady && len(st.Endpoints) == 1 && len(st.RevisionEndpoints[1]) == 1, fmt.Sprintf("%+v", st)
	})
	if slices.Equal(st.Endpoints, st.RevisionEndpoints[1]) {
		t.Fatalf("the revision serves where the latest does: %v", st.Endpoints)
	}
	resp, err := http.Get(st.RevisionEndpoints[1][0] + "/")
	if err != nil {
		t.Fatalf("revision endpoint %s: %v", st.RevisionEndpoints[1][0], err)
	}
	resp.Body.Close()

	rec.Generation, rec.Spec.Traffic = 3, []function.TrafficTarget{{Revision: 1, Percent: 0}, {Tag: function.TagLatest, Percent: 100}}
	f.putRecord(t, rec)
	f.command(t, "t1", "web", 3, events.ActionApply)
	testkit.Eventually(t, 15*time.Second, "no revision endpoints once the split moved away", func() (bool, string) {
		st = f.status(t, "t1", "web")
		return st != nil && st.ObservedGeneration == 3 && len(st.Endpoints) == 1 && st.RevisionEndpoints == nil, fmt.Sprintf("%+v", st)
	})
}
