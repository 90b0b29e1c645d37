package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, err := NewKey(bytes.Repeat([]byte("k"), 40))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(k.Public(), "acme", "db-password", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("the sealed value contains the plain text")
	}
	got, err := k.Open("acme", "db-password", sealed)
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Bound to its tenant and name; another key cannot open it; a flipped
	// bit is refused.
	other, _ := NewKey(bytes.Repeat([]byte("o"), 40))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other tenant": func() ([]byte, error) { return k.Open("evil", "db-password", sealed) },
		"other name":   func() ([]byte, error) { return k.Open("acme", "api-key", sealed) },
		"other key":    func() ([]byte, error) { return other.Open("acme", "db-password", sealed) },
		"altered":      func() ([]byte, error) { return k.Open("acme", "db-password", flipped) },
	} {
		if v, err := open(); !errors.Is(err, ErrSealedElsewhere) || v != nil {
			t.Errorf("%s: Open = %q, %v; want ErrSealedElsewhere", name, v, err)
		}
	}
	if _, err := NewKey([]byte("short")); err == nil {
		t.Error("a 5-byte seed was taken")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secrets.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi, err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Public(), k2.Public()) {
		t.Fatal("the key changed when read again")
	}
}
