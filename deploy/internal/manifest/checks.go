package manifest

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Services are EventFlow's four services and the port of their
// /healthz, /readyz and /metrics (the gateway's API port).
var Services = map[string]int32{"gateway": 8080, "deployer": 8081, "invoker": 8082, "logstream": 8083}

// ServiceNames in a fixed order.
var ServiceNames = []string{"gateway", "deployer", "invoker", "logstream"}

// Expect is what a rendering must contain.
type Expect struct {
	Namespace string
	Prefix    string // object names are <Prefix>-gateway, <Prefix>-nats, ...
	Registry  string // of the services' images; empty: ghcr.io/eventflow
	ImageTag  string
	// NATSReplicas of the bundled cluster; 0 with an external NATS.
	NATSReplicas   int
	NATSURL        string // with an external NATS
	StreamReplicas int
	MinGateway     int // at least this many gateway replicas (and HPA minimum)
	// ExternalSecrets are provided outside the rendering (by the operator):
	// name -> keys.
	ExternalSecrets map[string][]string
	// GatewayEnv must be set on the gateway with these values (OIDC).
	GatewayEnv map[string]string
	// GatewayEnvAbsent must not be set on the gateway.
	GatewayEnvAbsent []string
	NetworkPolicies  bool
	// NATSAuthSecret is the Secret of the bus authentication made by
	// `eventflow nats-auth init` (keys NATSAuthKeys: auth.conf, which the
	// bundled NATS must include, and <service>.creds, each mounted by its
	// service only, NATS_CREDS); kustomize's generated <name>-<hash>
	// counts. Empty: the rendering must have no bus authentication.
	NATSAuthSecret string
	// SecretsKeySecret is the Secret with the key tenants' secrets are
	// sealed to (key SecretsKeyKey, "secrets.key" when empty): the
	// deployer's EVENTFLOW_SECRETS_KEY_FILE is that key on a read-only
	// mount, and no other pod mounts or references the Secret;
	// kustomize's generated <name>-<hash> counts. Empty: no service may
	// be given a secrets key.
	SecretsKeySecret string
	SecretsKeyKey    string
}

// Workload is a Deployment or StatefulSet's pod template.
type Workload struct {
	Kind, Name string
	Replicas   int32 // spec.replicas, or 1 when unset
	// ReplicasUnset: spec.replicas left out (for an HPA to own).
	ReplicasUnset bool
	Template      corev1.PodTemplateSpec
}

