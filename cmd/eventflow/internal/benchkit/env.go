package benchkit

import (
	"os"
	"strings"
)

// CleanEnv is this process's environment without the variables that start
// with one of drop (e.g. "EVENTFLOW_", "KUBECONFIG="). A benchmark sets
// what it means its children to see; a setting left in the caller's shell
// (EVENTFLOW_JWT_SECRET, say) must not change what it measures.
func CleanEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
