package manifest

import (
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
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

// ServiceEnv returns the environment variables a service's binary reads:
// the names in its main package and in the shared start-up code it uses
// (pkg/svcboot: the common flags for every service, the runtime flags for
// those that register them), and OTEL_* (the OpenTelemetry SDK's own).
func ServiceEnv(tb testing.TB, service string) map[string]bool {
	tb.Helper()
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
	if strings.Contains(string(main), "svcboot.RuntimeFlags") {
		for n := range literalsOfFile(tb, filepath.Join(svcboot, "runtime.go")) {
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
