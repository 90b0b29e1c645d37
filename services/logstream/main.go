// Command logstream publishes function log lines from a runtime to the
// logs stream on an external NATS.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/eventflow/eventflow/pkg/runtime/process"
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
	rtName := flag.String("runtime", svcboot.Env("EVENTFLOW_RUNTIME", "process"), "where functions run: process [EVENTFLOW_RUNTIME]")
	flag.Parse()
	if *rtName != "process" {
		return fmt.Errorf("runtime %q is not available; use \"process\"", *rtName)
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
	rt := process.New(process.Config{Logger: svc.Log})
	svc.ServeOps(ctx, *opsAddr)
	return service.New(service.Deps{JS: svc.JS, Source: rt, Log: svc.Log, Registerer: svc.Registry}).Run(ctx)
}
