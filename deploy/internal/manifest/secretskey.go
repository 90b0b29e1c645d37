package manifest

import (
	"path"
	"slices"
	"testing"
)

// SecretsKeyEnv names the file holding the key tenants' secrets are sealed
// to (pkg/runtime/runtimeboot).
const SecretsKeyEnv = "EVENTFLOW_SECRETS_KEY_FILE"

// isSecretsKeySecret says whether a Secret name is exp.SecretsKeySecret
// itself, or one generated from it and rendered.
func isSecretsKeySecret(objs Objects, exp Expect, name string) bool {
	if exp.SecretsKeySecret == "" {
		return false
	}
	if name == exp.SecretsKeySecret {
		return true
	}
	m := generatedName.FindStringSubmatch(name)
	return m != nil && m[1] == exp.SecretsKeySecret && objs.Get("Secret", name) != nil
}

// checkSecretsKey: the deployer's EVENTFLOW_SECRETS_KEY_FILE is the key of
// exp.SecretsKeySecret on a read-only Secret volume holding that key only,
// readable by fsGroup and no one else; no other workload (gateway,
// invoker, logstream, NATS) is given the variable or mounts or references
// the Secret: on Kubernetes only the deployer opens tenants' secrets, and
// its Secret lives in EventFlow's namespace, which no function pod can
// mount from. Without exp.SecretsKeySecret no one gets a key.
func checkSecretsKey(t *testing.T, objs Objects, exp Expect) {
	wantKey := exp.SecretsKeyKey
	if wantKey == "" {
		wantKey = "secrets.key"
	}
	deployer := exp.Prefix + "-deployer"
	found := false
	for _, w := range Workloads(t, objs) {
		pod := w.Template.Spec
		for _, v := range pod.Volumes {
			if v.Secret == nil || !isSecretsKeySecret(objs, exp, v.Secret.SecretName) {
				continue
			}
			if w.Name != deployer {
				t.Errorf("%s %s mounts the secrets key's Secret %s: only the deployer may", w.Kind, w.Name, v.Secret.SecretName)
				continue
			}
			if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != wantKey {
				t.Errorf("%s: volume %s of Secret %s has items %v, want only %s", w.Name, v.Name, v.Secret.SecretName, v.Secret.Items, wantKey)
			}
		}
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && isSecretsKeySecret(objs, exp, ef.SecretRef.Name) {
					t.Errorf("%s: container %s takes its environment from the secrets key's Secret %s", w.Name, c.Name, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && isSecretsKeySecret(objs, exp, e.ValueFrom.SecretKeyRef.Name) {
					t.Errorf("%s: container %s has %s from the secrets key's Secret %s", w.Name, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			file, set := envValue(c, SecretsKeyEnv)
			if !set {
				continue
			}
			if w.Name != deployer || c.Name != "deployer" || exp.SecretsKeySecret == "" {
				t.Errorf("%s: container %s is given %s=%q: only the deployer holds the secrets key (and only with one configured)", w.Name, c.Name, SecretsKeyEnv, file)
				continue
			}
			found = true
			if !path.IsAbs(file) {
				t.Errorf("%s: %s=%q, want the path of its mounted key", w.Name, SecretsKeyEnv, file)
				continue
			}
			mount, vol, key, mode, err := fileAt(pod, c, file)
			if err != nil {
				t.Errorf("%s: %s: %v", w.Name, SecretsKeyEnv, err)
				continue
			}
			if vol.Secret == nil || !isSecretsKeySecret(objs, exp, vol.Secret.SecretName) || key != wantKey {
				t.Errorf("%s: %s=%s is key %q of volume %s, want key %s of Secret %s", w.Name, SecretsKeyEnv, file, key, vol.Name, wantKey, exp.SecretsKeySecret)
			}
			if vol.Secret != nil && vol.Secret.Optional != nil && *vol.Secret.Optional {
				t.Errorf("%s: the secrets key's volume is optional: without it the deployer could not start (a read-only mount), or worse, run with another key", w.Name)
			}
			if !mount.ReadOnly {
				t.Errorf("%s: the secrets key's mount %s is not read-only", w.Name, mount.MountPath)
			}
			if err := readable(pod, mode); err != nil {
				t.Errorf("%s: %s: %v", w.Name, file, err)
			}
		}
	}
	if exp.SecretsKeySecret != "" && !found {
		t.Errorf("the deployer is not given %s: functions could not use secrets (the gateway answers 503)", SecretsKeyEnv)
	}
}

// GeneratedFrom matches the name kustomize gives an object generated as
// name: name, a dash and the content's hash.
func GeneratedFrom(name string) func(string) bool {
	return func(s string) bool {
		m := generatedName.FindStringSubmatch(s)
		return m != nil && m[1] == name
	}
}
