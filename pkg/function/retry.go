package function

import (
	"fmt"
	"slices"
	"time"
)

// Outcomes an async invocation may be retried on.
const (
	RetryOnTimeout = "timeout" // the run hit its timeout
	RetryOnExit    = "exit"    // job mode: non-zero exit code
	RetryOnHTTP5xx = "http5xx" // http mode: a 5xx answer
	RetryOnHTTP429 = "http429" // http mode: 429 Too Many Requests
)

// Defaults of the retry policy (as AWS Lambda: three attempts in all).
const (
	DefaultMaxAttempts  = 3
	DefaultInitialDelay = time.Second
	DefaultMaxDelay     = time.Minute
	MaxAttemptsLimit    = 20
	MaxRetryDelay       = time.Hour
)

// RetryOnAll is what an async invocation retries on by default.
var RetryOnAll = []string{RetryOnTimeout, RetryOnExit, RetryOnHTTP5xx, RetryOnHTTP429}

// RetryPolicy says how often and how soon a failed async invocation is
// tried again; after the last attempt it goes to the dead-letter stream.
// Sync invocations are not retried: the caller is waiting and decides.
type RetryPolicy struct {
	MaxAttempts  int      `json:"maxAttempts,omitempty"`
	InitialDelay Duration `json:"initialDelay,omitempty"`
	MaxDelay     Duration `json:"maxDelay,omitempty"`
	RetryOn      []string `json:"retryOn,omitempty"`
}

// Retry returns the spec's retry policy with defaults applied.
func (s Spec) Retry() RetryPolicy {
	var p RetryPolicy
	if s.Invocation.Retry != nil {
		p = *s.Invocation.Retry
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialDelay == 0 {
		p.InitialDelay = Duration(DefaultInitialDelay)
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = Duration(max(DefaultMaxDelay, time.Duration(p.InitialDelay)))
	}
	if p.RetryOn == nil {
		p.RetryOn = RetryOnAll
	}
	return p
}

// Delay is the wait before attempt+1 after attempt failed: the initial
// delay doubled per attempt, capped, with "equal jitter" (between half and
// all of it, jitter in [0,1)) so retries of many invocations spread out.
func (p RetryPolicy) Delay(attempt int, jitter float64) time.Duration {
	d := time.Duration(p.InitialDelay)
	for i := 1; i < attempt && d < time.Duration(p.MaxDelay); i++ {
		d *= 2
	}
	d = min(d, time.Duration(p.MaxDelay))
	return d/2 + time.Duration(float64(d/2)*jitter)
}

// Retries reports whether an outcome is one the policy retries.
func (p RetryPolicy) Retries(outcome string) bool { return slices.Contains(p.RetryOn, outcome) }

func (p RetryPolicy) validate() error {
	if p.MaxAttempts < 0 || p.MaxAttempts > MaxAttemptsLimit {
		return &FieldError{"invocation.retry.maxAttempts", fmt.Sprintf("must be between 1 and %d", MaxAttemptsLimit)}
	}
	if p.InitialDelay < 0 || time.Duration(p.InitialDelay) > MaxRetryDelay {
		return &FieldError{"invocation.retry.initialDelay", fmt.Sprintf("must be between 0 and %s", MaxRetryDelay)}
	}
	if p.MaxDelay < 0 || time.Duration(p.MaxDelay) > MaxRetryDelay || (p.MaxDelay != 0 && p.MaxDelay < p.InitialDelay) {
		return &FieldError{"invocation.retry.maxDelay", fmt.Sprintf("must be between initialDelay and %s", MaxRetryDelay)}
	}
	for _, o := range p.RetryOn {
		if !slices.Contains(RetryOnAll, o) {
			return &FieldError{"invocation.retry.retryOn", fmt.Sprintf("%q is not an outcome: use %v", o, RetryOnAll)}
		}
	}
	return nil
}
