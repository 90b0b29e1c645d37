package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// The four service Dockerfiles are one Dockerfile per service (Docker has
// no include), so they are kept alike by this test: each must be the
// reference (the deployer's) with only the service's own name, port,
// listen-address variable and description put in, plus, for the gateway,
// the web stage and its copy into the console's embed directory. The
// all-in-one differs in what it builds, but its web stage and its module
// files up to `go mod download` must be the same text as the services'.
const referenceDockerfile = "deployer"

// webStageStart begins the web stage's block (its comment) in the images
// that embed the console; the block runs to the first blank line after
// its FROM.
const webStageStart = "# The web console"

func TestServiceDockerfilesAgree(t *testing.T) {
	ref, ok := imageByName(referenceDockerfile)
	if !ok {
		t.Fatalf("no image %s", referenceDockerfile)
	}
	refLines := dockerfileLines(t, ref)
	refPort := defaultPort(t, ref)
	refDesc := labelDescription(t, ref)
	gw, _ := imageByName("gateway")
	webBlock, _ := cutWebStage(t, dockerfileLines(t, gw))
	for _, im := range images {
		if im.name == ref.name || im.name == "eventflow" {
			continue
		}
		t.Run(im.name, func(t *testing.T) {
			got := dockerfileLines(t, im)
			if im.web {
				_, rest := cutWebStage(t, got)
				got = dropCopyFromWeb(t, rest)
			}
			sub := strings.NewReplacer(
				refDesc, labelDescription(t, im),
				ref.addrEnv, im.addrEnv,
				refPort, defaultPort(t, im),
			)
			name := regexp.MustCompile(`\b` + regexp.QuoteMeta(ref.name) + `\b`)
			want := make([]string, len(refLines))
			for i, l := range refLines {
				// Every module's go.mod is copied in every image: those
				// lines name the reference without being about it.
				if !strings.Contains(l, "go.mod") {
					l = name.ReplaceAllString(l, im.name)
				}
				want[i] = sub.Replace(l)
			}
			compareLines(t, im.dockerfile, got, "the "+ref.name+"'s Dockerfile made "+im.name+"'s", want)
		})
	}

	t.Run("eventflow", func(t *testing.T) {
		im, _ := imageByName("eventflow")
		got := dockerfileLines(t, im)
		block, rest := cutWebStage(t, got)
		compareLines(t, im.dockerfile+" (web stage)", block, "the gateway's", webBlock)
		// The build stage's start, to `go mod download`, is the
		// reference's.
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
			return lines[from:to]
		}
		compareLines(t, im.dockerfile+" (build stage)", prefix(rest), "the "+ref.name+"'s", prefix(refLines))
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
func dockerfileLines(t *testing.T, im image) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, im.dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// labelDescription is the final stage's org.opencontainers.image.description.
func labelDescription(t *testing.T, im image) string {
	t.Helper()
	for _, c := range parseDockerfile(t, im.dockerfile).final().Commands {
		if l, ok := c.(*instructions.LabelCommand); ok {
			for _, kv := range l.Labels {
				// BuildKit keeps a LABEL value's quotes.
				if v := strings.Trim(kv.Value, `"`); kv.Key == "org.opencontainers.image.description" && v != "" {
					return v
				}
			}
		}
	}
	t.Fatalf("%s: no LABEL org.opencontainers.image.description", im.dockerfile)
	return ""
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

// dropCopyFromWeb removes the one COPY --from=web line.
func dropCopyFromWeb(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "COPY --from=web ") {
			n++
			continue
		}
		out = append(out, l)
	}
	if n != 1 {
		t.Fatalf("%d COPY --from=web lines, want 1", n)
	}
	return out
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
