package secrets

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/eventflow/eventflow/pkg/natsserver/natstest"
)

// TestPublishKey: the deployer publishes its key once and again as the
// same; a different key never replaces it (what was sealed to the first
// would no longer open), and the error says how to start over.
func TestPublishKey(t *testing.T) {
	_, _, _, b := natstest.Provisioned(t)
	ctx := context.Background()
	k1, _ := NewKey(bytes.Repeat([]byte("1"), 40))
	k2, _ := NewKey(bytes.Repeat([]byte("2"), 40))
	first := &Store{KV: b.Secrets, Key: k1}
	for range 2 {
		if err := first.PublishKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := (&Store{KV: b.Secrets}).Put(ctx, "acme", "db", []byte("v")); err != nil {
		t.Fatal(err)
	}
	err := (&Store{KV: b.Secrets, Key: k2}).PublishKey(ctx)
	if !errors.Is(err, ErrKeyTaken) {
		t.Fatalf("another key published over the first: %v", err)
	}
	got, err := first.ReadSecrets(ctx, "acme", []string{"db"})
	if err != nil || string(got[0].Value) != "v" {
		t.Fatalf("after the refused key the value reads %v, %v", got, err)
	}
}
