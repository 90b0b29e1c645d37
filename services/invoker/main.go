// Command invoker runs EventFlow invocations (sync by request/reply, async
// from the JetStream work queue) on an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/eventflow/eventflow/pkg/egress"
	"github.com/eventflow/eventflow/pkg/loadreport"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/runtimeboot"
	"github.com/eventflow/eventflow/pkg/svcboot"
	"github.com/eventflow/eventflow/services/invoker/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "invoker:", err)
		os.Exit(1)
	}
}

func run() error {
	// Functions on the process runtime are this process's children: start
	// again without the secret in the environment and arguments the kernel
	// keeps from the exec (/proc/<pid>/environ and cmdline).
	if err := svcboot.ExecWithoutSecrets(svcboot.Secret{Env: "EVENTFLOW_CALLBACK_SECRET", Flag: "callback-secret"}); err != nil {
		fmt.Fprintln(os.Stderr, "invoker: warning: the callback secret stays visible in /proc:", err)
	}
	var common svcboot.Common
	common.Flags(flag.CommandLine)
	opsAddr := flag.String("ops-addr", svcboot.Env("EVENTFLOW_OPS_ADDR", "127.0.0.1:8082"), "address of /healthz, /readyz and /metrics [EVENTFLOW_OPS_ADDR]")
	var rtFlags runtimeboot.Flags
	rtFlags.Register(flag.CommandLine)
	maxConc := flag.Int("max-concurrent", svcboot.EnvInt("EVENTFLOW_INVOKER_MAX_CONCURRENT", 64), "invocations run at once, sync and async each [EVENTFLOW_INVOKER_MAX_CONCURRENT]")
	maxFnSeries := flag.Int("max-function-series", svcboot.EnvInt("EVENTFLOW_INVOKER_MAX_FUNCTION_SERIES", service.DefaultMaxFunctionSeries), "distinct (tenant, function) label pairs of the per-function metrics; past it they count under function=\"_other\" [EVENTFLOW_INVOKER_MAX_FUNCTION_SERIES]")
	scaleReport := flag.Duration("scale-report-interval", svcboot.EnvDuration("EVENTFLOW_SCALE_REPORT_INTERVAL", loadreport.DefaultInterval), "how often the invoker reports each function's invocations in flight and held (waiting for a ready instance) to the deployer's scaler, and repeats a held invocation's wake [EVENTFLOW_SCALE_REPORT_INTERVAL]")
	ackWait := flag.Duration("ack-wait", svcboot.EnvDuration("EVENTFLOW_INVOKER_ACK_WAIT", 0), "redelivery timeout of an unacknowledged async invocation, default 30s [EVENTFLOW_INVOKER_ACK_WAIT]")
	callbackSecret := svcboot.SecretString(flag.CommandLine, "callback-secret", "EVENTFLOW_CALLBACK_SECRET", "secret the tenants' callback signing keys derive from (the gateway's must match); it also keys the ids of trigger invocations and the names of trigger consumers, so every invoker replica needs the same [EVENTFLOW_CALLBACK_SECRET]")
	callbackDelay := flag.Duration("callback-retry-delay", svcboot.EnvDuration("EVENTFLOW_CALLBACK_RETRY_DELAY", time.Second), "first wait before a failed callback is tried again, doubled each time (5 attempts) [EVENTFLOW_CALLBACK_RETRY_DELAY]")
	// Callbacks go where tenants say: by default only to public addresses,
	// never into the cluster (docs/API.md, Callbacks).
	callbackAllowPrivate := flag.Bool("callback-allow-private", svcboot.Env("EVENTFLOW_CALLBACK_ALLOW_PRIVATE", "") == "true", "let callbacks reach loopback, private (RFC 1918, fc00::/7) and shared (100.64.0.0/10) addresses; default false: public addresses only. The gateway's should match [EVENTFLOW_CALLBACK_ALLOW_PRIVATE]")
	callbackAllowCIDRs := flag.String("callback-allow-cidrs", svcboot.Env("EVENTFLOW_CALLBACK_ALLOW_CIDRS", ""), "comma-separated CIDRs and addresses callbacks may reach although they are not public, e.g. 10.20.0.0/16,169.254.10.1; default none. The gateway's should match [EVENTFLOW_CALLBACK_ALLOW_CIDRS]")
	flag.Parse()
	if err := rtFlags.Validate(); err != nil {
		return err
	}
	callbackAllow, err := egress.ParseAllowList(*callbackAllowCIDRs)
	if err != nil {
		return fmt.Errorf("EVENTFLOW_CALLBACK_ALLOW_CIDRS (--callback-allow-cidrs): %w", err)
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "invoker", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	// Standalone, the invoker runs job-mode functions as its own child
	// processes; http-mode instances belong to the deployer's runtime.
	// Job-mode functions on the process runtime run here and read their
	// secrets with the deployer's key (Kubernetes mounts them instead).
	if _, err := rtFlags.OpenSecrets(svc.JS); err != nil {
		return err
	}
	rt, closeRT, err := runtimeboot.Build(ctx, rtFlags, svc.Log,
		func(ctx context.Context, c kubernetes.Interface, k kube.Config) (runtime.Invoker, error) {
			return kube.NewInvoker(ctx, c, k)
		})
	if err != nil {
		return err
	}
	// On the process runtime the functions are this process's children:
	// it publishes their log lines itself, the last ones before exiting.
	defer runtimeboot.ShipLogs(ctx, svc, rtFlags, rt, closeRT)()
	iv, err := service.New(ctx, service.Config{MaxConcurrent: *maxConc, MaxFunctionSeries: *maxFnSeries, AckWait: *ackWait, CallbackSecret: []byte(*callbackSecret), CallbackRetryDelay: *callbackDelay,
		ScaleReportInterval: *scaleReport, CallbackDestinations: egress.Policy{AllowPrivate: *callbackAllowPrivate, Allow: callbackAllow}}, service.Deps{
		NC: svc.NC, JS: svc.JS, Runtime: rt, Log: svc.Log, Tracer: svc.Tracer, Registerer: svc.Registry,
	})
	if err != nil {
		return err
	}
	svc.ServeOps(ctx, *opsAddr)
	return iv.Run(ctx)
}
