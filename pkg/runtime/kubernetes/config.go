package kubernetes

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/eventflow/eventflow/pkg/runtime"
)

// Config of the Kubernetes runtime.
type Config struct {
	// NamespacePrefix makes a tenant's namespace: <prefix><tenant>.
	NamespacePrefix string
	// ControlNamespace is where EventFlow's own services run: the tenant
	// namespaces' NetworkPolicy lets in only its invoker and gateway pods. Default:
	// the namespace of this pod (PodNamespace), else "eventflow".
	ControlNamespace string
	// FieldManager owns the fields EventFlow applies (server-side apply).
	FieldManager string
	// ScaleFieldManager owns an http-mode Deployment's spec.replicas,
	// which Deployments.Scale sets through the scale subresource
	// (server-side apply); FieldManager never applies it after creation.
	// Default: "eventflow-scaler".
	ScaleFieldManager string
	// JobTTL is how long a finished invocation Job is kept.
	JobTTL time.Duration
	// OutputLimit caps the output read from a job's log, in bytes.
	OutputLimit int64
	// ResyncPeriod of the informers.
	ResyncPeriod time.Duration
	// Secrets reads the tenants' secrets for the functions that name some
	// (function.Spec.Secrets): Deployments.Apply writes them to a Secret
	// per function. Nil: Apply fails for such a function, saying secrets
	// are not configured. The invoker does not use it.
	Secrets runtime.SecretReader
	Logger  *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.NamespacePrefix == "" {
		c.NamespacePrefix = "eventflow-"
	}
	if c.ControlNamespace == "" {
		c.ControlNamespace = PodNamespace()
	}
	if c.FieldManager == "" {
		c.FieldManager = "eventflow"
	}
	if c.ScaleFieldManager == "" {
		c.ScaleFieldManager = "eventflow-scaler"
	}
	if c.JobTTL <= 0 {
		c.JobTTL = 10 * time.Minute
	}
	if c.OutputLimit <= 0 {
		c.OutputLimit = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// serviceAccountNamespace is where the kubelet writes the pod's namespace
// along with its service-account token.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// PodNamespace is the namespace this process runs in when it is a pod with
// a service-account token mounted, else "eventflow" (the manifests' own).
func PodNamespace() string {
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "eventflow"
}

// RESTConfig loads in-cluster configuration when running in a pod, else the
// kubeconfig (kubeconfig path, or $KUBECONFIG, or ~/.kube/config).
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w (set KUBECONFIG, or run in a pod)", err)
	}
	return cfg, nil
}

// NewClient builds a clientset with QPS suited to a controller.
func NewClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = "eventflow"
	return kubernetes.NewForConfig(cfg)
}

// managedInformers watches only objects EventFlow made, in every namespace.
func managedInformers(client kubernetes.Interface, resync time.Duration) informers.SharedInformerFactory {
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy}).String()
	return informers.NewSharedInformerFactoryWithOptions(client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }),
		informers.WithTransform(stripManagedFields))
}

// stripManagedFields drops what EventFlow never reads from cached objects:
// managedFields are close to half of each one.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
