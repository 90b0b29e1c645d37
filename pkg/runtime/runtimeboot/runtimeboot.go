// Package runtimeboot is the start-up of the services that run functions
// (deployer, invoker, logstream, and eventflow dev): the flags that choose
// the runtime (process or kubernetes) and building it. It is kept out of
// svcboot so that services which never touch a runtime, the gateway
// above all, do not link client-go.
package runtimeboot

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/logship"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/process"
	"github.com/eventflow/eventflow/pkg/secrets"
	"github.com/eventflow/eventflow/pkg/svcboot"
)

// Runtime names.
const (
	Process    = "process"
	Kubernetes = "kubernetes"
)

// Flags choose where functions run.
type Flags struct {
	Name            string
	Kubeconfig      string
	NamespacePrefix string
	// ControlNamespace is where EventFlow's services (its invoker) run.
	ControlNamespace string
	// FunctionUser is who the process runtime runs functions as: a user
	// name or uid, optionally :group; "" is the runtime's default.
	FunctionUser string
	// SecretsKeyFile holds the key tenants' secrets are sealed to
	// (pkg/secrets); the deployer publishes its public half.
	SecretsKeyFile string
	// Secrets reads the secrets functions name, for the runtime (set by
	// OpenSecrets, or by the host).
	Secrets runtime.SecretReader
}

// Register registers --runtime, --kubeconfig, --namespace-prefix,
// --control-namespace and --function-user.
func (r *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&r.Name, "runtime", svcboot.Env("EVENTFLOW_RUNTIME", Process), "where functions run: process or kubernetes [EVENTFLOW_RUNTIME]")
	fs.StringVar(&r.Kubeconfig, "kubeconfig", svcboot.Env("KUBECONFIG", ""), "kubeconfig for the kubernetes runtime; empty: in-cluster config [KUBECONFIG]")
	fs.StringVar(&r.NamespacePrefix, "namespace-prefix", svcboot.Env("EVENTFLOW_NAMESPACE_PREFIX", "eventflow-"), "kubernetes runtime: a tenant's namespace is <prefix><tenant> [EVENTFLOW_NAMESPACE_PREFIX]")
	fs.StringVar(&r.ControlNamespace, "control-namespace", svcboot.Env("EVENTFLOW_CONTROL_NAMESPACE", kube.PodNamespace()), "kubernetes runtime: EventFlow's namespace; a NetworkPolicy in each tenant namespace lets only its invoker and gateway pods reach function pods; default: this pod's namespace [EVENTFLOW_CONTROL_NAMESPACE]")
	fs.StringVar(&r.SecretsKeyFile, "secrets-key-file", svcboot.Env("EVENTFLOW_SECRETS_KEY_FILE", ""), "file holding the key tenants' secrets are sealed to (made, mode 0600, if missing); needed by the deployer for secrets to work, and by the invoker for job-mode functions with secrets on the process runtime; empty: functions cannot use secrets [EVENTFLOW_SECRETS_KEY_FILE]")
	fs.StringVar(&r.FunctionUser, "function-user", svcboot.Env("EVENTFLOW_FUNCTION_USER", ""), "process runtime: the user functions run as, a name or uid, optionally :group (e.g. nobody, 65534:65534); default: nobody (65534:65534) when run as root, else this process's own user, which leaves functions able to read its secrets [EVENTFLOW_FUNCTION_USER]")
}

// Validate checks the runtime name and, for kubernetes, the control
// namespace (empty: the default).
func (r Flags) Validate() error {
	if r.Name != Process && r.Name != Kubernetes {
		return fmt.Errorf("runtime %q: use %q or %q", r.Name, Process, Kubernetes)
	}
	if errs := validation.IsDNS1123Label(r.ControlNamespace); r.Name == Kubernetes && r.ControlNamespace != "" && len(errs) > 0 {
		return fmt.Errorf("control namespace %q: %s", r.ControlNamespace, strings.Join(errs, "; "))
	}
	if r.Name == Process {
		if _, err := r.ProcessConfig(nil); err != nil {
			return err
		}
	}
	return nil
}

// ProcessConfig is the process runtime's configuration: the function user
// (--function-user) and log.
func (r Flags) ProcessConfig(log *slog.Logger) (process.Config, error) {
	cfg := process.Config{Logger: log, Secrets: r.Secrets}
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
func (r Flags) Kube(log *slog.Logger) (kubernetes.Interface, kube.Config, error) {
	rc, err := kube.RESTConfig(r.Kubeconfig)
	if err != nil {
		return nil, kube.Config{}, err
	}
	client, err := kube.NewClient(rc)
	if err != nil {
		return nil, kube.Config{}, err
	}
	return client, kube.Config{NamespacePrefix: r.NamespacePrefix, ControlNamespace: r.ControlNamespace, Logger: log, Secrets: r.Secrets}, nil
}

// Build returns the part T (runtime.Deployments, runtime.Invoker or
// runtime.LogSource) a standalone service needs of the chosen runtime, and
// how to close it. With the process runtime, functions run as children of
// the service; fromKube builds the part on a Kubernetes client.
// OpenSecrets loads (or makes) the secrets key named by SecretsKeyFile and
// sets Secrets to read through js with it; without a key file it returns
// nil and functions naming secrets fail with a clear error.
func (r *Flags) OpenSecrets(js jetstream.JetStream) (*secrets.Key, error) {
	if r.SecretsKeyFile == "" {
		return nil, nil
	}
	key, err := secrets.LoadOrCreateKey(r.SecretsKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w (--secrets-key-file, EVENTFLOW_SECRETS_KEY_FILE)", err)
	}
	r.Secrets = secrets.NewReader(js, key)
	return key, nil
}

func Build[T any](ctx context.Context, rf Flags, log *slog.Logger,
	fromKube func(context.Context, kubernetes.Interface, kube.Config) (T, error)) (T, func(), error) {
	var zero T
	if rf.Name == Process {
		pcfg, err := rf.ProcessConfig(log)
		if err != nil {
			return zero, nil, err
		}
		rt := process.New(pcfg)
		closeRT := func() {
			cctx, cancel := svcboot.CloseTimeout()
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

// ShipLogs makes a service that runs functions on the process runtime
// publish their log lines itself: they are its children, so only it can
// read their output (logstream, another process, cannot). rt is what
// Build returned and closeRT its close. On the Kubernetes runtime it does
// nothing and returns closeRT: logstream follows the pods' logs.
//
// The returned close stops the functions (closeRT), then the shipper, and
// returns once their last lines are published; call it before svc.Close
// drains the NATS connection.
func ShipLogs(ctx context.Context, svc *svcboot.Service, rf Flags, rt any, closeRT func()) func() {
	src, ok := rt.(runtime.LogSource)
	if rf.Name != Process || !ok {
		return closeRT
	}
	stop := logship.New(logship.Deps{JS: svc.JS, Source: src, Log: svc.Log, Registerer: svc.Registry}).Start(ctx)
	return func() {
		closeRT()
		stop()
	}
}
