package benchkit

import (
	"fmt"
	"io"
	"strings"
)

// PrintTable prints rows (the first is the header) as a Markdown table with
// padded columns: readable on a terminal as it is, and pasted as it is into
// docs/BENCHMARKS.md. Widths count runes, as the cells hold →, × and —.
func PrintTable(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(row []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range row {
			sb.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, sb.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
}
