package secrets

import (
	"bytes"
	"testing"
)

// FuzzOpen: whatever bytes a stored record holds (a bucket written by
// someone else, a truncated value), Open never panics and opens only what
// was sealed to its key for that tenant and name; a value sealed here
// opens to itself.
func FuzzOpen(f *testing.F) {
	k, err := NewKey(bytes.Repeat([]byte("f"), 40))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := Seal(k.Public(), "acme", "db", []byte("v"))
	f.Add(good, []byte("v"), "acme", "db")
	f.Add([]byte{}, []byte(""), "a", "b")
	f.Add(good[:len(good)-1], []byte("x"), "acme", "db")
	f.Fuzz(func(t *testing.T, sealed, value []byte, tenant, name string) {
		// The only value ever sealed to this key (by any fuzz process: the
		// key is derived from a fixed seed, the sealing is random) is "v"
		// for acme/db; opening anything else would mean a forgery.
		if v, err := k.Open(tenant, name, sealed); err == nil && (tenant != "acme" || name != "db" || string(v) != "v") {
			t.Fatalf("opened %q for %s/%s from %x", v, tenant, name, sealed)
		}
		s, err := Seal(k.Public(), tenant, name, value)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := k.Open(tenant, name, s); err != nil || !bytes.Equal(v, value) {
			t.Fatalf("round trip: %q, %v", v, err)
		}
		if _, err := k.Open(tenant+"x", name, s); err == nil {
			t.Fatal("opened under another tenant")
		}
	})
}
