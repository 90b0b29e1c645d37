package packaging

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// resolvedDockerfile is what BuildKit builds of im's Dockerfile with im's
// build arguments: variables expanded as BuildKit expands them (FROM with
// the global ARGs; COPY, ENV, LABEL, EXPOSE, USER, WORKDIR and RUN with the
// ARGs and ENV in scope; never HEALTHCHECK or ENTRYPOINT), each stage
// built FROM an earlier one folded into it (its base's instructions, then
// its own), and only the stages the last one needs, in order. For a
// Dockerfile without build arguments or stage chains that is the file as
// written.
func resolvedDockerfile(t *testing.T, im image) parsedDockerfile {
	t.Helper()
	d := parseDockerfile(t, im.dockerfile)
	lex := shell.NewLex('\\')
	global := map[string]string{}
	for _, a := range d.metaArgs {
		for _, kv := range a.Args {
			if v, ok := im.args[kv.Key]; ok {
				global[kv.Key] = v
			} else if kv.Value != nil {
				global[kv.Key] = *kv.Value
			}
		}
	}
	for k := range im.args {
		if _, ok := global[k]; !ok {
			if !declaredInAStage(d, k) {
				t.Errorf("%s: build argument %s is declared nowhere", im.dockerfile, k)
			}
		}
	}
	expandWith := func(env map[string]string) instructions.SingleWordExpander {
		return func(w string) (string, error) {
			r, _, err := lex.ProcessWord(w, mapEnv(env))
			return r, err
		}
	}
	// BuildKit's lint InvalidDefaultArgInFrom (run by docker build, not by
	// the parser): with the ARGs' defaults alone every FROM names something.
	defaults := map[string]string{}
	for _, a := range d.metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				defaults[kv.Key] = *kv.Value
			}
		}
	}
	for _, s := range d.stages {
		if b, err := expandWith(defaults)(s.BaseName); err != nil || b == "" {
			t.Errorf("%s: FROM %s is empty with the ARGs' defaults (BuildKit warns InvalidDefaultArgInFrom)", im.dockerfile, s.BaseName)
		}
	}
	var out []instructions.Stage
	index := map[string]int{} // folded stage name -> index in out
	for _, s := range d.stages {
		base, err := expandWith(global)(s.BaseName)
		if err != nil {
			t.Fatalf("%s: FROM %s: %v", im.dockerfile, s.BaseName, err)
		}
		if base == "" {
			t.Fatalf("%s: FROM %s is empty with build arguments %v", im.dockerfile, s.BaseName, im.args)
		}
		folded := instructions.Stage{Name: s.Name, BaseName: base}
		env := map[string]string{} // ARGs and ENV in scope
		if i, ok := index[strings.ToLower(base)]; ok {
			folded.BaseName = out[i].BaseName
			folded.Commands = slices.Clone(out[i].Commands)
			// ENV is inherited. BuildKit passes on ARGs too, but here a
			// stage must declare the ARGs it uses, which also builds right.
			env = stageEnv(out[i])
		}
		for _, c := range s.Commands {
			c = cloneCommand(t, c)
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					if v, ok := im.args[kv.Key]; ok {
						env[kv.Key] = v
					} else if kv.Value != nil {
						v, err := expandWith(env)(*kv.Value)
						if err != nil {
							t.Fatalf("%s: ARG %s: %v", im.dockerfile, kv.Key, err)
						}
						env[kv.Key] = v
					} else if v, ok := global[kv.Key]; ok {
						env[kv.Key] = v
					}
				}
				folded.Commands = append(folded.Commands, c)
				continue
			}
			switch c := c.(type) {
			case *instructions.RunCommand:
				for i, l := range c.CmdLine {
					c.CmdLine[i] = expandShellVars(l, env)
				}
			case *instructions.ExposeCommand:
				for i, p := range c.Ports {
					if c.Ports[i], err = expandWith(env)(p); err != nil {
						t.Fatalf("%s: EXPOSE %s: %v", im.dockerfile, p, err)
					}
				}
			case *instructions.HealthCheckCommand, *instructions.EntrypointCommand, *instructions.CmdCommand:
				// Docker never expands these (exec form).
			default:
				if x, ok := c.(instructions.SupportsSingleWordExpansion); ok {
					if err := x.Expand(expandWith(env)); err != nil {
						t.Fatalf("%s: %s: %v", im.dockerfile, c.Name(), err)
					}
				}
			}
			if e, ok := c.(*instructions.EnvCommand); ok {
				for _, kv := range e.Env {
					env[kv.Key] = kv.Value
				}
			}
			folded.Commands = append(folded.Commands, c)
		}
		if s.Name != "" {
			index[strings.ToLower(s.Name)] = len(out)
		}
		out = append(out, folded)
	}
	// The last stage and, transitively, the stages it copies from.
	need := map[int]bool{len(out) - 1: true}
	for i := len(out) - 1; i >= 0; i-- {
		if !need[i] {
			continue
		}
		for _, c := range out[i].Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				if j, ok := index[strings.ToLower(cp.From)]; ok && j < i {
					need[j] = true
				}
			}
		}
	}
	res := parsedDockerfile{metaArgs: d.metaArgs}
	for i, s := range out {
		if need[i] {
			res.stages = append(res.stages, s)
		}
	}
	return res
}

func declaredInAStage(d parsedDockerfile, name string) bool {
	for _, s := range d.stages {
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					if kv.Key == name {
						return true
					}
				}
			}
		}
	}
	return false
}

// cloneCommand copies the parts of c that expansion changes, so the parsed
// stages are not modified.
func cloneCommand(t *testing.T, c instructions.Command) instructions.Command {
	t.Helper()
	switch c := c.(type) {
	case *instructions.CopyCommand:
		n := *c
		n.SourcePaths = slices.Clone(c.SourcePaths)
		return &n
	case *instructions.EnvCommand:
		n := *c
		n.Env = slices.Clone(c.Env)
		return &n
	case *instructions.LabelCommand:
		n := *c
		n.Labels = slices.Clone(c.Labels)
		return &n
	case *instructions.ExposeCommand:
		n := *c
		n.Ports = slices.Clone(c.Ports)
		return &n
	case *instructions.RunCommand:
		n := *c
		n.CmdLine = slices.Clone(c.CmdLine)
		return &n
	case *instructions.UserCommand:
		n := *c
		return &n
	case *instructions.VolumeCommand:
		n := *c
		n.Volumes = slices.Clone(c.Volumes)
		return &n
	case *instructions.WorkdirCommand:
		n := *c
		return &n
	case *instructions.ArgCommand, *instructions.HealthCheckCommand, *instructions.EntrypointCommand, *instructions.CmdCommand:
		return c
	}
	if _, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		t.Fatalf("%s: the resolver does not copy this instruction before expanding it", c.Name())
	}
	return c
}

var shellVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandShellVars expands $NAME and ${NAME} of the ARGs and ENV in scope in
// a RUN line, as its shell would; others are left for the shell.
func expandShellVars(line string, env map[string]string) string {
	return shellVar.ReplaceAllStringFunc(line, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := env[name]; ok {
			return v
		}
		return m
	})
}

type mapEnv map[string]string

func (m mapEnv) Get(k string) (string, bool) { v, ok := m[k]; return v, ok }
func (m mapEnv) Keys() []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
