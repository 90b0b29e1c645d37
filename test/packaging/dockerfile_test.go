package packaging

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// parsedDockerfile is a Dockerfile as BuildKit reads it.
type parsedDockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
}

// parseDockerfile parses path (relative to repoRoot) with BuildKit's own
// parser, failing the test on parser warnings or BuildKit lint findings.
func parseDockerfile(t *testing.T, path string) parsedDockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	var lints []string
	lint := linter.New(&linter.Config{Warn: func(rule, desc, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		lints = append(lints, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, l := range lints {
		t.Errorf("%s: BuildKit lint: %s", path, l)
	}
	if len(stages) == 0 {
		t.Fatalf("%s: no stages", path)
	}
	return parsedDockerfile{stages: stages, metaArgs: metaArgs}
}

func (d parsedDockerfile) final() instructions.Stage { return d.stages[len(d.stages)-1] }

func (d parsedDockerfile) stage(name string) (instructions.Stage, int, bool) {
	for i, s := range d.stages {
		if s.Name != "" && strings.EqualFold(s.Name, name) {
			return s, i, true
		}
	}
	return instructions.Stage{}, -1, false
}

// stageEnv is the ENV of a stage, in order.
func stageEnv(s instructions.Stage) map[string]string {
	env := map[string]string{}
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	return env
}

// dockerignore matches paths excluded from the build context.
func dockerignore(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

var (
	pinnedDistroless = regexp.MustCompile(`^gcr\.io/distroless/static-debian1[2-9]:(nonroot|[0-9a-z][0-9a-z.-]*)(@sha256:[0-9a-f]{64})?$`)
	numericUser      = regexp.MustCompile(`^([0-9]+)(:([0-9]+))?$`)
)

// pinned reports whether an image reference names a tag or a digest other
// than latest.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	return i >= 0 && name[i+1:] != "" && name[i+1:] != "latest"
}

func TestDockerfiles(t *testing.T) {
	ignore := dockerignore(t)
	modules := workspaceModules(t)
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			d := resolvedDockerfile(t, im)
			if len(d.stages) < 2 {
				t.Fatalf("%d stage(s): want a multi-stage build", len(d.stages))
			}
			final := d.final()
			if final.BaseName != "scratch" && !pinnedDistroless.MatchString(final.BaseName) {
				t.Errorf("final stage FROM %q: want gcr.io/distroless/static-debian12 with a tag (or scratch)", final.BaseName)
			}
			seen := map[string]bool{}
			for i, s := range d.stages {
				if s.Name != "" {
					seen[strings.ToLower(s.Name)] = true
				}
				if i < len(d.stages)-1 && s.Name == "" {
					t.Errorf("stage %d (FROM %s) has no name: COPY --from must name stages", i, s.BaseName)
				}
				if !seen[strings.ToLower(s.BaseName)] && s.BaseName != "scratch" && !pinned(s.BaseName) {
					t.Errorf("stage %q: FROM %s is not pinned to a tag", s.Name, s.BaseName)
				}
				checkStage(t, im, d, i, ignore)
			}
			checkFinal(t, im, final)
			checkBuild(t, im, d, modules)
			checkWeb(t, im, d)
		})
	}
}

// checkStage checks what applies to every stage: ADD, COPY --from and the
// sources of COPY.
func checkStage(t *testing.T, im image, d parsedDockerfile, idx int, ignore *patternmatcher.PatternMatcher) {
	s := d.stages[idx]
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.AddCommand:
			for _, src := range c.SourcePaths {
				if u, err := url.Parse(src); err == nil && u.Scheme != "" {
					t.Errorf("stage %q: ADD %s fetches a URL", s.Name, src)
				}
			}
			t.Errorf("stage %q: ADD %v: use COPY", s.Name, c.SourcePaths)
		case *instructions.CopyCommand:
			if c.From != "" {
				_, j, ok := d.stage(c.From)
				if !ok || j >= idx {
					t.Errorf("stage %q: COPY --from=%s names no earlier stage", s.Name, c.From)
				}
				continue
			}
			for _, src := range c.SourcePaths {
				checkContextPath(t, s.Name, src, ignore)
			}
		}
	}
}

// checkContextPath: src exists in the repository and .dockerignore keeps it
// in the build context.
func checkContextPath(t *testing.T, stage, src string, ignore *patternmatcher.PatternMatcher) {
	if strings.ContainsAny(src, "*?[") {
		t.Errorf("stage %q: COPY %s: use exact paths, so this test can check them", stage, src)
		return
	}
	rel := filepath.Clean(src)
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "..") {
		t.Errorf("stage %q: COPY %s is outside the build context", stage, src)
		return
	}
	if _, err := os.Stat(filepath.Join(repoRoot, rel)); err != nil {
		t.Errorf("stage %q: COPY %s: not in the repository: %v", stage, src, err)
		return
	}
	if rel == "." {
		return
	}
	if excluded, err := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || excluded {
		t.Errorf("stage %q: COPY %s: excluded from the build context by .dockerignore", stage, src)
	}
}

