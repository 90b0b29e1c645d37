package packaging

import (
	"bytes"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
)

// TestDockerfileBuilds proves each Dockerfile's Go build works without
// Docker: its build stage is replayed on this machine. The stage's root is a
// temporary directory; WORKDIR and ENV apply as in the Dockerfile; each COPY
// from the context copies exactly those paths (minus what .dockerignore
// drops) from the repository; each RUN runs with sh. Only the node stage is
// not replayed: COPY --from=web gets a stand-in index.html (the console's
// own build is web/'s). Then every file the final stage copies out of the
// build stage must exist, and the binaries must be static ELF executables.
func TestDockerfileBuilds(t *testing.T) {
	ignore := dockerignore(t)
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			d := parseDockerfile(t, im.dockerfile)
			build, _, ok := d.stage("build")
			if !ok {
				t.Fatal("no stage named build")
			}
			root := t.TempDir()
			replayStage(t, root, build, ignore)
			final := d.final()
			for _, c := range final.Commands {
				cp, ok := c.(*instructions.CopyCommand)
				if !ok || !strings.EqualFold(cp.From, "build") {
					continue
				}
				for _, src := range cp.SourcePaths {
					host := filepath.Join(root, filepath.Clean(src))
					fi, err := os.Stat(host)
					if err != nil {
						t.Errorf("final stage COPY --from=build %s: the build stage did not make it: %v", src, err)
						continue
					}
					if !fi.Mode().IsRegular() {
						continue
					}
					checkStaticELF(t, host)
					if im.web && filepath.Base(src) == im.name {
						// The console stand-in must be embedded: the copy
						// lands where the gateway's go:embed reads.
						if b, err := os.ReadFile(host); err != nil || !bytes.Contains(b, []byte(consoleStandIn)) {
							t.Errorf("%s does not embed the console copied from the web stage", src)
						}
					}
				}
			}
		})
	}
}

// consoleStandIn is the index.html the replay puts where COPY --from=web
// puts the console's build.
const consoleStandIn = "<!doctype html><title>console stand-in for TestDockerfileBuilds</title>"

// replayStage runs a build stage's instructions under root.
func replayStage(t *testing.T, root string, s instructions.Stage, ignore *patternmatcher.PatternMatcher) {
	t.Helper()
	wd := "/"
	env := map[string]string{}
	hostPath := func(p string) string {
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		return filepath.Join(root, filepath.Clean(p))
	}
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			if filepath.IsAbs(c.Path) {
				wd = c.Path
			} else {
				wd = filepath.Join(wd, c.Path)
			}
			if err := os.MkdirAll(hostPath("."), 0o755); err != nil {
				t.Fatal(err)
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				if a.Value != nil {
					env[a.Key] = *a.Value
				}
			}
		case *instructions.CopyCommand:
			dest := hostPath(c.DestPath)
			toDir := strings.HasSuffix(c.DestPath, "/") || len(c.SourcePaths) > 1
			if c.From != "" {
				if !strings.EqualFold(c.From, "web") {
					t.Fatalf("COPY --from=%s: the replay knows only the web stage", c.From)
				}
				// The console's build output, stood in for.
				if err := os.MkdirAll(dest, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dest, "index.html"), []byte(consoleStandIn), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for _, src := range c.SourcePaths {
				copyFromContext(t, filepath.Clean(src), dest, toDir, ignore)
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if !c.PrependShell {
				t.Fatalf("RUN %v: the replay runs shell-form RUNs only", c.CmdLine)
			}
			for _, part := range strings.Split(line, "&&") {
				f := strings.Fields(part)
				if len(f) == 0 || (f[0] != "go" && f[0] != "mkdir") {
					t.Fatalf("RUN %s: the replay runs go and mkdir only; teach it this command first", line)
				}
			}
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = hostPath(".")
			// The host's Go, caches and PATH; GOWORK and CGO only as the
			// stage sets them.
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); k != "GOWORK" && k != "CGO_ENABLED" && k != "GOFLAGS" {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("RUN %s: %v\n%s", line, err, out)
			}
		default:
			t.Fatalf("%s: the replay does not know this instruction", c.Name())
		}
	}
}

// copyFromContext copies a context path (file or directory) as COPY does:
// a directory's contents go into dest; files .dockerignore excludes are
// not in the context, so not copied.
func copyFromContext(t *testing.T, src, dest string, toDir bool, ignore *patternmatcher.PatternMatcher) {
	t.Helper()
	from := filepath.Join(repoRoot, src)
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatalf("COPY %s: %v", src, err)
	}
	if !fi.IsDir() {
		if toDir {
			dest = filepath.Join(dest, filepath.Base(src))
		}
		copyFile(t, from, dest)
		return
	}
	err = filepath.WalkDir(from, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		if excluded, _ := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); excluded && rel != src {
			if e.IsDir() {
				return nil // a re-included file below could exist: keep walking
			}
			return nil
		}
		inner, _ := filepath.Rel(from, p)
		target := filepath.Join(dest, inner)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		copyFile(t, p, target)
		return nil
	})
	if err != nil {
		t.Fatalf("COPY %s: %v", src, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, _ := in.Stat()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkStaticELF fails the test unless path is a static executable.
func checkStaticELF(t *testing.T, path string) {
	t.Helper()
	for _, p := range staticELFProblems(path) {
		t.Errorf("%s: %s", filepath.Base(path), p)
	}
}

// staticELFProblems: what keeps path from being an executable with no
// program interpreter, no dynamic section and no symbol table (-ldflags
// "-s"), one that runs on distroless static or scratch.
func staticELFProblems(path string) []string {
	f, err := elf.Open(path)
	if err != nil {
		return []string{"not an ELF file: " + err.Error()}
	}
	defer f.Close()
	var problems []string
	if f.Type != elf.ET_EXEC {
		problems = append(problems, "ELF type "+f.Type.String()+", want a static executable (ET_EXEC)")
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			problems = append(problems, "has "+p.Type.String()+": dynamically linked")
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		problems = append(problems, "has a dynamic section")
	}
	if f.Section(".symtab") != nil {
		problems = append(problems, "has a symbol table: not built with -ldflags \"-s\"")
	}
	return problems
}

// TestStaticELFCheck guards the check: a build with its symbols and a
// dynamically linked executable fail it; a static stripped build passes.
func TestStaticELFCheck(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"net\"\n\nfunc main() { _, _ = net.LookupHost(\"localhost\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(name string, env []string, args ...string) string {
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), ".")...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
		return bin
	}
	if p := staticELFProblems(build("static", []string{"CGO_ENABLED=0"}, "-ldflags=-s -w")); len(p) != 0 {
		t.Errorf("static stripped binary: %v", p)
	}
	if p := staticELFProblems(build("symbols", []string{"CGO_ENABLED=0"})); len(p) == 0 {
		t.Error("a binary with a symbol table passed")
	}
	// A dynamically linked executable: the system's ls (glibc).
	ls, err := exec.LookPath("ls")
	if err != nil {
		t.Fatal(err)
	}
	if p := staticELFProblems(ls); len(p) == 0 {
		t.Errorf("%s (dynamically linked) passed", ls)
	}
	if p := staticELFProblems(filepath.Join(dir, "main.go")); len(p) == 0 {
		t.Error("a Go source file passed as an executable")
	}
}
