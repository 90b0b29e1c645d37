package functionfile

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/eventflow/eventflow/pkg/function"
)

// SchemaID is the schema's $id.
const SchemaID = "https://eventflow.io/schemas/function-file.json"

//go:embed function-file.schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of one document of a
// function file. It is generated from the Go types (generateSchema); a test
// keeps the committed copy current.
func Schema() []byte { return bytes.Clone(schemaJSON) }

// schema is the part of JSON Schema the generator uses, its fields in the
// order a reader expects them.
type schema struct {
	Schema               string     `json:"$schema,omitempty"`
	ID                   string     `json:"$id,omitempty"`
	Title                string     `json:"title,omitempty"`
	Description          string     `json:"description,omitempty"`
	Deprecated           bool       `json:"deprecated,omitempty"`
	Type                 any        `json:"type,omitempty"`
	Const                string     `json:"const,omitempty"`
	Enum                 []string   `json:"enum,omitempty"`
	Pattern              string     `json:"pattern,omitempty"`
	MaxLength            int        `json:"maxLength,omitempty"`
	Minimum              *int64     `json:"minimum,omitempty"`
	Maximum              *int64     `json:"maximum,omitempty"`
	Items                *schema    `json:"items,omitempty"`
	MaxItems             int        `json:"maxItems,omitempty"`
	OneOf                []*schema  `json:"oneOf,omitempty"`
	AnyOf                []*schema  `json:"anyOf,omitempty"`
	Not                  *schema    `json:"not,omitempty"`
	Properties           properties `json:"properties,omitempty"`
	Required             []string   `json:"required,omitempty"`
	PropertyNames        *schema    `json:"propertyNames,omitempty"`
	MaxProperties        int        `json:"maxProperties,omitempty"`
	AdditionalProperties any        `json:"additionalProperties,omitempty"`
}

type property struct {
	name   string
	schema *schema
}

// properties keep the struct's field order (a map would sort them).
type properties []property

