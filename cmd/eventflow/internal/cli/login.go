package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/eventflow/eventflow/pkg/client"
	"github.com/eventflow/eventflow/pkg/version"
)

func (a *app) loginCmd() *cobra.Command {
	var gw, token, tenant, name string
	cmd := &cobra.Command{
		Use:   "login --url URL (--token TOKEN | --tenant NAME)",
		Short: "Save a gateway and token as a context and make it current",
		Long: `Save a gateway and a bearer token as a named context in the config file
(readable by you only) and make it the current context. --token - reads the
token from stdin. On a development gateway, --tenant NAME asks it for a
token (POST /auth/token). The token is checked against the gateway first.`,
		Example: `  eventflow login --url http://127.0.0.1:8080 --tenant demo
  eventflow login --url https://eventflow.example.com --token "$TOKEN" --name prod
  vault read -field=token secret/eventflow | eventflow login --url https://eventflow.example.com --token -`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gw == "" {
				return usagef("--url is required")
			}
			if (token == "") == (tenant == "") {
				return usagef("give one of --token or --tenant")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if token == "-" {
				t, err := a.readToken()
				if err != nil {
					return err
				}
				token = t
			}
			if tenant != "" {
				anon, err := newClient(gw, "", a.requestTimeout)
				if err != nil {
					return usageError{err}
				}
				t, err := anon.IssueToken(ctx, client.TokenRequest{Tenant: tenant})
				if err != nil {
					return fmt.Errorf("get a development token for %q: %w", tenant, err)
				}
				token = t.Token
			}
			c, err := newClient(gw, token, a.requestTimeout)
			if err != nil {
				return usageError{err}
			}
			if u, err := url.Parse(c.BaseURL()); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
				fmt.Fprintf(a.io.Err, "warning: %s is plain http: the token crosses the network unencrypted\n", c.DisplayURL())
			}
			// Any scope proves the token: a token that may only invoke
			// is refused the list with 403, not 401.
			if _, err := c.ListFunctions(ctx); err != nil && !errors.Is(err, client.ErrForbidden) {
				return fmt.Errorf("log in to %s: %w", c.DisplayURL(), err)
			}
			claims := tokenClaims(token)
			if tenant == "" {
				tenant = claims.Tenant
			}
			if name == "" {
				name = contextName(tenant, c.DisplayURL())
			}
			cfg, path, err := a.loadConfig()
			if err != nil {
				return err
			}
			cfg.upsert(Context{Name: name, URL: c.BaseURL(), Token: token, Tenant: tenant})
			if err := cfg.save(path); err != nil {
				return err
			}
			msg := fmt.Sprintf("Logged in to %s as tenant %q; context %q is current.", c.DisplayURL(), tenant, name)
			if claims.Exp > 0 {
				msg += fmt.Sprintf(" The token expires %s.", time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
			}
			fmt.Fprintln(a.io.Out, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&gw, "url", "", "the gateway's URL, e.g. http://127.0.0.1:8080")
	cmd.Flags().StringVar(&token, "token", "", "bearer token (- reads it from stdin)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "on a development gateway: get a token for this tenant")
	cmd.Flags().StringVar(&name, "name", "", "context name (default TENANT@HOST)")
	return cmd
}

// maxTokenBytes bounds a token read from stdin.
const maxTokenBytes = 64 << 10

// readToken reads a token from stdin: without echo on a terminal, else its
// first line.
func (a *app) readToken() (string, error) {
	if f, ok := a.io.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.io.Err, "Token: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.io.Err)
		if err != nil {
			return "", fmt.Errorf("read the token: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(a.io.In, maxTokenBytes)).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read the token from stdin: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// contextName is tenant@host, or the host alone.
func contextName(tenant, base string) string {
	host := base
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	if tenant == "" {
		return host
	}
	return tenant + "@" + host
}

// claims are the parts of a JWT the CLI shows. It reads them unverified,
// for display only: the gateway is what checks the token.
type claims struct {
	Tenant string `json:"tenant"`
	Exp    int64  `json:"exp"`
}

func tokenClaims(tok string) claims {
	var c claims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout [CONTEXT]",
		Short:   "Forget a context and its token (default: the current one)",
		Example: `  eventflow logout`,
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(_ *cobra.Command, argv []string) error {
			cfg, path, err := a.loadConfig()
			if err != nil {
				return err
			}
			name := cfg.CurrentContext
			if a.context != "" {
				name = a.context
			}
			if len(argv) == 1 {
				name = argv[0]
			}
			if name == "" || !cfg.remove(name) {
				return fmt.Errorf("no context %q to log out of", name)
			}
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "Logged out of %q.\n", name)
			return nil
		},
	}
}

func (a *app) contextCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "context",
		Short: "List, show or switch the saved contexts (gateway and token)",
	})
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the contexts; * marks the current one",
		Example: "  eventflow context list\n  eventflow context list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			if a.output != outTable {
				type entry struct {
					Name    string `json:"name"`
					URL     string `json:"url"`
					Tenant  string `json:"tenant,omitempty"`
					Current bool   `json:"current"`
				}
				out := []entry{}
				for _, c := range cfg.Contexts {
					out = append(out, entry{c.Name, c.URL, c.Tenant, c.Name == cfg.CurrentContext})
				}
				return printDoc(a.io.Out, a.output, out)
			}
			t := newTable(a.io.Out, "CURRENT", "NAME", "URL", "TENANT")
			for _, c := range cfg.Contexts {
				cur := ""
				if c.Name == cfg.CurrentContext {
					cur = "*"
				}
				shown := c.URL
				if u, err := url.Parse(c.URL); err == nil {
					shown = u.Redacted()
				}
				t.row(cur, c.Name, shown, dash(c.Tenant))
			}
			return t.flush()
		},
	}
	a.addOutputFlag(list, outTable, outJSON, outYAML)
	use := &cobra.Command{
		Use:     "use NAME",
		Short:   "Make a context the current one",
		Example: "  eventflow context use prod",
		Args:    args(cobra.ExactArgs(1)),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			cfg, _, err := a.loadConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, c := range cfg.Contexts {
				names = append(names, c.Name)
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, argv []string) error {
			cfg, path, err := a.loadConfig()
			if err != nil {
				return err
			}
			if cfg.find(argv[0]) == nil {
				return fmt.Errorf("no context %q ('eventflow context list' shows them)", argv[0])
			}
			cfg.CurrentContext = argv[0]
			if err := cfg.save(path); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "Switched to context %q.\n", argv[0])
			return nil
		},
	}
	current := &cobra.Command{
		Use:     "current",
		Short:   "Print the current context's name",
		Example: "  eventflow context current",
		Args:    args(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return errors.New("no current context: run 'eventflow login'")
			}
			fmt.Fprintln(a.io.Out, cfg.CurrentContext)
			return nil
		},
	}
	cmd.AddCommand(list, use, current)
	return cmd
}

