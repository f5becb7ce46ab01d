{{- define "tenant-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tenant-operator.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tenant-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tenant-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tenant-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tenant-operator.webhookHost" -}}
{{- printf "%s-webhook.%s.svc" (include "tenant-operator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The webhook's certificate: self-signed for the Service's DNS names, so it is its own CA (kopf puts it in the
webhook configurations' caBundle). Kept across upgrades: an existing Secret is reused.
*/}}
{{- define "tenant-operator.webhookCertificate" -}}
{{- $name := printf "%s-webhook-tls" (include "tenant-operator.fullname" .) -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- if and $existing $existing.data -}}
tls.crt: {{ index $existing.data "tls.crt" }}
tls.key: {{ index $existing.data "tls.key" }}
{{- else -}}
{{- $service := printf "%s-webhook" (include "tenant-operator.fullname" .) -}}
{{- $names := list $service (printf "%s.%s" $service .Release.Namespace) (include "tenant-operator.webhookHost" .) -}}
{{- $cert := genSelfSignedCert (include "tenant-operator.webhookHost" .) nil $names (int .Values.webhook.certificateDays) -}}
tls.crt: {{ $cert.Cert | b64enc }}
tls.key: {{ $cert.Key | b64enc }}
{{- end -}}
{{- end -}}

{{- define "tenant-operator.useCertManager" -}}
{{- $mode := .Values.webhook.certManager | toString -}}
{{- if or (eq $mode "true") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "cert-manager.io/v1")) -}}
true
{{- end -}}
{{- end -}}
