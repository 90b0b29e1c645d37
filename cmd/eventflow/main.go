// Command eventflow is EventFlow's all-in-one binary: `eventflow dev` runs
// the whole platform on one machine; `eventflow token` mints a development
// token from the data dir's secret.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/eventflow/eventflow/cmd/eventflow/internal/dev"
	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/svcboot"
)

const usage = `eventflow: a functions-as-a-service platform on NATS JetStream

Usage:
  eventflow dev [flags]     run the platform on this machine (embedded NATS, local processes)
  eventflow token [flags]   print a development token signed with the dev secret

Run "eventflow <command> -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(os.Args[2:])
	case "token":
		err = runToken(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "eventflow: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventflow:", err)
		os.Exit(1)
	}
}

func devFlags(fs *flag.FlagSet, cfg *dev.Config) {
	fs.StringVar(&cfg.HTTPAddr, "http-addr", svcboot.Env("EVENTFLOW_HTTP_ADDR", "127.0.0.1:8080"), "HTTP API listen address [EVENTFLOW_HTTP_ADDR]")
	fs.StringVar(&cfg.DataDir, "data-dir", svcboot.Env("EVENTFLOW_DATA_DIR", "./.eventflow"), "where JetStream data and the dev secret live [EVENTFLOW_DATA_DIR]")
	fs.StringVar(&cfg.NATSAddr, "nats-addr", svcboot.Env("EVENTFLOW_NATS_ADDR", "127.0.0.1:4222"), "embedded NATS client address, for subscribers and the nats CLI [EVENTFLOW_NATS_ADDR]")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", svcboot.Env("EVENTFLOW_JWT_SECRET", ""), "HS256 token secret; default: a random one kept in the data dir [EVENTFLOW_JWT_SECRET]")
	cfg.Runtime.Flags(fs)
	fs.StringVar(&cfg.LogLevel, "log-level", svcboot.Env("EVENTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error [EVENTFLOW_LOG_LEVEL]")
	fs.DurationVar(&cfg.InvokerAckWait, "invoker-ack-wait", svcboot.EnvDuration("EVENTFLOW_INVOKER_ACK_WAIT", 30*time.Second), "how long an unacknowledged async invocation waits before redelivery [EVENTFLOW_INVOKER_ACK_WAIT]")
	fs.DurationVar(&cfg.InvocationTTL, "invocation-ttl", svcboot.EnvDuration("EVENTFLOW_INVOCATION_TTL", 24*time.Hour), "how long invocation records (and Idempotency-Keys) are kept [EVENTFLOW_INVOCATION_TTL]")
	fs.DurationVar(&cfg.CallbackRetryDelay, "callback-retry-delay", svcboot.EnvDuration("EVENTFLOW_CALLBACK_RETRY_DELAY", time.Second), "first wait before a failed callback is tried again, doubled each time (5 attempts) [EVENTFLOW_CALLBACK_RETRY_DELAY]")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", int64(svcboot.EnvInt("EVENTFLOW_MAX_BODY_BYTES", 1<<20)), "largest request body accepted [EVENTFLOW_MAX_BODY_BYTES]")
}

func runDev(args []string) error {
	var cfg dev.Config
	fs := flag.NewFlagSet("eventflow dev", flag.ExitOnError)
	devFlags(fs, &cfg)
	_ = fs.Parse(args)
	ctx, stop := svcboot.SignalContext()
	defer stop()
	return dev.Run(ctx, cfg, os.Stdout)
}

func runToken(args []string) error {
	fs := flag.NewFlagSet("eventflow token", flag.ExitOnError)
	dataDir := fs.String("data-dir", svcboot.Env("EVENTFLOW_DATA_DIR", "./.eventflow"), "data dir of `eventflow dev` [EVENTFLOW_DATA_DIR]")
	secret := fs.String("jwt-secret", svcboot.Env("EVENTFLOW_JWT_SECRET", ""), "HS256 secret; default: the data dir's [EVENTFLOW_JWT_SECRET]")
	tenant := fs.String("tenant", "demo", "tenant of the token")
	subject := fs.String("subject", "", "subject (default: the tenant)")
	scopes := fs.String("scopes", "", "comma-separated scopes (default: all)")
	ttl := fs.String("ttl", "24h", "lifetime")
	asJSON := fs.Bool("json", false, "print {token, expiresAt} as JSON")
	_ = fs.Parse(args)
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
