{{/*
Flags of Kubernetes Events and policy reports (cluster mode), given to the webhook and the
audit Deployments alike: each flag acts only where its work runs (admission Events where
requests are answered, audit Events and reports where the audit sweeps).
*/}}
{{- define "portcullis.reportArgs" -}}
{{- if .Values.emitAdmissionEvents }}
- --emit-admission-events
{{- end }}
{{- if .Values.emitAuditEvents }}
- --emit-audit-events
{{- end }}
{{- if .Values.admissionEventsInvolvedNamespace }}
- --admission-events-involved-namespace
{{- end }}
{{- if .Values.auditEventsInvolvedNamespace }}
- --audit-events-involved-namespace
{{- end }}
{{- if or .Values.emitAdmissionEvents .Values.emitAuditEvents }}
- --events-per-second={{ .Values.events.perSecond }}
- --events-burst={{ int64 .Values.events.burst }}
{{- end }}
{{- if .Values.policyReports.enabled }}
- --policy-reports
- --policy-report-results-limit={{ int64 .Values.policyReports.resultsLimit }}
{{- end }}
{{- end }}
