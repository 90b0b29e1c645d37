package secrets

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/runtime"
)

// Reader is the runtime.SecretReader of a service that runs functions: it
// opens the tenants' secrets with key. A runtime is built before the
// buckets are provisioned, so the bucket is bound at the first read.
type Reader struct {
	js  jetstream.JetStream
	key *Key

	mu    sync.Mutex
	store *Store
}

// NewReader reads secrets from js's secrets bucket with key.
func NewReader(js jetstream.JetStream, key *Key) *Reader { return &Reader{js: js, key: key} }

var _ runtime.SecretReader = (*Reader)(nil)

// ReadSecrets implements runtime.SecretReader.
func (r *Reader) ReadSecrets(ctx context.Context, tenant string, names []string) ([]runtime.Secret, error) {
	r.mu.Lock()
	if r.store == nil {
		kv, err := r.js.KeyValue(ctx, events.BucketSecrets)
		if err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("open bucket %s: %w", events.BucketSecrets, err)
		}
		r.store = &Store{KV: kv, Key: r.key}
	}
	st := r.store
	r.mu.Unlock()
	return st.ReadSecrets(ctx, tenant, names)
}
