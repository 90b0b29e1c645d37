package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
)

func (a *app) revisionsCmd() *cobra.Command {
	var diff bool
	cmd := &cobra.Command{
		Use:   "revisions FUNCTION [--diff A [B]]",
		Short: "List a function's revisions, or diff the specs of two",
		Long: `List a function's revisions, newest first: every change of its spec (a deploy,
a rollback, a secret's new value) is a new revision, numbered as the
function's generation. The current one is marked.

--diff A B prints a unified diff of revisions A and B's specs as indented
JSON; --diff A diffs revision A with the current one.`,
		Example: `  eventflow revisions upper
  eventflow revisions upper --diff 1 2
  eventflow revisions upper -o json`,
		Args: args(func(cmd *cobra.Command, argv []string) error {
			if !diff {
				return cobra.ExactArgs(1)(cmd, argv)
			}
			if len(argv) < 2 || len(argv) > 3 {
				return fmt.Errorf("--diff takes one or two revisions after the function: FUNCTION --diff A [B]")
			}
			for _, s := range argv[1:] {
				if _, err := parseRevision(s); err != nil {
					return err
				}
			}
			return nil
		}),
		ValidArgsFunction: func(cmd *cobra.Command, argv []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(argv) == 0 {
				return a.completeFunctions(cmd, argv, prefix)
			}
			if diff && len(argv) < 3 {
				return a.completeRevisions(cmd, argv[0], prefix)
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, name := cmd.Context(), argv[0]
			if diff {
				if a.output != outTable {
					return usagef("--diff prints a diff: leave out -o")
				}
				return a.diffRevisions(ctx, c, name, argv[1:])
			}
			revs, err := c.Revisions(ctx, name)
			if err != nil {
				return err
			}
			if a.output == outJSON || a.output == outYAML {
				return printRevisions(a.io.Out, a.output, revs, 0, time.Now())
			}
			if len(revs) == 0 {
				fmt.Fprintf(a.io.Err, "No revisions of %s.\n", name)
				return nil
			}
			// The current revision is the function's generation (the
			// newest, unless the function is gone).
			var current int64
			f, err := c.GetFunction(ctx, name)
			switch {
			case err == nil:
				current = f.Generation
			case !errors.Is(err, client.ErrNotFound):
				return err
			}
			return printRevisions(a.io.Out, a.output, revs, current, time.Now())
		},
	}
	cmd.Flags().BoolVar(&diff, "diff", false, "diff the specs of revisions A and B (or A and the current one)")
	a.addOutputFlag(cmd, outTable, outJSON, outYAML)
	return cmd
}

// parseRevision reads a revision number given on the command line.
func parseRevision(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("revision %q: want a revision number (1, 2, ...; 'eventflow revisions FUNCTION' lists them)", s)
	}
	return n, nil
}

// diffRevisions prints the diff of two revisions' specs; with one given,
// of it and the current one.
func (a *app) diffRevisions(ctx context.Context, c *client.Client, name string, nums []string) error {
	var revs [2]client.Revision
	for i, s := range nums {
		n, err := parseRevision(s)
		if err != nil {
			return usageError{err}
		}
		if revs[i], err = c.Revision(ctx, name, n); err != nil {
			return revisionErr(err, name)
		}
	}
	if len(nums) == 1 {
		f, err := c.GetFunction(ctx, name)
		if err != nil {
			return err
		}
		if revs[1], err = c.Revision(ctx, name, f.Generation); err != nil {
			return revisionErr(err, name)
		}
	}
	d, err := revisionDiff(name, revs[0], revs[1])
	if err != nil {
		return err
	}
	if d == "" {
		fmt.Fprintf(a.io.Err, "Revisions %d and %d of %s have the same spec.\n", revs[0].Revision, revs[1].Revision, name)
		return nil
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(d, "\n"), "\n") {
		text := strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(text, "---"), strings.HasPrefix(text, "+++"):
			text = a.colour(a.io.Out, "1", text)
		case strings.HasPrefix(text, "@@"):
			text = a.colour(a.io.Out, "36", text)
		case strings.HasPrefix(text, "-"):
			text = a.colour(a.io.Out, "31", text)
		case strings.HasPrefix(text, "+"):
			text = a.colour(a.io.Out, "32", text)
		}
		fmt.Fprintln(a.io.Out, text)
	}
	return nil
}

