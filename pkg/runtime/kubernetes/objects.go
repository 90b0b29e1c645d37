package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv1ac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Labels and annotations on every object EventFlow makes.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedBy          = "eventflow"
	LabelTenant        = "eventflow.io/tenant"
	LabelFunction      = "eventflow.io/function"
	LabelInvocation    = "eventflow.io/invocation"
	AnnotationSpecHash = "eventflow.io/spec-hash"

	// ContainerName is the function's container in every pod.
	ContainerName = "function"
	// HTTPPort is where http-mode functions listen ($PORT) and the port of
	// their Service.
	HTTPPort = 8080
	// PayloadMountPath is where a large payload is mounted in a job pod.
	PayloadMountPath = "/eventflow"

	// AnnotationSecretsVersion is on the pod template of a function that
	// names secrets (and on its Secret): runtime.SecretsVersion of what
	// it runs with, names and versions only. A rotated secret changes
	// it, which rolls the Deployment.
	AnnotationSecretsVersion = "eventflow.io/secrets-version"
	// SecretsVolume is the pod volume of the function's Secret, mounted
	// read-only at runtime.SecretsMountPath.
	SecretsVolume = "secrets"
)

// SecretsName is the Secret holding a function's secrets, in the tenant's
// namespace: one data key per secret, named as it. (Payload Secrets end
// in "-payload", so the two never collide.)
func SecretsName(fn string) string { return fn + "-secrets" }

// NewSecret holds the function's secrets, read through the runtime's
// SecretReader. It is the one object a value goes into: the pods mount it
// (see mountSecrets) and know only its name and the secrets' versions.
func NewSecret(ns, tenant, fn string, secrets []runtime.Secret) *corev1ac.SecretApplyConfiguration {
	data := make(map[string][]byte, len(secrets))
	for _, s := range secrets {
		data[s.Name] = s.Value
	}
	return corev1ac.Secret(SecretsName(fn), ns).
		WithLabels(ObjectLabels(tenant, fn)).
		WithAnnotations(map[string]string{AnnotationSecretsVersion: runtime.SecretsVersion(secrets)}).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
}

// secretsFileMode is the mode of the secrets' files. A function runs as
// its image's (non-root) user, whose uid EventFlow does not know: without
// an fsGroup the kubelet leaves the files root's, so only 0444 lets that
// user read them; with an fsGroup the files get that group (the pod's
// processes have it), and 0440 keeps them from other users.
func secretsFileMode(ps *corev1ac.PodSpecApplyConfiguration) int32 {
	if ps.SecurityContext != nil && ps.SecurityContext.FSGroup != nil {
		return 0o440
	}
	return 0o444
}

// functionContainer is the function's container in ps. podSpec copies the
// container it is given (WithContainers appends values), so whatever is
// added after podSpec goes through this, not the container built before.
func functionContainer(ps *corev1ac.PodSpecApplyConfiguration) *corev1ac.ContainerApplyConfiguration {
	return &ps.Containers[0]
}

// mountSecrets gives a pod of the function its Secret when the spec names
// secrets: a read-only volume at runtime.SecretsMountPath, and
// $EVENTFLOW_SECRETS_DIR saying where. Values never go in the pod spec.
func mountSecrets(ps *corev1ac.PodSpecApplyConfiguration, spec function.Spec) {
	if len(spec.Secrets) == 0 {
		return
	}
	functionContainer(ps).WithEnv(corev1ac.EnvVar().WithName(runtime.EnvSecretsDir).WithValue(runtime.SecretsMountPath)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName(SecretsVolume).WithMountPath(runtime.SecretsMountPath).WithReadOnly(true))
	ps.WithVolumes(corev1ac.Volume().WithName(SecretsVolume).
		WithSecret(corev1ac.SecretVolumeSource().WithSecretName(SecretsName(spec.Name)).
			WithDefaultMode(secretsFileMode(ps))))
}

// templateAnnotations are a pod template's: the secrets' version when the
// function names secrets, else none.
func templateAnnotations(spec function.Spec, secretsVersion string) map[string]string {
	if len(spec.Secrets) == 0 || secretsVersion == "" {
		return nil
	}
	return map[string]string{AnnotationSecretsVersion: secretsVersion}
}

// NamespaceName is the tenant's namespace.
func NamespaceName(prefix, tenant string) string { return prefix + tenant }

