// Command deployer reconciles EventFlow functions against a runtime, driven
// by the command stream on an external NATS.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/eventflow/eventflow/pkg/runtime/process"
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
	rtName := flag.String("runtime", svcboot.Env("EVENTFLOW_RUNTIME", "process"), "where functions run: process [EVENTFLOW_RUNTIME]")
	workers := flag.Int("workers", svcboot.EnvInt("EVENTFLOW_DEPLOYER_WORKERS", 4), "concurrent reconciles [EVENTFLOW_DEPLOYER_WORKERS]")
	resync := flag.Duration("resync", svcboot.EnvDuration("EVENTFLOW_RESYNC_INTERVAL", 0), "full resync period, default 30s [EVENTFLOW_RESYNC_INTERVAL]")
	flag.Parse()
	if *rtName != "process" {
		return fmt.Errorf("runtime %q is not available; use \"process\"", *rtName)
	}
	ctx, stop := svcboot.SignalContext()
	defer stop()
	svc, err := svcboot.Start(ctx, "deployer", common)
	if err != nil {
		return err
	}
	defer svc.Close()
	rt := process.New(process.Config{Logger: svc.Log})
	defer func() { cctx, cancel := svcboot.CloseTimeout(); defer cancel(); _ = rt.Close(cctx) }()
	dp, err := service.New(ctx, service.Config{Workers: *workers, ResyncInterval: *resync}, service.Deps{
		JS: svc.JS, Runtime: rt, Log: svc.Log, Tracer: svc.Tracer, Registerer: svc.Registry,
	})
	if err != nil {
		return err
	}
	svc.ServeOps(ctx, *opsAddr)
	return dp.Run(ctx)
}
