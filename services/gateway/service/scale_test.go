package service

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/eventflow/eventflow/pkg/function"
)

// TestOlderScaleFieldsAreMapped: replicas and autoscaling are accepted and
// stored as the scale they map to; the answers (create, get, list) show
// scale and never the older fields. scale itself is stored with its
// defaults filled in.
func TestOlderScaleFieldsAreMapped(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		spec string
		want function.Scale
	}{
		{`{"name":"fixed","command":["x"],"replicas":2,"invocation":{"mode":"http"}}`,
			function.Scale{Min: 2, Max: 2, Target: function.DefaultScaleTarget, Metric: function.MetricConcurrency, IdleAfter: function.Duration(function.DefaultIdleAfter)}},
		{`{"name":"cpu","command":["x"],"autoscaling":{"minReplicas":1,"maxReplicas":5},"invocation":{"mode":"http"}}`,
			function.Scale{Min: 1, Max: 5, Target: function.DefaultCPUTarget, Metric: function.MetricCPU, IdleAfter: function.Duration(function.DefaultIdleAfter)}},
		{`{"name":"plain","command":["x"],"invocation":{"mode":"http"}}`,
			function.Scale{Min: 1, Max: 1, Target: function.DefaultScaleTarget, Metric: function.MetricConcurrency, IdleAfter: function.Duration(function.DefaultIdleAfter)}},
		{`{"name":"zero","command":["x"],"scale":{"min":0,"max":4,"metric":"queue","idleAfter":"5s"},"invocation":{"mode":"http"}}`,
			function.Scale{Min: 0, Max: 4, Target: function.DefaultScaleTarget, Metric: function.MetricQueue, IdleAfter: function.Duration(5e9)}},
	} {
		var name struct{ Name string }
		_ = json.Unmarshal([]byte(tc.spec), &name)
		resp, created := f.do(t, "POST", "/v1/functions", tc.spec)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("create %s: %d %s", tc.spec, resp.StatusCode, created)
		}
		_, got := f.do(t, "GET", "/v1/functions/"+name.Name, "")
		for what, body := range map[string]string{"create": created, "get": got} {
			fn := decode[function.Function](t, body)
			if fn.Scale == nil || *fn.Scale != tc.want {
				t.Errorf("%s %s: scale %+v, want %+v", what, name.Name, fn.Scale, tc.want)
			}
			var raw map[string]any
			_ = json.Unmarshal([]byte(body), &raw)
			for _, old := range []string{"replicas", "autoscaling"} {
				if _, ok := raw[old]; ok {
					t.Errorf("%s %s shows %s: %s", what, name.Name, old, body)
				}
			}
		}
	}
	// A job-mode function has no scale; scale with the older fields is refused.
	_, body := f.do(t, "POST", "/v1/functions", `{"name":"job","command":["x"]}`)
	if strings.Contains(body, `"scale"`) {
		t.Errorf("job mode shows a scale: %s", body)
	}
	resp, body := f.do(t, "POST", "/v1/functions", `{"name":"both","command":["x"],"replicas":1,"scale":{"min":0,"max":1},"invocation":{"mode":"http"}}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "scale") {
		t.Errorf("scale and replicas: %d %s", resp.StatusCode, body)
	}
}
