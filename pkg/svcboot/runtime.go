package svcboot

import (
	"flag"
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"

	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
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
}

// Flags registers --runtime, --kubeconfig and --namespace-prefix.
func (r *RuntimeFlags) Flags(fs *flag.FlagSet) {
	fs.StringVar(&r.Name, "runtime", Env("EVENTFLOW_RUNTIME", RuntimeProcess), "where functions run: process or kubernetes [EVENTFLOW_RUNTIME]")
	fs.StringVar(&r.Kubeconfig, "kubeconfig", Env("KUBECONFIG", ""), "kubeconfig for the kubernetes runtime; empty: in-cluster config [KUBECONFIG]")
	fs.StringVar(&r.NamespacePrefix, "namespace-prefix", Env("EVENTFLOW_NAMESPACE_PREFIX", "eventflow-"), "kubernetes runtime: a tenant's namespace is <prefix><tenant> [EVENTFLOW_NAMESPACE_PREFIX]")
}

// Validate checks the runtime name.
func (r RuntimeFlags) Validate() error {
	if r.Name != RuntimeProcess && r.Name != RuntimeKubernetes {
		return fmt.Errorf("runtime %q: use %q or %q", r.Name, RuntimeProcess, RuntimeKubernetes)
	}
	return nil
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
	return client, kube.Config{NamespacePrefix: r.NamespacePrefix, Logger: log}, nil
}
