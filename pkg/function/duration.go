package function

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("30s", "1m30s"), the way users write timeouts. A bare number is seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		// Converting a float beyond int64 to an integer wraps around
		// (1e10 seconds read as a negative duration): refuse it instead.
		ns := x * float64(time.Second)
		if ns >= math.MaxInt64 || ns < math.MinInt64 {
			return fmt.Errorf("invalid duration %s: out of range (at most about 292 years)", string(b))
		}
		*d = Duration(time.Duration(ns))
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("invalid duration %q: use a form like \"30s\" or \"2m\"", x)
		}
		*d = Duration(p)
	default:
		return fmt.Errorf("invalid duration %s: use a string like \"30s\"", string(b))
	}
	return nil
}
