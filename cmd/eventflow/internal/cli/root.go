// Package cli is the eventflow command line: the daily tool to log in to a
// gateway, deploy function files, invoke, and follow logs and events,
// beside the `dev` and `token` commands of a development machine.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/eventflow/eventflow/pkg/client"
)

// Exit statuses scripts can rely on.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// IO is where a command reads and writes, and its environment.
type IO struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	// LookupEnv tells an unset variable from an empty one (function
	// files' ${VAR}).
	LookupEnv func(string) (string, bool)
}

// app is the state every command shares.
type app struct {
	io         IO
	configFile string // --config
	context    string // --context
	output     string // -o, where a command has it
	// requestTimeout bounds the wait for a gateway's answer (--request-timeout).
	requestTimeout time.Duration
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries an exit status of its own (a function's exit code).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// Run runs the command line args (without the program name) and returns
// the exit status.
func Run(ctx context.Context, args []string, stdio IO, legacy map[string]func([]string) error) int {
	if stdio.Getenv == nil {
		stdio.Getenv = os.Getenv
	}
	if stdio.LookupEnv == nil {
		stdio.LookupEnv = os.LookupEnv
	}
	a := &app{io: stdio}
	root := a.rootCmd(legacy)
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	help := "eventflow --help"
	if cmd != nil {
		help = cmd.CommandPath() + " --help"
	}
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ee):
		fmt.Fprintln(stdio.Err, "eventflow:", ee.err)
		return ee.code
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintf(stdio.Err, "eventflow: %v\nRun '%s' for usage.\n", err, help)
		return ExitUsage
	default:
		fmt.Fprintln(stdio.Err, "eventflow:", a.explain(err))
		return ExitError
	}
}

// isCobraUsage recognises cobra's own usage errors, which it returns
// unwrapped.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag") || strings.Contains(s, "flag needs an argument") ||
		strings.HasPrefix(s, "invalid argument") || strings.Contains(s, "required flag")
}

// explain adds what to do next to the errors that have an obvious next step.
func (a *app) explain(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Sprintf("%v\nThe token was refused (expired or not valid for this gateway): log in again with 'eventflow login --url URL --token TOKEN' (or --tenant NAME on a development gateway).", err)
	}
	if ae != nil && ae.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", err, ae.RetryAfter)
	}
	return err.Error()
}

func (a *app) rootCmd(legacy map[string]func([]string) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "eventflow",
		Short: "Deploy, invoke and watch functions on EventFlow",
		Long: `eventflow drives an EventFlow gateway: deploy functions from files, invoke
them, and follow their logs and lifecycle events.

Start with 'eventflow login', then 'eventflow deploy -f eventflow.yaml'.
EVENTFLOW_URL and EVENTFLOW_TOKEN override the current context (for CI).`,
		Example: `  eventflow login --url http://127.0.0.1:8080 --tenant demo
  eventflow deploy -f examples/eventflow.yaml --wait
  echo hello | eventflow invoke upper
  eventflow logs upper -f`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configFile, "config", "", "config file (default $XDG_CONFIG_HOME/eventflow/config.yaml) [EVENTFLOW_CONFIG]")
	root.PersistentFlags().StringVar(&a.context, "context", "", "context to use instead of the current one")
	root.PersistentFlags().DurationVar(&a.requestTimeout, "request-timeout", 30*time.Second, "give up on a gateway that has not begun to answer within this long")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddGroup(&cobra.Group{ID: "basic", Title: "Functions:"},
		&cobra.Group{ID: "observe", Title: "Invocations, logs and events:"},
		&cobra.Group{ID: "config", Title: "Gateways and credentials:"},
		&cobra.Group{ID: "platform", Title: "Running the platform:"})
	root.SetHelpCommandGroupID("config")
	root.SetCompletionCommandGroupID("config")
	for _, c := range []*cobra.Command{a.deployCmd(), a.listCmd(), a.getCmd(), a.describeCmd(), a.deleteCmd(),
		a.revisionsCmd(), a.rollbackCmd(), a.secretCmd()} {
		c.GroupID = "basic"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.invokeCmd(), a.invocationsCmd(), a.deadLettersCmd(), a.logsCmd(), a.eventsCmd()} {
		c.GroupID = "observe"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.loginCmd(), a.logoutCmd(), a.contextCmd(), a.versionCmd()} {
		c.GroupID = "config"
		root.AddCommand(c)
	}
	for _, l := range []struct{ name, short, example string }{
		{"dev", "Run the whole platform on this machine (embedded NATS, local processes)", "  eventflow dev\n  eventflow dev --http-addr 127.0.0.1:9090 --data-dir /tmp/ef"},
		{"token", "Print a development token signed with the data dir's secret", "  eventflow token --tenant demo --data-dir .eventflow"},
		{"nats-creds", "Print NATS credentials for a tenant's producers and subscribers", "  eventflow nats-creds --tenant demo > demo.creds\n  eventflow nats-creds --keys nats-auth/keys --tenant acme > acme.creds"},
		{"nats-auth", "Make the bus's keys and services' credentials for a cluster", "  eventflow nats-auth init --dir nats-auth"},
	} {
		run := legacy[l.name]
		if run == nil {
			continue
		}
		root.AddCommand(&cobra.Command{
			Use:                l.name + " [flags]",
			Short:              l.short,
			Example:            l.example,
			GroupID:            "platform",
			DisableFlagParsing: true, // its own flag set; "eventflow " + l.name + " -h" lists the flags
			RunE:               func(_ *cobra.Command, args []string) error { return run(args) },
		})
	}
	return root
}

