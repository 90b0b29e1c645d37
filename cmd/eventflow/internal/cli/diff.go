package cli

import (
	"fmt"
	"strings"
)

// maxDiffCells bounds the table the line diff fills (lines of a × lines of
// b, after their common start and end): past it, the changed middle is
// shown as removed and added whole rather than matched line by line.
const maxDiffCells = 4 << 20

// diffOp is one line of an edit script: ' ' kept, '-' removed, '+' added.
type diffOp struct {
	kind byte
	line string
}

// splitLines splits text into lines without their ends; "" has none.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines is a shortest edit script from a to b (a longest common
// subsequence kept); in a changed region the removals come first.
func diffLines(a, b []string) []diffOp {
	var ops []diffOp
	// The common start and end need no table.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	for _, l := range a[:pre] {
		ops = append(ops, diffOp{' ', l})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	switch {
	case n == 0 || m == 0 || n*m > maxDiffCells:
		for _, l := range ma {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range mb {
			ops = append(ops, diffOp{'+', l})
		}
	default:
		// lcs[i*(m+1)+j] is the longest common subsequence of ma[i:] and mb[j:].
		lcs := make([]int32, (n+1)*(m+1))
		at := func(i, j int) int32 { return lcs[i*(m+1)+j] }
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				switch {
				case ma[i] == mb[j]:
					lcs[i*(m+1)+j] = at(i+1, j+1) + 1
				default:
					lcs[i*(m+1)+j] = max(at(i+1, j), at(i, j+1))
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				ops = append(ops, diffOp{' ', ma[i]})
				i, j = i+1, j+1
			case j == m || (i < n && at(i+1, j) >= at(i, j+1)):
				ops = append(ops, diffOp{'-', ma[i]})
				i++
			default:
				ops = append(ops, diffOp{'+', mb[j]})
				j++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

// unifiedDiff is the unified diff (as diff -u writes it) of the lines of a
// and b, named fromName and toName, with context unchanged lines around
// each change; "" when the two are the same. Lines are compared without
// their ends.
func unifiedDiff(fromName, toName, a, b string, context int) string {
	ops := diffLines(splitLines(a), splitLines(b))
	// The edit script's position in a and b before each op.
	posA, posB := make([]int, len(ops)+1), make([]int, len(ops)+1)
	var changes []int
	for k, op := range ops {
		posA[k+1], posB[k+1] = posA[k], posB[k]
		if op.kind != '+' {
			posA[k+1]++
		}
		if op.kind != '-' {
			posB[k+1]++
		}
		if op.kind != ' ' {
			changes = append(changes, k)
		}
	}
	if len(changes) == 0 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", fromName, toName)
	for c := 0; c < len(changes); {
		// A hunk runs from context lines before its first change to context
		// lines after its last, and takes in every change that close.
		start := max(changes[c]-context, 0)
		last := changes[c]
		for c++; c < len(changes) && changes[c]-last <= 2*context; c++ {
			last = changes[c]
		}
		end := min(last+context+1, len(ops))
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(posA[start], posA[end]-posA[start]), hunkRange(posB[start], posB[end]-posB[start]))
		for _, op := range ops[start:end] {
			sb.WriteByte(op.kind)
			sb.WriteString(op.line)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// hunkRange is one side of a hunk's header: its first line (1-based; for
// no lines, the one before) and count, ",1" left out as diff -u does.
func hunkRange(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}
