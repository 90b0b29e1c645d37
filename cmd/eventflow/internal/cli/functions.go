package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

func (a *app) listCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tenant's functions",
		Example: `  eventflow list
  eventflow list -o wide
  eventflow list -o name`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			fns, err := c.ListFunctions(cmd.Context())
			if err != nil {
				return err
			}
			sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
			if len(fns) == 0 && (a.output == outTable || a.output == outWide) {
				fmt.Fprintln(a.io.Err, "No functions yet: 'eventflow deploy -f FILE' deploys some.")
				return nil
			}
			return printFunctions(a.io.Out, a.output, fns, time.Now())
		},
	}
	a.addOutputFlag(cmd, outTable, outWide, outJSON, outYAML, outName)
	return cmd
}

func (a *app) getCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one function (-o json is the API's function document)",
		Example: `  eventflow get upper
  eventflow get upper -o yaml`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			f, err := c.GetFunction(cmd.Context(), names[0])
			if err != nil {
				return err
			}
			if a.output == outJSON || a.output == outYAML {
				return printDoc(a.io.Out, a.output, f)
			}
			return printFunctions(a.io.Out, a.output, []function.Function{f}, time.Now())
		},
	}
	a.addOutputFlag(cmd, outTable, outWide, outJSON, outYAML, outName)
	return cmd
}

// printFunctions prints functions as a table, names, or the API's list
// document.
func printFunctions(w io.Writer, format string, fns []function.Function, now time.Time) error {
	switch format {
	case outJSON, outYAML:
		if fns == nil {
			fns = []function.Function{}
		}
		return printDoc(w, format, map[string]any{"items": fns})
	case outName:
		for _, f := range fns {
			fmt.Fprintln(w, f.Name)
		}
		return nil
	}
	header := []string{"NAME", "PHASE", "READY", "MODE", "AGE"}
	if format == outWide {
		header = append(header, "SCALE", "LAST SCALE", "GENERATION", "IMAGE", "COMMAND", "MESSAGE")
	}
	t := newTable(w, header...)
	for _, f := range fns {
		row := []string{f.Name, string(f.Status.Phase), ready(f), f.Mode(), age(now, f.CreatedAt)}
		if format == outWide {
			row = append(row, scaleShort(f.ScaleSpec()), lastScaleShort(f.Status.LastScale, now),
				strconv.FormatInt(f.Generation, 10), dash(f.Image), dash(truncate(shellJoin(f.Command), 40)), dash(truncate(f.Status.Message, 60)))
		}
		t.row(row...)
	}
	return t.flush()
}

// ready is "ready/desired" for http mode; job mode runs a process per
// invocation, so it has no instances to count.
func ready(f function.Function) string {
	if f.Mode() != function.ModeHTTP {
		return "-"
	}
	return fmt.Sprintf("%d/%d", f.Status.ReadyReplicas, desired(f))
}

// desired is the instances the function should run: status.replicas, or,
// before the deployer has written any status, the count it starts with.
func desired(f function.Function) int32 {
	if f.Status.ObservedGeneration == 0 && f.Status.Replicas == 0 && f.Status.ReadyReplicas == 0 {
		return f.ReplicaCount()
	}
	return f.Status.Replicas
}

// scaleText says how an http-mode function scales: "0–4, concurrency 10
// per instance, idle after 30s", "fixed at 2", or with metric cpu
// "1–4, cpu 80% of the request (HorizontalPodAutoscaler)".
func scaleText(sc *function.Scale) string {
	switch {
	case sc == nil:
		return "-"
	case sc.Min == sc.Max:
		return fmt.Sprintf("fixed at %d", sc.Min)
	case sc.Metric == function.MetricCPU:
		return fmt.Sprintf("%d–%d, cpu %d%% of the request (HorizontalPodAutoscaler)", sc.Min, sc.Max, sc.Target)
	}
	return fmt.Sprintf("%d–%d, %s %d per instance, idle after %s", sc.Min, sc.Max, sc.Metric, sc.Target, time.Duration(sc.IdleAfter))
}

