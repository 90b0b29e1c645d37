package functionfile

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// SplitCommand splits a shell-like command line into argv the way the web
// console does (web/src/lib/argv.ts), so a line means the same in both:
// whitespace separates; '…' is literal; "…" allows \" \\ \$ \` and keeps
// any other backslash; a backslash outside quotes escapes the next
// character. Nothing is expanded.
func SplitCommand(line string) ([]string, error) {
	var (
		argv  []string
		cur   strings.Builder
		inArg bool
		quote byte // 0, '\'' or '"'
	)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
			i++
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0:
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(c)
			}
			i++
		case c == '\'' || c == '"':
			quote, inArg = c, true
			i++
		case c == '\\':
			if i+1 == len(line) {
				return nil, errors.New("the line ends with a lone backslash")
			}
			_, n := utf8.DecodeRuneInString(line[i+1:])
			cur.WriteString(line[i+1 : i+1+n])
			inArg = true
			i += 1 + n
		default:
			r, n := utf8.DecodeRuneInString(line[i:])
			if n == 1 && r == utf8.RuneError || !isJSSpace(r) {
				cur.WriteString(line[i : i+n])
				inArg = true
			} else if inArg {
				argv = append(argv, cur.String())
				cur.Reset()
				inArg = false
			}
			i += n
		}
	}
	switch quote {
	case '\'':
		return nil, errors.New("a single quote is not closed")
	case '"':
		return nil, errors.New("a double quote is not closed")
	}
	if inArg {
		argv = append(argv, cur.String())
	}
	return argv, nil
}

// isJSSpace is JavaScript's \s, which the console splits on; it differs
// from unicode.IsSpace in U+0085 (not space) and U+FEFF (space).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}
