package benchkit

import (
	"fmt"
	"strings"
	"testing"
)

func TestLogSink(t *testing.T) {
	s := NewLogSink(LogLimits{Tail: 2, Kinds: 2, Example: 20})
	// Lines arrive in pieces, across writes.
	for _, piece := range []string{
		`{"level":"WARN","msg":"slow"}` + "\n" + `{"level":"WA`,
		`RN","msg":"slow","n":2}` + "\n\n",
		`{"level":"ERROR","msg":"broken"}` + "\n",
		"plain text\n", // a third kind: over the limit, not counted by kind
	} {
		if n, err := s.Write([]byte(piece)); n != len(piece) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	warn, errs, kinds := s.Summary(3)
	if warn != 2 || errs != 1 {
		t.Errorf("warn, errs = %d, %d; want 2, 1", warn, errs)
	}
	want := []string{
		fmt.Sprintf("%3d × WARN slow   e.g. %s…", 2, `{"level":"WARN","msg`),
		fmt.Sprintf("%3d × ERROR broken   e.g. %s…", 1, `{"level":"ERROR","ms`),
	}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Errorf("kinds =\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
	if got, want := s.TailText(), `{"level":"ERROR","msg":"broken"}`+"\nplain text"; got != want {
		t.Errorf("TailText = %q, want %q", got, want)
	}
}