// scaleShort is scaleText for a table's column: "0–4 concurrency 10",
// "fixed 2", "1–4 cpu 80%".
func scaleShort(sc *function.Scale) string {
	switch {
	case sc == nil:
		return "-"
	case sc.Min == sc.Max:
		return fmt.Sprintf("fixed %d", sc.Min)
	case sc.Metric == function.MetricCPU:
		return fmt.Sprintf("%d–%d cpu %d%%", sc.Min, sc.Max, sc.Target)
	}
	return fmt.Sprintf("%d–%d %s %d", sc.Min, sc.Max, sc.Metric, sc.Target)
}

// lastScaleText is the scaler's last decision: "1 → 2, 2m ago
// (2026-12-07T11:58:00Z): up: 14 in flight (target 10 per instance)".
func lastScaleText(d *function.ScaleDecision, now time.Time) string {
	if d == nil {
		return "-"
	}
	s := fmt.Sprintf("%d → %d", d.From, d.To)
	if !d.At.IsZero() {
		s += fmt.Sprintf(", %s ago (%s)", age(now, d.At), d.At.UTC().Format(time.RFC3339))
	}
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// lastScaleShort is lastScaleText for a table's column: "1→2 2m ago".
func lastScaleShort(d *function.ScaleDecision, now time.Time) string {
	if d == nil {
		return "-"
	}
	s := fmt.Sprintf("%d→%d", d.From, d.To)
	if !d.At.IsZero() {
		s += " " + age(now, d.At) + " ago"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shellJoin prints argv as one shell line, quoting where needed, so that
// the line reads back as argv in a function file's one-line command.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, s := range argv {
		if s != "" && !strings.ContainsFunc(s, needsQuote) {
			out[i] = s
			continue
		}
		out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// needsQuote: a shell's special characters, and every space or control
// character (also those only functionfile.SplitCommand splits on, such as
// U+FEFF and U+2028).
func needsQuote(r rune) bool {
	return strings.ContainsRune(" \t\n'\"\\$`;&|<>()*?[]{}!#~", r) || unicode.IsSpace(r) || unicode.IsControl(r) || r == '\ufeff' ||
		unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029'
}

func (a *app) describeCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "describe NAME",
		Short:             "Show a function's spec, status, recent events and invocations",
		Example:           `  eventflow describe upper`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			f, err := c.GetFunction(ctx, names[0])
			if err != nil {
				return err
			}
			evs, err := recentEvents(ctx, c, f.Name, 10)
			if err != nil {
				return err
			}
			page, err := c.Invocations(ctx, f.Name, client.InvocationsOptions{Limit: 10})
			if err != nil && !errors.Is(err, client.ErrForbidden) {
				return err
			}
			return describe(a.io.Out, c.DisplayURL(), f, evs, page.Items, time.Now())
		},
	}
}

// recentEvents reads the last n stored lifecycle events of a function.
func recentEvents(ctx context.Context, c *client.Client, name string, n int) ([]client.Event, error) {
	s, err := c.Events(ctx, client.EventsOptions{Function: name, Since: "0"})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []client.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			out = out[1:]
		}
		out = append(out, ev)
	}
}

