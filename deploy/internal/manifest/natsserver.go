package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/eventflow/eventflow/pkg/busauth"
	"github.com/eventflow/eventflow/pkg/runtime/kubernetes/k8stest"
)

// StartNATS runs the rendered NATS StatefulSet's server as its first pod
// would, without a cluster: every file of its ConfigMap and Secret volumes
// is written under a temporary root at its mount path (a Secret that is
// not rendered comes from operatorSecrets, name -> key -> content: what the
// operator creates), the other volumes are empty directories, its
// environment is set (POD_NAME is pod 0's name), and the server parses the
// configuration file it is started with (--config), includes and all,
// with nats-server's own ProcessConfigFile. Only what a pod has and this
// machine does not is changed in the parsed options: the client port
// listens on 127.0.0.1 (any free port), monitoring and the cluster routes
// (other pods) are off, and the paths (store_dir, pid_file) are moved
// under the root. It returns the client URL; the server stops with the
// test.
func StartNATS(t *testing.T, objs Objects, exp Expect, operatorSecrets map[string]map[string][]byte) string {
	t.Helper()
	ss, ok := typed[appsv1.StatefulSet](t, objs, "StatefulSet", exp.Prefix+"-nats")
	if !ok {
		t.FailNow()
	}
	pod := ss.Spec.Template.Spec
	c := container(t, Workload{Kind: "StatefulSet", Name: ss.Name, Template: ss.Spec.Template}, "nats")
	root := t.TempDir()
	under := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	secrets := map[string]map[string][]byte{}
	for _, u := range objs.Of("Secret") {
		var s corev1.Secret
		Into(t, u, &s)
		secrets[s.Name] = s.Data
		for k, v := range s.StringData {
			if secrets[s.Name] == nil {
				secrets[s.Name] = map[string][]byte{}
			}
			secrets[s.Name][k] = []byte(v)
		}
	}
	for name, data := range operatorSecrets {
		if _, rendered := secrets[name]; !rendered {
			secrets[name] = data
		}
	}
	cms := configMaps(t, objs)
	for _, m := range c.VolumeMounts {
		dir := under(m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var data map[string][]byte
		var items []corev1.KeyToPath
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				data = map[string][]byte{}
				for k, s := range cms[v.ConfigMap.Name] {
					data[k] = []byte(s)
				}
				items = v.ConfigMap.Items
			case v.Secret != nil:
				var ok bool
				if data, ok = secrets[v.Secret.SecretName]; !ok {
					t.Fatalf("NATS mounts Secret %s, neither rendered nor given as the operator's", v.Secret.SecretName)
				}
				items = v.Secret.Items
			}
		}
		if items == nil {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				t.Fatalf("NATS volume %s: no key %s", m.Name, it.Key)
			}
			f := filepath.Join(dir, filepath.FromSlash(it.Path))
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			t.Setenv(e.Name, e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			t.Setenv(e.Name, ss.Name+"-0")
		}
	}
	conf := ConfigPath(c)
	if conf == "" {
		t.Fatalf("NATS is started without --config: %v %v", c.Command, c.Args)
	}
	opts, err := server.ProcessConfigFile(under(conf))
	if err != nil {
		t.Fatalf("nats-server refuses %s: %v", conf, err)
	}
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	if opts.StoreDir != "" {
		opts.StoreDir = under(opts.StoreDir)
	}
	if opts.PidFile != "" {
		opts.PidFile = under(opts.PidFile)
	}
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server with %s: %v", conf, err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server with %s not ready within 10s", conf)
	}
	return s.ClientURL()
}

// CheckBusAuth proves that the server at url requires credentials: a
// client without any is refused; one with creds connects and reaches
// JetStream in its account.
func CheckBusAuth(t *testing.T, url string, creds []byte) {
	t.Helper()
	if nc, err := nats.Connect(url, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Error("a client without credentials connected")
	} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("a client without credentials: %v, want an authorization violation", err)
	}
	opts, err := busauth.ConnectOptions(creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(opts, nats.NoReconnect())...)
	if err != nil {
		t.Fatalf("credentials refused: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Errorf("JetStream in the credentials' account: %v", err)
	}
}

// NATSAuthBundle is what an operator makes with `eventflow nats-auth
// init` (busauth.WriteBundle): the files of its secret/ directory, which
// become the Secret (key -> content), and the kit its keys/ hold.
func NATSAuthBundle(tb testing.TB) (map[string][]byte, *busauth.Kit) {
	tb.Helper()
	d := tb.TempDir()
	if err := busauth.WriteBundle(d); err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, k := range NATSAuthKeys() {
		b, err := os.ReadFile(filepath.Join(d, busauth.BundleSecret, k))
		if err != nil {
			tb.Fatal(fmt.Errorf("the bundle lacks %s: %w", k, err))
		}
		files[k] = b
	}
	kit, err := busauth.Load(filepath.Join(d, busauth.BundleKeys))
	if err != nil {
		tb.Fatal(err)
	}
	return files, kit
}

// CreateNATSAuthSecret creates the bus authentication's Secret from a
// bundle, as `kubectl create secret generic NAME --from-file=DIR/secret`.
func CreateNATSAuthSecret(tb testing.TB, env *k8stest.Env, ns, name string, files map[string][]byte) {
	tb.Helper()
	data := map[string]string{}
	for k, v := range files {
		data[k] = string(v)
	}
	CreateSecret(tb, env, ns, name, data)
}
