{{/* The prefix of every object's name: the release name when it already
says eventflow, else <release>-eventflow. */}}
{{- define "eventflow.fullname" -}}
{{- if contains "eventflow" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-eventflow" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "eventflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "eventflow.labels" -}}
helm.sh/chart: {{ include "eventflow.chart" .ctx }}
app.kubernetes.io/name: eventflow
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/part-of: eventflow
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* The labels selectors use; every pod of the release has the first three. */}}
{{- define "eventflow.selectorLabels" -}}
app.kubernetes.io/name: eventflow
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/part-of: eventflow
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "eventflow.image" -}}
{{- printf "%s/%s:%s" .ctx.Values.image.registry .service (.ctx.Values.image.tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}

{{- define "eventflow.natsURL" -}}
{{- if .Values.nats.url -}}
{{- .Values.nats.url -}}
{{- else -}}
{{- printf "nats://%s-nats:4222" (include "eventflow.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "eventflow.streamReplicas" -}}
{{- if gt (int .Values.streamReplicas) 0 -}}
{{- .Values.streamReplicas -}}
{{- else if .Values.nats.url -}}
1
{{- else -}}
{{- min (int .Values.nats.replicas) 5 -}}
{{- end -}}
{{- end -}}

{{/* The Secret made by `eventflow nats-auth init` (auth.conf and each
service's <service>.creds); empty when bus authentication is off. */}}
{{- define "eventflow.natsAuthSecret" -}}
{{- if .Values.nats.auth.enabled -}}
{{- .Values.nats.auth.secretName | default (printf "%s-nats-auth" (include "eventflow.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the key tenants' secrets are sealed to (the
deployer's only), and its key holding the key material. */}}
{{- define "eventflow.secretsKeySecret" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets-key" (include "eventflow.fullname" .)) -}}
{{- end -}}

{{- define "eventflow.secretsKeyKey" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecretKey | default "secrets.key" -}}
{{- else -}}
secrets.key
{{- end -}}
{{- end -}}

{{- define "eventflow.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-secrets" (include "eventflow.fullname" .)) -}}
{{- end -}}

{{/* Whether the gateway gets an HS256 secret: always, unless OIDC is on
and no HS256 secret was given (the token endpoint needs one). It also
refuses what the gateway would refuse at start. */}}
{{- define "eventflow.hs256" -}}
{{- if and .Values.auth.oidc.issuer (not .Values.auth.oidc.audience) -}}
{{- fail "auth.oidc.issuer needs auth.oidc.audience: without it any token the provider issues to any client would be accepted" -}}
{{- end -}}
{{- if or (not .Values.auth.oidc.issuer) .Values.auth.jwtSecret .Values.auth.existingSecret .Values.auth.enableTokenEndpoint -}}
true
{{- end -}}
{{- end -}}

{{- define "eventflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "eventflow.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Pod annotations; call with (dict "ctx" $ "port" 8081). */}}
{{- define "eventflow.podAnnotations" -}}
checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
{{- /* The auth values, not the rendered Secret (its generated values are
random in a dry run): changing them rolls the pods, which read the Secret
only at start. */}}
checksum/auth: {{ .ctx.Values.auth | toJson | sha256sum }}
{{- if .ctx.Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Scheduling settings shared by every pod. */}}
{{- define "eventflow.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
