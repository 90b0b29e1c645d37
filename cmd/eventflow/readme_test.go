package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/functionfile"
)

// codeBlock returns the first fenced block of lang after heading in a
// Markdown file.
func codeBlock(t *testing.T, path, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("%s has no %q", path, heading)
	}
	_, after, ok = strings.Cut(after, "```"+lang+"\n")
	if !ok {
		t.Fatalf("%s: no %s block after %q", path, lang, heading)
	}
	block, _, _ := strings.Cut(after, "```")
	return block
}

// TestDocsFunctionFilesParse: the function files the docs show are valid
// as they are pasted.
func TestDocsFunctionFilesParse(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, doc := range []struct{ path, heading string }{
		{filepath.Join("..", "..", "README.md"), "### The function file"},
		{filepath.Join("..", "..", "docs", "CLI.md"), "## Function files"},
	} {
		fns, err := functionfile.Parse(doc.path, []byte(codeBlock(t, doc.path, doc.heading, "yaml")), noEnv)
		if err != nil {
			t.Errorf("%s: the example function file does not parse: %v", doc.path, err)
			continue
		}
		if len(fns) != 1 {
			t.Errorf("%s: %d functions, want 1", doc.path, len(fns))
		}
	}
}

// TestReadmeTourCommandsExist runs every eventflow command line of the
// README's tour with --help appended: cobra parses the flags first, so an
// unknown command or flag fails it.
func TestReadmeTourCommandsExist(t *testing.T) {
	readme := filepath.Join("..", "..", "README.md")
	block := codeBlock(t, readme, "## A five-minute tour", "sh")
	n := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, " #")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if _, rest, ok := strings.Cut(line, "| "); ok {
			line = rest // the command after a pipe
		}
		words, err := functionfile.SplitCommand(strings.TrimSpace(line))
		if err != nil {
			t.Errorf("README line %q: %v", line, err)
			continue
		}
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:] // VAR=value before the command
		}
		if len(words) == 0 || words[0] != "eventflow" {
			continue
		}
		n++
		cmd := exec.Command(binPath, append(words[1:], "--help")...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README: %q does not parse: %v\n%s", line, err, out)
		}
	}
	if n < 15 {
		t.Errorf("found %d eventflow commands in the README's tour, want the whole tour", n)
	}
}
