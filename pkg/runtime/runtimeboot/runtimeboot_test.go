package runtimeboot

import (
	"flag"
	"testing"
)

// TestFlags: the flags take their defaults from the environment, and
// Validate refuses an unknown runtime, a control namespace that is no DNS
// label, and a malformed function user, before anything is started.
func TestFlags(t *testing.T) {
	t.Setenv("EVENTFLOW_RUNTIME", Kubernetes)
	t.Setenv("EVENTFLOW_NAMESPACE_PREFIX", "ef-")
	var f Flags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"-control-namespace", "eventflow"}); err != nil {
		t.Fatal(err)
	}
	if f.Name != Kubernetes || f.NamespacePrefix != "ef-" || f.ControlNamespace != "eventflow" {
		t.Fatalf("flags %+v", f)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Flags{
		{Name: "docker"},
		{Name: Kubernetes, ControlNamespace: "Not_A_Label"},
		{Name: Process, FunctionUser: "nobody:"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
	if err := (Flags{Name: Process}).Validate(); err != nil {
		t.Errorf("process runtime, default user: %v", err)
	}
}
