package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// Output formats.
const (
	outTable = "table"
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
	outName  = "name"
)

// addOutputFlag adds -o with the formats a command prints, the first the
// default, and completes them.
func (a *app) addOutputFlag(cmd *cobra.Command, formats ...string) {
	cmd.Flags().StringVarP(&a.output, "output", "o", formats[0], "output format: "+strings.Join(formats, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		// Every command binds a.output; only the one that runs parses it,
		// so its own default is set here.
		if !c.Flags().Changed("output") {
			a.output = formats[0]
		}
		if !slices.Contains(formats, a.output) {
			return usagef("--output %q: want one of %s", a.output, strings.Join(formats, ", "))
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// printDoc prints v as indented JSON or as YAML (keys in the JSON's order).
func printDoc(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == outJSON {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	y, err := jsonToYAML(b)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// yamlSafeJSON escapes, as \uXXXX, the characters json.Marshal writes as
// they are but a YAML parser does not read as themselves: those YAML does
// not allow in a document (DEL, the C1 controls, U+FFFE, U+FFFF) and
// those it takes for line breaks, which a quoted scalar folds into a
// space (U+0085, U+2028, U+2029). In valid JSON they can only be inside
// strings, where the escape means the same character.
func yamlSafeJSON(b []byte) []byte {
	unsafe := func(r rune) bool {
		return r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfffe || r == 0xffff
	}
	if !bytes.ContainsFunc(b, unsafe) {
		return b
	}
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if unsafe(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:n])
		}
		b = b[n:]
	}
	return out.Bytes()
}

// jsonToYAML re-renders a JSON document as block YAML, keeping key order.
func jsonToYAML(b []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(yamlSafeJSON(b), &n); err != nil {
		return nil, err
	}
	var block func(*yaml.Node)
	block = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			n.Style = 0
		}
		if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle && n.Tag == "!!str" {
			n.Style = 0 // quoted again by the encoder only where YAML needs it
		}
		for _, c := range n.Content {
			block(c)
		}
	}
	block(&n)
	var sb strings.Builder
	enc := yaml.NewEncoder(&sb)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return []byte(sb.String()), enc.Close()
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
