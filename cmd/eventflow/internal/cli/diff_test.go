package cli

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	for _, tc := range []struct {
		name, a, b string
		context    int
		want       string
	}{
		{name: "same", a: lines("a", "b"), b: lines("a", "b"), context: 3, want: ""},
		{name: "both empty", context: 3, want: ""},
		{name: "one line changed", a: lines("a", "b", "c"), b: lines("a", "B", "c"), context: 3,
			want: "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{name: "from nothing", a: "", b: lines("a", "b"), context: 3,
			want: "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{name: "to nothing", a: lines("a"), b: "", context: 3,
			want: "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n"},
		{name: "added at the end", a: lines("a", "b", "c", "d", "e"), b: lines("a", "b", "c", "d", "e", "f"), context: 2,
			want: "--- x\n+++ y\n@@ -4,2 +4,3 @@\n d\n e\n+f\n"},
		{name: "added at the start", a: lines("b", "c"), b: lines("a", "b", "c"), context: 1,
			want: "--- x\n+++ y\n@@ -1 +1,2 @@\n+a\n b\n"},
		{name: "added at the start, no context", a: lines("b", "c"), b: lines("a", "b", "c"), context: 0,
			want: "--- x\n+++ y\n@@ -0,0 +1 @@\n+a\n"},
		{name: "two hunks", a: lines("1", "2", "3", "4", "5", "6", "7", "8", "9"), b: lines("1", "two", "3", "4", "5", "6", "7", "eight", "9"), context: 1,
			want: "--- x\n+++ y\n@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n@@ -7,3 +7,3 @@\n 7\n-8\n+eight\n 9\n"},
		{name: "close changes share a hunk", a: lines("1", "2", "3", "4", "5"), b: lines("1", "two", "3", "four", "5"), context: 1,
			want: "--- x\n+++ y\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n-4\n+four\n 5\n"},
		{name: "no final newline is the same line", a: "a\nb", b: "a\nb\n", context: 3, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unifiedDiff("x", "y", tc.a, tc.b, tc.context); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestDiffLinesIsMinimal: the edit script turns a into b and keeps a
// longest common subsequence, on random inputs.
func TestDiffLinesIsMinimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []string {
		ls := make([]string, r.IntN(12))
		for i := range ls {
			ls[i] = strconv.Itoa(r.IntN(4))
		}
		return ls
	}
	for range 2000 {
		a, b := gen(), gen()
		ops := diffLines(a, b)
		var gotA, gotB []string
		kept := 0
		for _, op := range ops {
			if op.kind != '+' {
				gotA = append(gotA, op.line)
			}
			if op.kind != '-' {
				gotB = append(gotB, op.line)
			}
			if op.kind == ' ' {
				kept++
			}
		}
		if strings.Join(gotA, ",") != strings.Join(a, ",") || strings.Join(gotB, ",") != strings.Join(b, ",") {
			t.Fatalf("diff of %v and %v does not rebuild them: %v", a, b, ops)
		}
		if want := lcsLen(a, b); kept != want {
			t.Fatalf("diff of %v and %v keeps %d lines, the longest common subsequence has %d", a, b, kept, want)
		}
	}
}

func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

// TestUnifiedDiffAppliesWithPatch: patch(1), where there is one, takes the
// diff and turns a into b.
func TestUnifiedDiffAppliesWithPatch(t *testing.T) {
	patch, err := exec.LookPath("patch")
	if err != nil {
		t.Skip("no patch(1) here")
	}
	r := rand.New(rand.NewPCG(3, 4))
	gen := func() string {
		var sb strings.Builder
		for range r.IntN(30) {
			fmt.Fprintf(&sb, "line %d\n", r.IntN(8))
		}
		return sb.String()
	}
	for i := range 40 {
		a, b := gen(), gen()
		d := unifiedDiff("a", "b", a, b, 3)
		if d == "" {
			if a != b {
				t.Fatalf("no diff of different texts:\n%s\n%s", a, b)
			}
			continue
		}
		dir := t.TempDir()
		writeTestFile(t, dir+"/f", a)
		cmd := exec.Command(patch, "-s", "--no-backup-if-mismatch", dir+"/f")
		cmd.Stdin = strings.NewReader(d)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("case %d: patch: %v\n%s\ndiff:\n%s", i, err, out, d)
		}
		if got := readTestFile(t, dir+"/f"); got != b {
			t.Fatalf("case %d: patched\n%s\nwant\n%s\ndiff:\n%s", i, got, b, d)
		}
	}
}

func TestShortDigest(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:0123456789abcdef0123": "0123456789ab",
		"sha256:abc":                  "abc",
		"":                            "",
		"deadbeefdeadbeefdead":        "deadbeefdead",
	} {
		if got := shortDigest(in); got != want {
			t.Errorf("shortDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
