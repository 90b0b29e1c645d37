package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/function"
)

// Token scopes of the secrets API.
const (
	scopeSecretsRead  = "secrets:read"
	scopeSecretsWrite = "secrets:write"
)

func (a *app) secretCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "secret",
		Aliases: []string{"secrets"},
		Short:   "Set, list and delete the tenant's secrets (values are never shown)",
		Long: `Secrets are values a tenant's functions read without them being in their
spec: a function names them in spec.secrets (secrets: in a function file) and
reads each as a read-only file, named as the secret, in $EVENTFLOW_SECRETS_DIR.
No command and no API call ever shows a value again once it is set.
Replacing a value rolls every function that uses it.`,
		Example: `  printf '%s' "$DB_PASSWORD" | eventflow secret set db-password
  eventflow secret list`,
	})
	cmd.AddCommand(a.secretSetCmd(), a.secretListCmd(), a.secretGetCmd(), a.secretDeleteCmd())
	return cmd
}

func (a *app) secretSetCmd() *cobra.Command {
	var literal, file string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Create a secret or replace its value (from stdin, --from-file or --from-literal)",
		Long: `Create the secret NAME, or replace its value. The value is read from
--from-file PATH, from --from-literal VALUE (which leaves it in the shell's
history and the process list), or else from stdin: typed without echo on a
terminal, or read whole from a pipe or a file. A file or stdin is taken byte
for byte, a last newline included. A value is UTF-8 text of at most 64 KiB.

Replacing a value rolls every function that uses the secret: their new
instances read the new value.`,
		Example: `  printf '%s' "$DB_PASSWORD" | eventflow secret set db-password
  eventflow secret set tls-cert --from-file cert.pem
  eventflow secret set api-key          # asks for the value without echo`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, argv []string) error {
			name := argv[0]
			if err := function.ValidateSecretName(name); err != nil {
				return usageError{err}
			}
			fromLiteral := cmd.Flags().Changed("from-literal")
			if fromLiteral && file != "" {
				return usagef("give the value once: --from-literal or --from-file, not both")
			}
			value, err := a.secretValue(name, literal, fromLiteral, file)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			s, created, err := c.SetSecret(cmd.Context(), name, value)
			if err != nil {
				return secretErr(err, scopeSecretsWrite)
			}
			printSecretSet(a.io.Out, s, created)
			return nil
		},
	}
	cmd.Flags().StringVar(&literal, "from-literal", "", "the value itself (it stays in the shell's history)")
	cmd.Flags().StringVar(&file, "from-file", "", "read the value from this file (- for stdin)")
	_ = cmd.MarkFlagFilename("from-file")
	return cmd
}

// secretValue reads a secret's value from the flag, the file or stdin, and
// checks it is what the API takes.
func (a *app) secretValue(name, literal string, fromLiteral bool, file string) (string, error) {
	var (
		b    []byte
		from string
		err  error
	)
	switch {
	case fromLiteral:
		b, from = []byte(literal), "--from-literal"
	case file != "" && file != "-":
		from = file
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if b, err = io.ReadAll(io.LimitReader(f, client.MaxSecretBytes+1)); err != nil {
			return "", fmt.Errorf("read %s: %w", file, err)
		}
	default:
		from = "stdin"
		if f, ok := a.io.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(a.io.Err, "Value of secret %s: ", name)
			b, err = term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.io.Err)
			if err != nil {
				return "", fmt.Errorf("read the value: %w", err)
			}
			break
		}
		if a.io.In == nil {
			return "", usagef("no value: give --from-literal, --from-file, or the value on stdin")
		}
		if b, err = io.ReadAll(io.LimitReader(a.io.In, client.MaxSecretBytes+1)); err != nil {
			return "", fmt.Errorf("read the value from stdin: %w", err)
		}
		if len(b) > 0 && b[len(b)-1] == '\n' {
			fmt.Fprintf(a.io.Err, "note: the value ends with a newline, which is kept (%s leaves it out)\n", "printf '%s'")
		}
	}
	if err := checkSecretValue(b); err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return string(b), nil
}

// checkSecretValue refuses what the API cannot keep as it is: an empty
// value, more than 64 KiB, and bytes that are not UTF-8 (the value travels
// as a JSON string, which would replace them).
func checkSecretValue(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("the value is empty")
	case len(b) > client.MaxSecretBytes:
		return fmt.Errorf("the value is larger than %d KiB, the most a secret holds", client.MaxSecretBytes>>10)
	case !utf8.Valid(b):
		return errors.New("the value is not UTF-8 text: encode a binary value (base64) and decode it in the function")
	}
	return nil
}

