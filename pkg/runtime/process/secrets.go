package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// ErrSecretsNotConfigured is returned by Apply and Invoke for a function
// that names secrets when Config.Secrets is nil.
var ErrSecretsNotConfigured = errors.New("secrets are not configured on the process runtime (Config.Secrets is nil)")

// secretsDirTag is in the name of every secrets directory, followed by the
// pid of the runtime that made it (see sweepSecretsDirs) and a random part.
const secretsDirTag = "-secrets-"

// readSecrets reads the secrets spec names, or returns nil when it names
// none. Errors name the function and the secret (the reader's error does),
// never a value.
func (r *Runtime) readSecrets(ctx context.Context, tenant string, spec function.Spec) ([]runtime.Secret, error) {
	if len(spec.Secrets) == 0 {
		return nil, nil
	}
	if r.cfg.Secrets == nil {
		return nil, fmt.Errorf("function %s/%s names secrets (%s): %w", tenant, spec.Name, strings.Join(spec.Secrets, ", "), ErrSecretsNotConfigured)
	}
	got, err := r.cfg.Secrets.ReadSecrets(ctx, tenant, spec.Secrets)
	if err != nil {
		return nil, fmt.Errorf("function %s/%s: read secrets: %w", tenant, spec.Name, err)
	}
	if len(got) != len(spec.Secrets) {
		return nil, fmt.Errorf("function %s/%s: read secrets: %d secrets returned for %d names", tenant, spec.Name, len(got), len(spec.Secrets))
	}
	for i, s := range got {
		if s.Name != spec.Secrets[i] {
			return nil, fmt.Errorf("function %s/%s: read secrets: secret %q returned for %q", tenant, spec.Name, s.Name, spec.Secrets[i])
		}
		if !safeFileName(s.Name) {
			return nil, fmt.Errorf("function %s/%s: secret name %q cannot be a file name", tenant, spec.Name, s.Name)
		}
	}
	return got, nil
}

// safeFileName reports whether name is one plain entry of a directory.
func safeFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// secretsDir makes a new directory holding secrets, one file per secret
// named as it with the value as content, and returns its path. It lies in
// RunDir beside the working directories, never inside one: RunDir (mode
// 0711, ours) lets no function rename, replace or list what is in it (a
// function running as this process's own user can, but it can also read
// this process's memory). The directory is mode 0700 and its files 0400,
// all owned by the function user; they are written while the directory
// is still ours, and handed over only when complete. prefix starts its
// name, for whoever looks. The caller removes it (removeDir) once the
// processes that use it are gone.
func (r *Runtime) secretsDir(prefix string, secrets []runtime.Secret) (dir string, err error) {
	base, err := r.baseDir()
	if err != nil {
		return "", err
	}
	dir, err = os.MkdirTemp(base, prefix+"secrets-"+strconv.Itoa(os.Getpid())+"-*") // mode 0700
	if err != nil {
		return "", fmt.Errorf("secrets directory: %w", err)
	}
	defer func() {
		if err != nil {
			r.removeDir(dir)
			dir = ""
		}
	}()
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("secrets directory: %w", err)
	}
	for _, s := range secrets {
		if err := r.writeSecret(filepath.Join(dir, s.Name), s.Value); err != nil {
			// The error names the file, never the value.
			return "", fmt.Errorf("secrets directory: secret %q: %w", s.Name, err)
		}
	}
	if r.id.separate() {
		if err := os.Lchown(dir, int(r.id.UID), int(r.id.GID)); err != nil {
			return "", fmt.Errorf("secrets directory: %w", err)
		}
	}
	return dir, nil
}

// writeSecret creates path (which must not exist) with mode 0400, owned by
// the function user, holding value.
func (r *Runtime) writeSecret(path string, value []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o400)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o400); err != nil { // not the umask's
		f.Close()
		return err
	}
	if r.id.separate() {
		if err := f.Chown(int(r.id.UID), int(r.id.GID)); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(value); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sweepSecretsDirs removes from a configured RunDir the secrets
// directories of runtimes that are gone (killed without Close): a
// temporary RunDir is swept whole (sweepRunDirs). A directory whose maker
// still runs, or whose pid was reused, is left alone.
func (r *Runtime) sweepSecretsDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		i := strings.LastIndex(e.Name(), secretsDirTag)
		if i < 0 || !e.IsDir() {
			continue
		}
		s, random, ok := strings.Cut(e.Name()[i+len(secretsDirTag):], "-")
		if !ok || !digits(random) || !digits(s) {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		r.removeDir(filepath.Join(base, e.Name()))
	}
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
