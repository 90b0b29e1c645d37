// Command logstream publishes function log lines from the Kubernetes
// runtime (every managed pod's logs) to the logs stream on an external NATS.
//
// On the process runtime there is nothing for it to follow: functions run
// as children of the invoker and the deployer, which publish their lines
// themselves. It then says so, serves its probes and metrics, and waits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/eventflow/eventflow/pkg/logship"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/runtimeboot"
	"github.com/eventflow/eventflow/pkg/svcboot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "logstream:", err)
		os.Exit(1)
	}
}

func run() error {
	var common svcboot.Common
	common.Flags(flag.CommandLine)
	opsAddr := flag.String("ops-addr", svcboot.Env("EVENTFLOW_OPS_ADDR", "127.0.0.1:8083"), "address of /healthz, /readyz and /metrics [EVENTFLOW_OPS_ADDR]")
	var rtFlags runtimeboot.Flags
	rtFlags.Register(flag.CommandLine)
	flag.Parse()
	if err := rtFlags.Validate(); err != nil {
		return err
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "logstream", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	if rtFlags.Name == runtimeboot.Process {
		// Kept running rather than refused, so one topology (compose's, a
		// supervisor's) serves both runtimes and stays healthy.
		svc.Log.Warn("nothing to follow on the process runtime: functions run inside the invoker and the deployer, which publish their own log lines; logstream only serves its probes and metrics (it collects logs with --runtime kubernetes)",
			"runtime", rtFlags.Name)
		svc.ServeOps(ctx, *opsAddr)
		<-ctx.Done()
		return nil
	}
	src, closeRT, err := runtimeboot.Build(ctx, rtFlags, svc.Log,
		func(_ context.Context, c kubernetes.Interface, k kube.Config) (runtime.LogSource, error) {
			return kube.NewLogSource(c, k), nil
		})
	if err != nil {
		return err
	}
	defer closeRT()
	svc.ServeOps(ctx, *opsAddr)
	return logship.New(logship.Deps{JS: svc.JS, Source: src, Log: svc.Log, Registerer: svc.Registry}).Run(ctx)
}
