// Package secrets keeps tenants' secrets: their values sealed with HPKE
// (RFC 9180: X25519, HKDF-SHA256, AES-256-GCM, the standard library's
// crypto/hpke) to a key only the deployer (and, for jobs on the process
// runtime, the invoker) holds. The gateway seals with the public key and
// can never open what it stored.
package secrets

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The HPKE suite every secret is sealed with.
var (
	kem  = hpke.DHKEM(ecdh.X25519())
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// minSeed is the least key material a key file holds.
const minSeed = 32

// ErrSealedElsewhere is returned by Open for a value sealed to another key
// (the key file was replaced) or to another secret's name, or altered.
var ErrSealedElsewhere = errors.New("the value cannot be opened with this installation's key: it was sealed to another key or altered; put the secret again")

// Key opens sealed secrets. It derives from a seed (a key file's bytes),
// so a chart or an operator can make one with any random generator.
type Key struct {
	priv hpke.PrivateKey
	pub  []byte
}

// NewKey derives the key pair from seed (at least 32 bytes of random).
func NewKey(seed []byte) (*Key, error) {
	if len(seed) < minSeed {
		return nil, fmt.Errorf("secrets key: %d bytes of key material, want at least %d", len(seed), minSeed)
	}
	priv, err := kem.DeriveKeyPair(seed)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return &Key{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// LoadOrCreateKey reads the key file at path, or makes one (64 random
// bytes, hex, mode 0600) when there is none.
func LoadOrCreateKey(path string) (*Key, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secrets key %s: %w", path, err)
		}
		raw := make([]byte, 64)
		_, _ = rand.Read(raw)
		seed = fmt.Appendf(nil, "%x\n", raw)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) { // made by another process meanwhile
			return LoadOrCreateKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("secrets key %s: %w", path, err)
		}
		_, werr := f.Write(seed)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("secrets key %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("secrets key %s: %w", path, err)
	}
	k, err := NewKey([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Public is the public key secrets are sealed to.
func (k *Key) Public() []byte { return k.pub }

// info binds a sealed value to its tenant and name: a value copied under
// another secret's key does not open.
func info(tenant, name string) []byte {
	return []byte("eventflow secret v1\x00" + tenant + "\x00" + name)
}

// Seal seals value for the holder of the private key whose public key is
// pub, bound to tenant and name.
func Seal(pub []byte, tenant, name string, value []byte) ([]byte, error) {
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	return hpke.Seal(pk, kdf, aead, info(tenant, name), value)
}

// Open opens what Seal sealed to this key for tenant and name.
func (k *Key) Open(tenant, name string, sealed []byte) ([]byte, error) {
	// hpke.Open may decrypt in place: the caller's bytes stay as they were.
	v, err := hpke.Open(k.priv, kdf, aead, info(tenant, name), bytes.Clone(sealed))
	if err != nil {
		return nil, ErrSealedElsewhere
	}
	return v, nil
}