// describe prints a function; base is the gateway's URL, which an
// http-mode function's route (status.url) is relative to.
func describe(w io.Writer, base string, f function.Function, evs []client.Event, invs []events.InvocationRecord, now time.Time) error {
	t := newTable(w, "Name:", f.Name)
	t.row("Tenant:", f.Tenant)
	t.row("Labels:", dash(pairs(f.Labels)))
	t.row("Mode:", f.Mode())
	if f.Image != "" {
		t.row("Image:", f.Image)
	}
	t.row("Command:", dash(shellJoin(f.Command)))
	t.row("Env:", dash(strings.Join(sortedKeys(f.Env), ", ")))
	if len(f.Secrets) > 0 {
		t.row("Secrets:", strings.Join(f.Secrets, ", ")+" (files in $EVENTFLOW_SECRETS_DIR)")
	}
	t.row("Timeout:", f.Timeout().String())
	if f.Mode() == function.ModeHTTP {
		t.row("Instances:", ready(f)+" (ready/desired)")
		t.row("Scale:", scaleText(f.ScaleSpec()))
		t.row("Last scale:", lastScaleText(f.Status.LastScale, now))
		if f.Status.URL != "" {
			t.row("URL:", strings.TrimSuffix(base, "/")+f.Status.URL)
		}
		t.row("Route auth:", f.RouteAuth())
		if len(f.Traffic) > 0 {
			t.row("Traffic:", trafficText(f))
		}
		if f.Rollout != nil {
			t.row("Rollout by:", rolloutText(*f.Rollout))
		}
		if f.Status.Rollout != nil {
			t.row("Rollout:", rolloutStateText(*f.Status.Rollout, f.Rollout, now))
		}
	}
	t.row("Phase:", string(f.Status.Phase))
	if f.Status.Message != "" {
		t.row("Message:", f.Status.Message)
	}
	t.row("Generation:", fmt.Sprintf("%d (observed %d)", f.Generation, f.Status.ObservedGeneration))
	t.row("Created:", fmt.Sprintf("%s (%s ago)", f.CreatedAt.UTC().Format(time.RFC3339), age(now, f.CreatedAt)))
	t.row("Updated:", fmt.Sprintf("%s (%s ago)", f.UpdatedAt.UTC().Format(time.RFC3339), age(now, f.UpdatedAt)))
	if err := t.flush(); err != nil {
		return err
	}
	if len(f.Triggers) > 0 {
		if err := describeTriggers(w, f, now); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nRecent events:")
	if len(evs) == 0 {
		fmt.Fprintln(w, "  <none>")
	} else {
		t = newTable(w, "  AGE", "TYPE", "DETAIL")
		for _, ev := range evs {
			t.row("  "+age(now, ev.Time), strings.TrimPrefix(ev.Type, "io.eventflow."), truncate(eventDetail(ev), 80))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nRecent invocations:")
	if len(invs) == 0 {
		fmt.Fprintln(w, "  <none>")
		return nil
	}
	t = newTable(w, "  ID", "STATUS", "ASYNC", "ATTEMPTS", "DURATION", "AGE")
	for _, r := range invs {
		t.row("  "+r.ID, r.Status, strconv.FormatBool(r.Async), strconv.Itoa(r.Attempts), duration(r.DurationMs), age(now, r.CreatedAt))
	}
	return t.flush()
}

// describeTriggers prints each trigger with its state: status.triggers is
// in the spec's order, so the two lists pair up by position.
func describeTriggers(w io.Writer, f function.Function, now time.Time) error {
	fmt.Fprintln(w, "\nTriggers:")
	t := newTable(w, "  TYPE", "ON", "FIRES", "ERRORS", "LAST FIRE", "NEXT FIRE", "LAST ERROR")
	for i, tr := range f.Triggers {
		var st function.TriggerStatus
		known := i < len(f.Status.Triggers) && f.Status.Triggers[i].Type == tr.Type
		if known {
			st = f.Status.Triggers[i]
		}
		fires, errs, last, next := "-", "-", "never", "-"
		if known {
			fires, errs = strconv.FormatInt(st.Fires, 10), strconv.FormatInt(st.Errors, 10)
		}
		if !st.LastFire.IsZero() {
			last = age(now, st.LastFire) + " ago"
			if st.LastInvocation != "" {
				last += " (" + st.LastInvocation + ")"
			}
		}
		if len(st.NextFires) > 0 {
			next = st.NextFires[0].UTC().Format(time.RFC3339)
		}
		lastErr := "-"
		if st.LastError != "" {
			lastErr = truncate(st.LastError, 60)
			if !st.LastErrorAt.IsZero() {
				lastErr = age(now, st.LastErrorAt) + " ago: " + lastErr
			}
		}
		t.row("  "+tr.Type, triggerOn(tr), fires, errs, last, next, lastErr)
	}
	return t.flush()
}

// triggerOn says in a few words what a trigger fires on.
func triggerOn(t function.Trigger) string {
	switch t.Type {
	case function.TriggerCron:
		s := t.Schedule
		if t.Timezone != "" && t.Timezone != "UTC" {
			s += " " + t.Timezone
		}
		if t.Missed == function.MissedOnce {
			s += " (missed: once)"
		}
		return s
	case function.TriggerNATS:
		return "subject " + t.Subject
	case function.TriggerEvent:
		if t.Filter == nil {
			return "events"
		}
		star := func(s string) string {
			if s == "" {
				return "*"
			}
			return s
		}
		s := "type " + star(t.Filter.Type) + " function " + star(t.Filter.Function)
		if t.Filter.Source != "" && t.Filter.Source != "*" {
			s += " source " + t.Filter.Source
		}
		return s
	}
	return t.Type
}

func pairs(m map[string]string) string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func duration(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return (time.Duration(*ms) * time.Millisecond).String()
}

func (a *app) deleteCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete functions",
		Example: `  eventflow delete upper
  eventflow delete upper echo --wait`,
		Args:              args(cobra.MinimumNArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			ctx := cmd.Context()
			// Every name is tried; the failures are reported together.
			var errs []error
			var deleting []string
			for _, n := range names {
				if _, err := c.DeleteFunction(ctx, n); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", n, err))
					continue
				}
				deleting = append(deleting, n)
				fmt.Fprintf(a.io.Out, "%s: deleting\n", n)
			}
			if wait {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				for _, n := range deleting {
					if err := waitGone(ctx, c, n); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", n, err))
						continue
					}
					fmt.Fprintf(a.io.Out, "%s: deleted\n", n)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until each function is gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// waitGone polls until the function answers 404.
func waitGone(ctx context.Context, c *client.Client, name string) error {
	return poll(ctx, func() (bool, error) {
		_, err := c.GetFunction(ctx, name)
		if errors.Is(err, client.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
}

// poll calls check every 250ms until it is done, fails, or ctx ends.
func poll(ctx context.Context, check func() (bool, error)) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// completeFunctions completes function names from the gateway; a
// completion that cannot reach it offers nothing.
func (a *app) completeFunctions(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	fns, err := c.ListFunctions(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, f := range fns {
		if strings.HasPrefix(f.Name, prefix) {
			out = append(out, f.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// trafficText is a split as "revision 1 90%, latest (3) 10%".
func trafficText(f function.Function) string {
	parts := make([]string, len(f.Traffic))
	for i, t := range f.Traffic {
		if t.Tag == function.TagLatest {
			parts[i] = fmt.Sprintf("latest (%d) %d%%", f.Generation, t.Percent)
		} else {
			parts[i] = fmt.Sprintf("revision %d %d%%", t.Revision, t.Percent)
		}
	}
	return strings.Join(parts, ", ")
}

// rolloutText is how spec.rollout moves traffic: "20% every 1m0s, rolled
// back on >5% errors (of at least 10 requests an interval)"; fields left
// out show their defaults.
func rolloutText(r function.Rollout) string {
	r = r.WithDefaults()
	return fmt.Sprintf("%d%% every %s, rolled back on >%d%% errors (of at least %d requests an interval)",
		r.StepPercent, time.Duration(r.Interval), r.MaxErrorPercent, r.MinRequests)
}

// rolloutStateText is where status.rollout stands: "revision 3 at 40%
// (from revision 2), progressing, next step in 20s: <message>". cfg
// (spec.rollout, nil when the spec has none) dates the next step.
func rolloutStateText(st function.RolloutState, cfg *function.Rollout, now time.Time) string {
	s := fmt.Sprintf("revision %d at %d%% (from revision %d), %s", st.Revision, st.Percent, st.From, dash(st.Phase))
	if st.Progressing() && cfg != nil && !st.UpdatedAt.IsZero() {
		if due := st.Due(*cfg); due.After(now) {
			s += ", next step in " + age(due, now)
		} else {
			s += ", next step due"
		}
	}
	if st.Message != "" {
		s += ": " + st.Message
	}
	return s
}
