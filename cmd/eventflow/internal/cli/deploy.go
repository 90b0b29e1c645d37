package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/functionfile"
)

// Functions deployed from a file carry these labels: --prune deletes only
// what the CLI deployed for the same project, never a function made
// another way or another project's.
const (
	managedByLabel = "managed-by"
	managedByCLI   = "eventflow-cli"
	projectLabel   = "eventflow-project"
)

// change is what deploy does to one function.
type change struct {
	name   string
	action string // created, changed, unchanged, pruned
	fields []fieldDiff
	spec   function.Spec
}

type fieldDiff struct {
	path, from, to string
	hidden         bool // env values: only whether they changed is shown
}

func (a *app) deployCmd() *cobra.Command {
	var (
		files, filter              []string
		project                    string
		prune, dryRun, wait, quiet bool
		timeout                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy -f FILE...",
		Short: "Create or update every function of a function file",
		Long: `Apply a function file: every function it names is created, or updated when
its spec differs from the gateway's (the change is printed field by field);
an unchanged function is left alone, so applying the same file twice changes
nothing. Env values are not printed, only that they changed.

Deployed functions are labelled with their project (--project, by default
the name of the first file's directory, as docker compose does). --prune
also deletes the functions earlier deploys of the same project made that the
files no longer name; functions made another way, or by another project,
are never pruned. --dry-run prints the plan and changes nothing. --wait
shows progress until every function is Ready, and fails with the reason of
any that failed.

A function file holds YAML documents separated by ---:

  apiVersion: eventflow.io/v1
  kind: Function
  metadata: {name: upper, labels: {team: search}}
  spec: {command: [tr, a-z, A-Z]}

spec has the fields of the API's function spec; command may also be one
shell-like line; env values may read the environment (${VAR}, ${VAR:-default}).
Its JSON Schema is served at /schemas/function-file.json.`,
		Example: `  eventflow deploy -f examples/eventflow.yaml --wait
  eventflow deploy -f eventflow.yaml --dry-run --prune
  eventflow deploy -f eventflow.yaml --filter upper`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("-f FILE is required (a function file; - reads stdin)")
			}
			if prune && len(filter) > 0 {
				return usagef("--prune deletes what the file does not name: it cannot be combined with --filter")
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			if project == "" {
				project = defaultProject(files)
			}
			if err := validProject(project); err != nil {
				return usageError{err}
			}
			fns, err := a.readFunctionFiles(files)
			if err != nil {
				return err
			}
			if fns, err = filterFunctions(fns, filter); err != nil {
				return usageError{err}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			plan, err := planDeploy(ctx, c, fns, project, prune)
			if err != nil {
				return err
			}
			printPlan(a.io.Out, plan, quiet)
			if dryRun {
				fmt.Fprintln(a.io.Out, "Dry run: nothing was changed.")
				return nil
			}
			if err := applyPlan(ctx, c, plan); err != nil {
				return err
			}
			if wait {
				return a.waitPlan(ctx, c, plan)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "file", "f", nil, "function file (repeatable; - reads stdin)")
	f.StringSliceVar(&filter, "filter", nil, "only the functions of these names")
	f.StringVar(&project, "project", "", "project the functions belong to (default: the first file's directory name)")
	f.BoolVar(&prune, "prune", false, "delete the project's functions, made by earlier deploys, that the files no longer name")
	f.BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	f.BoolVar(&wait, "wait", false, "wait until every function is Ready (fail with the reason of one that failed)")
	f.BoolVarP(&quiet, "quiet", "q", false, "do not list unchanged functions")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	return cmd
}

// readFunctionFiles parses every file; a name given twice is an error.
func (a *app) readFunctionFiles(files []string) ([]functionfile.Function, error) {
	var all []functionfile.Function
	seen := map[string]functionfile.Function{}
	for _, path := range files {
		fns, err := a.readFunctionFile(path)
		if err != nil {
			return nil, err
		}
		for _, fn := range fns {
			// The older replicas and autoscaling still deploy; the
			// warning says which scale to write instead.
			for _, w := range fn.Warnings {
				fmt.Fprintf(a.io.Err, "warning: %s\n", w)
			}
			if prev, ok := seen[fn.Spec.Name]; ok {
				return nil, fmt.Errorf("%s:%d: metadata.name: function %q is also defined at %s:%d", fn.File, fn.Line, fn.Spec.Name, prev.File, prev.Line)
			}
			seen[fn.Spec.Name] = fn
			all = append(all, fn)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: no functions", strings.Join(files, ", "))
	}
	return all, nil
}

// readFunctionFile parses one file ("-": stdin), reading ${VAR} from the
// CLI's environment.
func (a *app) readFunctionFile(path string) ([]functionfile.Function, error) {
	name, in := path, a.io.In
	if path == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	// One byte over the limit, so the parser reports the file as too large.
	b, err := io.ReadAll(io.LimitReader(in, functionfile.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return functionfile.Parse(name, b, a.io.LookupEnv)
}

// defaultProject is the name of the first file's directory (of the
// working directory for stdin), made a valid label value.
func defaultProject(files []string) string {
	dir := "."
	if len(files) > 0 && files[0] != "-" {
		dir = filepath.Dir(files[0])
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, filepath.Base(dir))
	if len(name) > 63 {
		name = name[:63]
	}
	if name = strings.Trim(name, "-_."); name == "" {
		return "default"
	}
	return name
}

// projectName is what a label value may be (as on Kubernetes).
var projectName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// validProject checks --project with the rules of a label value.
func validProject(p string) error {
	if !projectName.MatchString(p) {
		return fmt.Errorf("--project %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", p)
	}
	return nil
}

func filterFunctions(fns []functionfile.Function, names []string) ([]functionfile.Function, error) {
	if len(names) == 0 {
		return fns, nil
	}
	var out []functionfile.Function
	for _, n := range names {
		i := slices.IndexFunc(fns, func(f functionfile.Function) bool { return f.Spec.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("--filter %s: the file has no function of that name", n)
		}
		out = append(out, fns[i])
	}
	return out, nil
}

// functionsByName reads the tenant's functions in one request.
func functionsByName(ctx context.Context, c *client.Client) (map[string]function.Function, error) {
	all, err := c.ListFunctions(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]function.Function, len(all))
	for _, f := range all {
		m[f.Name] = f
	}
	return m, nil
}

// planDeploy compares the file with the gateway.
func planDeploy(ctx context.Context, c *client.Client, fns []functionfile.Function, project string, prune bool) ([]change, error) {
	current, err := functionsByName(ctx, c)
	if err != nil {
		return nil, err
	}
	var plan []change
	named := map[string]bool{}
	for _, fn := range fns {
		spec := fn.Spec
		spec.Labels = maps.Clone(spec.Labels)
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[managedByLabel] = managedByCLI
		spec.Labels[projectLabel] = project
		named[spec.Name] = true
		cur, ok := current[spec.Name]
		if !ok {
			plan = append(plan, change{name: spec.Name, action: "created", spec: spec})
			continue
		}
		if cur.Status.Phase == function.PhaseDeleting {
			return nil, fmt.Errorf("%s:%d: function %q is being deleted: deploy again once it is gone ('eventflow delete %s --wait' waits for that)", fn.File, fn.Line, spec.Name, spec.Name)
		}
		diffs, err := diffSpecs(cur.Spec, spec.WithDefaults())
		if err != nil {
			return nil, err
		}
		action := "changed"
		if len(diffs) == 0 {
			action = "unchanged"
		}
		plan = append(plan, change{name: spec.Name, action: action, fields: diffs, spec: spec})
	}
	if prune {
		for _, name := range sortedKeys(current) {
			f := current[name]
			if !named[f.Name] && f.Labels[managedByLabel] == managedByCLI && f.Labels[projectLabel] == project && f.Status.Phase != function.PhaseDeleting {
				plan = append(plan, change{name: f.Name, action: "pruned"})
			}
		}
	}
	return plan, nil
}

// diffSpecs lists the fields that differ, by JSON path; lists and scalars
// compare whole, maps key by key.
func diffSpecs(from, to function.Spec) ([]fieldDiff, error) {
	a, err := flatten(from)
	if err != nil {
		return nil, err
	}
	b, err := flatten(to)
	if err != nil {
		return nil, err
	}
	var out []fieldDiff
	for _, k := range sortedKeys(mergeKeys(a, b)) {
		if a[k] == b[k] {
			continue
		}
		// Env values may be credentials, and a plan ends up in CI logs.
		out = append(out, fieldDiff{k, dash(a[k]), dash(b[k]), strings.HasPrefix(k, "env.")})
	}
	return out, nil
}

func mergeKeys(a, b map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func flatten(v any) (map[string]string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, c := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
	walk("", tree)
	return out, nil
}

func printPlan(w io.Writer, plan []change, quiet bool) {
	for _, ch := range plan {
		if quiet && ch.action == "unchanged" {
			continue
		}
		fmt.Fprintf(w, "%-9s %s\n", ch.action, ch.name)
		for _, d := range ch.fields {
			switch {
			case !d.hidden:
				fmt.Fprintf(w, "            %s: %s → %s\n", d.path, d.from, d.to)
			case d.from == "-":
				fmt.Fprintf(w, "            %s: added (value hidden)\n", d.path)
			case d.to == "-":
				fmt.Fprintf(w, "            %s: removed\n", d.path)
			default:
				fmt.Fprintf(w, "            %s: changed (value hidden)\n", d.path)
			}
		}
	}
}

func applyPlan(ctx context.Context, c *client.Client, plan []change) error {
	for _, ch := range plan {
		var err error
		switch ch.action {
		case "created", "changed":
			_, err = c.ApplyFunction(ctx, ch.spec)
		case "pruned":
			_, err = c.DeleteFunction(ctx, ch.name)
			if errors.Is(err, client.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ch.name, err)
		}
	}
	return nil
}

// waitPlan waits for every applied function to be Ready (or gone, if
// pruned), printing each as it gets there.
func (a *app) waitPlan(ctx context.Context, c *client.Client, plan []change) error {
	pending := slices.Clone(plan)
	last := map[string]string{}
	err := poll(ctx, func() (bool, error) {
		current, err := functionsByName(ctx, c)
		if err != nil {
			return false, err
		}
		var still []change
		for _, ch := range pending {
			f, ok := current[ch.name]
			if ch.action == "pruned" {
				if !ok {
					fmt.Fprintf(a.io.Out, "%s: deleted\n", ch.name)
					continue
				}
				still = append(still, ch)
				continue
			}
			if !ok {
				return false, fmt.Errorf("%s: %w", ch.name, client.ErrNotFound)
			}
			state := string(f.Status.Phase)
			if f.Mode() == function.ModeHTTP {
				state += " " + ready(f)
			}
			// Progress on stderr; the final Ready goes to stdout below.
			if last[ch.name] != state && f.Status.Phase != function.PhaseReady {
				fmt.Fprintf(a.io.Err, "%s: %s\n", ch.name, state)
			}
			last[ch.name] = state
			switch {
			case f.Status.ObservedGeneration < f.Generation:
				still = append(still, ch)
			case f.Status.Phase == function.PhaseFailed:
				return false, fmt.Errorf("%s failed: %s", ch.name, dash(f.Status.Message))
			case f.Status.Phase == function.PhaseReady:
				fmt.Fprintf(a.io.Out, "%s: Ready\n", ch.name)
			default:
				still = append(still, ch)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		names := make([]string, len(pending))
		for i, ch := range pending {
			names[i] = ch.name
		}
		return fmt.Errorf("%w (not ready: %s)", err, strings.Join(names, ", "))
	}
	return err
}
