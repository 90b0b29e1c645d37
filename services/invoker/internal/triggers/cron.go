package triggers

import (
	"context"
	"sync"

	"github.com/eventflow/eventflow/pkg/catalog"
)

// cronRunner runs the cron triggers. (Being built.)
type cronRunner struct{ f *Firer }

func newCron(f *Firer) *cronRunner { return &cronRunner{f: f} }

func (c *cronRunner) onChange(catalog.Change)                       {}
func (c *cronRunner) start(ctx context.Context, wg *sync.WaitGroup) {}
func (c *cronRunner) stop()                                         {}
