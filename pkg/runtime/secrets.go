package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Where a function finds its secrets: one read-only file per secret, named
// as the secret, in the directory EnvSecretsDir names. On Kubernetes that
// directory is SecretsMountPath; on the process runtime a private
// directory of the instance's or run's own.
const (
	EnvSecretsDir    = "EVENTFLOW_SECRETS_DIR"
	SecretsMountPath = "/var/eventflow/secrets"
)

// ErrSecretNotFound is returned by a SecretReader for a name the tenant
// has no secret of.
var ErrSecretNotFound = errors.New("secret not found")

// Secret is one secret as a function gets it. Version changes whenever
// the value does, so a runtime can tell that a function must be rolled.
// Its String, GoString and LogValue never show the value.
type Secret struct {
	Name    string
	Version uint64
	Value   []byte
}

func (s Secret) String() string       { return s.Name + "@" + strconv.FormatUint(s.Version, 10) }
func (s Secret) GoString() string     { return "runtime.Secret{" + s.String() + "}" }
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Format makes every verb (%v, %+v, %s, %x, ...) print String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// SecretReader reads a tenant's secrets, in the order of names. A missing
// one is an error wrapping ErrSecretNotFound that names it.
type SecretReader interface {
	ReadSecrets(ctx context.Context, tenant string, names []string) ([]Secret, error)
}

// SecretsVersion sums up which secrets, at which versions, a function runs
// with ("a@3,b@7", sorted by name): a runtime rolls a function's instances
// when it changes. It never depends on a value.
func SecretsVersion(secrets []Secret) string {
	parts := make([]string, len(secrets))
	for i, s := range secrets {
		parts[i] = s.String()
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