// printSecretSet says what a set did, never the value.
func printSecretSet(w io.Writer, s client.Secret, created bool) {
	what := "replaced"
	if created {
		what = "created"
	}
	fmt.Fprintf(w, "secret %s %s (version %d, %d bytes)\n", s.Name, what, s.Version, s.Size)
	switch {
	case created:
	case len(s.UsedBy) == 0:
		fmt.Fprintln(w, "no function uses it")
	default:
		fmt.Fprintf(w, "rolling the functions that use it: %s\n", strings.Join(s.UsedBy, ", "))
	}
}

func (a *app) secretListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the tenant's secrets and the functions using each (never the values)",
		Example: `  eventflow secret list
  eventflow secret list -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ss, err := c.ListSecrets(cmd.Context())
			if err != nil {
				return secretErr(err, scopeSecretsRead)
			}
			sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
			if len(ss) == 0 && a.output == outTable {
				fmt.Fprintln(a.io.Err, "No secrets yet: 'eventflow secret set NAME' makes one.")
				return nil
			}
			return printSecrets(a.io.Out, a.output, ss, time.Now())
		},
	}
	a.addOutputFlag(cmd, outTable, outJSON, outYAML, outName)
	return cmd
}

func (a *app) secretGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a secret's version, size, dates and users (never its value)",
		Example: `  eventflow secret get db-password
  eventflow secret get db-password -o yaml`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.GetSecret(cmd.Context(), argv[0])
			if err != nil {
				return secretErr(err, scopeSecretsRead)
			}
			if a.output == outJSON || a.output == outYAML {
				return printDoc(a.io.Out, a.output, s)
			}
			return printSecrets(a.io.Out, a.output, []client.Secret{s}, time.Now())
		},
	}
	a.addOutputFlag(cmd, outTable, outJSON, outYAML, outName)
	return cmd
}

// printSecrets prints secrets as a table, names, or the API's list
// document.
func printSecrets(w io.Writer, format string, ss []client.Secret, now time.Time) error {
	switch format {
	case outJSON, outYAML:
		if ss == nil {
			ss = []client.Secret{}
		}
		for i := range ss {
			if ss[i].UsedBy == nil {
				ss[i].UsedBy = []string{}
			}
		}
		return printDoc(w, format, map[string]any{"items": ss})
	case outName:
		for _, s := range ss {
			fmt.Fprintln(w, s.Name)
		}
		return nil
	}
	t := newTable(w, "NAME", "VERSION", "SIZE", "UPDATED", "USED-BY")
	for _, s := range ss {
		updated := "-"
		if !s.UpdatedAt.IsZero() {
			updated = age(now, s.UpdatedAt) + " ago"
		}
		t.row(s.Name, strconv.FormatUint(s.Version, 10), strconv.Itoa(s.Size), updated, dash(truncate(strings.Join(s.UsedBy, ","), 60)))
	}
	return t.flush()
}

func (a *app) secretDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete secrets no function uses",
		Example: `  eventflow secret delete db-password
  eventflow secret delete old-key other-key`,
		Args:              args(cobra.MinimumNArgs(1)),
		ValidArgsFunction: a.completeSecrets,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			// Every name is tried; the failures are reported together.
			var errs []error
			for _, n := range names {
				err := c.DeleteSecret(cmd.Context(), n)
				if errors.Is(err, client.ErrConflict) {
					err = fmt.Errorf("%w (remove it from those functions' secrets first)", err)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", n, secretErr(err, scopeSecretsWrite)))
					continue
				}
				fmt.Fprintf(a.io.Out, "secret %s deleted\n", n)
			}
			return errors.Join(errs...)
		},
	}
}

// secretErr adds to a refusal what to do: a token made before secrets
// existed lacks their scopes.
func secretErr(err error, scope string) error {
	if errors.Is(err, client.ErrForbidden) {
		return fmt.Errorf("%w\nThe token lacks the scope %s: use a token that has it (log in again: 'eventflow login --tenant NAME' on a development gateway gets every scope).", err, scope)
	}
	return err
}

// completeSecrets completes the tenant's secret names from the gateway.
func (a *app) completeSecrets(cmd *cobra.Command, argv []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if cmd.Name() != "delete" && len(argv) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	ss, err := c.ListSecrets(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, s := range ss {
		if strings.HasPrefix(s.Name, prefix) && !slices.Contains(argv, s.Name) {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}
