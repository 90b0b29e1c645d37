package functionfile

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		argv []string
	}{
		// The web console's cases (web/src/lib/argv.test.ts).
		{"tr a-z A-Z", []string{"tr", "a-z", "A-Z"}},
		{"  cat  ", []string{"cat"}},
		{"sh -c 'echo hi >&2; cat'", []string{"sh", "-c", "echo hi >&2; cat"}},
		{`echo "a \"b\" c"`, []string{"echo", `a "b" c`}},
		{`echo a\ b`, []string{"echo", "a b"}},
		{"echo '' x", []string{"echo", "", "x"}},
		{`printf "%s\n" $HOME`, []string{"printf", `%s\n`, "$HOME"}},
		{"", nil},
		// And more.
		{`sh -c 'wc -w | tr -d " "'`, []string{"sh", "-c", `wc -w | tr -d " "`}},
		{`a'b'"c"d`, []string{"abcd"}},
		{`"" x`, []string{"", "x"}},
		{`"\$X \` + "`" + `y\` + "` \\\\ \\q\"", []string{"$X `y` \\ \\q"}},
		{`'a\b' \'`, []string{`a\b`, "'"}},
		{"a\tb\nc\r\nd", []string{"a", "b", "c", "d"}},
		{"a\u00a0b\u3000c\ufeffd", []string{"a", "b", "c", "d"}},
		{"a\u0085b", []string{"a\u0085b"}}, // not a space in JavaScript
		{"\\\u00a0é \\é", []string{"\u00a0é", "é"}},
		{"'héllo wörld'", []string{"héllo wörld"}},
	} {
		got, err := SplitCommand(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.argv) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tc.line, got, err, tc.argv)
		}
	}
	for line, want := range map[string]string{
		"echo 'oops":  "a single quote is not closed",
		`echo "oops`:  "a double quote is not closed",
		`echo "a\"`:   "a double quote is not closed",
		`echo oops\`:  "the line ends with a lone backslash",
		`echo 'a\'b'`: "a single quote is not closed",
	} {
		if got, err := SplitCommand(line); err == nil || err.Error() != want {
			t.Errorf("SplitCommand(%q) = %q, %v; want the error %q", line, got, err, want)
		}
	}
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// joinCommand is the console's joinCommandLine: SplitCommand's inverse.
func joinCommand(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && plainArg.MatchString(a) {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

func TestSplitCommandRoundTrip(t *testing.T) {
	argv := []string{"sh", "-c", "echo it's here; cat", "", "a b", `"\$`, "tab\there"}
	got, err := SplitCommand(joinCommand(argv))
	if err != nil || !reflect.DeepEqual(got, argv) {
		t.Fatalf("round trip: %q, %v; want %q", got, err, argv)
	}
}