// ObjectLabels are the labels that tie an object to its function.
func ObjectLabels(tenant, name string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelTenant: tenant, LabelFunction: name}
}

// SpecHash identifies a spec, so applying an unchanged spec is skipped.
func SpecHash(spec function.Spec) string {
	b, _ := json.Marshal(spec) // map keys are sorted: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// NewNamespace is the tenant's namespace.
func NewNamespace(prefix, tenant string) *corev1ac.NamespaceApplyConfiguration {
	return corev1ac.Namespace(NamespaceName(prefix, tenant)).
		WithLabels(map[string]string{LabelManagedBy: ManagedBy, LabelTenant: tenant})
}

// NetworkPolicyName is the policy in every tenant namespace.
const NetworkPolicyName = "eventflow-functions"

// Labels EventFlow's invoker pods carry, with the kustomize base and with
// the Helm chart alike (deploy/).
const (
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelComponent = "app.kubernetes.io/component"
)

// NewNetworkPolicy isolates a tenant's function pods (every pod EventFlow
// makes in the namespace): they accept connections only on HTTPPort, and
// only from EventFlow's invoker pods (invocations) and gateway pods (the
// /fn/ HTTP route) in controlNS, so neither other tenants' pods nor
// anything else in the cluster reaches them. Job pods listen on nothing
// and are covered too. Policies add up, so a cluster operator may allow
// more with a policy of their own.
func NewNetworkPolicy(ns, tenant, controlNS string) *networkingv1ac.NetworkPolicyApplyConfiguration {
	// Each peer has both selectors: the component's pods AND in the
	// control namespace (separate selectors would mean OR); the peers of
	// the list are OR'ed.
	peer := func(component string) *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
		return networkingv1ac.NetworkPolicyPeer().
			WithNamespaceSelector(metav1ac.LabelSelector().
				WithMatchLabels(map[string]string{corev1.LabelMetadataName: controlNS})).
			WithPodSelector(metav1ac.LabelSelector().
				WithMatchLabels(map[string]string{LabelPartOf: "eventflow", LabelComponent: component}))
	}
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{LabelManagedBy: ManagedBy})).
		WithPolicyTypes(networkingv1.PolicyTypeIngress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(peer("invoker"), peer("gateway")).
			WithPorts(networkingv1ac.NetworkPolicyPort().
				WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(HTTPPort))))
	return networkingv1ac.NetworkPolicy(NetworkPolicyName, ns).
		WithLabels(map[string]string{LabelManagedBy: ManagedBy, LabelTenant: tenant}).
		WithSpec(spec)
}

// policyCurrent reports whether the policy in the cluster has the spec
// EventFlow would apply; an edit by hand (or a new control namespace)
// makes it false.
func policyCurrent(cur *networkingv1.NetworkPolicy, want *networkingv1ac.NetworkPolicyApplyConfiguration) bool {
	b, err := json.Marshal(want.Spec)
	if err != nil {
		return false
	}
	var spec networkingv1.NetworkPolicySpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(cur.Spec, spec)
}

// podLabels are the function's own labels under EventFlow's, which win.
func podLabels(tenant string, spec function.Spec) map[string]string {
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, ObjectLabels(tenant, spec.Name))
	return l
}

// container is the function's container, shared by Deployments, pod
// templates and Jobs.
func container(spec function.Spec, extraEnv ...*corev1ac.EnvVarApplyConfiguration) (*corev1ac.ContainerApplyConfiguration, error) {
	c := corev1ac.Container().WithName(ContainerName).WithImage(spec.Image).
		WithImagePullPolicy(corev1.PullIfNotPresent).
		WithSecurityContext(corev1ac.SecurityContext().
			WithAllowPrivilegeEscalation(false).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")))
	if len(spec.Command) > 0 {
		c.WithCommand(spec.Command...)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		c.WithEnv(corev1ac.EnvVar().WithName(k).WithValue(spec.Env[k]))
	}
	c.WithEnv(extraEnv...)
	if spec.Resources != nil {
		rr := corev1ac.ResourceRequirements()
		req, err := quantities(spec.Resources.Requests)
		if err != nil {
			return nil, err
		}
		lim, err := quantities(spec.Resources.Limits)
		if err != nil {
			return nil, err
		}
		if len(req) > 0 {
			rr.WithRequests(req)
		}
		if len(lim) > 0 {
			rr.WithLimits(lim)
		}
		c.WithResources(rr)
	}
	return c, nil
}

func quantities(m map[string]string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("resources %s=%q: %w", k, v, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

func baseEnv(tenant, name string) []*corev1ac.EnvVarApplyConfiguration {
	return []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("EVENTFLOW_TENANT").WithValue(tenant),
		corev1ac.EnvVar().WithName("EVENTFLOW_FUNCTION").WithValue(name),
		corev1ac.EnvVar().WithName("EVENTFLOW_INSTANCE").WithValueFrom(corev1ac.EnvVarSource().
			WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("metadata.name"))),
	}
}

// podSpec runs the container with no service-account token (functions
// have no business with the Kubernetes API) as a non-root user.
func podSpec(c *corev1ac.ContainerApplyConfiguration, restart corev1.RestartPolicy) *corev1ac.PodSpecApplyConfiguration {
	return corev1ac.PodSpec().WithContainers(c).WithRestartPolicy(restart).
		WithAutomountServiceAccountToken(false).
		WithEnableServiceLinks(false).
		WithSecurityContext(corev1ac.PodSecurityContext().WithRunAsNonRoot(true).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)))
}

