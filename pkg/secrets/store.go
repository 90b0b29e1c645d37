package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// MaxValueBytes caps a secret's value (a certificate chain fits; a
// Kubernetes Secret holds at most 1 MiB in all).
const MaxValueBytes = 64 << 10

// MaxBytesPerFunction caps the values of the secrets one function names,
// together: on Kubernetes they are one Secret, which holds at most 1 MiB.
const MaxBytesPerFunction = 512 << 10

// MaxPerTenant caps how many secrets a tenant keeps.
const MaxPerTenant = 500

var (
	// ErrNotFound: the tenant has no secret of that name.
	ErrNotFound = errors.New("not found")
	// ErrNotConfigured: no deployer has published a sealing key, so
	// nothing could ever open a stored value.
	ErrNotConfigured = errors.New("secrets are not configured on this installation: the deployer has no secrets key (set EVENTFLOW_SECRETS_KEY_FILE on the deployer)")
	// ErrTooMany: the tenant has MaxPerTenant secrets (counted before the
	// write: creates racing on the last place may pass it by a few).
	ErrTooMany = errors.New("too many secrets")
	// ErrChanged: the secret was written while it was being deleted.
	ErrChanged = errors.New("it was changed meanwhile; try again")
	// ErrKeyTaken: another sealing key is published (PublishKey).
	ErrKeyTaken = errors.New("another sealing key is published")
)