// revisionDiff is the unified diff of two revisions' specs as indented
// JSON ("" when they are the same).
func revisionDiff(name string, from, to client.Revision) (string, error) {
	text := func(s function.Spec) (string, error) {
		b, err := json.MarshalIndent(s, "", "  ")
		return string(b) + "\n", err
	}
	a, err := text(from.Spec)
	if err != nil {
		return "", err
	}
	b, err := text(to.Spec)
	if err != nil {
		return "", err
	}
	return unifiedDiff(fmt.Sprintf("%s revision %d", name, from.Revision), fmt.Sprintf("%s revision %d", name, to.Revision), a, b, 3), nil
}

// revisionErr says where to find the revisions there are.
func revisionErr(err error, name string) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("%w ('eventflow revisions %s' lists the revisions there are)", err, name)
	}
	return err
}

// printRevisions prints revisions as a table (current marked), or the
// API's list document.
func printRevisions(w io.Writer, format string, revs []client.Revision, current int64, now time.Time) error {
	if format == outJSON || format == outYAML {
		if revs == nil {
			revs = []client.Revision{}
		}
		return printDoc(w, format, map[string]any{"items": revs})
	}
	t := newTable(w, "REVISION", "CAUSE", "CREATED", "BY", "DIGEST", "MESSAGE")
	for _, r := range revs {
		rev := strconv.FormatInt(r.Revision, 10)
		if r.Revision == current {
			rev += " (current)"
		}
		created := "-"
		if !r.CreatedAt.IsZero() {
			created = age(now, r.CreatedAt) + " ago"
		}
		t.row(rev, dash(r.Cause), created, dash(r.CreatedBy), dash(shortDigest(r.Digest)), dash(truncate(r.Message, 60)))
	}
	return t.flush()
}

// shortDigest is a digest's first 12 hex digits, as docker shows ids.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func (a *app) rollbackCmd() *cobra.Command {
	var (
		revision int64
		wait     bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback FUNCTION [--revision N]",
		Short: "Make an earlier revision's spec the function's again (as a new revision)",
		Long: `Roll a function back to the spec of an earlier revision: by default the one
before the current, or --revision N. The rollback is itself a new revision
('eventflow revisions FUNCTION' lists them); rolling back to the spec that is
current already changes nothing. --wait waits until the function is Ready.`,
		Example: `  eventflow rollback upper
  eventflow rollback upper --revision 3 --wait`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeFunctions,
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			if cmd.Flags().Changed("revision") && revision < 1 {
				return usagef("--revision %d: want a revision number (1, 2, ...; 'eventflow revisions %s' lists them)", revision, name)
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			f, changed, err := c.Rollback(ctx, name, revision)
			if err != nil {
				return revisionErr(err, name)
			}
			fmt.Fprintln(a.io.Out, rollbackMessage(name, revision, f, changed))
			if wait && changed {
				return a.waitPlan(ctx, c, []change{{name: name, action: "changed"}})
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "the revision to roll back to (default: the one before the current)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the function is Ready (fail with the reason if it failed)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	_ = cmd.RegisterFlagCompletionFunc("revision", func(cmd *cobra.Command, argv []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(argv) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return a.completeRevisions(cmd, argv[0], prefix)
	})
	return cmd
}

// rollbackMessage says what a rollback did.
func rollbackMessage(name string, revision int64, f function.Function, changed bool) string {
	target := "the previous revision"
	if revision > 0 {
		target = "revision " + strconv.FormatInt(revision, 10)
	}
	if !changed {
		return fmt.Sprintf("%s: the spec of %s is current already: nothing changed", name, target)
	}
	return fmt.Sprintf("%s: rolled back to the spec of %s, now revision %d", name, target, f.Generation)
}

// completeRevisions completes a function's revision numbers, newest first,
// from the gateway.
func (a *app) completeRevisions(cmd *cobra.Command, name, prefix string) ([]string, cobra.ShellCompDirective) {
	directive := cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	c, err := a.client()
	if err != nil {
		return nil, directive
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	revs, err := c.Revisions(ctx, name)
	if err != nil {
		return nil, directive
	}
	var out []string
	for _, r := range revs {
		if n := strconv.FormatInt(r.Revision, 10); strings.HasPrefix(n, prefix) {
			out = append(out, n+"\t"+r.Cause+" "+r.CreatedAt.UTC().Format(time.RFC3339))
		}
	}
	return out, directive
}
