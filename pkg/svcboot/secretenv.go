package svcboot

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// secretsFDEnv names the pipe through which ExecWithoutSecrets hands the
// secrets to the program it re-executes.
const secretsFDEnv = "EVENTFLOW_SECRETS_FD"

// maxHandedSecrets bounds what goes through the pipe: it is written whole
// before the exec, so it must fit a pipe's smallest buffer (one page).
const maxHandedSecrets = 4096

// Secret is a secret setting: its environment variable and, if it has one,
// its flag (without dashes).
type Secret struct {
	Env, Flag string
}

// handed are the secrets ExecWithoutSecrets passed to this program.
var handed struct {
	once sync.Once
	vals map[string]string
	err  error
}

// TakeSecretEnv returns the secret environment variable name ("" when it
// is unset) and removes it from this process's environment at once, so
// nothing started later (a function, a helper) inherits it and os.Environ
// no longer holds it. After ExecWithoutSecrets it returns what that handed
// over instead (a value given by flag included).
//
// Unsetenv changes the process's own copy of the environment, not the one
// the kernel shows in /proc/<pid>/environ, which stays as it was at exec
// (readable by every process of the same user); ExecWithoutSecrets is what
// clears that one.
func TakeSecretEnv(name string) string {
	handed.once.Do(loadHanded)
	if handed.err != nil {
		fmt.Fprintf(os.Stderr, "warning: %s: %v\n", secretsFDEnv, handed.err)
	}
	v, ok := handed.vals[name]
	if !ok {
		v = os.Getenv(name)
	}
	_ = os.Unsetenv(name)
	return v
}

// withoutSecrets returns env and args with the secrets taken out, and the
// secrets found (a flag's value wins over the environment's, as the flag
// package would have it).
func withoutSecrets(env, args []string, secrets []Secret) (outEnv, outArgs []string, found map[string]string) {
	found = map[string]string{}
	byEnv := map[string]bool{}
	for _, s := range secrets {
		byEnv[s.Env] = true
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if byEnv[k] {
			found[k] = v
			continue
		}
		outEnv = append(outEnv, kv)
	}
	byFlag := map[string]string{}
	for _, s := range secrets {
		if s.Flag != "" {
			byFlag[s.Flag] = s.Env
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			outArgs = append(outArgs, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		env, ok := byFlag[name]
		if !ok || !strings.HasPrefix(a, "-") {
			outArgs = append(outArgs, a)
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				outArgs = append(outArgs, a) // the flag package reports the missing value
				continue
			}
			i++
			val = args[i]
		}
		found[env] = val
	}
	return outEnv, outArgs, found
}

// encodeSecrets is the pipe's content: name=value pairs, NUL-terminated
// (neither can hold a NUL).
func encodeSecrets(found map[string]string) []byte {
	var b bytes.Buffer
	for k, v := range found {
		b.WriteString(k + "=" + v + "\x00")
	}
	return b.Bytes()
}

// loadHanded reads the secrets from the pipe named by secretsFDEnv, if set.
func loadHanded() {
	s, ok := os.LookupEnv(secretsFDEnv)
	if !ok {
		return
	}
	_ = os.Unsetenv(secretsFDEnv)
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		handed.err = fmt.Errorf("%q is not a descriptor this program was handed", s)
		return
	}
	f := os.NewFile(uintptr(fd), "secrets")
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		handed.err = fmt.Errorf("descriptor %d is not a pipe", fd)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxHandedSecrets+1))
	if err != nil {
		handed.err = err
		return
	}
	handed.vals = map[string]string{}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			handed.vals[k] = v
		}
	}
}
