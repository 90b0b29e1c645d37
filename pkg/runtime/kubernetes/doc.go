// Package kubernetes is the Kubernetes runtime: functions become objects in
// a namespace per tenant, built from the spec by pure functions (objects.go)
// and applied with server-side apply under one field manager.
//
//   - http mode: a Deployment (replicas serving on $PORT=8080) and a
//     ClusterIP Service; an invocation is a POST to a ready pod. The
//     Deployment's replicas are not applied with the rest: Scale sets them
//     through the scale subresource under a field manager of its own
//     (Config.ScaleFieldManager), or, with scale.metric cpu, a
//     HorizontalPodAutoscaler does. A pod removed drains first (a preStop
//     sleep while the endpoints drop it, then the function's timeout).
//   - job mode: a PodTemplate (validated by the API server at deploy time,
//     no running pods); an invocation is a Job built from it.
//   - secrets (either mode): a Secret <function>-secrets with one key per
//     secret the spec names (read through Config.Secrets), mounted
//     read-only at runtime.SecretsMountPath ($EVENTFLOW_SECRETS_DIR); the
//     pod template's eventflow.io/secrets-version annotation (names and
//     versions, never values) rolls the pods when a secret is rotated.
package kubernetes
