package manifest

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/eventflow/eventflow/pkg/busauth"
)

// NATSAuthKeys are the keys of the bus authentication's Secret: the files
// of the secret/ directory `eventflow nats-auth init` writes (auth.conf
// for the NATS servers, one <service>.creds per service).
func NATSAuthKeys() []string {
	keys := []string{busauth.AuthConfFile}
	for _, s := range busauth.Services {
		keys = append(keys, busauth.CredsFile(s))
	}
	return keys
}

// generatedName matches kustomize's name of a generated object: the
// generator's name, a dash and a 10-character hash of the content.
var generatedName = regexp.MustCompile(`^(.+)-[a-z0-9]{10}$`)

// isAuthSecret says whether a Secret volume names the bus authentication's
// Secret: exp.NATSAuthSecret itself, or one generated from it and rendered.
func isAuthSecret(objs Objects, exp Expect, name string) bool {
	if exp.NATSAuthSecret == "" {
		return false
	}
	if name == exp.NATSAuthSecret {
		return true
	}
	m := generatedName.FindStringSubmatch(name)
	return m != nil && m[1] == exp.NATSAuthSecret && objs.Get("Secret", name) != nil
}

// fileAt finds what a container sees at file: the volume mount holding
// it, its volume and the key of the ConfigMap or Secret mapped there, and
// the file's mode (kubelet's default 0644 unless the volume says).
func fileAt(pod corev1.PodSpec, c corev1.Container, file string) (corev1.VolumeMount, corev1.Volume, string, int32, error) {
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/")
		if strings.HasPrefix(file, dir+"/") && (mount == nil || len(dir) > len(strings.TrimSuffix(mount.MountPath, "/"))) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		return corev1.VolumeMount{}, corev1.Volume{}, "", 0, fmt.Errorf("%s is on no volume of container %s (mounts %v)", file, c.Name, c.VolumeMounts)
	}
	if mount.SubPath != "" {
		return *mount, corev1.Volume{}, "", 0, fmt.Errorf("%s: subPath mount %s (kubelet never updates those)", file, mount.SubPath)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(mount.MountPath, "/")+"/")
	var vol *corev1.Volume
	for i, v := range pod.Volumes {
		if v.Name == mount.Name {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil {
		return *mount, corev1.Volume{}, "", 0, fmt.Errorf("%s: mount %s has no volume", file, mount.Name)
	}
	var items []corev1.KeyToPath
	mode := int32(0o644)
	switch {
	case vol.Secret != nil:
		items = vol.Secret.Items
		if vol.Secret.DefaultMode != nil {
			mode = *vol.Secret.DefaultMode
		}
	case vol.ConfigMap != nil:
		items = vol.ConfigMap.Items
		if vol.ConfigMap.DefaultMode != nil {
			mode = *vol.ConfigMap.DefaultMode
		}
	default:
		return *mount, *vol, "", 0, fmt.Errorf("%s: volume %s is neither a ConfigMap nor a Secret", file, vol.Name)
	}
	if len(items) == 0 {
		if strings.Contains(rel, "/") {
			return *mount, *vol, "", 0, fmt.Errorf("%s: no key %s in volume %s", file, rel, vol.Name)
		}
		return *mount, *vol, rel, mode, nil
	}
	for _, it := range items {
		if path.Clean(it.Path) == rel {
			if it.Mode != nil {
				mode = *it.Mode
			}
			return *mount, *vol, it.Key, mode, nil
		}
	}
	return *mount, *vol, "", 0, fmt.Errorf("%s: volume %s maps no key to %s (items %v)", file, vol.Name, rel, items)
}

// readable: the files of a ConfigMap or Secret volume belong to root, and
// to the group fsGroup when the pod sets one; the container runs as a
// non-root user (checkContainers), with fsGroup among its groups. A secret
// must be readable by that group, and by no one else.
func readable(pod corev1.PodSpec, mode int32) error {
	switch {
	case mode&0o007 != 0:
		return fmt.Errorf("mode %#o: every user of the node's container may read it, want 0440", mode)
	case pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil:
		return fmt.Errorf("mode %#o, no fsGroup: owned by root, the non-root container cannot read it", mode)
	case mode&0o040 == 0:
		return fmt.Errorf("mode %#o: group %d (fsGroup) cannot read it, want 0440", mode, *pod.SecurityContext.FSGroup)
	}
	return nil
}

// includeRE matches nats.conf's include directives (bare, quoted or
// single-quoted paths).
var includeRE = regexp.MustCompile(`(?m)^\s*include\s+['"]?([^'"\s;]+)['"]?\s*;?\s*$`)

// ConfigPath is the configuration file a NATS container is started with
// (--config or -c).
func ConfigPath(c corev1.Container) string {
	args := append(slices.Clone(c.Command), c.Args...)
	for i, a := range args {
		if (a == "--config" || a == "-c") && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
	}
	return ""
}

// checkNATSAuth: with exp.NATSAuthSecret, each service's NATS_CREDS is a
// file of its own creds only, from that Secret, readable by the service
// and no one else; the bundled NATS's configuration (as its --config and
// mounts resolve it) includes the Secret's auth.conf and nothing else of
// it; all use the same Secret. Without, nothing of the kind is rendered.
func checkNATSAuth(t *testing.T, objs Objects, exp Expect) {
	used := map[string]bool{} // Secret names mounted for the bus
	for _, svc := range ServiceNames {
		w := workload(t, objs, "Deployment", exp.Prefix+"-"+svc)
		c := container(t, w, svc)
		pod := w.Template.Spec
		creds, set := envValue(c, "NATS_CREDS")
		for _, v := range pod.Volumes {
			if v.Secret == nil || !isAuthSecret(objs, exp, v.Secret.SecretName) {
				continue
			}
			used[v.Secret.SecretName] = true
			if want := busauth.CredsFile(svc); len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != want {
				t.Errorf("%s: volume %s of Secret %s has items %v, want only %s (each service its own credentials)", w.Name, v.Name, v.Secret.SecretName, v.Secret.Items, want)
			}
		}
		if exp.NATSAuthSecret == "" {
			if set {
				t.Errorf("%s: NATS_CREDS=%q without bus authentication", w.Name, creds)
			}
			continue
		}
		if !set || !path.IsAbs(creds) {
			t.Errorf("%s: NATS_CREDS=%q, want the path of its mounted %s", w.Name, creds, busauth.CredsFile(svc))
			continue
		}
		mount, vol, key, mode, err := fileAt(pod, c, creds)
		if err != nil {
			t.Errorf("%s: NATS_CREDS: %v", w.Name, err)
			continue
		}
		if vol.Secret == nil || !isAuthSecret(objs, exp, vol.Secret.SecretName) || key != busauth.CredsFile(svc) {
			t.Errorf("%s: NATS_CREDS=%s is key %q of volume %s, want key %s of Secret %s", w.Name, creds, key, vol.Name, busauth.CredsFile(svc), exp.NATSAuthSecret)
		}
		if !mount.ReadOnly {
			t.Errorf("%s: the credentials' mount %s is not read-only", w.Name, mount.MountPath)
		}
		if err := readable(pod, mode); err != nil {
			t.Errorf("%s: %s: %v", w.Name, creds, err)
		}
	}

	if exp.NATSReplicas > 0 {
		ss, ok := typed[appsv1.StatefulSet](t, objs, "StatefulSet", exp.Prefix+"-nats")
		if !ok {
			t.FailNow()
		}
		pod := ss.Spec.Template.Spec
		c := container(t, Workload{Kind: "StatefulSet", Name: ss.Name, Template: ss.Spec.Template}, "nats")
		for _, v := range pod.Volumes {
			if v.Secret == nil || !isAuthSecret(objs, exp, v.Secret.SecretName) {
				continue
			}
			used[v.Secret.SecretName] = true
			if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != busauth.AuthConfFile {
				t.Errorf("NATS: volume %s of Secret %s has items %v, want only %s (no service's credentials)", v.Name, v.Secret.SecretName, v.Secret.Items, busauth.AuthConfFile)
			}
		}
		conf := ConfigPath(c)
		_, vol, key, _, err := fileAt(pod, c, conf)
		if err != nil || vol.ConfigMap == nil {
			t.Fatalf("NATS --config %q: not a file of a ConfigMap volume: %v", conf, err)
		}
		text, ok := configMaps(t, objs)[vol.ConfigMap.Name][key]
		if !ok {
			t.Fatalf("NATS --config %s: ConfigMap %s has no key %s", conf, vol.ConfigMap.Name, key)
		}
		included := false
		for _, m := range includeRE.FindAllStringSubmatch(text, -1) {
			// nats-server joins an include to the including file's
			// directory, absolute or not.
			file := path.Join(path.Dir(conf), m[1])
			mount, vol, key, mode, err := fileAt(pod, c, file)
			if err != nil {
				t.Errorf("NATS: include %s (%s): %v", m[1], file, err)
				continue
			}
			if vol.Secret == nil || !isAuthSecret(objs, exp, vol.Secret.SecretName) || key != busauth.AuthConfFile {
				continue
			}
			included = true
			if !mount.ReadOnly {
				t.Errorf("NATS: the mount %s of %s is not read-only", mount.MountPath, file)
			}
			if err := readable(pod, mode); err != nil {
				t.Errorf("NATS: %s: %v", file, err)
			}
		}
		switch {
		case exp.NATSAuthSecret != "" && !included:
			t.Errorf("NATS: %s includes no %s of Secret %s (includes %v):\n%s", conf, busauth.AuthConfFile, exp.NATSAuthSecret, includeRE.FindAllString(text, -1), text)
		case exp.NATSAuthSecret == "" && len(includeRE.FindAllString(text, -1)) != 0:
			t.Errorf("NATS: %s includes %v without bus authentication", conf, includeRE.FindAllString(text, -1))
		}
	}
	if exp.NATSAuthSecret != "" && len(used) != 1 {
		t.Errorf("the bus authentication comes from Secrets %v, want one (auth.conf and the credentials are made together)", used)
	}
}
