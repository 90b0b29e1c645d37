package packaging

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
)

// TestDockerfileBuilds proves each Dockerfile's builds work without
// Docker: every stage before the final one is replayed on this machine, in
// order. A stage's root is a temporary directory; WORKDIR and ENV apply as
// in the Dockerfile; each COPY from the context copies exactly those paths
// (minus what .dockerignore drops) from the repository, each COPY --from
// out of the earlier stage's root; each RUN runs with sh. The web stage's
// npm ci runs offline, from the npm cache `make build` filled (the images'
// builds fetch from the registry); the Go builds use the host's module
// cache. Then every file the final stage copies out of the build stage must
// exist, the binaries must be static ELF executables, and the gateway's
// and all-in-one's must embed the console the web stage built.
func TestDockerfileBuilds(t *testing.T) {
	ignore := dockerignore(t)
	// Stages with the same base and instructions (the web stage of the
	// gateway and of the all-in-one) are replayed once.
	replayed := map[string]string{}
	roots := t.TempDir() // outlives the subtests, for the replayed stages
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			d := resolvedDockerfile(t, im)
			stageRoots := map[string]string{}
			for _, s := range d.stages[:len(d.stages)-1] {
				key := stageKey(s)
				root, ok := replayed[key]
				if !ok {
					var err error
					if root, err = os.MkdirTemp(roots, "stage-"); err != nil {
						t.Fatal(err)
					}
					replayStage(t, root, s, ignore, stageRoots)
					if !t.Failed() {
						replayed[key] = root
					}
				}
				stageRoots[strings.ToLower(s.Name)] = root
			}
			root, ok := stageRoots["build"]
			if !ok {
				t.Fatal("no stage named build")
			}
			var consoleJS []string
			if im.web {
				consoleJS = consoleAssets(t, stageRoots["web"])
			}
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
						// The console the web stage built must be embedded:
						// the copy lands where the gateway's go:embed reads.
						b, err := os.ReadFile(host)
						for _, a := range consoleJS {
							if err != nil || !bytes.Contains(b, []byte(a)) {
								t.Errorf("%s does not embed %s, built by the web stage", src, a)
							}
						}
					}
				}
			}
		})
	}
}

// stageKey identifies a stage by its base and instructions, as expanded
// (an instruction's String is its source text, variables unexpanded).
func stageKey(s instructions.Stage) string {
	k := s.BaseName
	for _, c := range s.Commands {
		k += "\n" + fmt.Sprint(c)
		switch c := c.(type) {
		case *instructions.CopyCommand:
			k += fmt.Sprintf(" %q %q %q", c.From, c.SourcePaths, c.DestPath)
		case *instructions.RunCommand:
			k += fmt.Sprintf(" %q", c.CmdLine)
		case *instructions.EnvCommand:
			k += fmt.Sprintf(" %v", c.Env)
		case *instructions.WorkdirCommand:
			k += fmt.Sprintf(" %q", c.Path)
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				if a.Value != nil {
					k += fmt.Sprintf(" %s=%q", a.Key, *a.Value)
				}
			}
		}
	}
	return k
}

// consoleAssets are the names of the scripts the console's index.html
// loads, out of the web stage's dist (its WORKDIR is /src/web, which
// checkWeb checks): content-hashed, so found in a binary only if that
// build was embedded.
func consoleAssets(t *testing.T, webRoot string) []string {
	t.Helper()
	if webRoot == "" {
		t.Fatal("no web stage was replayed")
	}
	b, err := os.ReadFile(filepath.Join(webRoot, "src", "web", "dist", "index.html"))
	if err != nil {
		t.Fatalf("the web stage built no index.html: %v", err)
	}
	m := regexp.MustCompile(`assets/[A-Za-z0-9_.-]+\.js`).FindAllString(string(b), -1)
	if len(m) == 0 {
		t.Fatalf("the console's index.html loads no assets/*.js:\n%s", b)
	}
	return m
}

// replayStage runs a stage's instructions under root; COPY --from reads
// the earlier stages' roots.
func replayStage(t *testing.T, root string, s instructions.Stage, ignore *patternmatcher.PatternMatcher, stageRoots map[string]string) {
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
				from, ok := stageRoots[strings.ToLower(c.From)]
				if !ok {
					t.Fatalf("COPY --from=%s: no earlier stage of that name was replayed", c.From)
				}
				for _, src := range c.SourcePaths {
					copyTree(t, filepath.Join(from, filepath.Clean(src)), dest, toDir)
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
			// A cache mount changes how fast, not what: the replay uses
			// the host's caches. Other mounts would bring in files the
			// replay does not.
			// BuildKit reads the mount options only when it expands
			// them; none of ours uses a variable.
			if err := c.Expand(func(w string) (string, error) {
				if strings.Contains(w, "$") {
					return "", fmt.Errorf("%s: the replay does not expand variables", w)
				}
				return w, nil
			}); err != nil {
				t.Fatalf("RUN %v: %v", c.CmdLine, err)
			}
			for _, m := range instructions.GetMounts(c) {
				if m.Type != instructions.MountTypeCache {
					t.Fatalf("RUN --mount=type=%s: the replay knows only cache mounts", m.Type)
				}
			}
			for _, part := range strings.Split(line, "&&") {
				f := strings.Fields(part)
				if len(f) == 0 || (f[0] != "go" && f[0] != "mkdir" && f[0] != "npm") {
					t.Fatalf("RUN %s: the replay runs go, npm and mkdir only; teach it this command first", line)
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
			// npm from its cache only: no registry from a test.
			cmd.Env = append(cmd.Env, "npm_config_offline=true", "npm_config_update_notifier=false")
			if out, err := cmd.CombinedOutput(); err != nil {
				hint := ""
				if strings.Contains(line, "npm ci") {
					hint = "\n(npm ci runs offline here: make build fills the npm cache it needs)"
				}
				t.Fatalf("RUN %s: %v\n%s%s", line, err, out, hint)
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
	if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
		t.Fatalf("COPY %s: %v", src, err)
	}
	copyTreeFiltered(t, filepath.Join(repoRoot, src), dest, toDir, func(p string, dir bool) (skip, skipDir bool) {
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if excluded, _ := ignore.MatchesOrParentMatches(rel); !excluded || rel == src {
			return false, false
		}
		// An excluded directory is walked only if a ! pattern could
		// bring back something below it.
		for _, pat := range ignore.Patterns() {
			if pat.Exclusion() && strings.HasPrefix(pat.String(), rel+"/") {
				return true, false
			}
		}
		return true, dir
	})
}

// copyTree copies a file or a directory's contents, as COPY --from does.
func copyTree(t *testing.T, from, dest string, toDir bool) {
	t.Helper()
	if _, err := os.Stat(from); err != nil {
		t.Fatalf("COPY --from: %v", err)
	}
	copyTreeFiltered(t, from, dest, toDir, func(string, bool) (bool, bool) { return false, false })
}

// copyTreeFiltered copies from (a file, or a directory's contents) to
// dest; a file goes into dest when toDir. skip leaves a path out, skipDir
// also all below it.
func copyTreeFiltered(t *testing.T, from, dest string, toDir bool, skip func(path string, dir bool) (skip, skipDir bool)) {
	t.Helper()
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() {
		if toDir {
			dest = filepath.Join(dest, filepath.Base(from))
		}
		copyFile(t, from, dest)
		return
	}
	err = filepath.WalkDir(from, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if sk, skDir := skip(p, e.IsDir()); skDir {
			return filepath.SkipDir
		} else if sk {
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
		t.Fatalf("copy %s: %v", from, err)
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
