package benchkit

// Truncate cuts s to n bytes, marked with "…", so that an unexpected
// answer or log line quoted in an error or a report stays readable.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Verdict is how a table says whether a target was reached: "met" or a
// "MISSED" that stands out.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
