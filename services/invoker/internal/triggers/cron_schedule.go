package triggers

import (
	"fmt"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// Pure scheduling of cron triggers: which ticks there are, which one a
// (re)starting replica owes, how long a tick may be retried, and the
// invocation id of a tick. No clock and no I/O here.

// maxFireWindow bounds how long after its tick a fire is still tried: well
// inside JetStream's 2-minute de-duplication window, so a try that stored
// the invocation but lost its ack is still recognized as a duplicate.
const maxFireWindow = time.Minute

// maxFireTries bounds the publishes of one tick (the first and retries).
const maxFireTries = 5

// firstRetry is the delay before the first retry of a failed fire; it
// doubles up to maxRetryDelay.
const (
	firstRetry    = 100 * time.Millisecond
	maxRetryDelay = 2 * time.Second
)

// latestTick is the latest tick t of s with after < t <= now, if any. It
// looks back over a span doubling from a minute, so a long outage costs a
// few dozen Next calls, not one per tick missed.
func latestTick(s function.Schedule, after, now time.Time) (time.Time, bool) {
	if !now.After(after) {
		return time.Time{}, false
	}
	for span := time.Minute; ; span *= 2 {
		from, whole := now.Add(-span), false
		if !from.After(after) {
			from, whole = after, true
		}
		if t := s.Next(from); !t.IsZero() && !t.After(now) {
			for {
				n := s.Next(t)
				if n.IsZero() || n.After(now) {
					return t, true
				}
				t = n
			}
		}
		if whole {
			return time.Time{}, false
		}
	}
}

// owedTick is the tick a replica starting a trigger at now fires before
// its schedule: none for a trigger that never fired (nothing was missed)
// or with the skip policy; with "once", the latest tick after the last
// fire, if one fell in between.
func owedTick(tr function.Trigger, s function.Schedule, lastFire, now time.Time) (time.Time, bool) {
	if lastFire.IsZero() || tr.Missed != function.MissedOnce {
		return time.Time{}, false
	}
	return latestTick(s, lastFire, now)
}

// fireWindow is how long after tick its fire may be tried: until the next
// tick, at most maxFireWindow.
func fireWindow(s function.Schedule, tick time.Time) time.Duration {
	next := s.Next(tick)
	if next.IsZero() {
		return maxFireWindow
	}
	return min(next.Sub(tick), maxFireWindow)
}

// retryDelay is the delay before try n+1 (n >= 1) of a tick.
func retryDelay(n int) time.Duration { return doubling(firstRetry, maxRetryDelay, n) }

// doubling is first, doubled for each n after the first, at most max.
func doubling(first, max time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// tickID is the invocation id of a trigger's tick: every replica derives
// the same one, so JetStream stores the tick once.
func tickID(tenant, fn, key string, tick time.Time) string {
	return events.DerivedInvocationID(tick, fmt.Sprintf("%s/%s/%s/%d", tenant, fn, key, tick.UnixMilli()))
}

// cronTriggers are the cron triggers a catalog change leaves running for
// its function, by key: none for a function deleted or being deleted.
func cronTriggers(rec function.Record, deleted bool) map[string]function.Trigger {
	if deleted || rec.Deleting {
		return nil
	}
	out := map[string]function.Trigger{}
	for _, t := range rec.Spec.Triggers {
		if t.Type == function.TriggerCron {
			out[t.Key()] = t
		}
	}
	return out
}
