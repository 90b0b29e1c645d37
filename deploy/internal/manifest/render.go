// Package manifest renders EventFlow's Kubernetes manifests (kustomize and
// Helm), checks the rendered objects, and applies them to a real test
// control plane. It is shared by the tests in deploy/k8s and deploy/helm.
package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Root is the repository's root (the directory holding hack/k8s.sh).
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "k8s.sh")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("hack/k8s.sh not found above the working directory")
		}
		dir = parent
	}
}

var (
	kubectlOnce sync.Once
	kubectlPath string
	kubectlErr  error
	helmOnce    sync.Once
	helmPath    string
	helmErr     error
)

// runScript runs a hack/ script; its progress goes to stderr, its stdout is
// returned.
func runScript(root, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", script), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("hack/%s %s: %w", script, strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// Kubectl returns the kubectl of the test control plane (it has kustomize
// built in), building the binaries with hack/k8s.sh if the cache is cold.
func Kubectl(tb testing.TB) string {
	tb.Helper()
	kubectlOnce.Do(func() {
		root := Root(tb)
		if _, kubectlErr = runScript(root, "k8s.sh", "build"); kubectlErr != nil {
			return
		}
		cache := os.Getenv("EVENTFLOW_K8S_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				kubectlErr = err
				return
			}
			cache = filepath.Join(home, ".cache", "eventflow", "k8s")
		}
		kubectlPath = filepath.Join(cache, "bin", "kubectl")
		if _, err := os.Stat(kubectlPath); err != nil {
			kubectlErr = fmt.Errorf("hack/k8s.sh build left no kubectl: %w", err)
		}
	})
	if kubectlErr != nil {
		tb.Fatalf("kubectl: %v", kubectlErr)
	}
	return kubectlPath
}

// Helm returns the helm binary, building it with hack/helm.sh if needed.
func Helm(tb testing.TB) string {
	tb.Helper()
	helmOnce.Do(func() {
		var out string
		out, helmErr = runScript(Root(tb), "helm.sh", "build")
		if helmErr != nil {
			return
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		helmPath = lines[len(lines)-1]
		if _, err := os.Stat(helmPath); err != nil {
			helmErr = fmt.Errorf("hack/helm.sh build printed %q, which is not a file: %w", helmPath, err)
		}
	})
	if helmErr != nil {
		tb.Fatalf("helm: %v", helmErr)
	}
	return helmPath
}

// Run runs a command with a bounded time and returns its stdout; a failure
// includes stderr.
func Run(tb testing.TB, timeout time.Duration, stdin []byte, name string, args ...string) ([]byte, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// kubectl's discovery cache and helm's config stay out of $HOME.
	tmp := tb.TempDir()
	cmd.Env = append(os.Environ(),
		"KUBECACHEDIR="+filepath.Join(os.TempDir(), "eventflow-kubectl-cache"),
		"HELM_CACHE_HOME="+filepath.Join(tmp, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(tmp, "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(tmp, "helm-data"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// readInputs reads every file under dir, so that `go test` counts them as
// inputs of the test: its cache then reruns the test when a manifest
// changes (kubectl and helm read them in another process, unseen).
func readInputs(tb testing.TB, dir string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Kustomize renders a kustomization directory with `kubectl kustomize`.
func Kustomize(tb testing.TB, dir string) []byte {
	tb.Helper()
	readInputs(tb, filepath.Join(Root(tb), "deploy", "k8s"))
	out, err := Run(tb, 2*time.Minute, nil, Kubectl(tb), "kustomize", dir)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Chart is the chart's directory.
func Chart(tb testing.TB) string {
	return filepath.Join(Root(tb), "deploy", "helm", "eventflow")
}

// HelmTemplate renders the chart as release in namespace with the given
// values (each "key=value" for --set, or "-f file").
func HelmTemplate(tb testing.TB, release, namespace string, args ...string) []byte {
	tb.Helper()
	readInputs(tb, filepath.Join(Root(tb), "deploy", "helm"))
	all := append([]string{"template", release, Chart(tb), "--namespace", namespace}, args...)
	out, err := Run(tb, 2*time.Minute, nil, Helm(tb), all...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Objects are rendered manifests, in order.
type Objects []*unstructured.Unstructured

// Parse splits a multi-document YAML stream into objects (empty documents
// are dropped).
func Parse(tb testing.TB, data []byte) Objects {
	tb.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs Objects
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			tb.Fatalf("rendered YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			tb.Fatalf("rendered object without kind, apiVersion or name: %v", m)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		tb.Fatal("nothing rendered")
	}
	return objs
}

// Of returns the objects of a kind.
func (o Objects) Of(kind string) Objects {
	var out Objects
	for _, u := range o {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// Get returns the object of kind and name, or nil.
func (o Objects) Get(kind, name string) *unstructured.Unstructured {
	for _, u := range o {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

// Into converts an object to its typed form (e.g. *appsv1.Deployment).
func Into(tb testing.TB, u *unstructured.Unstructured, out any) {
	tb.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		tb.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}
