// Command eventflow is EventFlow's command line: the CLI that deploys,
// invokes and watches functions on a gateway (internal/cli), and the
// all-in-one platform of one machine, `eventflow dev`, with `eventflow
// token` to mint a development token from the data dir's secret.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/cli"
	"github.com/eventflow/eventflow/cmd/eventflow/internal/dev"
	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/svcboot"
)

func main() {
	ctx, stop := svcboot.SignalContext()
	// The first Ctrl+C cancels the command; the next one ends the process
	// as if no handler were installed (a command blocked reading stdin
	// does not see its context).
	context.AfterFunc(ctx, stop)
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, LookupEnv: os.LookupEnv},
		map[string]func([]string) error{"dev": runDev, "token": runToken, "nats-creds": runNATSCreds, "nats-auth": runNATSAuth})
	stop()
	os.Exit(code)
}

// devFlags registers dev's flags; call the returned function after Parse
// to fill in the secret (a flag value that -h never shows).
func devFlags(fs *flag.FlagSet, cfg *dev.Config) (parsed func()) {
	fs.StringVar(&cfg.HTTPAddr, "http-addr", svcboot.Env("EVENTFLOW_HTTP_ADDR", "127.0.0.1:8080"), "HTTP API listen address [EVENTFLOW_HTTP_ADDR]")
	fs.StringVar(&cfg.DataDir, "data-dir", svcboot.Env("EVENTFLOW_DATA_DIR", "./.eventflow"), "where JetStream data and the dev secret live [EVENTFLOW_DATA_DIR]")
	fs.StringVar(&cfg.NATSAddr, "nats-addr", svcboot.Env("EVENTFLOW_NATS_ADDR", "127.0.0.1:4222"), "embedded NATS client address, for subscribers and the nats CLI [EVENTFLOW_NATS_ADDR]")
	secret := svcboot.SecretString(fs, "jwt-secret", "EVENTFLOW_JWT_SECRET", "HS256 token secret; default: a random one kept in the data dir [EVENTFLOW_JWT_SECRET]")
	cfg.Runtime.Register(fs)
	fs.StringVar(&cfg.LogLevel, "log-level", svcboot.Env("EVENTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error [EVENTFLOW_LOG_LEVEL]")
	fs.DurationVar(&cfg.InvokerAckWait, "invoker-ack-wait", svcboot.EnvDuration("EVENTFLOW_INVOKER_ACK_WAIT", 30*time.Second), "how long an unacknowledged async invocation waits before redelivery [EVENTFLOW_INVOKER_ACK_WAIT]")
	fs.DurationVar(&cfg.InvocationTTL, "invocation-ttl", svcboot.EnvDuration("EVENTFLOW_INVOCATION_TTL", 24*time.Hour), "how long invocation records (and Idempotency-Keys) are kept [EVENTFLOW_INVOCATION_TTL]")
	fs.DurationVar(&cfg.CallbackRetryDelay, "callback-retry-delay", svcboot.EnvDuration("EVENTFLOW_CALLBACK_RETRY_DELAY", time.Second), "first wait before a failed callback is tried again, doubled each time (5 attempts) [EVENTFLOW_CALLBACK_RETRY_DELAY]")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", int64(svcboot.EnvInt("EVENTFLOW_MAX_BODY_BYTES", 1<<20)), "largest request body accepted [EVENTFLOW_MAX_BODY_BYTES]")
	return func() { cfg.JWTSecret = *secret }
}

func runDev(args []string) error {
	// The kernel shows a process's environment and arguments as they were
	// at exec (/proc/<pid>/environ and cmdline), whatever Unsetenv does:
	// start again without the secret in them (docs/ARCHITECTURE.md,
	// "Isolation on the process runtime").
	if err := svcboot.ExecWithoutSecrets(svcboot.Secret{Env: "EVENTFLOW_JWT_SECRET", Flag: "jwt-secret"}); err != nil {
		fmt.Fprintln(os.Stderr, "eventflow dev: warning: the JWT secret stays visible in /proc:", err)
	}
	var cfg dev.Config
	fs := flag.NewFlagSet("eventflow dev", flag.ExitOnError)
	parsed := devFlags(fs, &cfg)
	_ = fs.Parse(args)
	parsed()
	ctx, stop := svcboot.SignalContext()
	defer stop()
	return dev.Run(ctx, cfg, os.Stdout)
}

func runToken(args []string) error {
	fs := flag.NewFlagSet("eventflow token", flag.ExitOnError)
	dataDir := fs.String("data-dir", svcboot.Env("EVENTFLOW_DATA_DIR", "./.eventflow"), "data dir of eventflow dev [EVENTFLOW_DATA_DIR]")
	secret := svcboot.SecretString(fs, "jwt-secret", "EVENTFLOW_JWT_SECRET", "HS256 secret; default: the data dir's [EVENTFLOW_JWT_SECRET]")
	tenant := fs.String("tenant", "demo", "tenant of the token")
	subject := fs.String("subject", "", "subject (default: the tenant)")
	scopes := fs.String("scopes", "", "comma-separated scopes (default: all)")
	ttl := fs.String("ttl", "24h", "lifetime")
	asJSON := fs.Bool("json", false, "print {token, expiresAt} as JSON")
	_ = fs.Parse(args)
	// Only `eventflow dev` makes the secret: one made here would sign a
	// token that the running platform refuses.
	if *secret == "" {
		if _, err := os.Stat(filepath.Join(*dataDir, "jwt-secret")); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no development secret in %s: run eventflow token where eventflow dev runs, or give --data-dir (the platform's data dir) or --jwt-secret", *dataDir)
		}
	}
	key, err := dev.LoadSecret(*dataDir, *secret)
	if err != nil {
		return err
	}
	signer, err := auth.NewHS256(key)
	if err != nil {
		return err
	}
	req := auth.TokenRequest{Subject: *subject, Tenant: *tenant, TTL: *ttl}
	if *scopes != "" {
		req.Scopes = strings.Split(*scopes, ",")
	}
	tok, exp, err := signer.Issue(req)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"token": tok, "expiresAt": exp})
	}
	fmt.Println(tok)
	return nil
}

