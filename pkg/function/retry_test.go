package function

import (
	"errors"
	"testing"
	"time"
)

func TestRetryDefaultsAndDelays(t *testing.T) {
	p := Spec{Name: "a"}.Retry()
	if p.MaxAttempts != 3 || time.Duration(p.InitialDelay) != time.Second || time.Duration(p.MaxDelay) != time.Minute || len(p.RetryOn) != 4 {
		t.Fatalf("defaults %+v", p)
	}
	p = RetryPolicy{MaxAttempts: 5, InitialDelay: Duration(100 * time.Millisecond), MaxDelay: Duration(300 * time.Millisecond)}
	for _, tc := range []struct {
		attempt  int
		lo, full time.Duration
	}{{1, 50 * time.Millisecond, 100 * time.Millisecond}, {2, 100 * time.Millisecond, 200 * time.Millisecond}, {3, 150 * time.Millisecond, 300 * time.Millisecond}, {9, 150 * time.Millisecond, 300 * time.Millisecond}} {
		if d := p.Delay(tc.attempt, 0); d != tc.lo {
			t.Errorf("attempt %d, no jitter: %s, want %s", tc.attempt, d, tc.lo)
		}
		if d := p.Delay(tc.attempt, 0.999999); d > tc.full || d < tc.full*99/100 {
			t.Errorf("attempt %d, full jitter: %s, want about %s", tc.attempt, d, tc.full)
		}
	}
	if !(Spec{Invocation: Invocation{Retry: &p}}).Retry().Retries(RetryOnExit) {
		t.Error("an explicit policy without retryOn retries everything")
	}
}

func TestRetryValidation(t *testing.T) {
	base := func(p RetryPolicy) Spec {
		return Spec{Name: "a", Command: []string{"x"}, Invocation: Invocation{Retry: &p}}
	}
	for _, p := range []RetryPolicy{
		{MaxAttempts: 21}, {MaxAttempts: -1}, {InitialDelay: Duration(2 * time.Hour)},
		{InitialDelay: Duration(time.Minute), MaxDelay: Duration(time.Second)}, {RetryOn: []string{"always"}},
	} {
		if err := base(p).Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := base(RetryPolicy{MaxAttempts: 1, RetryOn: []string{RetryOnTimeout}}).Validate(); err != nil {
		t.Errorf("valid policy refused: %v", err)
	}
}
