package triggers

import (
	"context"
	"sync"

	"github.com/eventflow/eventflow/pkg/catalog"
)

// streamRunner runs the nats and event triggers. (Being built.)
type streamRunner struct{ f *Firer }

func newStreams(f *Firer) *streamRunner { return &streamRunner{f: f} }

func (s *streamRunner) onChange(catalog.Change)                       {}
func (s *streamRunner) start(ctx context.Context, wg *sync.WaitGroup) {}
func (s *streamRunner) stop()                                         {}
