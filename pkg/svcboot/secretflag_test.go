package svcboot

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// TestSecretStringNeverShown: a secret given in the environment is the
// flag's value but appears neither in -h nor in the environment.
func TestSecretStringNeverShown(t *testing.T) {
	t.Setenv("EVENTFLOW_TEST_SECRET", "hunter2-hunter2")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	v := SecretString(fs, "secret", "EVENTFLOW_TEST_SECRET", "a secret [EVENTFLOW_TEST_SECRET]")
	if err := fs.Parse([]string{"-h"}); err != flag.ErrHelp {
		t.Fatal(err)
	}
	if *v != "hunter2-hunter2" {
		t.Fatalf("value %q, want the environment's", *v)
	}
	if strings.Contains(help.String(), "hunter2") || !strings.Contains(help.String(), "-secret") {
		t.Fatalf("-h shows:\n%s", help.String())
	}
	if err := fs.Parse([]string{"-secret", "given"}); err != nil || *v != "given" {
		t.Fatalf("flag value %q %v", *v, err)
	}
}