// checkFinal checks the runtime stage: the binary and /probe, a numeric
// non-root USER, EXPOSE, ENV, HEALTHCHECK and ENTRYPOINT.
func checkFinal(t *testing.T, im image, final instructions.Stage) {
	copied := map[string]bool{}
	var user string
	var exposed []string
	var entry *instructions.EntrypointCommand
	var health *instructions.HealthCheckCommand
	labels := map[string]string{}
	volumes := map[string]bool{}
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From == "" {
				t.Errorf("final stage: COPY %v from the context: only built files belong here", c.SourcePaths)
			}
			copied[c.DestPath] = true
		case *instructions.UserCommand:
			user = c.User
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entry = c
		case *instructions.HealthCheckCommand:
			health = c
		case *instructions.LabelCommand:
			for _, kv := range c.Labels {
				labels[kv.Key] = kv.Value
			}
		case *instructions.VolumeCommand:
			for _, v := range c.Volumes {
				volumes[v] = true
			}
		case *instructions.RunCommand:
			t.Errorf("final stage: RUN %v: the base has no shell", c.CmdLine)
		}
	}
	bin := "/" + im.name
	for _, p := range []string{bin, "/probe"} {
		if !copied[p] {
			t.Errorf("final stage does not COPY %s", p)
		}
	}
	m := numericUser.FindStringSubmatch(user)
	switch {
	case m == nil:
		t.Errorf("USER %q: want a numeric uid[:gid] (runAsNonRoot needs a number)", user)
	case m[1] == "0" || m[3] == "0":
		t.Errorf("USER %q is root", user)
	}
	port := defaultPort(t, im)
	if len(exposed) != 1 || strings.TrimSuffix(exposed[0], "/tcp") != port {
		t.Errorf("EXPOSE %v: want the service's default port %s", exposed, port)
	}
	env := stageEnv(final)
	host, envPort, err := net.SplitHostPort(env[im.addrEnv])
	if err != nil || envPort != port || host != "0.0.0.0" {
		t.Errorf("ENV %s=%q: want 0.0.0.0:%s, reachable from outside the container", im.addrEnv, env[im.addrEnv], port)
	}
	if entry == nil {
		t.Error("no ENTRYPOINT")
	} else if entry.PrependShell || len(entry.CmdLine) == 0 || entry.CmdLine[0] != bin {
		t.Errorf("ENTRYPOINT %v (shell form: %v): want the exec form [%q ...]", entry.CmdLine, entry.PrependShell, bin)
	}
	if health == nil || health.Health == nil {
		t.Error("no HEALTHCHECK")
	} else {
		want := []string{"CMD", "/probe", "http://127.0.0.1:" + port + "/healthz"}
		if strings.Join(health.Health.Test, " ") != strings.Join(want, " ") {
			t.Errorf("HEALTHCHECK %v: want %v", health.Health.Test, want)
		}
	}
	for _, k := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.description", "org.opencontainers.image.version"} {
		if labels[k] == "" {
			t.Errorf("no LABEL %s", k)
		}
	}
	// A read-only root: whatever the binary writes must be a VOLUME.
	if dir, ok := env["EVENTFLOW_DATA_DIR"]; ok || im.name == "eventflow" {
		if !filepath.IsAbs(dir) || !volumes[dir] {
			t.Errorf("EVENTFLOW_DATA_DIR=%q must be an absolute path declared as a VOLUME (volumes %v)", dir, volumes)
		}
	}
}

var goBuildCmd = regexp.MustCompile(`go build ([^&;|]*)`)

// checkBuild checks the Go stage: the workspace's modules copied before
// `go mod download`, then sources, then a static, trimmed, stripped build of
// the main package and of probe.
func checkBuild(t *testing.T, im image, d parsedDockerfile, modules []string) {
	b, _, ok := d.stage("build")
	if !ok {
		t.Fatal("no stage named build")
	}
	if !strings.HasPrefix(b.BaseName, "golang:") {
		t.Errorf("build stage FROM %s: want golang", b.BaseName)
	}
	env := stageEnv(b)
	copiedBeforeDownload := map[string]bool{}
	downloaded := false
	built := map[string]bool{}
	for _, c := range b.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if downloaded || c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				base := filepath.Base(src)
				if base != "go.mod" && base != "go.sum" && base != "go.work" && base != "go.work.sum" {
					t.Errorf("COPY %s before `go mod download`: only module files, so the download layer stays cached", src)
				}
				copiedBeforeDownload[filepath.Clean(src)] = true
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "go mod download") {
				downloaded = true
			}
			for _, m := range goBuildCmd.FindAllStringSubmatch(line, -1) {
				args := strings.Fields(m[1])
				if !strings.Contains(line, "CGO_ENABLED=0") && env["CGO_ENABLED"] != "0" {
					t.Errorf("go build %s without CGO_ENABLED=0", m[1])
				}
				if !strings.Contains(m[1], "-trimpath") || !strings.Contains(m[1], `-ldflags="-s -w"`) {
					t.Errorf("go build %s: want -trimpath -ldflags=\"-s -w\"", m[1])
				}
				built[args[len(args)-1]] = true
			}
		}
	}
	if !downloaded {
		t.Error("the build stage never runs `go mod download`")
	}
	if gw, ok := env["GOWORK"]; ok && gw != "" {
		t.Errorf("GOWORK=%s: the build must use the repository's go.work", gw)
	}
	for _, f := range []string{"go.work", "go.work.sum"} {
		if !copiedBeforeDownload[f] {
			t.Errorf("%s is not copied before `go mod download`", f)
		}
	}
	for _, m := range modules {
		for _, f := range []string{"go.mod", "go.sum"} {
			p := filepath.Join(m, f)
			if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
				continue // a module without dependencies has no go.sum
			}
			if !copiedBeforeDownload[p] {
				t.Errorf("%s (go.work uses %s) is not copied before `go mod download`", p, m)
			}
		}
	}
	for _, pkg := range []string{"./" + im.pkg, "./cmd/probe"} {
		if !built[pkg] {
			t.Errorf("the build stage does not go build %s (built: %v)", pkg, built)
		}
	}
}