func runNATSCreds(args []string) error {
	fs := flag.NewFlagSet("eventflow nats-creds", flag.ExitOnError)
	dataDir := fs.String("data-dir", svcboot.Env("EVENTFLOW_DATA_DIR", "./.eventflow"), "data dir of eventflow dev, whose keys sign the credentials [EVENTFLOW_DATA_DIR]")
	keys := fs.String("keys", "", "the keys/ directory made by `eventflow nats-auth init`, for a cluster's bus (instead of --data-dir)")
	tenant := fs.String("tenant", "", "the tenant whose programs use the credentials")
	admin := fs.Bool("admin", false, "an operator's credentials instead: everything in the EventFlow account")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "how long the credentials are valid (0: no expiry)")
	_ = fs.Parse(args)
	if (*tenant == "") == !*admin {
		fmt.Fprintln(os.Stderr, "give --tenant NAME (or --admin)")
		os.Exit(2)
	}
	dir := *keys
	if dir == "" {
		dir = busauth.DataDirKeys(*dataDir)
	}
	// Only `eventflow dev` (or nats-auth init) makes keys: new ones here
	// would sign credentials the running server refuses.
	kit, err := busauth.Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no bus keys in %s: run eventflow nats-creds where eventflow dev runs, or give --data-dir (the platform's data dir) or --keys", dir)
	}
	if err != nil {
		return err
	}
	var creds []byte
	if *admin {
		creds, err = kit.AdminCreds(*ttl, time.Now())
	} else {
		creds, err = kit.TenantCreds(*tenant, *ttl, time.Now())
	}
	if err != nil {
		return err
	}
	if _, err := os.Stdout.Write(creds); err != nil {
		return err
	}
	if *tenant != "" {
		fmt.Fprintf(os.Stderr, "# Save these as %[1]s.creds (mode 0600), then, with the nats CLI:\n"+
			"#   nats --creds %[1]s.creds --inbox-prefix %[2]s pub --jetstream eventflow.invoke.%[1]s.<function> 'payload'\n"+
			"#   nats --creds %[1]s.creds --inbox-prefix %[2]s sub 'eventflow.events.%[1]s.>'\n", *tenant, busauth.TenantInboxPrefix(*tenant))
	}
	return nil
}

func runNATSAuth(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprintln(os.Stderr, "usage: eventflow nats-auth init [--dir DIR]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("eventflow nats-auth init", flag.ExitOnError)
	dir := fs.String("dir", "nats-auth", "where to write the keys and the cluster's Secret files")
	_ = fs.Parse(args[1:])
	if err := busauth.WriteBundle(*dir); err != nil {
		return err
	}
	fmt.Printf(`Bus authentication written to %[1]s:
  %[1]s/keys/    the keys that sign credentials: keep them offline, never in the cluster
  %[1]s/secret/  auth.conf (for the NATS servers) and one .creds file per service

Give the cluster its Secret:
  kubectl -n eventflow create secret generic eventflow-nats-auth --from-file=%[1]s/secret
Credentials for a tenant's producers and subscribers:
  eventflow nats-creds --keys %[1]s/keys --tenant acme > acme.creds
`, *dir)
	return nil
}
