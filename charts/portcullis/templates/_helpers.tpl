{{/* Name of the chart, or nameOverride. */}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name when it already contains the chart name. */}}
{{- define "portcullis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "portcullis.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "portcullis.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The audit pods' own selector: not matched by the webhook Deployment or Service. */}}
{{- define "portcullis.auditSelectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}-audit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Pod name and namespace from the downward API: the byPod id of status writes and the
namespace where Gatekeeper's Config is read. */}}
{{- define "portcullis.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* Cluster mode: constraint CRD management, the same on the webhook and audit Pods
(every replica reports status.created the same way; the CRD managers of several replicas
converge), and status garbage collection on one Pod only, the audit's when it runs (`gc`
says whether this Pod sweeps). The collector keeps the entries of the release's Pods,
webhook and audit alike. Called with (dict "root" $ "gc" bool). */}}
{{- define "portcullis.clusterControllerArgs" -}}
{{- $v := .root.Values -}}
- --manage-crds={{ $v.crds.manage }}
- --status-gc-interval={{ if .gc }}{{ int64 $v.statusGc.intervalSeconds }}{{ else }}0{{ end }}
- --status-gc-selector=app.kubernetes.io/instance={{ .root.Release.Name }}
{{- if $v.vap.generate }}
- --generate-vap
{{- end }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portcullis.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "portcullis.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* Leader election and certificate rotation. */}}
{{/* The leader election Lease. */}}
{{- define "portcullis.leaseName" -}}
{{- default (printf "%s-leader" (include "portcullis.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* "true" when audit runs in its own Deployment: asked for, or leader election is off
(then no webhook replica may audit, or every one would). */}}
{{- define "portcullis.separateAudit" -}}
{{- if and (eq .Values.mode "cluster") .Values.audit.enabled (or .Values.audit.separateDeployment (not .Values.leaderElection.enabled)) }}true{{ end }}
{{- end }}

{{/* "true" when the pods talk to the API server: cluster mode, or certificate rotation. */}}
{{- define "portcullis.apiAccess" -}}
{{- if or (eq .Values.mode "cluster") (eq .Values.tls.mode "rotate") }}true{{ end }}
{{- end }}

{{/* The serving certificate's flags: rotation in the process (the Secret read and written
through the API, the webhooks' caBundle kept), or files mounted from the Secret. */}}
{{- define "portcullis.tlsArgs" -}}
{{- if eq .Values.tls.mode "rotate" }}
- --cert-rotation
- --cert-secret-name={{ include "portcullis.tlsSecretName" . }}
{{- if .Values.validatingWebhook.enabled }}
- --validating-webhook-configuration-name={{ include "portcullis.fullname" . }}-validation
{{- end }}
{{- if .Values.mutatingWebhook.enabled }}
- --mutating-webhook-configuration-name={{ include "portcullis.fullname" . }}-mutation
{{- end }}
{{- range (include "portcullis.serviceDNSNames" . | fromJsonArray) }}
- --dns-name={{ . }}
{{- end }}
{{- else }}
- --tls-cert=/certs/tls.crt
- --tls-key=/certs/tls.key
{{- end }}
{{- end }}

{{- define "portcullis.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "portcullis.fullname" .)) .Values.policies.existingConfigMap }}
{{- end }}

{{/* The DNS names kube-apiserver uses to reach the Service. */}}
{{- define "portcullis.serviceDNSNames" -}}
{{- $svc := include "portcullis.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
namespaceSelector of both webhooks: never the control plane's namespaces or the release
namespace (a webhook that judges its own namespace can block its own repair), never a
namespace carrying the ignore label, only opted-in namespaces in opt-in mode.
Call with (dict "root" $ "extra" <extra expressions>).
*/}}
{{- define "portcullis.namespaceSelector" -}}
{{- $root := .root -}}
{{- $excluded := list "kube-system" "kube-public" "kube-node-lease" $root.Release.Namespace -}}
{{- range $root.Values.excludedNamespaces }}{{ $excluded = append $excluded . }}{{ end -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ $excluded | uniq | toJson }}
  - key: {{ $root.Values.ignoreLabel }}
    operator: DoesNotExist
{{- if $root.Values.optIn.enabled }}
  - key: {{ $root.Values.optIn.label }}
    operator: In
    values: [{{ $root.Values.optIn.value | quote }}]
{{- end }}
{{- with .extra }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end }}

{{/* The service reference of a webhook's clientConfig. */}}
{{- define "portcullis.clientService" -}}
service:
  name: {{ include "portcullis.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: {{ .root.Values.service.port }}
{{- end }}

{{/* Fail early on values that would make a broken or unsafe release. */}}
{{- define "portcullis.validate" -}}
{{- if not (has .Values.mode (list "file" "cluster")) }}
{{- fail (printf "mode must be file or cluster, not %q" .Values.mode) }}
{{- end }}
{{- if not (has .Values.tls.mode (list "rotate" "generate" "secret" "certManager")) }}
{{- fail (printf "tls.mode must be rotate, generate, secret or certManager, not %q" .Values.tls.mode) }}
{{- end }}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.caBundle) }}
{{- fail "tls.mode secret needs tls.caBundle (base64 PEM of the CA that signed the Secret's certificate)" }}
{{- end }}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.secretName) }}
{{- fail "tls.mode secret needs tls.secretName" }}
{{- end }}
{{- range list .Values.validatingWebhook .Values.mutatingWebhook }}
{{- if not (has .failurePolicy (list "Fail" "Ignore")) }}
{{- fail (printf "failurePolicy must be Fail or Ignore, not %q" .failurePolicy) }}
{{- end }}
{{- if or (lt (int .timeoutSeconds) 1) (gt (int .timeoutSeconds) 30) }}
{{- fail (printf "timeoutSeconds must be 1..30, not %v" .timeoutSeconds) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The admission deadline: server.evalTimeout, or half a second below the smaller webhook
timeout, so that requests cut off are answered by the failurePolicy before the API server
gives up.
*/}}
{{- define "portcullis.evalTimeout" -}}
{{- if .Values.server.evalTimeout -}}
{{ .Values.server.evalTimeout }}
{{- else -}}
{{- $t := min (int .Values.validatingWebhook.timeoutSeconds) (int .Values.mutatingWebhook.timeoutSeconds) -}}
{{ sub (mul $t 1000) 500 }}ms
{{- end -}}
{{- end }}

{{/*
Pieces the webhook and audit pods share, so the two Deployments cannot drift apart: the
pod annotations, the pod-level spec fields, and the container's image, ports, probes and
security context. Each takes the root context.
*/}}
{{- define "portcullis.podAnnotations" -}}
{{- if or .Values.podAnnotations .Values.metrics.podAnnotations }}
annotations:
  {{- if .Values.metrics.podAnnotations }}
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .Values.metrics.port | quote }}
  prometheus.io/path: /metrics
  {{- end }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "portcullis.podSpecCommon" -}}
serviceAccountName: {{ include "portcullis.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "portcullis.podPlacement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "portcullis.containerImage" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end }}

{{- define "portcullis.containerPortsAndProbes" -}}
ports:
  - name: https
    containerPort: 8443
    protocol: TCP
  - name: metrics
    containerPort: {{ .Values.metrics.port }}
    protocol: TCP
readinessProbe:
  httpGet:
    path: /readyz
    port: https
    scheme: HTTPS
  {{- toYaml .Values.readinessProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: https
    scheme: HTTPS
  {{- toYaml .Values.livenessProbe | nindent 2 }}
{{- end }}
