package functionfile

import (
	"fmt"
	"regexp"
	"strings"
)

var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${VAR} and ${VAR:-default} in an env value with the
// caller's variables; $$ is a literal $, and any other $ stays as it is, so
// values meant for the function's shell ($HOME) pass through. As in sh, the
// default is used when VAR is unset or empty; it is taken literally.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("${ is not closed by }: write $$ for a literal $")
			}
			ref := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !envVarName.MatchString(name) {
				return "", fmt.Errorf("${%s} is not a variable reference: use ${NAME} or ${NAME:-default}, and $$ for a literal $", ref)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				v = def
			case !ok:
				return "", fmt.Errorf("environment variable %s is not set: set it, or give a default with ${%s:-default}", name, name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}
