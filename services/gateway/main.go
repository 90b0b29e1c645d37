// Command gateway runs EventFlow's HTTP API against an external NATS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/eventflow/eventflow/pkg/auth"
	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/loadreport"
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
	secret := svcboot.SecretString(flag.CommandLine, "jwt-secret", "EVENTFLOW_JWT_SECRET", "HS256 secret for bearer tokens, at least 32 bytes; optional when --oidc-issuer is set [EVENTFLOW_JWT_SECRET]")
	var oidc oidcFlags
	flag.StringVar(&oidc.issuer, "oidc-issuer", svcboot.Env("EVENTFLOW_OIDC_ISSUER", ""), "OpenID Connect issuer URL whose RS256/ES256 tokens are accepted; discovery at <issuer>/.well-known/openid-configuration [EVENTFLOW_OIDC_ISSUER]")
	flag.StringVar(&oidc.audience, "oidc-audience", svcboot.Env("EVENTFLOW_OIDC_AUDIENCE", ""), "audience OIDC tokens must carry in aud; required with --oidc-issuer [EVENTFLOW_OIDC_AUDIENCE]")
	flag.StringVar(&oidc.tenantClaim, "oidc-tenant-claim", svcboot.Env("EVENTFLOW_OIDC_TENANT_CLAIM", auth.DefaultTenantClaim), "OIDC token claim holding the EventFlow tenant [EVENTFLOW_OIDC_TENANT_CLAIM]")
	flag.StringVar(&oidc.scopesClaim, "oidc-scopes-claim", svcboot.Env("EVENTFLOW_OIDC_SCOPES_CLAIM", auth.DefaultScopesClaim), "OIDC token claim holding the scopes, a space-separated string or an array [EVENTFLOW_OIDC_SCOPES_CLAIM]")
	maxBody := flag.Int64("max-body-bytes", int64(svcboot.EnvInt("EVENTFLOW_MAX_BODY_BYTES", 1<<20)), "largest request body accepted [EVENTFLOW_MAX_BODY_BYTES]")
	tokens := flag.Bool("enable-token-endpoint", svcboot.Env("EVENTFLOW_ENABLE_TOKEN_ENDPOINT", "") == "true", "serve POST /auth/token, which mints tokens for any tenant: development only [EVENTFLOW_ENABLE_TOKEN_ENDPOINT]")
	callbackSecret := svcboot.SecretString(flag.CommandLine, "callback-secret", "EVENTFLOW_CALLBACK_SECRET", "secret the tenants' callback signing keys derive from; the invoker's must match [EVENTFLOW_CALLBACK_SECRET]")
	// Callbacks go where tenants say: by default only to public addresses,
	// never into the cluster (docs/API.md, Callbacks).
	callbackAllowPrivate := flag.Bool("callback-allow-private", svcboot.Env("EVENTFLOW_CALLBACK_ALLOW_PRIVATE", "") == "true", "let callbacks reach loopback, private (RFC 1918, fc00::/7) and shared (100.64.0.0/10) addresses; default false: public addresses only. The invoker's should match [EVENTFLOW_CALLBACK_ALLOW_PRIVATE]")
	callbackAllowCIDRs := flag.String("callback-allow-cidrs", svcboot.Env("EVENTFLOW_CALLBACK_ALLOW_CIDRS", ""), "comma-separated CIDRs and addresses callbacks may reach although they are not public, e.g. 10.20.0.0/16,169.254.10.1; default none. The invoker's should match [EVENTFLOW_CALLBACK_ALLOW_CIDRS]")
	scaleReport := scaleReportFlag(flag.CommandLine)
	var tenants tenantFlags
	tenants.register(flag.CommandLine)
	flag.Parse()
	if *scaleReport <= 0 {
		return fmt.Errorf("EVENTFLOW_SCALE_REPORT_INTERVAL (--scale-report-interval) is %s: it must be above zero", *scaleReport)
	}
	callbackAllow, err := egress.ParseAllowList(*callbackAllowCIDRs)
	if err != nil {
		return fmt.Errorf("EVENTFLOW_CALLBACK_ALLOW_CIDRS (--callback-allow-cidrs): %w", err)
	}

	// An empty value (a chart's unset default) means the default claim.
	if oidc.tenantClaim == "" {
		oidc.tenantClaim = auth.DefaultTenantClaim
	}
	if oidc.scopesClaim == "" {
		oidc.scopesClaim = auth.DefaultScopesClaim
	}
	var signer *auth.HS256
	switch {
	case *secret == "" && oidc.issuer == "":
		return errors.New("no way to verify tokens: set EVENTFLOW_JWT_SECRET (--jwt-secret), EVENTFLOW_OIDC_ISSUER (--oidc-issuer), or both")
	case *secret == "" && *tokens:
		return errors.New("the token endpoint (EVENTFLOW_ENABLE_TOKEN_ENDPOINT=true, --enable-token-endpoint) mints HS256 tokens and needs EVENTFLOW_JWT_SECRET; with only EVENTFLOW_OIDC_ISSUER set, get tokens from the identity provider")
	case *secret != "":
		var err error
		if signer, err = auth.NewHS256([]byte(*secret)); err != nil {
			return fmt.Errorf("%w (set EVENTFLOW_JWT_SECRET)", err)
		}
	}
	if oidc.issuer != "" && oidc.audience == "" {
		return errors.New("EVENTFLOW_OIDC_ISSUER (--oidc-issuer) needs EVENTFLOW_OIDC_AUDIENCE (--oidc-audience): without it any token the provider issues to any client would be accepted")
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "gateway", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	verifier, err := newVerifier(ctx, svc.Log, signer, oidc, *tokens)
	if err != nil {
		return err
	}
	gw, err := service.New(ctx, service.Config{MaxBodyBytes: *maxBody, EnableTokenIssuer: *tokens, CallbackSecret: []byte(*callbackSecret),
		CallbackDestinations: egress.Policy{AllowPrivate: *callbackAllowPrivate, Allow: callbackAllow}, Tenants: tenants.limits(),
		ScaleReportInterval: *scaleReport}, service.Deps{
		NC: svc.NC, JS: svc.JS, Auth: verifier, Log: svc.Log, Tracer: svc.Tracer, Registerer: svc.Registry, Gatherer: svc.Registry,
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

// scaleReportFlag registers --scale-report-interval (README.md, the
// gateway's flags; docs/API.md, Scaling).
func scaleReportFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("scale-report-interval", svcboot.EnvDuration("EVENTFLOW_SCALE_REPORT_INTERVAL", loadreport.DefaultInterval),
		"how often the gateway reports each function's route requests in flight and held (waiting for a ready instance) to the deployer's scaler, and repeats a held request's wake [EVENTFLOW_SCALE_REPORT_INTERVAL]")
}

type oidcFlags struct{ issuer, audience, tenantClaim, scopesClaim string }

// tenantFlags are the per-tenant limits (docs/API.md, "Limits"); 0 turns
// one off.
type tenantFlags struct{ rate, burst, functions, streams, routeRequests int }

func (f *tenantFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.rate, "tenant-rate", svcboot.EnvInt("EVENTFLOW_TENANT_RATE", service.DefaultRequestsPerSecond), "requests per second each tenant may make to this gateway (/v1; a stream counts once); more get 429 with Retry-After; 0: no limit [EVENTFLOW_TENANT_RATE]")
	fs.IntVar(&f.burst, "tenant-burst", svcboot.EnvInt("EVENTFLOW_TENANT_BURST", 0), "requests a tenant may make at once before --tenant-rate applies; 0: twice the rate [EVENTFLOW_TENANT_BURST]")
	fs.IntVar(&f.functions, "tenant-max-functions", svcboot.EnvInt("EVENTFLOW_TENANT_MAX_FUNCTIONS", service.DefaultMaxFunctions), "functions a tenant may have; creating more gets 403 quota_exceeded; 0: no limit [EVENTFLOW_TENANT_MAX_FUNCTIONS]")
	fs.IntVar(&f.streams, "tenant-max-streams", svcboot.EnvInt("EVENTFLOW_TENANT_MAX_STREAMS", service.DefaultMaxStreams), "log and event streams a tenant may have open on this gateway; more get 429; 0: no limit [EVENTFLOW_TENANT_MAX_STREAMS]")
	fs.IntVar(&f.routeRequests, "tenant-max-route-requests", svcboot.EnvInt("EVENTFLOW_TENANT_MAX_ROUTE_REQUESTS", service.DefaultMaxRouteRequests), "requests to a tenant's function routes (/fn/, /async-fn/) in flight at once on this gateway; more get 429; 0: no limit [EVENTFLOW_TENANT_MAX_ROUTE_REQUESTS]")
}

// limits are the flags in service.TenantLimits' terms, where 0 is the
// default and a negative value no limit.
func (f tenantFlags) limits() service.TenantLimits {
	off := func(n int) int {
		if n <= 0 {
			return service.Unlimited
		}
		return n
	}
	return service.TenantLimits{
		RequestsPerSecond: float64(off(f.rate)), Burst: max(f.burst, 0),
		MaxFunctions: off(f.functions), MaxStreams: off(f.streams), MaxRouteRequests: off(f.routeRequests),
	}
}

// oidcDiscoveryWait bounds how long the gateway waits for its identity
// provider at start-up (a pod may start before the provider's).
const oidcDiscoveryWait = 30 * time.Second

// newVerifier reads the OIDC provider's discovery document and keys, if an
// issuer is set, and logs which kinds of token are accepted.
func newVerifier(ctx context.Context, log *slog.Logger, signer *auth.HS256, f oidcFlags, tokenEndpoint bool) (auth.Verifier, error) {
	var o *auth.OIDC
	if f.issuer != "" {
		if strings.HasPrefix(f.issuer, "http://") {
			log.Warn("the OIDC issuer is not https: tokens' keys are fetched unprotected", "issuer", f.issuer)
		}
		var err error
		o, err = auth.WaitOIDC(ctx, auth.OIDCConfig{
			Issuer: f.issuer, Audience: f.audience, TenantClaim: f.tenantClaim, ScopesClaim: f.scopesClaim,
		}, oidcDiscoveryWait, func(err error, next time.Duration) {
			log.Warn("OIDC provider not reachable yet; retrying", "issuer", f.issuer, "err", err, "retry_in", next.String())
		})
		if err != nil {
			return nil, fmt.Errorf("OIDC issuer %s (EVENTFLOW_OIDC_ISSUER): %w", f.issuer, err)
		}
	} else if f.audience != "" {
		log.Warn("EVENTFLOW_OIDC_AUDIENCE is set but EVENTFLOW_OIDC_ISSUER is not: OIDC tokens are not accepted")
	}
	v, err := auth.NewVerifier(signer, o)
	if err != nil {
		return nil, err
	}
	attrs := []any{"hs256", signer != nil, "token_endpoint", tokenEndpoint, "oidc", o != nil}
	if o != nil {
		attrs = append(attrs, "oidc_issuer", f.issuer, "oidc_audience", f.audience, "oidc_tenant_claim", f.tenantClaim, "oidc_scopes_claim", f.scopesClaim)
	}
	log.Info("bearer tokens accepted", attrs...)
	return v, nil
}