// args wraps a cobra positional-argument check as a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// paths and the config file.
func (a *app) configPath() (string, error) {
	if a.configFile != "" {
		return a.configFile, nil
	}
	return configPath(a.io.Getenv)
}

func (a *app) loadConfig() (*Config, string, error) {
	p, err := a.configPath()
	if err != nil {
		return nil, "", err
	}
	cfg, err := loadConfig(p)
	return cfg, p, err
}

// target is the gateway and token commands use: EVENTFLOW_URL and
// EVENTFLOW_TOKEN first, then --context, then the current context. A
// context's token goes only to that context's gateway: with EVENTFLOW_URL
// naming another one and no EVENTFLOW_TOKEN, no token is sent.
func (a *app) target() (Context, error) {
	url, tok := a.io.Getenv("EVENTFLOW_URL"), a.io.Getenv("EVENTFLOW_TOKEN")
	var cur Context
	if url == "" || tok == "" {
		cfg, path, err := a.loadConfig()
		if err != nil {
			return Context{}, err
		}
		name := a.context
		if name == "" {
			name = cfg.CurrentContext
		}
		switch c := cfg.find(name); {
		case c != nil:
			cur = *c
		case a.context != "":
			return Context{}, fmt.Errorf("no context %q in %s ('eventflow context list' shows them)", a.context, path)
		case url == "":
			return Context{}, errors.New("not logged in: run 'eventflow login --url URL --token TOKEN' (or --tenant NAME on a development gateway), or set EVENTFLOW_URL and EVENTFLOW_TOKEN")
		}
	}
	if url != "" && strings.TrimRight(url, "/") != strings.TrimRight(cur.URL, "/") {
		cur = Context{URL: url}
	}
	if tok != "" {
		cur.Token = tok
	}
	return cur, nil
}

// client returns an API client of the target whose calls give up when a
// gateway has not begun to answer within --request-timeout.
func (a *app) client() (*client.Client, error) {
	return a.clientWithin(a.requestTimeout)
}

// clientWithin is client with another bound on the wait for an answer's
// headers (0: none, for invocations that run as long as their timeout).
func (a *app) clientWithin(d time.Duration) (*client.Client, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	return newClient(t.URL, t.Token, d)
}

func newClient(url, token string, headerTimeout time.Duration) (*client.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = headerTimeout
	return client.New(url, token, client.WithUserAgent("eventflow-cli"), client.WithHTTPClient(&http.Client{Transport: tr}))
}

// group makes a command that only holds subcommands: with none named it
// prints its help; with an unknown one it is a usage error (cobra would
// print the help and succeed).
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %q", args[0], c.CommandPath())
		}
		return c.Help()
	}
	return cmd
}

// isTerminal reports whether w is a terminal (for colour and progress).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// colour wraps s in an ANSI colour when out is a terminal and NO_COLOR is
// unset.
func (a *app) colour(out io.Writer, code, s string) string {
	if a.io.Getenv("NO_COLOR") != "" || !isTerminal(out) {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// age prints a duration as kubectl does: 45s, 12m, 3h, 5d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