// Workloads returns the pod templates of every Deployment and StatefulSet.
func Workloads(tb testing.TB, objs Objects) []Workload {
	tb.Helper()
	var out []Workload
	for _, u := range objs.Of("Deployment") {
		var d appsv1.Deployment
		Into(tb, u, &d)
		out = append(out, Workload{Kind: "Deployment", Name: d.Name, Replicas: ptrOr(d.Spec.Replicas, 1), ReplicasUnset: d.Spec.Replicas == nil,
			Template: d.Spec.Template})
	}
	for _, u := range objs.Of("StatefulSet") {
		var s appsv1.StatefulSet
		Into(tb, u, &s)
		out = append(out, Workload{Kind: "StatefulSet", Name: s.Name, Replicas: ptrOr(s.Spec.Replicas, 1), Template: s.Spec.Template})
	}
	return out
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Check runs every pure check of a rendering as subtests.
func Check(t *testing.T, objs Objects, exp Expect) {
	t.Run("namespaced objects in "+exp.Namespace, func(t *testing.T) { checkNamespaces(t, objs, exp) })
	t.Run("containers have probes, resources and a restricted securityContext", func(t *testing.T) { checkContainers(t, objs) })
	t.Run("services: images, ports, probes, scrape annotations", func(t *testing.T) { checkServices(t, objs, exp) })
	t.Run("gateway replicas, HPAs and PDBs", func(t *testing.T) { checkScaling(t, objs, exp) })
	t.Run("NATS", func(t *testing.T) { checkNATS(t, objs, exp) })
	t.Run("bus authentication: NATS includes auth.conf, each service mounts its own creds", func(t *testing.T) { checkNATSAuth(t, objs, exp) })
	t.Run("secrets key: the deployer's only, read-only", func(t *testing.T) { checkSecretsKey(t, objs, exp) })
	t.Run("ConfigMap and Secret references resolve", func(t *testing.T) { checkRefs(t, objs, exp) })
	t.Run("env names are ones the services read", func(t *testing.T) { checkEnvNames(t, objs, exp) })
	t.Run("RBAC: one ServiceAccount per service, no Secret reads, no wildcards", func(t *testing.T) { checkRBAC(t, objs, exp) })
	if exp.NetworkPolicies {
		t.Run("NetworkPolicies", func(t *testing.T) { CheckNetworkPolicies(t, objs, exp) })
	} else if n := len(objs.Of("NetworkPolicy")); n != 0 {
		t.Errorf("%d NetworkPolicies rendered with networkPolicy disabled", n)
	}
}

var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

func checkNamespaces(t *testing.T, objs Objects, exp Expect) {
	for _, u := range objs {
		ns := u.GetNamespace()
		switch {
		case clusterScoped[u.GetKind()]:
			if ns != "" {
				t.Errorf("%s %s: cluster-scoped with namespace %q", u.GetKind(), u.GetName(), ns)
			}
		case ns != exp.Namespace:
			// Set explicitly: `kubectl apply -f` would put an object
			// without one in the kubeconfig's namespace.
			t.Errorf("%s %s in namespace %q, want %q", u.GetKind(), u.GetName(), ns, exp.Namespace)
		}
	}
}

func checkContainers(t *testing.T, objs Objects) {
	ws := Workloads(t, objs)
	if len(ws) == 0 {
		t.Fatal("no workloads rendered")
	}
	for _, w := range ws {
		pod := w.Template.Spec
		psc := pod.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		containers := append(slices.Clone(pod.InitContainers), pod.Containers...)
		for _, c := range containers {
			where := fmt.Sprintf("%s %s container %s", w.Kind, w.Name, c.Name)
			for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("%s: no HTTP %s probe", where, name)
				}
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[res]
				lim, okLim := c.Resources.Limits[res]
				if !okReq || !okLim {
					t.Errorf("%s: %s request and limit both needed (requests %v, limits %v)", where, res, c.Resources.Requests, c.Resources.Limits)
				} else if req.Cmp(lim) > 0 {
					t.Errorf("%s: %s request %s above its limit %s", where, res, req.String(), lim.String())
				}
			}
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := sc.RunAsNonRoot
			if nonRoot == nil {
				nonRoot = psc.RunAsNonRoot
			}
			user := sc.RunAsUser
			if user == nil {
				user = psc.RunAsUser
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = psc.SeccompProfile
			}
			switch {
			case nonRoot == nil || !*nonRoot:
				t.Errorf("%s: runAsNonRoot is not true", where)
			case user == nil || *user != 65532:
				t.Errorf("%s: runAsUser is not 65532", where)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
				t.Errorf("%s: capabilities must drop ALL and add none: %+v", where, sc.Capabilities)
			case seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault:
				t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
			case sc.Privileged != nil && *sc.Privileged:
				t.Errorf("%s: privileged", where)
			}
		}
		// A ConfigMap or Secret volume is a read-only, atomically
		// replaced directory: the runtime cannot make another volume's
		// mount point inside it, so the container would not start.
		projected := map[string]bool{}
		for _, v := range pod.Volumes {
			projected[v.Name] = v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
		}
		for _, c := range containers {
			for _, outer := range c.VolumeMounts {
				for _, inner := range c.VolumeMounts {
					if projected[outer.Name] && inner.Name != outer.Name && strings.HasPrefix(inner.MountPath, strings.TrimSuffix(outer.MountPath, "/")+"/") {
						t.Errorf("%s %s container %s: %s is mounted inside %s, a ConfigMap or Secret volume (use sibling directories)", w.Kind, w.Name, c.Name, inner.MountPath, outer.MountPath)
					}
				}
			}
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Errorf("%s %s: uses the host's namespaces", w.Kind, w.Name)
		}
		for _, v := range pod.Volumes {
			if v.HostPath != nil {
				t.Errorf("%s %s: hostPath volume %s", w.Kind, w.Name, v.Name)
			}
		}
	}
}

func container(tb testing.TB, w Workload, name string) corev1.Container {
	tb.Helper()
	for _, c := range w.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	tb.Fatalf("%s %s: no container %s", w.Kind, w.Name, name)
	return corev1.Container{}
}

func workload(tb testing.TB, objs Objects, kind, name string) Workload {
	tb.Helper()
	for _, w := range Workloads(tb, objs) {
		if w.Kind == kind && w.Name == name {
			return w
		}
	}
	tb.Fatalf("no %s %s rendered", kind, name)
	return Workload{}
}