func (ps properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.name)
		v, err := json.Marshal(p.schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func bound(v int64) *int64 { return &v }

// Patterns mirror function/validate.go, which keeps its expressions private.
const (
	dns1123Pattern    = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	envNamePattern    = `^[A-Za-z_][A-Za-z0-9_]*$`
	labelValuePattern = `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
	quantityPattern   = `^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`
	// A Go duration ("30s", "1m30s"), which time.ParseDuration reads.
	durationPattern = `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
)

// fieldDocs describe the fields (by document path) and add what the types
// do not say: bounds, enums, patterns. Paths of function.Spec fields are
// under spec.
var fieldDocs = map[string]schema{
	"apiVersion":    {Description: "The version of the function file format.", Const: APIVersion},
	"kind":          {Description: "What the document describes.", Const: Kind},
	"metadata":      {Description: "The function's name and labels."},
	"metadata.name": {Description: "The function's name: lower case letters, digits and '-', starting and ending with a letter or digit.", Pattern: dns1123Pattern, MaxLength: function.MaxNameLen},
	"metadata.labels": {Description: "Labels to select functions by (Kubernetes label keys and values).", MaxProperties: function.MaxLabels,
		AdditionalProperties: &schema{Pattern: labelValuePattern, MaxLength: 63}},
	"spec": {Description: "The function's spec, as the API takes it (without name and labels, which are metadata's).",
		// scale, or the older replicas/autoscaling it replaces: not both.
		Not: &schema{AnyOf: []*schema{{Required: []string{"scale", "replicas"}}, {Required: []string{"scale", "autoscaling"}}}}},
	"spec.image":   {Description: "The container image (Kubernetes runtime); the process runtime records it only.", MaxLength: 512},
	"spec.command": {Description: "The command to run: a list of arguments, or one shell-like line split into arguments (quotes and backslashes as in sh; nothing is expanded)."},
	"spec.env":     {Description: "Environment variables of the function. Values may use ${VAR} and ${VAR:-default} from the deploying shell's environment; $$ is a literal $.", MaxProperties: function.MaxEnvVars, PropertyNames: &schema{Pattern: envNamePattern}},
	"spec.replicas": {Description: "Deprecated, mapped to scale: the older form of a fixed count, read as scale {min: N, max: N}. Give scale or replicas/autoscaling, not both.",
		Deprecated: true, Minimum: bound(0), Maximum: bound(function.MaxReplicas)},
	"spec.invocation": {Description: "How the function is run when invoked."},
	"spec.resources":  {Description: "Kubernetes-style resource quantities (\"100m\", \"128Mi\"); the process runtime records them only."},
	"spec.autoscaling": {Description: "Deprecated, mapped to scale: the older form of scale with metric cpu, read as {min: minReplicas, max: maxReplicas, target: targetCPUUtilization, metric: cpu}. Give scale or replicas/autoscaling, not both.",
		Deprecated: true},
	"spec.scale": {Description: "Http mode only: how many instances run, between min and max, aiming at target units of metric per instance. min 0 scales the function to zero after idleAfter without work; the first request wakes it again. min equal to max is a fixed count. Left out: one instance (or what replicas/autoscaling map to)."},
	"spec.scale.min": {Description: "The fewest instances; 0 allows scaling to zero (not with metric cpu, which needs at least 1).",
		Minimum: bound(0), Maximum: bound(function.MaxReplicas)},
	"spec.scale.max": {Description: "The most instances; at least min.", Minimum: bound(0), Maximum: bound(function.MaxReplicas)},
	"spec.scale.target": {Description: "Units of metric per instance to aim at: requests in flight (concurrency, default 10), queued invocations (queue, default 10), or percent of the CPU request (cpu: 1 to 100, default 80). 0 takes the default.",
		Minimum: bound(0), Maximum: bound(function.MaxScaleTarget)},
	"spec.scale.metric": {Description: "concurrency (default): requests in flight per instance; queue: the function's queued async invocations per instance; cpu: CPU use, left to Kubernetes' HorizontalPodAutoscaler (the process runtime runs min instances).",
		Enum: []string{function.MetricConcurrency, function.MetricQueue, function.MetricCPU}},
	"spec.scale.idleAfter": {Description: "How long the load must stay below what the current count serves before instances are removed (default 30s, from 1s to 1h)."},
	"spec.invocation.mode": {Description: "job (default): each invocation runs the command, the body is its stdin; http: instances (see scale) serve HTTP on $PORT.",
		Enum: []string{function.ModeJob, function.ModeHTTP}},
	"spec.invocation.timeout":               {Description: "The longest an invocation may run (default 30s, at most 15m)."},
	"spec.invocation.retry":                 {Description: "Retries of failed async invocations (defaults: 3 attempts, 1s doubling to 1m, on every kind of failure)."},
	"spec.invocation.maxConcurrency":        {Description: "At most this many async invocations at once, across every invoker (0: no bound of its own).", Minimum: bound(0), Maximum: bound(function.MaxConcurrencyLimit)},
	"spec.invocation.retry.maxAttempts":     {Description: "Attempts in all, the first included.", Minimum: bound(0), Maximum: bound(function.MaxAttemptsLimit)},
	"spec.invocation.retry.initialDelay":    {Description: "The wait before the first retry, doubled after each."},
	"spec.invocation.retry.maxDelay":        {Description: "The longest wait between attempts."},
	"spec.invocation.retry.retryOn":         {Description: "The outcomes that are retried (default: all)."},
	"spec.resources.requests":               {Description: "What the function is guaranteed.", PropertyNames: &schema{Enum: []string{"cpu", "memory"}}, AdditionalProperties: &schema{Pattern: quantityPattern}},
	"spec.resources.limits":                 {Description: "The most the function may use.", PropertyNames: &schema{Enum: []string{"cpu", "memory"}}, AdditionalProperties: &schema{Pattern: quantityPattern}},
	"spec.autoscaling.minReplicas":          {Description: "The fewest instances (scale.min).", Minimum: bound(1), Maximum: bound(function.MaxReplicas)},
	"spec.autoscaling.maxReplicas":          {Description: "The most instances (scale.max).", Minimum: bound(1), Maximum: bound(function.MaxReplicas)},
	"spec.autoscaling.targetCPUUtilization": {Description: "The CPU use to keep, in percent of the CPU request (default 80; scale.target).", Minimum: bound(0), Maximum: bound(100)},
	"spec.invocation.retry.retryOn[]":       {Enum: function.RetryOnAll},
	"spec.http":                             {Description: "Http mode only: the function's public route, /fn/<tenant>/<name>/ (and /async-fn/..., which queues the request)."},
	"spec.http.auth": {Description: "token (default): callers send a bearer token of the tenant with scope functions:invoke; public: anyone may call the route.",
		Enum: []string{function.HTTPAuthToken, function.HTTPAuthPublic}},
	"spec.triggers": {Description: "Invoke the function asynchronously on a schedule (cron), on messages of the tenant's NATS subjects (nats) or on lifecycle events (event); no two the same.",
		MaxItems: function.MaxTriggers},
	"spec.triggers[].type": {Description: "cron (schedule, timezone, body, missed), nats (subject) or event (filter); a field of another type is refused.",
		Enum: []string{function.TriggerCron, function.TriggerNATS, function.TriggerEvent}},
	"spec.triggers[].schedule": {Description: "cron, required: a 5-field cron expression, a descriptor (@hourly, @daily...) or @every <duration> (at least 1s)."},
	"spec.triggers[].timezone": {Description: "cron: the IANA time zone of the schedule (default UTC)."},
	"spec.triggers[].body":     {Description: "cron: the payload of every tick (at most 64 KiB).", MaxLength: function.MaxTriggerBody},
	"spec.triggers[].missed": {Description: "cron: ticks missed while the platform was down are skipped (skip, default), or the latest runs once (once).",
		Enum: []string{function.MissedSkip, function.MissedOnce}},
	"spec.triggers[].subject": {Description: "nats, required: a subject relative to the tenant's namespace eventflow.in.<tenant>. ('*' one token, a last '>' the rest).",
		MaxLength: function.MaxTriggerSubject},
	"spec.triggers[].filter":          {Description: "event, required: which of the tenant's lifecycle events fire it; an empty field or * matches anything."},
	"spec.triggers[].filter.type":     {Description: "An event type (io.eventflow.invocation.failed) or a prefix ending in .* (io.eventflow.invocation.*).", MaxLength: 200},
	"spec.triggers[].filter.function": {Description: "A function name of the tenant, or *.", MaxLength: 200},
	"spec.triggers[].filter.source":   {Description: "The event's source (/eventflow/invoker...), or *.", MaxLength: 200},
	"spec.secrets": {Description: "The tenant's secrets the function reads (eventflow secret set NAME makes one): each is a read-only file named as the secret in the directory $EVENTFLOW_SECRETS_DIR, never an environment variable. Each must exist when the function is deployed; replacing a secret's value rolls the functions that name it.",
		MaxItems: function.MaxSecrets},
	"spec.secrets[]": {Pattern: dns1123Pattern, MaxLength: function.MaxNameLen},
	"spec.traffic": {Description: "http mode: split the invocations between kept revisions (eventflow revisions NAME) and the latest by percent, adding up to 100; each record names the revision that served it. A revision at 0 is drained and stopped.",
		MaxItems: function.MaxTrafficTargets},
	"spec.traffic[].revision":      {Description: "A kept revision; it runs beside the latest at a fixed count. Give revision or tag, not both.", Minimum: bound(1), Maximum: bound(999999)},
	"spec.traffic[].tag":           {Description: "latest: the function's current revision.", Enum: []string{function.TagLatest}},
	"spec.traffic[].percent":       {Description: "Its share of the invocations, 0 to 100.", Minimum: bound(0), Maximum: bound(100)},
	"spec.rollout":                 {Description: "http mode, not with traffic: an update that changes what runs takes stepPercent of the traffic, then stepPercent more each interval, beside the revision that served everything so far; too many failures in an interval roll it back to that revision by itself."},
	"spec.rollout.stepPercent":     {Description: "The share moved to the new revision each interval (default 20).", Minimum: bound(0), Maximum: bound(100)},
	"spec.rollout.interval":        {Description: "The time between steps (default 1m, from 1s to 1h)."},
	"spec.rollout.maxErrorPercent": {Description: "More of the new revision's requests failing in an interval (a failed run, a 5xx, a timeout) rolls it back (default 5).", Minimum: bound(0), Maximum: bound(100)},
	"spec.rollout.minRequests":     {Description: "Fewer requests to the new revision in an interval are not judged: the rollout goes on by time (default 10).", Minimum: bound(0), Maximum: bound(1000000)},
}

// optional are fields without omitempty that a file may leave out all the
// same: their zero value is the default.
var optional = map[string]bool{"spec.invocation": true}

// generateSchema builds the schema of one document from the Go types.
func generateSchema() ([]byte, error) {
	root, err := typeSchema(documentType, "")
	if err != nil {
		return nil, err
	}
	root.Schema = "https://json-schema.org/draft/2020-12/schema"
	root.ID = SchemaID
	root.Title = "EventFlow function file"
	root.Description = "One document of a function file (eventflow deploy -f): a function of apiVersion " + APIVersion + ", kind " + Kind + ". A file holds one or more such documents separated by ---."
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func typeSchema(t reflect.Type, path string) (*schema, error) {
	s := &schema{}
	if d, ok := fieldDocs[path]; ok {
		*s = d
	}
	switch {
	case path == "spec.command":
		s.OneOf = []*schema{
			{Type: "array", Items: &schema{Type: "string"}, MaxItems: function.MaxCommandArgs},
			{Type: "string"},
		}
		return s, nil
	case t == durationType:
		// A bare number is seconds, as in the API.
		s.Type = []string{"string", "number"}
		s.Pattern = durationPattern
		return s, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), path)
	case reflect.String:
		s.Type = "string"
	case reflect.Bool:
		s.Type = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s.Type = "integer"
	case reflect.Float32, reflect.Float64:
		s.Type = "number"
	case reflect.Slice:
		s.Type = "array"
		items, err := typeSchema(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		s.Items = items
	case reflect.Map:
		if t.Key().Kind() != reflect.String || t.Elem().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: only maps of strings to strings are supported", path)
		}
		s.Type = "object"
		values := &schema{}
		if ap, ok := s.AdditionalProperties.(*schema); ok {
			*values = *ap
		}
		// Plain numbers and booleans read as their text (PORT_X: 8080).
		values.Type = []string{"string", "number", "boolean"}
		s.AdditionalProperties = values
	case reflect.Struct:
		s.Type = "object"
		s.AdditionalProperties = false
		for _, f := range fieldsOf(t) {
			fpath := join(path, f.name)
			if _, ok := refused[fpath]; ok {
				continue
			}
			fs, err := typeSchema(f.typ, fpath)
			if err != nil {
				return nil, err
			}
			s.Properties = append(s.Properties, property{f.name, fs})
			if !f.omitempty && f.typ.Kind() != reflect.Pointer && !optional[fpath] {
				s.Required = append(s.Required, f.name)
			}
		}
	default:
		return nil, fmt.Errorf("%s: type %s is not supported", path, t)
	}
	return s, nil
}
