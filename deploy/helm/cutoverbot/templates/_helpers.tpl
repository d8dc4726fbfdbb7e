{{/*
The chart's name, or nameOverride.
*/}}
{{- define "cutoverbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, or the release name when it already holds
the chart's name, else release-chart. Kubernetes names stop at 63 characters.
*/}}
{{- define "cutoverbot.fullname" -}}
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

{{- define "cutoverbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cutoverbot.labels" -}}
helm.sh/chart: {{ include "cutoverbot.chart" . }}
{{ include "cutoverbot.selectorLabels" . }}
app.kubernetes.io/version: {{ include "cutoverbot.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "cutoverbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cutoverbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cutoverbot.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "cutoverbot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "cutoverbot.tag" .) }}
{{- end }}
{{- end }}

{{/*
The configuration, parsed; rendering stops with a message a person can act on when it
is missing or does not parse.
*/}}
{{- define "cutoverbot.config" -}}
{{- if not .Values.configuration }}
{{- fail "configuration is empty: pass your cutover.yaml with --set-file configuration=cutover.yaml (cutover.example.yaml documents every key)" }}
{{- end }}
{{- $cfg := fromYaml .Values.configuration }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "configuration does not parse as YAML: %s" (get $cfg "Error")) }}
{{- end }}
{{- toJson $cfg }}
{{- end }}

{{/*
The state section of the configuration, with its defaults.
*/}}
{{- define "cutoverbot.state" -}}
{{- $cfg := include "cutoverbot.config" . | fromJson }}
{{- $state := default (dict) (get $cfg "state") }}
{{- toJson (dict "backend" (default "file" (get $state "backend")) "dir" (default "" (get $state "dir")) "namespace" (default "" (get $state "namespace")) "kubeconfig" (default "" (get $state "kubeconfig"))) }}
{{- end }}

{{/*
The port of http.listen (":8080" unless set).
*/}}
{{- define "cutoverbot.port" -}}
{{- $cfg := include "cutoverbot.config" . | fromJson }}
{{- $listen := ":8080" }}
{{- with get $cfg "http" }}{{ with get . "listen" }}{{ $listen = . }}{{ end }}{{ end }}
{{- $port := regexFind "[0-9]+$" (toString $listen) }}
{{- if not $port }}
{{- fail (printf "http.listen %q names no port" $listen) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
Refuses values and configurations that cannot work together: the replica count and the
state backend, and every path the configuration reads against what the chart mounts.
*/}}
{{- define "cutoverbot.validate" -}}
{{- $cfg := include "cutoverbot.config" . | fromJson }}
{{- $state := include "cutoverbot.state" . | fromJson }}
{{- $replicas := int .Values.replicaCount }}
{{- if not (has $replicas (list 1 2)) }}
{{- fail (printf "replicaCount is %d: cutoverbot runs one replica, or two with state.backend: kubernetes" $replicas) }}
{{- end }}
{{- if and (eq $replicas 2) (ne $state.backend "kubernetes") }}
{{- fail "replicaCount 2 needs state.backend: kubernetes in the configuration (two replicas cannot share a bbolt file)" }}
{{- end }}
{{- if and (eq $state.backend "kubernetes") $state.namespace (ne $state.namespace .Release.Namespace) }}
{{- fail (printf "state.namespace is %q but the release is in %q: the chart's Role covers only the release's namespace (leave state.namespace empty or make them equal)" $state.namespace .Release.Namespace) }}
{{- end }}
{{- if not $state.dir }}
{{- fail "state.dir is empty: the configuration must say where runs and spool files live (the chart mounts a volume there)" }}
{{- end }}
{{- if not (hasPrefix "/etc/cutoverbot/" .Values.kubeconfig.path) }}
{{- fail (printf "kubeconfig.path must be under /etc/cutoverbot/, where the chart projects the configuration's files, not %q" .Values.kubeconfig.path) }}
{{- end }}
{{- range $name, $c := (default (dict) (get $cfg "clusters")) }}
{{- $kc := default "" (get (default (dict) $c) "kubeconfig") }}
{{- if and $kc (ne $kc $.Values.kubeconfig.path) }}
{{- fail (printf "clusters.%s.kubeconfig is %q but the chart mounts the kubeconfig at %q (kubeconfig.path)" $name $kc $.Values.kubeconfig.path) }}
{{- end }}
{{- end }}
{{- if and $state.kubeconfig (ne $state.kubeconfig .Values.kubeconfig.path) }}
{{- fail (printf "state.kubeconfig is %q but the chart mounts the kubeconfig at %q (kubeconfig.path)" $state.kubeconfig .Values.kubeconfig.path) }}
{{- end }}
{{- $ca := "" }}
{{- with get $cfg "service" }}{{ $ca = default "" (get . "ca_file") }}{{ end }}
{{- if $ca }}
{{- $mounted := list }}
{{- if .Values.caFiles.existingSecret }}
{{- range .Values.caFiles.keys }}{{ $mounted = append $mounted (printf "/etc/cutoverbot/ca/%s" .) }}{{ end }}
{{- end }}
{{- if not (has $ca $mounted) }}
{{- fail (printf "service.ca_file is %q but the chart mounts no such file: put the PEM in a Secret, set caFiles.existingSecret and caFiles.keys, and name /etc/cutoverbot/ca/<key>" $ca) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "serviceMonitor.enabled needs service.enabled: a ServiceMonitor scrapes a Service" }}
{{- end }}
{{- end }}
