// Command gateway runs EventFlow's HTTP API against an external NATS.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/svcboot"
	"github.com/eventflow/eventflow/services/gateway/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	var common svcboot.Common
	common.Flags(flag.CommandLine)
	addr := flag.String("http-addr", svcboot.Env("EVENTFLOW_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address of the API [EVENTFLOW_HTTP_ADDR]")
	secret := flag.String("jwt-secret", svcboot.Env("EVENTFLOW_JWT_SECRET", ""), "HS256 secret for bearer tokens, at least 32 bytes [EVENTFLOW_JWT_SECRET]")
	maxBody := flag.Int64("max-body-bytes", int64(svcboot.EnvInt("EVENTFLOW_MAX_BODY_BYTES", 1<<20)), "largest request body accepted [EVENTFLOW_MAX_BODY_BYTES]")
	tokens := flag.Bool("enable-token-endpoint", svcboot.Env("EVENTFLOW_ENABLE_TOKEN_ENDPOINT", "") == "true", "serve POST /auth/token, which mints tokens for any tenant: development only [EVENTFLOW_ENABLE_TOKEN_ENDPOINT]")
	callbackSecret := flag.String("callback-secret", svcboot.Env("EVENTFLOW_CALLBACK_SECRET", ""), "secret the tenants' callback signing keys derive from; the invoker's must match [EVENTFLOW_CALLBACK_SECRET]")
	flag.Parse()

	signer, err := auth.NewHS256([]byte(*secret))
	if err != nil {
		return fmt.Errorf("%w (set EVENTFLOW_JWT_SECRET)", err)
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "gateway", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	gw, err := service.New(ctx, service.Config{MaxBodyBytes: *maxBody, EnableTokenIssuer: *tokens, CallbackSecret: []byte(*callbackSecret)}, service.Deps{
		NC: svc.NC, JS: svc.JS, Auth: signer, Log: svc.Log, Tracer: svc.Tracer, Registerer: svc.Registry, Gatherer: svc.Registry,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	svc.Log.Info("gateway listening", "addr", ln.Addr().String())
	return gw.Serve(ctx, ln)
}
