{{/* Name of the chart, or nameOverride. */}}
{{- define "trellis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else the release name (when it contains the chart name), else <release>-<chart>. */}}
{{- define "trellis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "trellis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trellis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trellis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "trellis.labels" -}}
{{ include "trellis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "trellis.chart" . }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "trellis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "trellis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Leader election: forced by config.enableLeaderElection, on whenever more than one replica runs. */}}
{{- define "trellis.leaderElection" -}}
{{- if or .Values.config.enableLeaderElection (gt (int .Values.deployment.replicas) 1) }}true{{ end }}
{{- end }}

{{/* The enabled ACK services, checked against the ones trellis implements. */}}
{{- define "trellis.ackServices" -}}
{{- $known := list "dynamodb" "ec2" "iam" "rds" "s3" "secretsmanager" "sqs" }}
{{- range .Values.ack.services }}
{{- if not (has . $known) }}
{{- fail (printf "ack.services: unknown service %q (have %s)" . (join ", " $known)) }}
{{- end }}
{{- end }}
{{- join "," .Values.ack.services }}
{{- end }}

{{- define "trellis.checks" -}}
{{- if not (has .Values.rbac.mode (list "aggregation" "unrestricted")) }}
{{- fail (printf "rbac.mode must be aggregation or unrestricted, not %q" .Values.rbac.mode) }}
{{- end }}
{{- if not (has .Values.ack.deletionPolicy (list "delete" "retain")) }}
{{- fail (printf "ack.deletionPolicy must be delete or retain, not %q" .Values.ack.deletionPolicy) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.create) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.create" }}
{{- end }}
{{- end }}