// DrainDelay is how long an http-mode pod keeps serving after it is told
// to stop (its preStop hook sleeps), before its container gets SIGTERM:
// time for the endpoints (the Service's, the invoker's pod cache) to drop
// it, so no new request reaches a pod on its way out.
const DrainDelay = 3 * time.Second

// drainMargin is added to the grace period beyond the sleep and the
// function's timeout: the last response's bytes and the process's exit.
const drainMargin = 2 * time.Second

// TerminationGracePeriod is how long Kubernetes lets a removed http-mode
// pod finish before it is killed: DrainDelay, then the function's timeout
// (a request that came in just before the pod left the endpoints has
// that long to finish, once the function has had SIGTERM), and a margin;
// whole seconds, rounded up.
func TerminationGracePeriod(spec function.Spec) int64 {
	d := DrainDelay + spec.Timeout() + drainMargin
	return int64(math.Ceil(d.Seconds()))
}

// NewDeployment is an http-mode function's long-running instances: they
// listen on $PORT (8080) and are ready once it accepts connections. It
// sets no replicas: Deployments.Scale owns that field under its own field
// manager (or the HorizontalPodAutoscaler with scale.metric cpu), so
// applying the Deployment never changes how many pods run; Apply adds
// CreateReplicas only when it creates the Deployment. A pod being removed
// (scaled down, rolled) is drained: its preStop hook sleeps DrainDelay
// while the endpoints drop it, then it gets SIGTERM and the rest of
// TerminationGracePeriod to finish the requests it has.
func NewDeployment(ns, tenant string, spec function.Spec) (*appsv1ac.DeploymentApplyConfiguration, error) {
	return NewDeploymentWithSecrets(ns, tenant, spec, "")
}

// NewDeploymentWithSecrets is NewDeployment whose pod template carries
// secretsVersion (runtime.SecretsVersion of the secrets the function's
// Secret holds) when the spec names secrets: a rotated secret changes the
// template, and so rolls the pods, which read the files at start.
func NewDeploymentWithSecrets(ns, tenant string, spec function.Spec, secretsVersion string) (*appsv1ac.DeploymentApplyConfiguration, error) {
	c, err := container(spec, append(baseEnv(tenant, spec.Name),
		corev1ac.EnvVar().WithName("PORT").WithValue(strconv.Itoa(HTTPPort)))...)
	if err != nil {
		return nil, err
	}
	c.WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(HTTPPort).WithProtocol(corev1.ProtocolTCP)).
		WithReadinessProbe(corev1ac.Probe().
			WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString("http"))).
			WithPeriodSeconds(2).WithFailureThreshold(3)).
		WithLifecycle(corev1ac.Lifecycle().
			WithPreStop(corev1ac.LifecycleHandler().
				WithSleep(corev1ac.SleepAction().WithSeconds(int64(DrainDelay / time.Second)))))
	ps := podSpec(c, corev1.RestartPolicyAlways).WithTerminationGracePeriodSeconds(TerminationGracePeriod(spec))
	mountSecrets(ps, spec)
	tmpl := corev1ac.PodTemplateSpec().WithLabels(podLabels(tenant, spec)).WithSpec(ps)
	if a := templateAnnotations(spec, secretsVersion); a != nil {
		tmpl.WithAnnotations(a)
	}
	labels := ObjectLabels(tenant, spec.Name)
	return appsv1ac.Deployment(spec.Name, ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{AnnotationSpecHash: SpecHash(spec)}).
		WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithProgressDeadlineSeconds(120).
			WithTemplate(tmpl)), nil
}

