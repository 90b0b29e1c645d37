// Package k8stest runs a real Kubernetes control plane (hack/k8s.sh: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok) for tests:
// one cluster per test binary, started on first use and always deleted at
// the end, on failure and on SIGINT/SIGTERM too.
package k8stest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Env is the running cluster.
type Env struct {
	Kubeconfig string // admin
	Kubectl    string
	Root       string // the repository
	Admin      kubernetes.Interface
	AdminREST  *rest.Config
}

var (
	once     sync.Once
	env      *Env
	startErr error
	name     = fmt.Sprintf("eventflow-test-%d", os.Getpid())
	started  bool
)

// Main runs m and deletes the cluster afterwards; use it from TestMain.
func Main(m *testing.M) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		stop()
		os.Exit(130)
	}()
	defer stop()
	return m.Run()
}

// Start returns the cluster, starting it on first use (building the
// binaries first if the cache is cold: that takes a while once).
func Start(tb testing.TB) *Env {
	tb.Helper()
	once.Do(func() { env, startErr = start() })
	if startErr != nil {
		tb.Fatalf("kubernetes test cluster: %v", startErr)
	}
	return env
}

func repoRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "k8s.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/k8s.sh not found above the working directory")
		}
		dir = parent
	}
}

func script(root string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(root, "hack", "k8s.sh"), args...)
	cmd.Env = append(os.Environ(), "EVENTFLOW_K8S_CLUSTER="+name)
	cmd.Stderr = os.Stderr // progress of a cold build is worth seeing
	return cmd
}

func start() (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	started = true
	var out bytes.Buffer
	cmd := script(root, "up")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hack/k8s.sh up: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	kubeconfig := lines[len(lines)-1]
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 100, 200
	admin, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	cache := filepath.Dir(kubeconfig)
	return &Env{Kubeconfig: kubeconfig, Kubectl: filepath.Join(cache, "bin", "kubectl"), Root: root, Admin: admin, AdminREST: rc}, nil
}

func stop() {
	if !started {
		return
	}
	root, err := repoRoot()
	if err != nil {
		return
	}
	cmd := script(root, "down")
	_ = cmd.Run()
	started = false
}

// Kubectl runs kubectl as admin and returns its output.
func (e *Env) KubectlRun(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(os.TempDir(), "eventflow-kubectl-cache"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// InstallRBAC applies the repository's RBAC manifests: the namespace and
// the ServiceAccounts, ClusterRoles and bindings of the kustomize base
// (deploy/k8s/base/rbac), the same ones a deployment gets.
func (e *Env) InstallRBAC(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.KubectlRun(ctx, "", "apply", "--server-side", "-k", filepath.Join(e.Root, "deploy", "k8s", "base", "rbac")); err != nil {
		tb.Fatal(err)
	}
}

// ServiceKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount eventflow-<service> in namespace eventflow with a fresh
// token (TokenRequest), so a test runs the service with exactly its RBAC.
func (e *Env) ServiceKubeconfig(tb testing.TB, service string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ttl := int64(3600)
	tr, err := e.Admin.CoreV1().ServiceAccounts("eventflow").CreateToken(ctx, "eventflow-"+service,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("token for %s: %v", service, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: e.AdminREST.Host, CertificateAuthorityData: e.AdminREST.CAData}
	if len(e.AdminREST.CAData) == 0 && e.AdminREST.CAFile != "" {
		cfg.Clusters["test"].CertificateAuthority = e.AdminREST.CAFile
	}
	cfg.AuthInfos[service] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: service}
	cfg.CurrentContext = "test"
	path := filepath.Join(tb.TempDir(), service+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ClusterLogs makes every pod in namespace ns print lines (kwok serves pod
// logs from a file: kwok runs no containers). It returns the file, which a
// test may append to for live lines.
func (e *Env) ClusterLogs(tb testing.TB, ns string, lines ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	file := filepath.Join(dir, ns+".log")
	var b strings.Builder
	ts := time.Now().UTC()
	for i, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", ts.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), l)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: logs-%s
spec:
  selector:
    matchNamespaces: [%q]
  logs:
  - containers: [function]
    logsFile: %q
    follow: true
`, ns, ns, file)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := e.KubectlRun(ctx, manifest, "apply", "-f", "-"); err != nil {
		tb.Fatal(err)
	}
	e.waitLogsServed(tb, ctx, ns, lines)
	return file
}

// waitLogsServed runs a probe pod in ns until kwok serves its log from the
// new ClusterLogs (kwok loads it asynchronously), then deletes the probe.
func (e *Env) waitLogsServed(tb testing.TB, ctx context.Context, ns string, lines []string) {
	tb.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := e.Admin.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatal(err)
	}
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "logs-probe"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "function", Image: "probe"}}}}
	waitUntil(tb, ctx, "probe pod created (the namespace's default ServiceAccount appears shortly after it)", func() bool {
		_, err := e.Admin.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{})
		return err == nil || apierrors.IsAlreadyExists(err)
	})
	want := ""
	if len(lines) > 0 {
		want = lines[0]
	}
	waitUntil(tb, ctx, "kwok serving the probe pod's log", func() bool {
		b, err := e.Admin.CoreV1().Pods(ns).GetLogs("logs-probe", &corev1.PodLogOptions{Container: "function"}).DoRaw(ctx)
		return err == nil && strings.Contains(string(b), want)
	})
	zero := int64(0)
	_ = e.Admin.CoreV1().Pods(ns).Delete(ctx, "logs-probe", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	waitUntil(tb, ctx, "probe pod gone", func() bool {
		_, err := e.Admin.CoreV1().Pods(ns).Get(ctx, "logs-probe", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

func waitUntil(tb testing.TB, ctx context.Context, what string, cond func() bool) {
	tb.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AppendLog adds a line to a ClusterLogs file.
func AppendLog(tb testing.TB, file, line string) {
	tb.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s stdout F %s\n", time.Now().UTC().Format(time.RFC3339Nano), line)
}

// ServeAsPod answers HTTP on a pod's IP and port 8080, standing in for its
// container: kwok runs none, but pods get loopback IPs here, so the bytes
// of an invocation really cross TCP to the pod's address. It upper-cases
// the body and says which pod answered.
func ServeAsPod(tb testing.TB, pod corev1.Pod) {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(pod.Status.PodIP, "8080"))
	if err != nil {
		tb.Fatalf("listen on pod IP %s (the test cluster gives pods loopback IPs): %v", pod.Status.PodIP, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.ToUpper(string(b)) + " from " + pod.Name))
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
}
