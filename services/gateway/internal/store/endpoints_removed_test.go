package store

import (
	"net/url"
	"testing"
)

func TestRemoved(t *testing.T) {
	u := func(hosts ...string) []*url.URL {
		var out []*url.URL
		for _, h := range hosts {
			out = append(out, &url.URL{Scheme: "http", Host: h})
		}
		return out
	}
	for _, c := range []struct {
		old, now []*url.URL
		want     bool
	}{
		{u("a:1", "b:2"), u("a:1"), true},
		{u("a:1"), u("a:1", "b:2"), false},
		{u("a:1"), u("b:2"), true},
		{nil, u("a:1"), false},
		{u("a:1"), nil, true},
	} {
		if got := removed(c.old, c.now); got != c.want {
			t.Errorf("removed(%v, %v) = %v", c.old, c.now, got)
		}
	}
}