// typed returns the rendered object of kind and name in its typed form
// (e.g. appsv1.StatefulSet); false, reported as an error, when there is
// none.
func typed[T any](tb testing.TB, objs Objects, kind, name string) (*T, bool) {
	tb.Helper()
	u := objs.Get(kind, name)
	if u == nil {
		tb.Errorf("no %s %s", kind, name)
		return nil, false
	}
	out := new(T)
	Into(tb, u, out)
	return out, true
}

// portNumber resolves a probe's port (number or name) on a container.
func portNumber(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func checkServices(t *testing.T, objs Objects, exp Expect) {
	for _, svc := range ServiceNames {
		port := Services[svc]
		name := exp.Prefix + "-" + svc
		w := workload(t, objs, "Deployment", name)
		c := container(t, w, svc)
		registry := exp.Registry
		if registry == "" {
			registry = "ghcr.io/eventflow"
		}
		if want := registry + "/" + svc + ":" + exp.ImageTag; c.Image != want {
			t.Errorf("%s: image %s, want %s", name, c.Image, want)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet == nil {
			t.Errorf("%s: HTTP probes missing", name)
			continue
		}
		// The process serves its endpoints only after connecting to NATS
		// and provisioning the streams, which waits for a JetStream
		// quorum: without a startup probe, liveness would kill it first.
		if sp := c.StartupProbe; sp == nil || sp.HTTPGet == nil || sp.HTTPGet.Path != "/healthz" || portNumber(c, sp.HTTPGet.Port) != port {
			t.Errorf("%s: no startup probe on /healthz port %d", name, port)
		} else if d := sp.PeriodSeconds * sp.FailureThreshold; d < 120 {
			t.Errorf("%s: startup probe gives up after %ds, want 2 minutes at least (NATS forming its cluster)", name, d)
		}
		if p := c.LivenessProbe.HTTPGet; p.Path != "/healthz" || portNumber(c, p.Port) != port {
			t.Errorf("%s: liveness probe %s on %d, want /healthz on %d", name, p.Path, portNumber(c, p.Port), port)
		}
		if p := c.ReadinessProbe.HTTPGet; p.Path != "/readyz" || portNumber(c, p.Port) != port {
			t.Errorf("%s: readiness probe %s on %d, want /readyz on %d", name, p.Path, portNumber(c, p.Port), port)
		}
		// The process listens where the probes look, on every interface.
		addrVar := "EVENTFLOW_OPS_ADDR"
		if svc == "gateway" {
			addrVar = "EVENTFLOW_HTTP_ADDR"
		}
		addr, ok := envValue(c, addrVar)
		host, p, err := net.SplitHostPort(addr)
		if !ok || err != nil || (host != "" && host != "0.0.0.0") || p != strconv.Itoa(int(port)) {
			t.Errorf("%s: %s=%q, want 0.0.0.0:%d", name, addrVar, addr, port)
		}
		a := w.Template.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(int(port)) || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: scrape annotations %v, want scrape true, port %d, path /metrics", name, a, port)
		}
		if want := exp.Prefix + "-" + svc; w.Template.Spec.ServiceAccountName != want {
			t.Errorf("%s: serviceAccountName %q, want %q", name, w.Template.Spec.ServiceAccountName, want)
		}
		if svc == "gateway" {
			checkGatewayAuth(t, c)
			if m := w.Template.Spec.AutomountServiceAccountToken; m == nil || *m {
				t.Errorf("%s: the gateway must not mount a Kubernetes token", name)
			}
			for k, v := range exp.GatewayEnv {
				if got, ok := envValue(c, k); !ok || got != v {
					t.Errorf("%s: env %s=%q, want %q", name, k, got, v)
				}
			}
			for _, k := range exp.GatewayEnvAbsent {
				for _, e := range c.Env {
					if e.Name == k {
						t.Errorf("%s: env %s is set, want it absent", name, k)
					}
				}
			}
		}
		// A Service in front of each, on the same port.
		s, ok := typed[corev1.Service](t, objs, "Service", name)
		if !ok {
			continue
		}
		if !selects(s.Spec.Selector, w.Template.Labels) {
			t.Errorf("Service %s selector %v does not select the pods %v", name, s.Spec.Selector, w.Template.Labels)
		}
		if len(s.Spec.Ports) != 1 || portNumber(c, s.Spec.Ports[0].TargetPort) != port {
			t.Errorf("Service %s: ports %+v, want one to %d", name, s.Spec.Ports, port)
		}
	}
}

// checkGatewayAuth: the gateway's settings pass its start-up checks
// (services/gateway/main.go): a JWT secret or an OIDC issuer; an issuer
// with an audience; the token endpoint only with a JWT secret.
func checkGatewayAuth(t *testing.T, c corev1.Container) {
	jwt := false
	for _, e := range c.Env {
		if e.Name == "EVENTFLOW_JWT_SECRET" {
			jwt = e.Value != "" || (e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil)
		}
	}
	issuer, _ := envValue(c, "EVENTFLOW_OIDC_ISSUER")
	audience, _ := envValue(c, "EVENTFLOW_OIDC_AUDIENCE")
	tokens, _ := envValue(c, "EVENTFLOW_ENABLE_TOKEN_ENDPOINT")
	if !jwt && issuer == "" {
		t.Error("gateway: neither EVENTFLOW_JWT_SECRET nor EVENTFLOW_OIDC_ISSUER: it would not start")
	}
	if issuer != "" && audience == "" {
		t.Error("gateway: EVENTFLOW_OIDC_ISSUER without EVENTFLOW_OIDC_AUDIENCE: it would not start")
	}
	if tokens == "true" && !jwt {
		t.Error("gateway: the token endpoint without EVENTFLOW_JWT_SECRET: it would not start")
	}
}

func selects(selector, lbls map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(lbls))
}

