// Package function defines the function model of the API (openapi.json): the
// desired spec a user hands in, the status EventFlow observes, and the pure
// validation rules both the gateway and the runtimes rely on.
package function

import (
	"time"
)

// Invocation modes.
const (
	ModeJob  = "job"
	ModeHTTP = "http"
)

// Phases of a function's lifecycle.
type Phase string

const (
	PhasePending   Phase = "Pending"
	PhaseDeploying Phase = "Deploying"
	PhaseReady     Phase = "Ready"
	PhaseFailed    Phase = "Failed"
	PhaseDeleting  Phase = "Deleting"
)

// Defaults applied when the user leaves a field out.
const (
	DefaultTimeout  = 30 * time.Second
	MaxTimeout      = 15 * time.Minute
	DefaultReplicas = 1
	MaxReplicas     = 100
)

// Spec is what a user writes: the desired state of a function.
type Spec struct {
	Name    string            `json:"name"`
	Image   string            `json:"image,omitempty"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// Replicas is the older form of a fixed count: accepted and mapped to
	// Scale {min: N, max: N}, never stored.
	Replicas   *int32            `json:"replicas,omitempty"`
	Invocation Invocation        `json:"invocation"`
	Resources  *Resources        `json:"resources,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Scale (http mode) is how many instances run: fixed, scaled to zero
	// and back, or following load (scale.go).
	Scale *Scale `json:"scale,omitempty"`
	// Autoscaling is the older form of Scale with metric cpu: accepted and
	// mapped, never stored.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// HTTP is the route of an http-mode function (/fn/<tenant>/<name>/).
	HTTP *HTTP `json:"http,omitempty"`
	// Triggers invoke the function asynchronously on a schedule, on
	// messages of the tenant's NATS subjects, or on lifecycle events.
	Triggers []Trigger `json:"triggers,omitempty"`
	// Secrets names the tenant's secrets the function reads: one read-only
	// file per secret, named as it, in the directory $EVENTFLOW_SECRETS_DIR
	// (never in the environment).
	Secrets []string `json:"secrets,omitempty"`
	// Traffic splits an http-mode function's invocations between kept
	// revisions and the latest by percent (traffic.go); none: all go to
	// the latest.
	Traffic []TrafficTarget `json:"traffic,omitempty"`
	// Rollout moves an http-mode function's traffic to a new revision
	// gradually, rolling back on errors (rollout.go); none: an update
	// takes all traffic at once.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// Autoscaling bounds of an http-mode function (a HorizontalPodAutoscaler
// on Kubernetes; the process runtime keeps replicas fixed).
type Autoscaling struct {
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilization in percent of the CPU request (default 80).
	TargetCPUUtilization int32 `json:"targetCPUUtilization,omitempty"`
}

// Invocation says how the function is run when invoked.
type Invocation struct {
	Mode    string   `json:"mode,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// Retry of failed async invocations (defaults: 3 attempts, 1s doubling
	// to 1m, on every kind of failure).
	Retry *RetryPolicy `json:"retry,omitempty"`
	// MaxConcurrency bounds the function's async invocations running at
	// once, across every invoker (0: no bound of its own).
	MaxConcurrency int `json:"maxConcurrency,omitempty"`
}

// Resources are Kubernetes-style quantities ("100m", "128Mi"). The process
// runtime records them; the Kubernetes runtime applies them.
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// Status is what EventFlow observed. Only the deployer writes it.
type Status struct {
	Phase Phase `json:"phase"`
	// ReadyReplicas are the instances ready to serve (0 when scaled to
	// zero); Replicas the desired count (http mode).
	ReadyReplicas      int32     `json:"readyReplicas"`
	Replicas           int32     `json:"replicas"`
	Message            string    `json:"message,omitempty"`
	ObservedGeneration int64     `json:"observedGeneration"`
	UpdatedAt          time.Time `json:"updatedAt,omitzero"`
	// URL is the path of an http-mode function's route on the gateway
	// (set when the API answers, not stored).
	URL string `json:"url,omitempty"`
	// Endpoints are where the runtime serves an http-mode function's ready
	// instances (base URLs), for the gateway's route: stored by the
	// deployer, never shown by the API.
	Endpoints []string `json:"endpoints,omitempty"`
	// RevisionEndpoints are where the revisions a traffic split runs
	// beside the latest serve (by revision number), for the route to
	// split as the invoker does: stored by the deployer, never shown by
	// the API.
	RevisionEndpoints map[int64][]string `json:"revisionEndpoints,omitempty"`
	// LastScale is the scaler's last change of Replicas and why.
	LastScale *ScaleDecision `json:"lastScale,omitempty"`
	// Triggers is each trigger's state (set when the API answers from the
	// invoker's trigger records, not stored here).
	Triggers []TriggerStatus `json:"triggers,omitempty"`
	// Rollout is where the function's gradual rollout stands (set when the
	// API answers, from the record).
	Rollout *RolloutState `json:"rollout,omitempty"`
}

// Function is the API representation: the spec plus read-only fields.
type Function struct {
	Spec
	Tenant     string    `json:"tenant"`
	Generation int64     `json:"generation"`
	Status     Status    `json:"status"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Record is the desired state as stored in the functions bucket. Deleting is
// set by a delete request; the deployer removes the record once the runtime
// has let go of everything.
type Record struct {
	Spec       Spec      `json:"spec"`
	Tenant     string    `json:"tenant"`
	Generation int64     `json:"generation"`
	Deleting   bool      `json:"deleting,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Change is why the generation last went up (its revision's cause).
	Change Change `json:"change,omitzero"`
	// TrafficSpecs are the specs of the revisions spec.traffic names
	// (other than the latest), copied when the spec was stored, so the
	// deployer and the invoker need no other read to run and route them.
	TrafficSpecs map[int64]Spec `json:"trafficSpecs,omitempty"`
	// Rollout is the function's gradual rollout (rollout.go), kept until
	// an update that starts none: while it splits, it is the traffic split
	// (Traffic).
	Rollout *RolloutState `json:"rollout,omitempty"`
}

// View merges the desired record and the observed status into what the API
// shows. A status older than the spec means the change is not yet picked up,
// so the phase is Pending (or Deleting), which gives read-your-writes.
func View(rec Record, st *Status) Function {
	f := Function{
		Spec:       rec.Spec.scaleMapped(),
		Tenant:     rec.Tenant,
		Generation: rec.Generation,
		CreatedAt:  rec.CreatedAt,
		UpdatedAt:  rec.UpdatedAt,
	}
	if st != nil {
		f.Status = *st
	}
	f.Status.Endpoints, f.Status.RevisionEndpoints = nil, nil
	f.Status.Rollout = rec.Rollout
	if rec.Spec.Mode() == ModeHTTP {
		f.Status.URL = RoutePath(rec.Tenant, rec.Spec.Name)
	}
	switch {
	case rec.Deleting:
		f.Status.Phase = PhaseDeleting
	case st == nil || st.ObservedGeneration < rec.Generation:
		f.Status.Phase = PhasePending
	}
	return f
}

// scaleMapped is the spec with the older replicas and autoscaling shown as
// the scale they map to, as WithDefaults stores them now: records stored
// before scale existed answer (and are edited, e.g. by the console) in the
// one form.
func (s Spec) scaleMapped() Spec {
	if s.Replicas == nil && s.Autoscaling == nil {
		return s
	}
	s.Scale = s.ScaleSpec()
	s.Replicas, s.Autoscaling = nil, nil
	return s
}

// RoutePath is the gateway path of an http-mode function's route.
func RoutePath(tenant, name string) string { return RoutePrefix + tenant + "/" + name + "/" }

// RoutePrefix starts every function route's path on the gateway.
const RoutePrefix = "/fn/"

// ReplicaCount is how many instances the function starts with: the
// scale's initial count in http mode, 0 in job mode.
func (s Spec) ReplicaCount() int32 { return s.ScaleSpec().Initial() }

// Mode returns the invocation mode with the default applied.
func (s Spec) Mode() string {
	if s.Invocation.Mode == "" {
		return ModeJob
	}
	return s.Invocation.Mode
}

// Timeout returns the invocation timeout with the default applied.
func (s Spec) Timeout() time.Duration {
	if s.Invocation.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(s.Invocation.Timeout)
}

// WithDefaults returns the spec with every defaulted field filled in, so what
// is stored and shown is explicit.
func (s Spec) WithDefaults() Spec {
	// The older replicas and autoscaling are stored as the scale they
	// map to: one source of truth for every reader.
	s.Scale = s.ScaleSpec()
	s.Replicas, s.Autoscaling = nil, nil
	s.Invocation.Mode = s.Mode()
	s.Invocation.Timeout = Duration(s.Timeout())
	if s.Invocation.Mode == ModeHTTP {
		s.HTTP = &HTTP{Auth: s.RouteAuth()}
	}
	if len(s.Triggers) > 0 {
		ts := make([]Trigger, len(s.Triggers))
		for i, t := range s.Triggers {
			ts[i] = t.withDefaults()
			if t.Filter != nil {
				f := *t.Filter
				ts[i].Filter = &f
			}
		}
		s.Triggers = ts
	}
	if s.Rollout != nil {
		r := s.Rollout.WithDefaults()
		s.Rollout = &r
	}
	return s
}