// CreateReplicas is the count a new http-mode Deployment is created with:
// the scale's Initial count; nil with scale.metric cpu, where the
// HorizontalPodAutoscaler sets it (from the default of one).
func CreateReplicas(spec function.Spec) *int32 {
	sc := spec.ScaleSpec()
	if !sc.Counted() {
		return nil
	}
	n := sc.Initial()
	return &n
}

// NewScale sets an http-mode Deployment's replicas through its scale
// subresource. A resourceVersion, when given, is a precondition: the
// write fails with a conflict if the Deployment changed since.
func NewScale(ns, name string, replicas int32, resourceVersion string) *autoscalingv1ac.ScaleApplyConfiguration {
	s := autoscalingv1ac.Scale().WithName(name).WithNamespace(ns).
		WithSpec(autoscalingv1ac.ScaleSpec().WithReplicas(replicas))
	if resourceVersion != "" {
		s.WithResourceVersion(resourceVersion)
	}
	return s
}

// ownsReplicas says whether manager owns a Deployment's spec.replicas
// through server-side applies of the Deployment itself (not of its scale
// subresource), as its managed fields record: an apply of manager's that
// leaves replicas out would then remove them.
func ownsReplicas(entries []metav1.ManagedFieldsEntry, manager string) bool {
	for _, e := range entries {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" || e.FieldsV1 == nil {
			continue
		}
		var f struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(e.FieldsV1.Raw, &f) == nil {
			if _, ok := f.Spec["f:replicas"]; ok {
				return true
			}
		}
	}
	return false
}

// ServiceURL is the base URL of an http-mode function's Service, where
// the gateway's HTTP route sends requests (cluster DNS).
func ServiceURL(ns, name string) string {
	return "http://" + name + "." + ns + ".svc:" + strconv.Itoa(HTTPPort)
}

// NewService routes to an http-mode function's ready instances.
func NewService(ns, tenant string, spec function.Spec) *corev1ac.ServiceApplyConfiguration {
	labels := ObjectLabels(tenant, spec.Name)
	return corev1ac.Service(spec.Name, ns).
		WithLabels(labels).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(labels).
			WithPorts(corev1ac.ServicePort().WithName("http").WithPort(HTTPPort).
				WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP)))
}

// NewHPA scales an http-mode function's Deployment on CPU use (target:
// percent of the CPU request) between its scale's bounds; nil unless the
// spec's scale.metric is cpu (EventFlow's own scaler sets the count of the
// other metrics).
func NewHPA(ns, tenant string, spec function.Spec) *autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration {
	sc := spec.ScaleSpec()
	if sc == nil || sc.Counted() {
		return nil
	}
	return autoscalingv2ac.HorizontalPodAutoscaler(spec.Name, ns).
		WithLabels(ObjectLabels(tenant, spec.Name)).
		WithAnnotations(map[string]string{AnnotationSpecHash: SpecHash(spec)}).
		WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
			WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().
				WithAPIVersion("apps/v1").WithKind("Deployment").WithName(spec.Name)).
			WithMinReplicas(sc.Min).
			WithMaxReplicas(sc.Max).
			WithMetrics(autoscalingv2ac.MetricSpec().
				WithType(autoscalingv2.ResourceMetricSourceType).
				WithResource(autoscalingv2ac.ResourceMetricSource().
					WithName(corev1.ResourceCPU).
					WithTarget(autoscalingv2ac.MetricTarget().
						WithType(autoscalingv2.UtilizationMetricType).
						WithAverageUtilization(sc.Target)))))
}

// NewPodTemplate is a job-mode function's pod template: what each of its
// invocation Jobs runs. It holds no running pods; storing it lets the API
// server validate the spec when it is deployed, not at the first invocation.
func NewPodTemplate(ns, tenant string, spec function.Spec) (*corev1ac.PodTemplateApplyConfiguration, error) {
	return NewPodTemplateWithSecrets(ns, tenant, spec, "")
}