func checkScaling(t *testing.T, objs Objects, exp Expect) {
	// The replicas a Deployment runs at least: its own, or its HPA's
	// minimum when the HPA owns them.
	floor := map[string]int32{}
	for _, svc := range []string{"gateway", "invoker"} {
		name := exp.Prefix + "-" + svc
		w := workload(t, objs, "Deployment", name)
		floor[name] = w.Replicas
		spread := false
		for _, c := range w.Template.Spec.TopologySpreadConstraints {
			spread = spread || c.TopologyKey == "kubernetes.io/hostname" && matches(t, c.LabelSelector, w.Template.Labels)
		}
		if !spread {
			t.Errorf("Deployment %s: replicas not spread over nodes (topologySpreadConstraints on kubernetes.io/hostname)", name)
		}
		h, ok := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", name)
		if !ok {
			continue
		}
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != name {
			t.Errorf("HPA %s targets %+v", name, h.Spec.ScaleTargetRef)
		}
		min := ptrOr(h.Spec.MinReplicas, 1)
		if min < 2 || h.Spec.MaxReplicas < min {
			t.Errorf("HPA %s: min %d max %d", name, min, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			t.Errorf("HPA %s: no metrics", name)
		}
		// The HPA owns spec.replicas: a manifest that sets them conflicts
		// with it on the next server-side apply, or resets its count.
		if !w.ReplicasUnset {
			t.Errorf("Deployment %s sets replicas (%d) although HPA %s scales it", name, w.Replicas, name)
		}
		floor[name] = min
	}
	if gw := floor[exp.Prefix+"-gateway"]; gw < int32(exp.MinGateway) || gw < 2 {
		t.Errorf("gateway runs at least %d replicas, want at least %d (and 2)", gw, exp.MinGateway)
	}
	wantPDB := []string{exp.Prefix + "-gateway", exp.Prefix + "-invoker"}
	if exp.NATSReplicas > 0 {
		wantPDB = append(wantPDB, exp.Prefix+"-nats")
	}
	for _, name := range wantPDB {
		p, ok := typed[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", name)
		if !ok {
			continue
		}
		kind := "Deployment"
		if strings.HasSuffix(name, "-nats") {
			kind = "StatefulSet"
		}
		w := workload(t, objs, kind, name)
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.Template.Labels)) {
			t.Errorf("PDB %s does not select the pods of %s %s", name, kind, name)
		}
		// A PDB must leave room for one voluntary eviction.
		replicas := w.Replicas
		if f, ok := floor[name]; ok {
			replicas = f
		}
		if p.Spec.MinAvailable != nil && p.Spec.MinAvailable.Type == intstr.Int && p.Spec.MinAvailable.IntVal >= replicas {
			t.Errorf("PDB %s: minAvailable %d with %d replicas blocks every eviction", name, p.Spec.MinAvailable.IntVal, replicas)
		}
	}
}

var routeRE = regexp.MustCompile(`nats://([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):6222`)