// record is a secret as stored: metadata and the sealed value.
type record struct {
	Name      string    `json:"name"`
	Tenant    string    `json:"tenant"`
	Size      int       `json:"size"`
	Sealed    []byte    `json:"sealed"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Meta is what the API shows of a secret: never its value.
type Meta struct {
	Name string `json:"name"`
	// Version changes whenever the value does.
	Version   uint64    `json:"version"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (r record) meta(version uint64) Meta {
	return Meta{Name: r.Name, Version: version, Size: r.Size, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Store keeps secrets in BucketSecrets. The gateway's has no Key: it
// seals to the published public key and reads metadata only; the
// deployer's (and the invoker's) Key opens values for functions.
type Store struct {
	KV  jetstream.KeyValue
	Key *Key
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// PublishKey stores the public key of s.Key for sealers, unless it is
// there already. It never replaces another one: the secrets sealed to it
// would no longer open (a lost or different key file), and a second
// deployer with its own key would take sealing over; it fails with
// ErrKeyTaken instead, saying how to start over on purpose.
func (s *Store) PublishKey(ctx context.Context) error {
	e, err := s.KV.Get(ctx, events.SecretsPublicKeyKey)
	switch {
	case err == nil && bytes.Equal(e.Value(), s.Key.Public()):
		return nil
	case err == nil:
		return fmt.Errorf("%w: secrets stored so far were sealed to a key this key file does not hold. Use the deployer's original key file; or, to start over and lose every stored secret, delete the entry %q of the KV bucket %s (nats kv del %s %s) and put the secrets again",
			ErrKeyTaken, events.SecretsPublicKeyKey, events.BucketSecrets, events.BucketSecrets, events.SecretsPublicKeyKey)
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return fmt.Errorf("read the sealing key: %w", err)
	}
	if _, err := s.KV.Create(ctx, events.SecretsPublicKeyKey, s.Key.Public()); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) { // published meanwhile: check it
			return s.PublishKey(ctx)
		}
		return fmt.Errorf("publish the sealing key: %w", err)
	}
	return nil
}

// Put seals value and stores it as the tenant's secret name, replacing
// any value it had; created reports whether it is new.
func (s *Store) Put(ctx context.Context, tenant, name string, value []byte) (m Meta, created bool, err error) {
	if err := function.ValidateSecretName(name); err != nil {
		return m, false, err
	}
	if len(value) > MaxValueBytes {
		return m, false, &function.FieldError{Field: "value", Reason: fmt.Sprintf("is %d bytes; a secret holds at most %d", len(value), MaxValueBytes)}
	}
	pk, err := s.KV.Get(ctx, events.SecretsPublicKeyKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return m, false, ErrNotConfigured
	}
	if err != nil {
		return m, false, fmt.Errorf("read the sealing key: %w", err)
	}
	sealed, err := Seal(pk.Value(), tenant, name, value)
	if err != nil {
		return m, false, err
	}
	key := events.SecretKey(tenant, name)
	for range 5 {
		now := s.now()
		rec := record{Name: name, Tenant: tenant, Size: len(value), Sealed: sealed, CreatedAt: now, UpdatedAt: now}
		cur, rev, gerr := s.get(ctx, tenant, name)
		var ver uint64
		switch {
		case errors.Is(gerr, ErrNotFound):
			names, err := s.names(ctx, tenant)
			if err != nil {
				return m, false, err
			}
			if n := len(names); n >= MaxPerTenant {
				return m, false, fmt.Errorf("%w: tenant %q has %d secrets, the most it may keep; delete one first", ErrTooMany, tenant, n)
			}
			ver, err = s.KV.Create(ctx, key, mustJSON(rec))
			created = true
		case gerr != nil:
			return m, false, gerr
		default:
			rec.CreatedAt = cur.CreatedAt
			ver, err = s.KV.Update(ctx, key, mustJSON(rec), rev)
			created = false
		}
		if err == nil {
			return rec.meta(ver), created, nil
		}
		if !events.IsRevisionMismatch(err) { // lost to another writer: again
			return m, false, fmt.Errorf("store secret %q: %w", name, err)
		}
	}
	return m, false, fmt.Errorf("store secret %q: it is being written concurrently; try again", name)
}

func (s *Store) get(ctx context.Context, tenant, name string) (record, uint64, error) {
	e, err := s.KV.Get(ctx, events.SecretKey(tenant, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("read secret %q: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return record{}, 0, fmt.Errorf("secret %q: stored record is not valid: %w", name, err)
	}
	return r, e.Revision(), nil
}

// Get returns a secret's metadata.
func (s *Store) Get(ctx context.Context, tenant, name string) (Meta, error) {
	if function.ValidateSecretName(name) != nil {
		return Meta{}, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	r, rev, err := s.get(ctx, tenant, name)
	if err != nil {
		return Meta{}, err
	}
	return r.meta(rev), nil
}

// names lists the names of the tenant's secrets.
func (s *Store) names(ctx context.Context, tenant string) ([]string, error) {
	lister, err := s.KV.ListKeysFiltered(ctx, tenant+".*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var names []string
	for key := range lister.Keys() {
		names = append(names, strings.TrimPrefix(key, tenant+"."))
	}
	return names, nil
}

// List returns the tenant's secrets' metadata, by name.
func (s *Store) List(ctx context.Context, tenant string) ([]Meta, error) {
	names, err := s.names(ctx, tenant)
	if err != nil {
		return nil, err
	}
	items := []Meta{}
	for _, name := range names {
		r, rev, err := s.get(ctx, tenant, name)
		if errors.Is(err, ErrNotFound) { // deleted meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		items = append(items, r.meta(rev))
	}
	slices.SortFunc(items, func(a, b Meta) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

// Delete removes a secret (its value and history) if it is still at
// version (Meta.Version, as the caller read it before deciding to): a
// value put since is not deleted unseen (ErrChanged).
func (s *Store) Delete(ctx context.Context, tenant, name string, version uint64) error {
	err := s.KV.Purge(ctx, events.SecretKey(tenant, name), jetstream.LastRevision(version))
	if events.IsRevisionMismatch(err) {
		return fmt.Errorf("secret %q: %w", name, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", name, err)
	}
	return nil
}

// ReadSecrets opens the tenant's secrets for a function (runtime.SecretReader).
func (s *Store) ReadSecrets(ctx context.Context, tenant string, names []string) ([]runtime.Secret, error) {
	if s.Key == nil {
		return nil, ErrNotConfigured
	}
	out := make([]runtime.Secret, 0, len(names))
	for _, n := range names {
		r, rev, err := s.get(ctx, tenant, n)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("secret %q: %w", n, runtime.ErrSecretNotFound)
		}
		if err != nil {
			return nil, err
		}
		v, err := s.Key.Open(tenant, n, r.Sealed)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", n, err)
		}
		out = append(out, runtime.Secret{Name: n, Version: rev, Value: v})
	}
	return out, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
