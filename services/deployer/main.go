// Command deployer reconciles EventFlow functions against a runtime, driven
// by the command stream on an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/runtimeboot"
	"github.com/eventflow/eventflow/pkg/svcboot"
	"github.com/eventflow/eventflow/services/deployer/service"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deployer:", err)
		os.Exit(1)
	}
}

func run() error {
	var common svcboot.Common
	common.Flags(flag.CommandLine)
	opsAddr := flag.String("ops-addr", svcboot.Env("EVENTFLOW_OPS_ADDR", "127.0.0.1:8081"), "address of /healthz, /readyz and /metrics [EVENTFLOW_OPS_ADDR]")
	var rtFlags runtimeboot.Flags
	rtFlags.Register(flag.CommandLine)
	workers := flag.Int("workers", svcboot.EnvInt("EVENTFLOW_DEPLOYER_WORKERS", 4), "concurrent reconciles [EVENTFLOW_DEPLOYER_WORKERS]")
	resync := flag.Duration("resync", svcboot.EnvDuration("EVENTFLOW_RESYNC_INTERVAL", 0), "full resync period, default 30s [EVENTFLOW_RESYNC_INTERVAL]")
	scaleInterval := flag.Duration("scale-interval", svcboot.EnvDuration("EVENTFLOW_SCALE_INTERVAL", 0), "how often the scaler evaluates every autoscaled function, default 1s (a request held while a function is cold wakes it at once) [EVENTFLOW_SCALE_INTERVAL]")
	scaleTTL := flag.Duration("scale-report-ttl", svcboot.EnvDuration("EVENTFLOW_SCALE_REPORT_TTL", 0), "how long a gateway's or invoker's last load report counts, default 3s (keep it above their --scale-report-interval) [EVENTFLOW_SCALE_REPORT_TTL]")
	flag.Parse()
	if err := rtFlags.Validate(); err != nil {
		return err
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "deployer", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	// The secrets key: the runtime opens functions' secrets with it, and
	// the gateway seals new values to its public half.
	secretsKey, err := rtFlags.OpenSecrets(svc.JS)
	if err != nil {
		return err
	}
	if secretsKey == nil {
		svc.Log.Warn("no secrets key (EVENTFLOW_SECRETS_KEY_FILE): functions cannot use secrets")
	}
	rt, closeRT, err := runtimeboot.Build(ctx, rtFlags, svc.Log,
		func(ctx context.Context, c kubernetes.Interface, k kube.Config) (runtime.Deployments, error) {
			return kube.NewDeployments(ctx, c, k)
		})
	if err != nil {
		return err
	}
	// On the process runtime the functions are this process's children:
	// it publishes their log lines itself, the last ones before exiting.
	defer runtimeboot.ShipLogs(ctx, svc, rtFlags, rt, closeRT)()
	dp, err := service.New(ctx, service.Config{Workers: *workers, ResyncInterval: *resync,
		ScaleInterval: *scaleInterval, ScaleReportTTL: *scaleTTL}, service.Deps{
		NC: svc.NC, JS: svc.JS, Runtime: rt, Log: svc.Log, Tracer: svc.Tracer, Registerer: svc.Registry, SecretsKey: secretsKey,
	})
	if err != nil {
		return err
	}
	svc.ServeOps(ctx, *opsAddr)
	return dp.Run(ctx)
}
