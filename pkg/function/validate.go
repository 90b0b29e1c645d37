package function

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every validation error, so callers map it to 400.
var ErrInvalid = errors.New("invalid")

// FieldError names the field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
func (e *FieldError) Unwrap() error { return ErrInvalid }

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelValue   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelName    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// dns1123Subdomain is a label key's prefix, as Kubernetes has it.
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	quantity         = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
)

// Limits that keep one function's record small and Kubernetes-compatible.
const (
	MaxNameLen     = 63
	MaxTenantLen   = 40 // leaves room for a namespace prefix within 63
	MaxCommandArgs = 256
	MaxEnvVars     = 256
	MaxLabels      = 64
	// MaxConcurrencyLimit bounds invocation.maxConcurrency (and is the
	// bound of a function that sets none).
	MaxConcurrencyLimit = 1000
	// MaxSecrets bounds the secrets one function names.
	MaxSecrets = 32
)

// ValidateName checks a function name: a DNS-1123 label of at most 63.
func ValidateName(name string) error {
	return validateLabel("name", name, MaxNameLen)
}

// ValidateSecretName checks a secret's name: a DNS-1123 label of at most
// 63, which is also its file name in the function's secrets directory.
func ValidateSecretName(name string) error {
	return validateLabel("secret name", name, MaxNameLen)
}

// ValidateTenant checks a tenant id: a DNS-1123 label of at most 40, so that
// "<prefix><tenant>" still makes a valid namespace.
func ValidateTenant(tenant string) error {
	return validateLabel("tenant", tenant, MaxTenantLen)
}

func validateLabel(field, v string, max int) error {
	switch {
	case v == "":
		return &FieldError{field, "is required"}
	case len(v) > max:
		return &FieldError{field, fmt.Sprintf("must be at most %d characters", max)}
	case !dns1123Label.MatchString(v):
		return &FieldError{field, fmt.Sprintf("%q must consist of lower case letters, digits and '-', and start and end with a letter or digit", v)}
	}
	return nil
}

// Validate checks a spec as the user wrote it (before defaults).
func (s Spec) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if strings.TrimSpace(s.Image) == "" && len(s.Command) == 0 {
		return &FieldError{"image", "an image or a command is required"}
	}
	if len(s.Image) > 512 {
		return &FieldError{"image", "must be at most 512 characters"}
	}
	if len(s.Command) > MaxCommandArgs {
		return &FieldError{"command", fmt.Sprintf("must have at most %d arguments", MaxCommandArgs)}
	}
	if len(s.Command) > 0 && strings.TrimSpace(s.Command[0]) == "" {
		return &FieldError{"command[0]", "must not be empty"}
	}
	if len(s.Env) > MaxEnvVars {
		return &FieldError{"env", fmt.Sprintf("must have at most %d variables", MaxEnvVars)}
	}
	for k := range s.Env {
		if !envName.MatchString(k) {
			return &FieldError{"env", fmt.Sprintf("%q is not a valid variable name (letters, digits and '_', not starting with a digit)", k)}
		}
		if k == "PORT" || strings.HasPrefix(k, "EVENTFLOW_") {
			return &FieldError{"env", fmt.Sprintf("%q is reserved: EventFlow sets PORT and EVENTFLOW_* itself", k)}
		}
	}
	if s.Replicas != nil && (*s.Replicas < 0 || *s.Replicas > MaxReplicas) {
		return &FieldError{"replicas", fmt.Sprintf("must be between 0 and %d", MaxReplicas)}
	}
	switch s.Invocation.Mode {
	case "", ModeJob, ModeHTTP:
	default:
		return &FieldError{"invocation.mode", fmt.Sprintf("%q is not a mode: use %q or %q", s.Invocation.Mode, ModeJob, ModeHTTP)}
	}
	if c := s.Invocation.MaxConcurrency; c < 0 || c > MaxConcurrencyLimit {
		return &FieldError{"invocation.maxConcurrency", fmt.Sprintf("must be between 0 (no bound) and %d", MaxConcurrencyLimit)}
	}
	if s.Invocation.Retry != nil {
		if err := s.Invocation.Retry.validate(); err != nil {
			return err
		}
	}
	if t := time.Duration(s.Invocation.Timeout); t < 0 || t > MaxTimeout {
		return &FieldError{"invocation.timeout", fmt.Sprintf("must be between 0 and %s", MaxTimeout)}
	}
	if a := s.Autoscaling; a != nil {
		switch {
		case s.Invocation.Mode != ModeHTTP:
			return &FieldError{"autoscaling", "applies to http mode only (job mode runs one pod per invocation)"}
		case a.MinReplicas < 1 || a.MinReplicas > MaxReplicas:
			return &FieldError{"autoscaling.minReplicas", fmt.Sprintf("must be between 1 and %d", MaxReplicas)}
		case a.MaxReplicas < a.MinReplicas || a.MaxReplicas > MaxReplicas:
			return &FieldError{"autoscaling.maxReplicas", fmt.Sprintf("must be between minReplicas and %d", MaxReplicas)}
		case a.TargetCPUUtilization < 0 || a.TargetCPUUtilization > 100:
			return &FieldError{"autoscaling.targetCPUUtilization", "must be a percentage from 1 to 100"}
		}
	}
	if err := s.validateScale(); err != nil {
		return err
	}
	if s.Resources != nil {
		for kind, m := range map[string]map[string]string{"requests": s.Resources.Requests, "limits": s.Resources.Limits} {
			for res, q := range m {
				if res != "cpu" && res != "memory" {
					return &FieldError{"resources." + kind, fmt.Sprintf("%q is not supported: use cpu or memory", res)}
				}
				if !quantity.MatchString(q) {
					return &FieldError{"resources." + kind + "." + res, fmt.Sprintf("%q is not a quantity like 100m or 128Mi", q)}
				}
			}
		}
	}
	if err := s.validateHTTP(); err != nil {
		return err
	}
	if err := s.validateTriggers(); err != nil {
		return err
	}
	if err := s.validateSecrets(); err != nil {
		return err
	}
	if err := s.validateTraffic(); err != nil {
		return err
	}
	if err := s.validateRollout(); err != nil {
		return err
	}
	if len(s.Labels) > MaxLabels {
		return &FieldError{"labels", fmt.Sprintf("must have at most %d labels", MaxLabels)}
	}
	for k, v := range s.Labels {
		if err := validateLabelPair(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s Spec) validateSecrets() error {
	if len(s.Secrets) > MaxSecrets {
		return &FieldError{"secrets", fmt.Sprintf("must name at most %d secrets", MaxSecrets)}
	}
	seen := make(map[string]bool, len(s.Secrets))
	for i, name := range s.Secrets {
		field := fmt.Sprintf("secrets[%d]", i)
		if err := validateLabel(field, name, MaxNameLen); err != nil {
			return err
		}
		if seen[name] {
			return &FieldError{field, fmt.Sprintf("%q is named twice", name)}
		}
		seen[name] = true
	}
	return nil
}

func validateLabelPair(k, v string) error {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix) {
			return &FieldError{"labels", fmt.Sprintf("key %q has an invalid prefix: it must be a DNS subdomain such as example.com (lower case letters, digits, '-' and '.'), at most 253 characters", k)}
		}
	}
	if name == "" || len(name) > 63 || !labelName.MatchString(name) {
		return &FieldError{"labels", fmt.Sprintf("key %q is not a valid label key", k)}
	}
	if len(v) > 63 || !labelValue.MatchString(v) {
		return &FieldError{"labels", fmt.Sprintf("value %q of %q is not a valid label value", v, k)}
	}
	return nil
}