func checkNATS(t *testing.T, objs Objects, exp Expect) {
	name := exp.Prefix + "-nats"
	// Every service connects to the same NATS with the same stream
	// replicas.
	var cfg map[string]string
	for _, svc := range ServiceNames {
		env := ResolvedEnv(t, objs, exp.Prefix+"-"+svc, svc)
		if cfg == nil {
			cfg = env
			continue
		}
		for _, k := range []string{"NATS_URL", "EVENTFLOW_STREAM_REPLICAS"} {
			if env[k] != cfg[k] {
				t.Errorf("%s has %s=%q, the gateway %q", svc, k, env[k], cfg[k])
			}
		}
	}
	if got := cfg["EVENTFLOW_STREAM_REPLICAS"]; got != strconv.Itoa(exp.StreamReplicas) {
		t.Errorf("EVENTFLOW_STREAM_REPLICAS=%q, want %d", got, exp.StreamReplicas)
	}
	if exp.NATSReplicas == 0 {
		if objs.Get("StatefulSet", name) != nil {
			t.Errorf("StatefulSet %s rendered with an external NATS", name)
		}
		if cfg["NATS_URL"] != exp.NATSURL {
			t.Errorf("NATS_URL=%q, want %q", cfg["NATS_URL"], exp.NATSURL)
		}
		return
	}
	if want := "nats://" + name + ":4222"; cfg["NATS_URL"] != want {
		t.Errorf("NATS_URL=%q, want %q", cfg["NATS_URL"], want)
	}
	if exp.StreamReplicas > exp.NATSReplicas {
		t.Errorf("streams with %d replicas on %d NATS servers", exp.StreamReplicas, exp.NATSReplicas)
	}
	ss, ok := typed[appsv1.StatefulSet](t, objs, "StatefulSet", name)
	if !ok {
		t.FailNow()
	}
	if got := ptrOr(ss.Spec.Replicas, 1); got != int32(exp.NATSReplicas) {
		t.Errorf("NATS replicas %d, want %d", got, exp.NATSReplicas)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("NATS: %d volumeClaimTemplates, want 1", len(ss.Spec.VolumeClaimTemplates))
	}
	headless, ok := typed[corev1.Service](t, objs, "Service", ss.Spec.ServiceName)
	if !ok {
		t.FailNow()
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !selects(headless.Spec.Selector, ss.Spec.Template.Labels) {
		t.Errorf("Service %s is not headless over the NATS pods", headless.Name)
	}
	if objs.Get("Service", name) == nil {
		t.Errorf("no client Service %s", name)
	}
	c := container(t, Workload{Kind: "StatefulSet", Name: name, Template: ss.Spec.Template}, "nats")
	for probe, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || !strings.HasPrefix(p.HTTPGet.Path, "/healthz") || portNumber(c, p.HTTPGet.Port) != 8222 {
			t.Errorf("NATS %s probe is not /healthz on the monitor port 8222", probe)
		}
	}
	// The config the pods mount.
	var conf string
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			conf = configMaps(t, objs)[v.ConfigMap.Name]["nats.conf"]
		}
	}
	if conf == "" {
		t.Fatal("NATS mounts no ConfigMap with nats.conf")
	}
	for _, want := range []string{"jetstream", "store_dir: /data", "http: 0.0.0.0:8222", "listen: 0.0.0.0:4222"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
	checkLameDuck(t, c, conf)
	routes := routeRE.FindAllStringSubmatch(conf, -1)
	if exp.NATSReplicas == 1 {
		if len(routes) != 0 || strings.Contains(conf, "cluster {") {
			t.Errorf("a single NATS server with cluster routes")
		}
		return
	}
	if len(routes) != exp.NATSReplicas {
		t.Fatalf("nats.conf has %d routes, want %d:\n%s", len(routes), exp.NATSReplicas, conf)
	}
	for i, r := range routes {
		if r[1] != ss.Name || r[2] != strconv.Itoa(i) || r[3] != ss.Spec.ServiceName {
			t.Errorf("route %q does not name pod %s-%d of Service %s", r[0], ss.Name, i, ss.Spec.ServiceName)
		}
	}
}

var pidFileRE = regexp.MustCompile(`(?m)^\s*pid_file:\s*"?([^"\s]+)"?\s*$`)

// checkLameDuck: SIGTERM stops nats-server at once (clients and stream
// leaders on it just drop); the preStop hook must put it in lame duck mode
// first, through the pid file the config writes on a writable volume.
func checkLameDuck(t *testing.T, c corev1.Container, conf string) {
	t.Helper()
	m := pidFileRE.FindStringSubmatch(conf)
	if m == nil {
		t.Error("nats.conf writes no pid_file for the preStop hook to signal")
		return
	}
	pid := m[1]
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
		!slices.Equal(c.Lifecycle.PreStop.Exec.Command, []string{"nats-server", "--signal", "ldm=" + pid}) {
		t.Errorf("NATS has no preStop hook signalling lame duck mode to %s", pid)
	}
	writable := false
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly && strings.HasPrefix(pid, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			writable = true
		}
	}
	if !writable {
		t.Errorf("NATS' pid file %s is on no writable volume (the root filesystem is read-only)", pid)
	}
}

