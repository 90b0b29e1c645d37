package functionfile

import "testing"

func TestExpandEnv(t *testing.T) {
	lookup := envOf(map[string]string{"A": "1", "EMPTY": "", "B_2": "two"})
	for in, want := range map[string]string{
		"plain":               "plain",
		"${A}":                "1",
		"x${A}y${B_2}z":       "x1ytwoz",
		"${UNSET:-d}":         "d",
		"${EMPTY:-d}":         "d",
		"${A:-d}":             "1",
		"${UNSET:-}":          "",
		"${UNSET:-a b:-c}":    "a b:-c",
		"${EMPTY}":            "",
		"$$":                  "$",
		"$${A}":               "${A}",
		"$$$${A}":             "$${A}",
		"$A $ a$ $1 $(x) $":   "$A $ a$ $1 $(x) $",
		"cost: 5$":            "cost: 5$",
		"${A}${A}":            "11",
		"é${A}ö":              "é1ö",
		"${UNSET:-${A}}rest}": "${A}rest}", // the default is literal
	} {
		got, err := expandEnv(in, lookup)
		if err != nil || got != want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"${UNSET}": "environment variable UNSET is not set: set it, or give a default with ${UNSET:-default}",
		"${}":      "${} is not a variable reference: use ${NAME} or ${NAME:-default}, and $$ for a literal $",
		"${A B}":   "${A B} is not a variable reference: use ${NAME} or ${NAME:-default}, and $$ for a literal $",
		"${A-d}":   "${A-d} is not a variable reference: use ${NAME} or ${NAME:-default}, and $$ for a literal $",
		"x${A":     "${ is not closed by }: write $$ for a literal $",
	} {
		if got, err := expandEnv(in, lookup); err == nil || err.Error() != want {
			t.Errorf("expandEnv(%q) = %q, %v; want the error %q", in, got, err, want)
		}
	}
}
