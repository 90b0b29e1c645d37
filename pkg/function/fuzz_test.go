package function

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzSpec: a spec decoded the way the gateway decodes one (unknown fields
// refused) never panics validation; a spec validation accepts is one the
// runtimes can use: Kubernetes accepts its name, labels, env names and
// quantities, its defaults keep it valid, its bounds hold, and it reads back
// the same after being stored as JSON.
func FuzzSpec(f *testing.F) {
	for _, s := range []string{
		`{"name":"upper","command":["tr","a-z","A-Z"]}`,
		`{"name": "upper", "command": ["tr", "a-z", "A-Z"], "env": {"LANG": "C"},
		  "invocation": {"mode": "job", "timeout": "30s", "maxConcurrency": 10,
		                 "retry": {"maxAttempts": 3, "initialDelay": "1s", "maxDelay": "1m", "retryOn": ["exit"]}},
		  "labels": {"team": "search", "example.com/tier": "a.b-c_d"}}`,
		`{"name":"web","image":"ghcr.io/acme/web:1","replicas":3,"invocation":{"mode":"http","timeout":900},
		  "autoscaling":{"minReplicas":2,"maxReplicas":10},"resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"0.5"}}}`,
		`{"name":"x","command":["x"],"labels":{"A/b":"c"}}`,
		`{"name":"x","command":["x"],"labels":{"a..b/c":"d"}}`,
		`{"name":"x","command":["x"],"invocation":{"timeout":1e300}}`,
		`{"name":"x","command":["x"],"invocation":{"timeout":-1e300}}`,
		`{"name":"x","command":["x"],"invocation":{"retry":{"initialDelay":1e10}}}`,
		`{"name":"x","command":["x"],"resources":{"limits":{"cpu":"99999999999999999999999T"}}}`,
		`{"name":"x","command":["x"],"env":{"PORT":"1"}}`,
		`{"name":"x","image":" "}`, `{"name":"-x-","command":["x"]}`, `{}`, `null`,
		// The route and triggers.
		`{"name":"web","command":["serve"],"invocation":{"mode":"http"},"http":{"auth":"public"}}`,
		`{"name":"web","command":["serve"],"invocation":{"mode":"http"},"http":{}}`,
		`{"name":"job","command":["x"],"http":{"auth":"token"}}`,
		`{"name":"web","command":["serve"],"invocation":{"mode":"http"},"http":{"auth":"basic"}}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"@every 1s","timezone":"UTC","body":"tick","missed":"skip"},
		  {"type":"nats","subject":"orders.>"},{"type":"event","filter":{"type":"io.eventflow.invocation.dead_lettered","function":"*","source":""}}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"0 9 * * 1-5","timezone":"Europe/Paris","missed":"once"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"@every 999ms"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"@every 1500ms"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"0 0 30 2 *"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"@hourly","timezone":"Local"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"cron","schedule":"@hourly"},{"type":"cron","schedule":"@hourly","timezone":"UTC"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"nats","subject":"a.*.>"},{"type":"nats","subject":"a..b"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"nats","subject":"a","body":"x"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"event","filter":{"type":"io.eventflow.*","function":"up"}}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"event"}]}`,
		`{"name":"t","command":["x"],"triggers":[{"type":"event","filter":null}]}`,
		`{"name":"t","command":["x"],"triggers":[{}]}`,
		`{"name":"t","command":["x"],"triggers":null}`,
		// Scaling.
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"scale":{"min":0,"max":4,"target":10,"metric":"queue","idleAfter":"30s"}}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"scale":{"min":2,"max":8,"metric":"cpu","target":70}}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"scale":{"max":1},"replicas":1}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"scale":{"min":0,"max":0}}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"scale":{"min":0,"max":3,"idleAfter":0.5}}`,
		// Secrets and traffic.
		`{"name":"s","command":["x"],"secrets":["db-password","api-key"]}`,
		`{"name":"s","command":["x"],"secrets":["db-password","db-password"]}`,
		`{"name":"s","command":["x"],"secrets":["Bad"]}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"traffic":[{"revision":1,"percent":90},{"tag":"latest","percent":10}]}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"traffic":[{"revision":1,"percent":0},{"tag":"latest","percent":100}]}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"traffic":[{"revision":3,"tag":"latest","percent":100}]}`,
		`{"name":"w","command":["x"],"traffic":[{"tag":"latest","percent":100}]}`,
		// Gradual rollout.
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"rollout":{}}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"rollout":{"stepPercent":10,"interval":"30s","maxErrorPercent":1,"minRequests":100}}`,
		`{"name":"w","command":["x"],"invocation":{"mode":"http"},"rollout":{"interval":0.5}}`,
		`{"name":"w","command":["x"],"rollout":{"stepPercent":101}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Spec
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(&s) != nil {
			return
		}
		if s.Validate() != nil {
			return
		}
		checkKubernetes(t, s)
		d := s.WithDefaults()
		if err := d.Validate(); err != nil {
			t.Fatalf("%s: valid, but not with its defaults: %v", data, err)
		}
		if d2 := d.WithDefaults(); !sameJSON(t, d, d2) {
			t.Fatalf("%s: WithDefaults is not idempotent", data)
		}
		if ro := d.Rollout; ro != nil {
			if ro.StepPercent < 1 || ro.StepPercent > 100 || time.Duration(ro.Interval) < MinRolloutInterval || time.Duration(ro.Interval) > MaxRolloutInterval ||
				ro.MaxErrorPercent < 1 || ro.MaxErrorPercent > 100 || ro.MinRequests < 1 || d.Mode() != ModeHTTP || len(d.Traffic) > 0 {
				t.Fatalf("%s: rollout %+v out of its bounds", data, ro)
			}
		}
		if to := s.Timeout(); to <= 0 || to > MaxTimeout {
			t.Fatalf("%s: timeout %s", data, to)
		}
		if r := s.ReplicaCount(); r < 0 || r > MaxReplicas {
			t.Fatalf("%s: %d replicas", data, r)
		}
		if sc := d.ScaleSpec(); sc != nil {
			if sc.Min < 0 || sc.Max < sc.Min || sc.Max > MaxReplicas || sc.Target < 1 || sc.IdleAfter <= 0 {
				t.Fatalf("%s: scale %+v out of its bounds", data, sc)
			}
			if i := sc.Initial(); i < sc.Min || i > sc.Max {
				t.Fatalf("%s: initial %d outside [%d, %d]", data, i, sc.Min, sc.Max)
			}
			if d.Replicas != nil || d.Autoscaling != nil {
				t.Fatalf("%s: older fields stored beside scale", data)
			}
			if s.Paused() != (sc.Max == 0) || d.Paused() != s.Paused() {
				t.Fatalf("%s: Paused %v disagrees with the scale %+v", data, s.Paused(), sc)
			}
		} else if d.Mode() == ModeHTTP {
			t.Fatalf("%s: an http function without a scale", data)
		}
		checkSecretsAndTraffic(t, data, d)
		p := s.Retry()
		if p.MaxAttempts < 1 || p.MaxAttempts > MaxAttemptsLimit {
			t.Fatalf("%s: %d attempts", data, p.MaxAttempts)
		}
		for attempt := 1; attempt <= MaxAttemptsLimit+1; attempt++ {
			for _, jitter := range []float64{0, 0.5, math.Nextafter(1, 0)} {
				if d := p.Delay(attempt, jitter); d < 0 || d > MaxRetryDelay {
					t.Fatalf("%s: delay %s before attempt %d", data, d, attempt+1)
				}
			}
		}
		checkTriggers(t, data, s, d)
		// Stored as JSON and read back (the functions bucket, the API).
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var back Spec
		dec = json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("%s: stored as %s, which does not read back: %v", data, b, err)
		}
		if err := back.Validate(); err != nil || !sameJSON(t, d, back) {
			t.Fatalf("%s: stored as %s, read back differently (%v)", data, b, err)
		}
	})
}

// checkTriggers: the triggers of a valid spec are usable as they are and
// once defaulted: the same keys (the state and invocation ids hang on
// them), distinct keys, a cron schedule that parses with fire times after
// now, a subject that makes a well-formed full subject, and a route only in
// http mode.
func checkTriggers(t *testing.T, data []byte, s, d Spec) {
	t.Helper()
	if s.HTTP != nil && s.Mode() != ModeHTTP {
		t.Fatalf("%s: http on a %s function", data, s.Mode())
	}
	if a := d.RouteAuth(); a != HTTPAuthToken && a != HTTPAuthPublic {
		t.Fatalf("%s: route auth %q", data, a)
	}
	if len(s.Triggers) > MaxTriggers {
		t.Fatalf("%s: %d triggers", data, len(s.Triggers))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := map[string]bool{}
	for i, tr := range s.Triggers {
		k := tr.Key()
		if d.Triggers[i].Key() != k {
			t.Fatalf("%s: trigger %d has key %s, %s once defaulted", data, i, k, d.Triggers[i].Key())
		}
		if keys[k] {
			t.Fatalf("%s: two triggers with key %s", data, k)
		}
		keys[k] = true
		switch tr.Type {
		case TriggerCron:
			if _, err := tr.CronSchedule(); err != nil {
				t.Fatalf("%s: cron trigger %d: %v", data, i, err)
			}
			prev := now
			for _, f := range tr.NextFires(now, 3) {
				if !f.After(prev) {
					t.Fatalf("%s: cron trigger %d fires at %v, not after %v", data, i, f, prev)
				}
				if f.Sub(prev) < MinCronInterval && prev != now {
					t.Fatalf("%s: cron trigger %d fires %v apart", data, i, f.Sub(prev))
				}
				prev = f
			}
		case TriggerNATS:
			if err := ValidateTriggerSubject(tr.Subject); err != nil {
				t.Fatalf("%s: nats trigger %d: %v", data, i, err)
			}
		case TriggerEvent:
			if tr.Filter == nil {
				t.Fatalf("%s: event trigger %d without a filter", data, i)
			}
		default:
			t.Fatalf("%s: trigger %d of type %q", data, i, tr.Type)
		}
	}
	if st := d.TriggerStatuses(nil, now); len(st) != len(s.Triggers) {
		t.Fatalf("%s: %d statuses of %d triggers", data, len(st), len(s.Triggers))
	}
}

// checkKubernetes fails unless Kubernetes' own validation accepts what a
// valid spec puts in its objects.
func checkKubernetes(t *testing.T, s Spec) {
	t.Helper()
	if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 {
		t.Fatalf("name %q: %v", s.Name, errs)
	}
	for k, v := range s.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Fatalf("label key %q: %v", k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Fatalf("label value %q: %v", v, errs)
		}
	}
	for k := range s.Env {
		if errs := validation.IsEnvVarName(k); len(errs) > 0 {
			t.Fatalf("env %q: %v", k, errs)
		}
	}
	if s.Resources != nil {
		for _, m := range []map[string]string{s.Resources.Requests, s.Resources.Limits} {
			for res, q := range m {
				if _, err := resource.ParseQuantity(q); err != nil {
					t.Fatalf("resources %s %q: %v", res, q, err)
				}
			}
		}
	}
}

func sameJSON(t *testing.T, a, b Spec) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("marshal: %v %v", err1, err2)
	}
	return bytes.Equal(ja, jb)
}

// FuzzDuration: a duration field never panics; what it accepts has the
// sign of what was written (no wrap-around past the int64 range) and reads
// back the same after being written.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{
		`"30s"`, `"1m30s"`, `30`, `1.5`, `0`, `-1`, `"-1s"`, `1e300`, `-1e300`, `9.3e9`, `9.2e9`, `1e-10`,
		`"2562047h47m16.854775807s"`, `"2562048h"`, `null`, `true`, `{}`, `[]`, `""`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Duration
		if d.UnmarshalJSON(data) != nil {
			return
		}
		var v any
		if json.Unmarshal(data, &v) == nil {
			if x, ok := v.(float64); ok && ((x > 0 && d < 0) || (x < 0 && d > 0)) {
				t.Fatalf("%s read as %s", data, time.Duration(d))
			}
			if x, ok := v.(string); ok && strings.HasPrefix(x, "-") != (d < 0) && d != 0 {
				t.Fatalf("%s read as %s", data, time.Duration(d))
			}
		}
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var back Duration
		if err := back.UnmarshalJSON(b); err != nil || back != d {
			t.Fatalf("%s written as %s, read back as %s (%v)", data, b, time.Duration(back), err)
		}
	})
}

// checkSecretsAndTraffic: a valid spec names secrets that are file names,
// and its traffic adds up to 100, runs its revisions under names that are
// DNS labels and parse back, and routes every pick to one of them.
func checkSecretsAndTraffic(t *testing.T, data []byte, s Spec) {
	for _, n := range s.Secrets {
		if ValidateSecretName(n) != nil || strings.ContainsAny(n, "/.") {
			t.Fatalf("%s: secret name %q", data, n)
		}
	}
	if len(s.Traffic) == 0 {
		return
	}
	sum := 0
	rec := Record{Spec: s, Generation: 1000000, TrafficSpecs: map[int64]Spec{}}
	for _, tt := range s.Traffic {
		sum += tt.Percent
		if tt.Tag == "" {
			rec.TrafficSpecs[tt.Revision] = s
			rn := RevisionName(s.Name, tt.Revision)
			if ValidateName(rn) != nil {
				t.Fatalf("%s: revision %d runs as %q, not a valid name", data, tt.Revision, rn)
			}
			if name, rev, ok := ParseRevisionName(rn); !ok || name != s.Name || rev != tt.Revision {
				t.Fatalf("%s: %q parses as %q %d %v", data, rn, name, rev, ok)
			}
		}
	}
	if sum != 100 {
		t.Fatalf("%s: traffic adds up to %d", data, sum)
	}
	for i := range 100 {
		spec, rev, extra := rec.Route(float64(i) / 100)
		if extra && (spec.Traffic != nil || spec.Scale == nil || spec.Scale.Min < 1 || spec.Scale.Min != spec.Scale.Max || rec.TrafficSpecs[rev].Name == "") {
			t.Fatalf("%s: pick %d runs revision %d as %+v", data, i, rev, spec)
		}
		if !extra && rev != rec.Generation {
			t.Fatalf("%s: pick %d runs the latest as revision %d", data, i, rev)
		}
	}
}

func FuzzRevisionName(f *testing.F) {
	for _, s := range []string{"web--r3", "web", "--r1", "a--r01", "a--r-1", "a--r99999999999999999999", "a--r1--r2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		name, rev, ok := ParseRevisionName(n)
		if !ok {
			return
		}
		if rev < 1 || name == "" || RevisionName(name, rev) != n {
			t.Fatalf("%q parsed as %q %d, which names %q", n, name, rev, RevisionName(name, rev))
		}
	})
}
