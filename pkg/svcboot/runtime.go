package svcboot

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/process"
)

// Runtime names.
const (
	RuntimeProcess    = "process"
	RuntimeKubernetes = "kubernetes"
)

// RuntimeFlags choose where functions run.
type RuntimeFlags struct {
	Name            string
	Kubeconfig      string
	NamespacePrefix string
	// ControlNamespace is where EventFlow's services (its invoker) run.
	ControlNamespace string
	// FunctionUser is who the process runtime runs functions as: a user
	// name or uid, optionally :group; "" is the runtime's default.
	FunctionUser string
}

// Flags registers --runtime, --kubeconfig, --namespace-prefix,
// --control-namespace and --function-user.
func (r *RuntimeFlags) Flags(fs *flag.FlagSet) {
	fs.StringVar(&r.Name, "runtime", Env("EVENTFLOW_RUNTIME", RuntimeProcess), "where functions run: process or kubernetes [EVENTFLOW_RUNTIME]")
	fs.StringVar(&r.Kubeconfig, "kubeconfig", Env("KUBECONFIG", ""), "kubeconfig for the kubernetes runtime; empty: in-cluster config [KUBECONFIG]")
	fs.StringVar(&r.NamespacePrefix, "namespace-prefix", Env("EVENTFLOW_NAMESPACE_PREFIX", "eventflow-"), "kubernetes runtime: a tenant's namespace is <prefix><tenant> [EVENTFLOW_NAMESPACE_PREFIX]")
	fs.StringVar(&r.ControlNamespace, "control-namespace", Env("EVENTFLOW_CONTROL_NAMESPACE", kube.PodNamespace()), "kubernetes runtime: EventFlow's namespace; a NetworkPolicy in each tenant namespace lets only its invoker pods reach function pods; default: this pod's namespace [EVENTFLOW_CONTROL_NAMESPACE]")
	fs.StringVar(&r.FunctionUser, "function-user", Env("EVENTFLOW_FUNCTION_USER", ""), "process runtime: the user functions run as, a name or uid, optionally :group (e.g. nobody, 65534:65534); default: nobody (65534:65534) when run as root, else this process's own user, which leaves functions able to read its secrets [EVENTFLOW_FUNCTION_USER]")
}

// Validate checks the runtime name and, for kubernetes, the control
// namespace (empty: the default).
func (r RuntimeFlags) Validate() error {
	if r.Name != RuntimeProcess && r.Name != RuntimeKubernetes {
		return fmt.Errorf("runtime %q: use %q or %q", r.Name, RuntimeProcess, RuntimeKubernetes)
	}
	if errs := validation.IsDNS1123Label(r.ControlNamespace); r.Name == RuntimeKubernetes && r.ControlNamespace != "" && len(errs) > 0 {
		return fmt.Errorf("control namespace %q: %s", r.ControlNamespace, strings.Join(errs, "; "))
	}
	if r.Name == RuntimeProcess {
		if _, err := r.ProcessConfig(nil); err != nil {
			return err
		}
	}
	return nil
}

// ProcessConfig is the process runtime's configuration: the function user
// (--function-user) and log.
func (r RuntimeFlags) ProcessConfig(log *slog.Logger) (process.Config, error) {
	cfg := process.Config{Logger: log}
	if r.FunctionUser != "" {
		u, err := process.ParseUser(r.FunctionUser)
		if err != nil {
			return cfg, fmt.Errorf("%w (--function-user, EVENTFLOW_FUNCTION_USER)", err)
		}
		cfg.User = &u
	}
	return cfg, nil
}

// Kube returns a client and the runtime configuration for the kubernetes
// runtime.
func (r RuntimeFlags) Kube(log *slog.Logger) (kubernetes.Interface, kube.Config, error) {
	rc, err := kube.RESTConfig(r.Kubeconfig)
	if err != nil {
		return nil, kube.Config{}, err
	}
	client, err := kube.NewClient(rc)
	if err != nil {
		return nil, kube.Config{}, err
	}
	return client, kube.Config{NamespacePrefix: r.NamespacePrefix, ControlNamespace: r.ControlNamespace, Logger: log}, nil
}

// BuildRuntime returns the part T (runtime.Deployments, runtime.Invoker or
// runtime.LogSource) a standalone service needs of the chosen runtime, and
// how to close it. With the process runtime, functions run as children of
// the service; fromKube builds the part on a Kubernetes client.
func BuildRuntime[T any](ctx context.Context, rf RuntimeFlags, log *slog.Logger,
	fromKube func(context.Context, kubernetes.Interface, kube.Config) (T, error)) (T, func(), error) {
	var zero T
	if rf.Name == RuntimeProcess {
		pcfg, err := rf.ProcessConfig(log)
		if err != nil {
			return zero, nil, err
		}
		rt := process.New(pcfg)
		closeRT := func() {
			cctx, cancel := CloseTimeout()
			defer cancel()
			_ = rt.Close(cctx)
		}
		return any(rt).(T), closeRT, nil
	}
	client, kcfg, err := rf.Kube(log)
	if err != nil {
		return zero, nil, err
	}
	part, err := fromKube(ctx, client, kcfg)
	return part, func() {}, err
}