// ResolvedEnv is a container's environment as the kubelet would set it
// from plain values and envFrom ConfigMaps (values from Secrets and fields
// are left out).
func ResolvedEnv(tb testing.TB, objs Objects, deployment, containerName string) map[string]string {
	tb.Helper()
	cms := configMaps(tb, objs)
	c := container(tb, workload(tb, objs, "Deployment", deployment), containerName)
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			for k, v := range cms[ef.ConfigMapRef.Name] {
				env[ef.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func configMaps(tb testing.TB, objs Objects) map[string]map[string]string {
	tb.Helper()
	out := map[string]map[string]string{}
	for _, u := range objs.Of("ConfigMap") {
		var cm corev1.ConfigMap
		Into(tb, u, &cm)
		out[cm.Name] = cm.Data
	}
	return out
}

func secretKeys(tb testing.TB, objs Objects, exp Expect) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, u := range objs.Of("Secret") {
		var s corev1.Secret
		Into(tb, u, &s)
		for k := range s.Data {
			out[s.Name] = append(out[s.Name], k)
		}
		for k := range s.StringData {
			out[s.Name] = append(out[s.Name], k)
		}
	}
	for name, keys := range exp.ExternalSecrets {
		out[name] = append(out[name], keys...)
	}
	return out
}

func checkRefs(t *testing.T, objs Objects, exp Expect) {
	cms := configMaps(t, objs)
	secrets := secretKeys(t, objs, exp)
	for _, w := range Workloads(t, objs) {
		spec := w.Template.Spec
		for _, v := range spec.Volumes {
			if v.ConfigMap != nil && cms[v.ConfigMap.Name] == nil {
				t.Errorf("%s %s: volume from missing ConfigMap %s", w.Kind, w.Name, v.ConfigMap.Name)
			}
			if v.Secret != nil && secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s %s: volume from missing Secret %s", w.Kind, w.Name, v.Secret.SecretName)
			}
			if v.Secret != nil && secrets[v.Secret.SecretName] != nil && (v.Secret.Optional == nil || !*v.Secret.Optional) {
				for _, it := range v.Secret.Items {
					if !slices.Contains(secrets[v.Secret.SecretName], it.Key) {
						t.Errorf("%s %s: volume %s from Secret %s key %s, which is not there (have %v)", w.Kind, w.Name, v.Name, v.Secret.SecretName, it.Key, secrets[v.Secret.SecretName])
					}
				}
			}
		}
		if spec.ServiceAccountName != "" && objs.Get("ServiceAccount", spec.ServiceAccountName) == nil {
			t.Errorf("%s %s: ServiceAccount %s not rendered", w.Kind, w.Name, spec.ServiceAccountName)
		}
		for _, c := range spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && cms[ef.ConfigMapRef.Name] == nil {
					t.Errorf("%s: envFrom missing ConfigMap %s", w.Name, ef.ConfigMapRef.Name)
				}
				if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
					t.Errorf("%s: envFrom missing Secret %s", w.Name, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					optional := r.Optional != nil && *r.Optional
					if !optional && !slices.Contains(secrets[r.Name], r.Key) {
						t.Errorf("%s: env %s from Secret %s key %s, which is not there (have %v)", w.Name, e.Name, r.Name, r.Key, secrets[r.Name])
					}
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					if _, ok := cms[r.Name][r.Key]; !ok {
						t.Errorf("%s: env %s from ConfigMap %s key %s, which is not there", w.Name, e.Name, r.Name, r.Key)
					}
				}
			}
		}
	}
}