// NewPodTemplateWithSecrets is NewPodTemplate whose template carries
// secretsVersion when the spec names secrets (as NewDeploymentWithSecrets).
// The invocation Jobs mount the function's Secret as the template does
// (NewJob); each reads the Secret as it is when its pod starts.
func NewPodTemplateWithSecrets(ns, tenant string, spec function.Spec, secretsVersion string) (*corev1ac.PodTemplateApplyConfiguration, error) {
	c, err := container(spec, baseEnv(tenant, spec.Name)...)
	if err != nil {
		return nil, err
	}
	ps := podSpec(c, corev1.RestartPolicyNever)
	mountSecrets(ps, spec)
	tmpl := corev1ac.PodTemplateSpec().WithLabels(podLabels(tenant, spec)).WithSpec(ps)
	if a := templateAnnotations(spec, secretsVersion); a != nil {
		tmpl.WithAnnotations(a)
	}
	return corev1ac.PodTemplate(spec.Name, ns).
		WithLabels(ObjectLabels(tenant, spec.Name)).
		WithAnnotations(map[string]string{AnnotationSpecHash: SpecHash(spec)}).
		WithTemplate(tmpl), nil
}

// JobRun is one job-mode invocation.
type JobRun struct {
	ID      string
	Payload []byte
	// PayloadSecret names the Secret holding a payload too large (or not
	// text) for an environment variable; empty when the payload is inline.
	PayloadSecret string
	TTL           int32 // seconds a finished Job is kept
}

// MaxInlinePayload is the largest payload passed as EVENTFLOW_PAYLOAD;
// larger or binary payloads go in a Secret mounted at /eventflow/payload.
const MaxInlinePayload = 32 << 10

// PayloadInline reports whether a payload can go in an environment variable.
func PayloadInline(p []byte) bool { return len(p) <= MaxInlinePayload && utf8.Valid(p) }

// JobName is the Job of an invocation (ids are 32 hex characters).
func JobName(fn, id string) string {
	name := fn + "-" + id[:min(len(id), 12)]
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	return name
}

// NewJob runs one invocation: no retries of its own (the queue retries),
// the function's timeout as the active deadline, cleaned up after TTL.
func NewJob(ns, tenant string, spec function.Spec, run JobRun) (*batchv1ac.JobApplyConfiguration, error) {
	env := append(baseEnv(tenant, spec.Name), corev1ac.EnvVar().WithName("EVENTFLOW_INVOCATION_ID").WithValue(run.ID))
	if run.PayloadSecret == "" {
		env = append(env, corev1ac.EnvVar().WithName("EVENTFLOW_PAYLOAD").WithValue(string(run.Payload)))
	} else {
		env = append(env, corev1ac.EnvVar().WithName("EVENTFLOW_PAYLOAD_FILE").WithValue(PayloadMountPath+"/payload"))
	}
	c, err := container(spec, env...)
	if err != nil {
		return nil, err
	}
	ps := podSpec(c, corev1.RestartPolicyNever)
	mountSecrets(ps, spec)
	if run.PayloadSecret != "" {
		functionContainer(ps).WithVolumeMounts(corev1ac.VolumeMount().WithName("payload").WithMountPath(PayloadMountPath).WithReadOnly(true))
		ps.WithVolumes(corev1ac.Volume().WithName("payload").
			WithSecret(corev1ac.SecretVolumeSource().WithSecretName(run.PayloadSecret)))
	}
	labels := ObjectLabels(tenant, spec.Name)
	labels[LabelInvocation] = run.ID
	pl := podLabels(tenant, spec)
	pl[LabelInvocation] = run.ID
	deadline := int64(math.Ceil(spec.Timeout().Seconds()))
	return batchv1ac.Job(JobName(spec.Name, run.ID), ns).
		WithLabels(labels).
		WithSpec(batchv1ac.JobSpec().
			WithBackoffLimit(0).
			WithActiveDeadlineSeconds(deadline).
			WithTTLSecondsAfterFinished(run.TTL).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(pl).WithSpec(ps))), nil
}

// NewPayloadSecret holds a large payload, owned by its Job so it goes when
// the Job does.
func NewPayloadSecret(ns, tenant, fn, id string, payload []byte, owner metav1.OwnerReference) *corev1ac.SecretApplyConfiguration {
	labels := ObjectLabels(tenant, fn)
	labels[LabelInvocation] = id
	return corev1ac.Secret(JobName(fn, id)+"-payload", ns).
		WithLabels(labels).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(owner.APIVersion).WithKind(owner.Kind).WithName(owner.Name).WithUID(owner.UID).
			WithController(true)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{"payload": payload})
}
