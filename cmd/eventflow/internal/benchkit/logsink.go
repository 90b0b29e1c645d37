package benchkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// LogLimits bound what a LogSink keeps, so that a process that floods its
// log cannot make the benchmark run out of memory.
type LogLimits struct {
	Tail    int // last lines kept, quoted when the process fails
	Kinds   int // distinct "LEVEL msg" kinds counted; later new kinds are not
	Example int // bytes of the first line of each kind kept as its example
}

// LogSink is the stdout and/or stderr of a process the benchmark started,
// which logs JSON lines (slog) at warn and above. A benchmark must not
// drop that output (a warning during a run qualifies its figures) nor keep
// all of it, so the sink counts warnings and errors, counts lines by kind
// with one example each, and keeps the last lines for error messages.
type LogSink struct {
	limits   LogLimits
	mu       sync.Mutex
	partial  []byte
	warn     int
	errs     int
	msgs     map[string]int // "LEVEL msg" → count, at most limits.Kinds keys
	examples map[string]string
	tail     []string
}

// NewLogSink returns an empty sink with the given limits.
func NewLogSink(l LogLimits) *LogSink {
	return &LogSink{limits: l, msgs: map[string]int{}, examples: map[string]string{}}
}

// Write takes output in any pieces and handles it line by line.
func (s *LogSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 { // no newline in a flood: take it as a line
		s.line(string(s.partial))
		s.partial = nil
	}
	return len(b), nil
}

func (s *LogSink) line(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if len(s.tail) >= max(s.limits.Tail, 1) {
		s.tail = s.tail[1:]
	}
	s.tail = append(s.tail, Truncate(l, 400))
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}
	kind := "OTHER " + Truncate(l, 80)
	if json.Unmarshal([]byte(l), &rec) == nil && rec.Level != "" {
		kind = rec.Level + " " + rec.Msg
	}
	switch {
	case strings.HasPrefix(kind, "WARN"):
		s.warn++
	case strings.HasPrefix(kind, "ERROR"):
		s.errs++
	}
	if _, ok := s.msgs[kind]; ok || len(s.msgs) < s.limits.Kinds {
		s.msgs[kind]++
		if _, ok := s.examples[kind]; !ok {
			s.examples[kind] = Truncate(l, s.limits.Example)
		}
	}
}

// TailText is the last lines, for an error message.
func (s *LogSink) TailText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// Summary returns the warning and error counts and one line per kind, most
// frequent first: the count right-aligned in countWidth digits, the kind
// and its example.
func (s *LogSink) Summary(countWidth int) (warn, errs int, kinds []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type kc struct {
		k string
		n int
	}
	var all []kc
	for k, n := range s.msgs {
		all = append(all, kc{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	for _, x := range all {
		kinds = append(kinds, fmt.Sprintf("%*d × %s   e.g. %s", countWidth, x.n, x.k, s.examples[x.k]))
	}
	return s.warn, s.errs, kinds
}