func (a *app) versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the client's and the gateway's versions",
		Example: "  eventflow version\n  eventflow version -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := struct {
				Client version.Info  `json:"client"`
				Server *version.Info `json:"server,omitempty"`
				Error  string        `json:"serverError,omitempty"`
			}{Client: version.Get()}
			if v, err := a.serverVersion(cmd.Context()); err != nil {
				out.Error = err.Error()
			} else {
				out.Server = &v
			}
			if a.output != "text" {
				return printDoc(a.io.Out, a.output, out)
			}
			fmt.Fprintf(a.io.Out, "Client: %s (commit %s, %s)\n", out.Client.Version, dash(out.Client.Commit), out.Client.GoVersion)
			if out.Server != nil {
				fmt.Fprintf(a.io.Out, "Server: %s (commit %s, %s)\n", out.Server.Version, dash(out.Server.Commit), out.Server.GoVersion)
			} else {
				fmt.Fprintf(a.io.Out, "Server: unknown (%s)\n", out.Error)
			}
			return nil
		},
	}
	a.addOutputFlag(cmd, "text", outJSON, outYAML)
	return cmd
}

// serverVersion asks the target gateway for its version (no token needed).
func (a *app) serverVersion(ctx context.Context) (version.Info, error) {
	t, err := a.target()
	if err != nil {
		return version.Info{}, err
	}
	c, err := newClient(t.URL, "", a.requestTimeout)
	if err != nil {
		return version.Info{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Version(ctx)
}