func checkEnvNames(t *testing.T, objs Objects, exp Expect) {
	cms := configMaps(t, objs)
	for _, svc := range ServiceNames {
		reads := ServiceEnv(t, svc)
		w := workload(t, objs, "Deployment", exp.Prefix+"-"+svc)
		c := container(t, w, svc)
		var set []string
		for _, e := range c.Env {
			set = append(set, e.Name)
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				for k := range cms[ef.ConfigMapRef.Name] {
					set = append(set, ef.Prefix+k)
				}
			}
		}
		for _, name := range set {
			if !reads[name] {
				t.Errorf("%s is given %s, which services/%s does not read", svc, name, svc)
			}
		}
		// Every setting that must reach the service does.
		want := []string{"NATS_URL", "EVENTFLOW_STREAM_REPLICAS"}
		if svc == "gateway" {
			want = append(want, "EVENTFLOW_HTTP_ADDR", "EVENTFLOW_CALLBACK_SECRET")
		} else {
			want = append(want, "EVENTFLOW_OPS_ADDR", "EVENTFLOW_RUNTIME", "EVENTFLOW_NAMESPACE_PREFIX")
		}
		if svc == "invoker" {
			want = append(want, "EVENTFLOW_CALLBACK_SECRET")
		}
		if exp.NATSAuthSecret != "" {
			want = append(want, "NATS_CREDS")
		}
		for _, name := range want {
			if !slices.Contains(set, name) {
				t.Errorf("%s is not given %s", svc, name)
			}
		}
		if env := ResolvedEnv(t, objs, exp.Prefix+"-"+svc, svc); svc != "gateway" && env["EVENTFLOW_RUNTIME"] != "kubernetes" {
			t.Errorf("%s: EVENTFLOW_RUNTIME=%q, want kubernetes", svc, env["EVENTFLOW_RUNTIME"])
		}
	}
}

