package manifest

import (
	"context"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// stringLiterals returns the environment-variable-like string literals
// (NAME_LIKE_THIS) in the non-test Go files of dir.
func stringLiterals(tb testing.TB, dir string) map[string]bool {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		tb.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(f, -1, len(src)), src, nil, 0)
		for {
			_, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok != token.STRING {
				continue
			}
			if v, err := strconv.Unquote(lit); err == nil && envName.MatchString(v) {
				found[v] = true
			}
		}
	}
	return found
}

var helpEnv = regexp.MustCompile(`\[([A-Z][A-Z0-9_]+)\]`)

// ServiceEnv returns the environment variables a service reads. With
// EVENTFLOW_BIN set (make test sets it to the freshly built bin/), they are
// the [NAME]s its binary's -h lists for its flags; otherwise the names in
// its main package and in the shared start-up code it uses (pkg/svcboot:
// the common flags for every service; pkg/runtime/runtimeboot: the runtime
// flags, for those that register them).
func ServiceEnv(tb testing.TB, service string) map[string]bool {
	tb.Helper()
	if bin := os.Getenv("EVENTFLOW_BIN"); bin != "" {
		return helpNames(tb, filepath.Join(bin, service))
	}
	root := Root(tb)
	mainDir := filepath.Join(root, "services", service)
	names := stringLiterals(tb, mainDir)
	main, err := os.ReadFile(filepath.Join(mainDir, "main.go"))
	if err != nil {
		tb.Fatal(err)
	}
	svcboot := filepath.Join(root, "pkg", "svcboot")
	all := map[string]bool{}
	for n := range names {
		all[n] = true
	}
	if strings.Contains(string(main), "svcboot.Common") {
		for n := range literalsOfFile(tb, filepath.Join(svcboot, "svcboot.go")) {
			all[n] = true
		}
	}
	if strings.Contains(string(main), "runtimeboot.Flags") {
		for n := range literalsOfFile(tb, filepath.Join(root, "pkg", "runtime", "runtimeboot", "runtimeboot.go")) {
			all[n] = true
		}
	}
	if len(all) == 0 {
		tb.Fatalf("found no environment variable names for %s in %s", service, mainDir)
	}
	return all
}

func literalsOfFile(tb testing.TB, file string) map[string]bool {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), src, 0o644); err != nil {
		tb.Fatal(err)
	}
	return stringLiterals(tb, dir)
}

func helpNames(tb testing.TB, binary string) map[string]bool {
	tb.Helper()
	helpMu.Lock()
	defer helpMu.Unlock()
	if names, ok := helpCache[binary]; ok {
		return names
	}
	if _, err := os.Stat(binary); err != nil {
		tb.Fatalf("EVENTFLOW_BIN is set but %s is missing (make build): %v", binary, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-h")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s -h: %v\n%s", binary, err, out)
	}
	names := map[string]bool{}
	for _, m := range helpEnv.FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		tb.Fatalf("%s -h lists no [ENVIRONMENT_VARIABLE]:\n%s", binary, out)
	}
	helpCache[binary] = names
	return names
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]map[string]bool{}
)
