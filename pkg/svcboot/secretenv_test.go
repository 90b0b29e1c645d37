package svcboot

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testSecretFlag is a secret flag of the helper process below.
var testSecretFlag = flag.String("test-secret-flag", "", "TestExecWithoutSecrets's secret flag")

var testSecrets = []Secret{{Env: "EVENTFLOW_TEST_SECRET"}, {Env: "EVENTFLOW_TEST_FLAG_SECRET", Flag: "test-secret-flag"}}

// TestExecWithoutSecrets: a process started with a secret in its
// environment and another among its arguments re-executes itself (same
// pid) so that neither /proc/<pid>/environ nor /proc/<pid>/cmdline, which
// the kernel keeps from the exec, shows them any more, and TakeSecretEnv
// still returns both. os.Unsetenv alone leaves environ as it was.
func TestExecWithoutSecrets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("re-executes on Linux only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecretsHelperProcess$", "-test-secret-flag", "flag-secret-9c1f")
	cmd.Env = append(os.Environ(), "SECRETS_HELPER=1", "EVENTFLOW_TEST_SECRET=env-secret-7a2e")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := fmt.Sprintf("pid=%d environ-shows=false cmdline-shows=false env=env-secret-7a2e flag=flag-secret-9c1f os-environ-shows=false", cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Errorf("helper said:\n%s\nwant %s", out, want)
	}
}

// TestSecretsHelperProcess is the process TestExecWithoutSecrets starts.
func TestSecretsHelperProcess(t *testing.T) {
	if os.Getenv("SECRETS_HELPER") != "1" {
		t.Skip("helper process")
	}
	// Without the re-exec, Unsetenv would leave the kernel's copy alone.
	if err := ExecWithoutSecrets(testSecrets...); err != nil {
		t.Fatal(err)
	}
	env := TakeSecretEnv("EVENTFLOW_TEST_SECRET")
	fl := TakeSecretEnv("EVENTFLOW_TEST_FLAG_SECRET")
	if *testSecretFlag != "" {
		t.Fatalf("the flag is still given: %q", *testSecretFlag)
	}
	environ, _ := os.ReadFile("/proc/self/environ")
	cmdline, _ := os.ReadFile("/proc/self/cmdline")
	shows := func(b []byte) bool {
		return strings.Contains(string(b), "env-secret-7a2e") || strings.Contains(string(b), "flag-secret-9c1f")
	}
	fmt.Printf("pid=%d environ-shows=%v cmdline-shows=%v env=%s flag=%s os-environ-shows=%v\n",
		os.Getpid(), shows(environ), shows(cmdline), env, fl, shows([]byte(strings.Join(os.Environ(), "\n"))))
}

func TestWithoutSecrets(t *testing.T) {
	env := []string{"PATH=/bin", "EVENTFLOW_TEST_SECRET=e", "EVENTFLOW_TEST_FLAG_SECRET=from-env", "OTHER=x"}
	for _, c := range []struct {
		args, wantArgs []string
		flagSecret     string
	}{
		{[]string{"dev", "--data-dir", "d"}, []string{"dev", "--data-dir", "d"}, "from-env"},
		{[]string{"dev", "--test-secret-flag", "f1", "--data-dir", "d"}, []string{"dev", "--data-dir", "d"}, "f1"},
		{[]string{"-test-secret-flag=f2", "x"}, []string{"x"}, "f2"},
		{[]string{"--test-secret-flag=", "x"}, []string{"x"}, ""},
		{[]string{"x", "--", "--test-secret-flag", "f3"}, []string{"x", "--", "--test-secret-flag", "f3"}, "from-env"},
		{[]string{"--test-secret-flag"}, []string{"--test-secret-flag"}, "from-env"},
	} {
		outEnv, outArgs, found := withoutSecrets(env, c.args, testSecrets)
		if !slices.Equal(outEnv, []string{"PATH=/bin", "OTHER=x"}) || !slices.Equal(outArgs, c.wantArgs) ||
			found["EVENTFLOW_TEST_SECRET"] != "e" || found["EVENTFLOW_TEST_FLAG_SECRET"] != c.flagSecret {
			t.Errorf("%q: env %q args %q found %q; want args %q and flag secret %q", c.args, outEnv, outArgs, found, c.wantArgs, c.flagSecret)
		}
	}
	if _, _, found := withoutSecrets([]string{"PATH=/bin"}, []string{"dev"}, testSecrets); len(found) != 0 {
		t.Errorf("found %v in nothing", found)
	}
	if got := strconv.Quote(string(encodeSecrets(map[string]string{"A": "b=c"}))); got != `"A=b=c\x00"` {
		t.Errorf("encoded %s", got)
	}
}
