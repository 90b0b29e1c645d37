package benchkit

import (
	"strings"
	"testing"
	"time"
)

func TestPrintTable(t *testing.T) {
	var sb strings.Builder
	PrintTable(&sb, [][]string{
		{"measure", "value"},
		{"p50 → ready", "1.0 ms"},
		{"x", "—"},
	})
	want := "" +
		"| measure     | value  |\n" +
		"| ----------- | ------ |\n" +
		"| p50 → ready | 1.0 ms |\n" +
		"| x           | —      |\n"
	if sb.String() != want {
		t.Errorf("PrintTable =\n%s\nwant\n%s", sb.String(), want)
	}
}

func TestPhasesPrint(t *testing.T) {
	ps := Phases{{"build", 420 * time.Millisecond}, {"run", 1234 * time.Millisecond}}
	var sb strings.Builder
	ps.Print(&sb, 1700*time.Millisecond)
	if want := "\nPhases: build 400ms; run 1.2s; total 1.7s.\n\n"; sb.String() != want {
		t.Errorf("Print = %q, want %q", sb.String(), want)
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("abcdef", 3); got != "abc…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("abc", 3); got != "abc" {
		t.Errorf("Truncate = %q", got)
	}
}
