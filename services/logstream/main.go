// Command logstream publishes function log lines from a runtime to the
// logs stream on an external NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/svcboot"
	"github.com/eventflow/eventflow/services/logstream/service"
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
	var rtFlags svcboot.RuntimeFlags
	rtFlags.Flags(flag.CommandLine)
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
	// The process runtime's lines come from processes of this process only;
	// the Kubernetes runtime follows pod logs cluster-wide.
	rt, closeRT, err := svcboot.BuildRuntime(ctx, rtFlags, svc.Log,
		func(_ context.Context, c kubernetes.Interface, k kube.Config) (runtime.LogSource, error) {
			return kube.NewLogSource(c, k), nil
		})
	if err != nil {
		return err
	}
	defer closeRT()
	svc.ServeOps(ctx, *opsAddr)
	return service.New(service.Deps{JS: svc.JS, Source: rt, Log: svc.Log, Registerer: svc.Registry}).Run(ctx)
}