// checkWeb: the gateway and the all-in-one build the console in a node
// stage and copy its dist where the gateway's go:embed reads it.
func checkWeb(t *testing.T, im image, d parsedDockerfile) {
	web, _, ok := d.stage("web")
	if !im.web {
		if ok {
			t.Error("a web stage in an image without the console")
		}
		return
	}
	if !ok {
		t.Fatal("no stage named web")
	}
	if web.BaseName != "node:20-bookworm-slim" {
		t.Errorf("web stage FROM %s: want node:20-bookworm-slim", web.BaseName)
	}
	var runs []string
	for _, c := range web.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			runs = append(runs, strings.Join(r.CmdLine, " "))
		}
	}
	joined := strings.Join(runs, "\n")
	if !strings.Contains(joined, "npm ci") || !strings.Contains(joined, "npm run build") {
		t.Errorf("web stage runs %q: want npm ci and npm run build", runs)
	}
	b, _, _ := d.stage("build")
	found := false
	for _, c := range b.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && strings.EqualFold(cp.From, "web") {
			if len(cp.SourcePaths) == 1 && filepath.Clean(cp.SourcePaths[0]) == "/src/web/dist" &&
				filepath.Clean(cp.DestPath) == "services/gateway/internal/console/dist" {
				found = true
			}
		}
	}
	if !found {
		t.Error("the build stage does not COPY --from=web /src/web/dist/ services/gateway/internal/console/dist/")
	}
	if wd := lastWorkdir(web); wd != "/src/web" {
		t.Errorf("web stage WORKDIR %q: the copy expects /src/web", wd)
	}
}

func lastWorkdir(s instructions.Stage) string {
	wd := ""
	for _, c := range s.Commands {
		if w, ok := c.(*instructions.WorkdirCommand); ok {
			if filepath.IsAbs(w.Path) {
				wd = w.Path
			} else {
				wd = filepath.Join(wd, w.Path)
			}
		}
	}
	return wd
}

// TestDockerignore: what must never reach a build context is excluded,
// what the images need is not.
func TestDockerignore(t *testing.T) {
	pm := dockerignore(t)
	for p, wantExcluded := range map[string]bool{
		".git/config":                     true,
		"bin/gateway":                     true,
		".eventflow/x":                    true,
		"web/node_modules/react/index.js": true,
		"web/dist/index.html":             true,
		"test-output/x.json":              true,
		".env":                            true,
		"services/gateway/internal/console/dist/index.html": true,
		"services/gateway/internal/console/dist/.gitkeep":   false,
		"services/gateway/internal/console/console.go":      false,
		"web/package.json":                    false,
		"web/src/main.tsx":                    false,
		"web/package-lock.json":               false,
		"web/tsconfig.json":                   false,
		"web/scripts/check-api.mjs":           false, // scripts/ is the root's only
		"web/e2e/console.e2e.ts":              false, // the type check includes e2e/
		"pkg/go.mod":                          false,
		"go.work":                             false,
		"go.work.sum":                         false,
		"deploy/go.mod":                       false,
		"cmd/probe/main.go":                   false,
		"services/invoker/service/service.go": false,
		"cmd/eventflow/internal/dev/dev.go":   false,
		"test/packaging/go.mod":               false,
		"examples/go.mod":                     false,
	} {
		got, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantExcluded {
			t.Errorf("%s: excluded %v, want %v", p, got, wantExcluded)
		}
	}
}

// TestPinnedHelper guards the helper the checks rely on.
func TestPinnedHelper(t *testing.T) {
	for ref, want := range map[string]bool{
		"golang:1.26.8-bookworm": true, "node:20-bookworm-slim": true, "golang": false, "golang:latest": false,
		"gcr.io/distroless/static-debian12:nonroot": true, "localhost:5000/x": false, "x@sha256:" + strings.Repeat("a", 64): true,
	} {
		if pinned(ref) != want {
			t.Errorf("pinned(%q) = %v", ref, !want)
		}
	}
	if !numericUser.MatchString("65532:65532") || numericUser.MatchString("nonroot") {
		t.Error("numericUser")
	}
}
