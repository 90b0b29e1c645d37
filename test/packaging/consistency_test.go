package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// The four services are built from one Dockerfile, services/Dockerfile,
// the build argument SERVICE choosing the service: what the images share
// is written once. Docker expands no variable in HEALTHCHECK or in an
// exec-form ENTRYPOINT, so each service has one small final stage, named
// after it, holding only what is its own (description, listen address,
// port, health check, entrypoint). The all-in-one differs in what it
// builds, but its web stage and its module files up to `go mod download`
// must be the same text as the services'.
const serviceDockerfile = "services/Dockerfile"

// webStageStart begins the web stage's block (its comment) in the images
// that embed the console; the block runs to the first blank line after
// its FROM.
const webStageStart = "# The web console"

// TestOneServiceDockerfile: every service (a main package under
// services/) is an image built from services/Dockerfile with SERVICE set to
// its name; no per-service Dockerfile is left to drift; the per-service
// final stages hold only what cannot be shared.
func TestOneServiceDockerfile(t *testing.T) {
	mains, err := filepath.Glob(filepath.Join(repoRoot, "services", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no services/*/main.go: %v", err)
	}
	d := parseDockerfile(t, serviceDockerfile)
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		t.Run(name, func(t *testing.T) {
			im, ok := imageByBuild(serviceDockerfile, map[string]string{"SERVICE": name})
			if !ok || im.name != name || im.pkg != "services/"+name {
				t.Fatalf("no image %s built from %s with SERVICE=%s", name, serviceDockerfile, name)
			}
			if _, err := os.Stat(filepath.Join(repoRoot, "services", name, "Dockerfile")); err == nil {
				t.Errorf("services/%s/Dockerfile exists: the services are built from %s", name, serviceDockerfile)
			}
			s, _, ok := d.stage(name)
			if !ok {
				t.Fatalf("%s has no stage %s", serviceDockerfile, name)
			}
			for _, c := range s.Commands {
				switch c := c.(type) {
				case *instructions.LabelCommand:
					for _, kv := range c.Labels {
						if kv.Key != "org.opencontainers.image.description" {
							t.Errorf("stage %s: LABEL %s: only the description is the service's own", name, kv.Key)
						}
					}
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						if kv.Key != im.addrEnv {
							t.Errorf("stage %s: ENV %s: only the listen address is the service's own", name, kv.Key)
						}
					}
				case *instructions.ExposeCommand, *instructions.HealthCheckCommand, *instructions.EntrypointCommand:
				default:
					t.Errorf("stage %s: %s belongs in the shared stages (it can take ${SERVICE})", name, c.Name())
				}
			}
		})
	}
	// Nothing but the SERVICE argument chooses the image: the last stage is
	// the service's stage.
	if last := d.final(); last.BaseName != "${SERVICE}" || len(last.Commands) != 0 {
		t.Errorf("last stage FROM %s with %d instructions: want FROM ${SERVICE} and nothing else", last.BaseName, len(last.Commands))
	}

	t.Run("eventflow", func(t *testing.T) {
		im, _ := imageByName("eventflow")
		got := dockerfileLines(t, im.dockerfile)
		svc := dockerfileLines(t, serviceDockerfile)
		block, rest := cutWebStage(t, got)
		webBlock, svcRest := cutWebStage(t, svc)
		compareLines(t, im.dockerfile+" (web stage)", block, serviceDockerfile+"'s", webBlock)
		// The Go stage's start, to `go mod download`, is the services',
		// but for the stage's name.
		prefix := func(lines []string) []string {
			from, to := -1, -1
			for i, l := range lines {
				if from < 0 && strings.HasPrefix(l, "FROM golang:") {
					from = i
				}
				if from >= 0 && l == "RUN go mod download" {
					to = i + 1
					break
				}
			}
			if from < 0 || to < 0 {
				t.Fatal("no FROM golang: ... RUN go mod download")
			}
			out := slices.Clone(lines[from:to])
			out[0], _, _ = strings.Cut(out[0], " AS ")
			return out
		}
		compareLines(t, im.dockerfile+" (build stage)", prefix(rest), serviceDockerfile+"'s", prefix(svcRest))
	})
}

func imageByName(name string) (image, bool) {
	for _, im := range images {
		if im.name == name {
			return im, true
		}
	}
	return image{}, false
}

// dockerfileLines is a Dockerfile's text, line by line.
func dockerfileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// cutWebStage splits lines into the web stage's block (from its comment to
// the blank line after it, included) and the rest.
func cutWebStage(t *testing.T, lines []string) (block, rest []string) {
	t.Helper()
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, webStageStart) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("no web stage block starting %q", webStageStart)
	}
	end := start
	for end < len(lines) && lines[end] != "" {
		end++
	}
	if end == len(lines) {
		t.Fatal("the web stage block does not end with a blank line")
	}
	end++ // the blank line
	rest = append(append([]string{}, lines[:start]...), lines[end:]...)
	return lines[start:end], rest
}

// compareLines fails at the first line where got and want differ.
func compareLines(t *testing.T, what string, got []string, wantWhat string, want []string) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("%s differs from %s at line %d (of the compared text; keep the Dockerfiles alike, or change them all):\n got: %q\nwant: %q", what, wantWhat, i+1, g, w)
			return
		}
	}
}
