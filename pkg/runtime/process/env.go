package process

import (
	"os"
	"slices"

	"github.com/eventflow/eventflow/pkg/function"
)

// passthroughEnv is all a process inherits from this one: the parent's
// environment holds secrets (EVENTFLOW_JWT_SECRET, NATS credentials and the
// like), so nothing else of it, EVENTFLOW_* and NATS_* included, is passed.
var passthroughEnv = [...]string{"PATH", "LANG", "LC_ALL", "TZ"}

// defaultPath is PATH when this process has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// buildEnv is a process's environment: the passthrough variables, HOME and
// TMPDIR set to its private working directory dir, the spec's env, then the
// EVENTFLOW_* identity and extra (key, value pairs), which win over the
// spec because exec keeps the last value of a duplicate key.
func buildEnv(spec function.Spec, tenant, instance, dir string, extra ...string) []string {
	env := make([]string, 0, len(passthroughEnv)+2+len(spec.Env)+3+len(extra)/2)
	for _, k := range passthroughEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH="+defaultPath)
		}
	}
	env = append(env, "HOME="+dir, "TMPDIR="+dir)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order keeps the spec hash and debugging predictable
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	env = append(env,
		"EVENTFLOW_TENANT="+tenant,
		"EVENTFLOW_FUNCTION="+spec.Name,
		"EVENTFLOW_INSTANCE="+instance,
	)
	for i := 0; i+1 < len(extra); i += 2 {
		env = append(env, extra[i]+"="+extra[i+1])
	}
	return env
}