func checkRBAC(t *testing.T, objs Objects, exp Expect) {
	for _, svc := range ServiceNames {
		if objs.Get("ServiceAccount", exp.Prefix+"-"+svc) == nil {
			t.Errorf("no ServiceAccount %s-%s", exp.Prefix, svc)
		}
	}
	for _, u := range append(objs.Of("ClusterRole"), objs.Of("Role")...) {
		var r rbacv1.ClusterRole
		Into(t, u, &r)
		if r.AggregationRule != nil {
			t.Errorf("%s: aggregation", r.Name)
		}
		for _, rule := range r.Rules {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
				t.Errorf("%s: wildcard rule %+v", r.Name, rule)
			}
			if slices.Contains(rule.Resources, "secrets") {
				for _, v := range rule.Verbs {
					if v == "get" || v == "list" || v == "watch" {
						t.Errorf("%s: may %s Secrets", r.Name, v)
					}
				}
			}
		}
	}
	if objs.Get("ClusterRole", exp.Prefix+"-gateway") != nil || objs.Get("ClusterRoleBinding", exp.Prefix+"-gateway") != nil {
		t.Error("the gateway has a ClusterRole or binding")
	}
	for _, u := range append(objs.Of("ClusterRoleBinding"), objs.Of("RoleBinding")...) {
		var b rbacv1.ClusterRoleBinding
		Into(t, u, &b)
		for _, s := range b.Subjects {
			if s.Kind != "ServiceAccount" || s.Namespace != exp.Namespace || !strings.HasPrefix(s.Name, exp.Prefix+"-") {
				t.Errorf("%s binds %+v", b.Name, s)
			}
		}
		if objs.Get(b.RoleRef.Kind, b.RoleRef.Name) == nil {
			t.Errorf("%s: role %s %s not rendered", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
}

// ---- NetworkPolicies ------------------------------------------------------

// Peer is a pod that opens a connection.
type Peer struct {
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
}

// Allowed says whether the rendered NetworkPolicies let peer connect to
// the pod (in namespace ns, with labels and container ports) on port, by
// Kubernetes' rules: a pod selected by no ingress policy takes everything;
// else some rule of some selecting policy must admit peer and port.
func Allowed(tb testing.TB, pols []networkingv1.NetworkPolicy, ns string, podLabels map[string]string, ports []corev1.ContainerPort, port int32, peer Peer) bool {
	tb.Helper()
	isolated := false
	for _, p := range pols {
		if p.Namespace != "" && p.Namespace != ns {
			continue
		}
		if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(p.Spec.Ingress) == 0 {
			continue
		}
		if !matches(tb, &p.Spec.PodSelector, podLabels) {
			continue
		}
		isolated = true
		for _, rule := range p.Spec.Ingress {
			if portsAdmit(rule.Ports, ports, port) && peersAdmit(tb, rule.From, ns, peer) {
				return true
			}
		}
	}
	return !isolated
}

func matches(tb testing.TB, sel *metav1.LabelSelector, lbls map[string]string) bool {
	tb.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		tb.Fatalf("selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(lbls))
}

func portsAdmit(rules []networkingv1.NetworkPolicyPort, ports []corev1.ContainerPort, port int32) bool {
	if len(rules) == 0 {
		return true
	}
	for _, r := range rules {
		if r.Protocol != nil && *r.Protocol != corev1.ProtocolTCP {
			continue
		}
		if r.Port == nil {
			return true
		}
		want := r.Port.IntVal
		if r.Port.Type == intstr.String {
			want = -1
			for _, cp := range ports {
				if cp.Name == r.Port.StrVal {
					want = cp.ContainerPort
				}
			}
		}
		end := want
		if r.EndPort != nil {
			end = *r.EndPort
		}
		if port >= want && port <= end {
			return true
		}
	}
	return false
}

func peersAdmit(tb testing.TB, from []networkingv1.NetworkPolicyPeer, ns string, peer Peer) bool {
	tb.Helper()
	if len(from) == 0 {
		return true
	}
	for _, f := range from {
		if f.IPBlock != nil {
			tb.Fatalf("ipBlock peers are not modelled here: %+v", f.IPBlock)
		}
		nsOK := peer.Namespace == ns
		if f.NamespaceSelector != nil {
			nsOK = matches(tb, f.NamespaceSelector, peer.NamespaceLabels)
		}
		podOK := true
		if f.PodSelector != nil {
			podOK = matches(tb, f.PodSelector, peer.Labels)
		}
		if nsOK && podOK {
			return true
		}
	}
	return false
}

// CheckNetworkPolicies proves, over every port of every EventFlow pod, who
// may connect: only the gateway's API port from outside the namespace
// (function pods included, whatever labels they copy); NATS and the other
// services only from EventFlow's own pods.
func CheckNetworkPolicies(t *testing.T, objs Objects, exp Expect) {
	var pols []networkingv1.NetworkPolicy
	for _, u := range objs.Of("NetworkPolicy") {
		var p networkingv1.NetworkPolicy
		Into(t, u, &p)
		if p.Namespace == "" {
			p.Namespace = exp.Namespace
		}
		pols = append(pols, p)
	}
	if len(pols) == 0 {
		t.Fatal("no NetworkPolicies rendered")
	}
	ws := Workloads(t, objs)
	own := map[string]map[string]string{} // component -> pod labels
	for _, w := range ws {
		own[w.Template.Labels["app.kubernetes.io/component"]] = w.Template.Labels
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": exp.Namespace}
	// Attackers: a function pod in a tenant's namespace carrying a copy of
	// each EventFlow pod's labels, a stranger pod in EventFlow's namespace,
	// and an ingress controller's pod in another namespace.
	outsiders := map[string]Peer{
		"stranger pod in " + exp.Namespace: {Namespace: exp.Namespace, NamespaceLabels: nsLabels, Labels: map[string]string{"app": "debug"}},
		"ingress controller":               {Namespace: "ingress-nginx", NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}, Labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}},
	}
	for comp, l := range own {
		outsiders["function pod labelled like "+comp] = Peer{Namespace: "eventflow-acme",
			NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "eventflow-acme"}, Labels: l}
	}
	// Outsiders try every port any EventFlow pod listens on, on every pod.
	probe := map[int32]bool{9999: true}
	for _, w := range ws {
		for _, c := range w.Template.Spec.Containers {
			for _, cp := range c.Ports {
				probe[cp.ContainerPort] = true
			}
		}
	}
	for _, w := range ws {
		comp := w.Template.Labels["app.kubernetes.io/component"]
		for _, c := range w.Template.Spec.Containers {
			for port := range probe {
				public := comp == "gateway" && port == 8080
				for who, peer := range outsiders {
					if got := Allowed(t, pols, exp.Namespace, w.Template.Labels, c.Ports, port, peer); got != public {
						t.Errorf("%s -> %s:%d allowed=%v, want %v", who, comp, port, got, public)
					}
				}
			}
			for _, cp := range c.Ports {
				port := cp.ContainerPort
				for from, l := range own {
					peer := Peer{Namespace: exp.Namespace, NamespaceLabels: nsLabels, Labels: l}
					want := true
					if comp == "nats" && port == 6222 {
						want = from == "nats" // routes between the servers only
					}
					if got := Allowed(t, pols, exp.Namespace, w.Template.Labels, c.Ports, port, peer); got != want {
						t.Errorf("%s -> %s:%d allowed=%v, want %v", from, comp, port, got, want)
					}
				}
			}
		}
	}
	// A port nobody declared stays closed to EventFlow's own pods too.
	gw := own["gateway"]
	for _, w := range ws {
		if Allowed(t, pols, exp.Namespace, w.Template.Labels, nil, 9999, Peer{Namespace: exp.Namespace, NamespaceLabels: nsLabels, Labels: gw}) {
			t.Errorf("gateway -> %s:9999 allowed", w.Name)
		}
	}
}
