package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
	"github.com/eventflow/eventflow/pkg/runtime"
	kube "github.com/eventflow/eventflow/pkg/runtime/kubernetes"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
	"github.com/eventflow/eventflow/pkg/testkit"
)

// TestKubernetesSecretsAndTraffic walks secrets and traffic splitting on
// the control plane test bed, the services as separate processes with
// their own ServiceAccounts: a secret becomes the function's Secret in its
// tenant namespace, mounted read-only at /var/eventflow/secrets with
// $EVENTFLOW_SECRETS_DIR; a new value changes the Secret and rolls the
// pod template; the value is in no API answer and no service's log. A
// 50/50 split runs revision 1 as a Deployment of its own beside the
// latest, invocations are served by both (each record naming its
// revision), and moving to 0/100 drains and removes it.
func TestKubernetesSecretsAndTraffic(t *testing.T) {
	env := k8stest.Start(t)
	rbacOnce.Do(func() { env.InstallRBAC(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := natstest.Start(t)
	common := []string{"EVENTFLOW_RUNTIME=kubernetes", "EVENTFLOW_NAMESPACE_PREFIX=ks-"}
	procs := map[string]*svcProc{}
	for _, name := range serviceNames {
		e := []string{}
		if name != "gateway" {
			e = append(common, "KUBECONFIG="+env.ServiceKubeconfig(t, name))
		}
		if name == "deployer" {
			e = append(e, "EVENTFLOW_SECRETS_KEY_FILE="+filepath.Join(t.TempDir(), "secrets.key"))
		}
		procs[name] = startService(t, name, ns.ClientURL(), e)
	}
	base := "http://" + procs["gateway"].addr
	a := newClient(t, base, token(t, base, "k8s-s"))
	nsS := "ks-k8s-s"
	const first, second = "k8s-first-VALUE-93ab", "k8s-second-VALUE-15fe"
	rec := &recorder{c: a}
	do := rec.do
	do("PUT", "/v1/secrets/db-password", map[string]any{"value": first}, http.StatusCreated)
	spec := func(v string, traffic ...map[string]any) map[string]any {
		s := map[string]any{"name": "vault", "image": "ghcr.io/acme/vault:" + v, "command": []string{"/srv"},
			"invocation": map[string]any{"mode": "http", "timeout": "2s"}, "scale": map[string]any{"min": 1, "max": 1},
			"secrets": []string{"db-password"}}
		if len(traffic) > 0 {
			s["traffic"] = traffic
		}
		return s
	}
	do("POST", "/v1/functions", spec("1"), http.StatusAccepted)
	waitPhase(t, a, "vault", "Ready")

	secretData := func() (string, error) {
		s, err := env.Admin.CoreV1().Secrets(nsS).Get(ctx, kube.SecretsName("vault"), metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return string(s.Data["db-password"]), nil
	}
	template := func(name string) (corev1.PodTemplateSpec, error) {
		d, err := env.Admin.AppsV1().Deployments(nsS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return corev1.PodTemplateSpec{}, err
		}
		return d.Spec.Template, nil
	}
	if v, err := secretData(); err != nil || v != first {
		t.Fatalf("the function's Secret holds %q (%v)", v, err)
	}
	tpl, err := template("vault")
	if err != nil {
		t.Fatal(err)
	}
	mounted, envSet := false, false
	c := tpl.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.MountPath == runtime.SecretsMountPath && m.ReadOnly)
	}
	for _, e := range c.Env {
		envSet = envSet || (e.Name == runtime.EnvSecretsDir && e.Value == runtime.SecretsMountPath)
		if strings.Contains(e.Value, "VALUE") {
			t.Errorf("the value is in the container's environment: %s", e.Name)
		}
	}
	if !mounted || !envSet {
		t.Fatalf("container mounts %+v, env %+v: want the secrets read-only at %s and %s set", c.VolumeMounts, c.Env, runtime.SecretsMountPath, runtime.EnvSecretsDir)
	}
	version := tpl.Annotations[kube.AnnotationSecretsVersion]

	// A new value: the Secret changes and the pod template rolls.
	do("PUT", "/v1/secrets/db-password", map[string]any{"value": second}, http.StatusOK)
	testkit.Eventually(t, 60*time.Second, "the Secret and pod template rolled", func() (bool, string) {
		v, err := secretData()
		tpl, terr := template("vault")
		now := tpl.Annotations[kube.AnnotationSecretsVersion]
		return err == nil && terr == nil && v == second && now != version && now != "", fmt.Sprintf("%q %v %v, version %q → %q", v, err, terr, version, now)
	})

	// Traffic: revision 3 (the rotation was 2) is the latest after this
	// update; split 50/50 with revision 1.
	do("PUT", "/v1/functions/vault", spec("2"), http.StatusAccepted)
	do("PUT", "/v1/functions/vault", spec("2", map[string]any{"revision": 1, "percent": 50}, map[string]any{"tag": "latest", "percent": 50}), http.StatusAccepted)
	// kwok runs no container: a stand-in server answers on each pod IP,
	// as the pod that has the IP when the request comes (rollouts make
	// new pods as the test goes, and kwok gives a deleted pod's IP to the
	// next one).
	served := map[string]bool{} // pod names
	ips := map[string]bool{}
	serveNew := func() {
		for _, fn := range []string{"vault", "vault--r1"} {
			for _, p := range podsOf(t, env, nsS, "k8s-s", fn) {
				if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
					continue
				}
				served[p.Name] = true
				if !ips[p.Status.PodIP] {
					ips[p.Status.PodIP] = true
					servePodIP(t, env, nsS, p.Status.PodIP)
				}
			}
		}
	}
	testkit.Eventually(t, 60*time.Second, "pods of the latest and of revision 1 serving", func() (bool, string) {
		serveNew()
		latest, old := false, false
		for name := range served {
			old = old || strings.HasPrefix(name, "vault--r1-")
			latest = latest || !strings.HasPrefix(name, "vault--r1-")
		}
		return latest && old, fmt.Sprint(served)
	})
	if tp, err := template("vault--r1"); err != nil || tp.Spec.Containers[0].Image != "ghcr.io/acme/vault:1" {
		t.Fatalf("revision 1's Deployment: %v %v", tp.Spec.Containers, err)
	}
	byRevision := map[int64]int{}
	for range 60 {
		var r response
		testkit.Eventually(t, 20*time.Second, "an invocation answered by a pod's stand-in", func() (bool, string) {
			serveNew()
			r = a.do("POST", "/v1/functions/vault:invoke", "hi")
			return r.Status == http.StatusOK, fmt.Sprint(r.Status, " ", string(r.Body))
		})
		rec.answers = append(rec.answers, string(r.Body))
		id := r.Header.Get("X-Invocation-Id")
		var rec struct {
			Status   string
			Revision int64
		}
		testkit.Eventually(t, 10*time.Second, "record of "+id, func() (bool, string) {
			r := a.do("GET", "/v1/invocations/"+id, nil)
			if r.Status == http.StatusOK {
				r.json(t, &rec)
			}
			return rec.Status == "succeeded", string(r.Body)
		})
		fromOld := strings.Contains(string(r.Body), "from vault--r1-")
		if (rec.Revision == 1) != fromOld || (rec.Revision != 1 && rec.Revision != 4) {
			t.Fatalf("served %q, record says revision %d", r.Body, rec.Revision)
		}
		byRevision[rec.Revision]++
	}
	if byRevision[1] < 10 || byRevision[4] < 10 {
		t.Fatalf("60 invocations split %v; want both revisions serving", byRevision)
	}

	// 0/100: revision 1 is drained and its Deployment removed.
	do("PUT", "/v1/functions/vault", spec("2", map[string]any{"revision": 1, "percent": 0}, map[string]any{"tag": "latest", "percent": 100}), http.StatusAccepted)
	testkit.Eventually(t, 90*time.Second, "revision 1 removed", func() (bool, string) {
		_, err := env.Admin.AppsV1().Deployments(nsS).Get(ctx, "vault--r1", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	do("GET", "/v1/secrets", nil, http.StatusOK)
	do("GET", "/v1/functions/vault", nil, http.StatusOK)
	do("GET", "/v1/functions/vault/revisions", nil, http.StatusOK)
	events := collectEvents(t, base, a.token)
	for _, v := range []string{first, second} {
		if strings.Contains(events, v) {
			t.Errorf("a lifecycle event holds the value %q", v)
		}
		for _, ans := range rec.holding(v) {
			t.Errorf("an API answer holds the value: %s", ans)
		}
		for name, p := range procs {
			if strings.Contains(p.out.String(), v) {
				t.Errorf("the %s logged the value", name)
			}
		}
	}
}

// servePodIP answers on ip:8080 as the live pod that has the IP when a
// request comes: "<BODY> from <pod name>".
func servePodIP(t *testing.T, env *k8stest.Env, ns, ip string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "8080"))
	if err != nil {
		t.Fatalf("listen on pod IP %s: %v", ip, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		pods, err := env.Admin.CoreV1().Pods(ns).List(r.Context(), metav1.ListOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, p := range pods.Items {
			if p.Status.PodIP == ip && p.DeletionTimestamp == nil {
				_, _ = w.Write([]byte(strings.ToUpper(string(b)) + " from " + p.Name))
				return
			}
		}
		http.Error(w, "no pod has "+ip, http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}
