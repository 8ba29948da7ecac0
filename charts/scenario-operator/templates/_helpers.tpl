{{/* Labels on every object of the chart. */}}
{{- define "scenario-operator.labels" -}}
app.kubernetes.io/name: scenario-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The operator's own rules are namespaced (a Role and RoleBinding in watchNamespace) when it
watches one namespace, cluster-wide otherwise: "Role" or "ClusterRole".
*/}}
{{- define "scenario-operator.roleKind" -}}
{{- if .Values.watchNamespace }}Role{{ else }}ClusterRole{{ end }}
{{- end }}

{{/* metadata.namespace of a namespaced Role/RoleBinding; nothing for cluster-wide ones. */}}
{{- define "scenario-operator.roleNamespace" -}}
{{- if .Values.watchNamespace }}
  namespace: {{ .Values.watchNamespace }}
{{- end }}
{{- end }}
