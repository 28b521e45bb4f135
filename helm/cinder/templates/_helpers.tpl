{{/* Names, labels and the pieces every Cinder container shares. */}}

{{- define "cinder.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cinder.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "cinder.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "cinder.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name: <fullname>-collector and so on. */}}
{{- define "cinder.component" -}}
{{- printf "%s-%s" (include "cinder.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cinder.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "cinder.selectorLabels" . }}
{{- end -}}

{{- define "cinder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cinder.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cinder.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cinder.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cinder.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Refuses values that cannot work, before anything is applied. */}}
{{- define "cinder.validate" -}}
{{- if not .Values.secrets.existingSecret -}}
{{- fail "secrets.existingSecret is required: create a Secret with the database URLs (and PHOENIX_SECRET with auth) and name it here" -}}
{{- end -}}
{{- if not .Values.kafka.brokers -}}
{{- fail "kafka.brokers is required, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092" -}}
{{- end -}}
{{- if and .Values.writer.autoscaling.enabled .Values.writer.keda.enabled -}}
{{- fail "writer.autoscaling and writer.keda both scale the writer: enable one" -}}
{{- end -}}
{{- if and .Values.writer.keda.enabled (gt (int .Values.writer.keda.maxReplicas) (int .Values.kafka.topicPartitions)) -}}
{{- fail (printf "writer.keda.maxReplicas (%d) exceeds kafka.topicPartitions (%d): writers beyond the partitions idle" (int .Values.writer.keda.maxReplicas) (int .Values.kafka.topicPartitions)) -}}
{{- end -}}
{{- if and .Values.writer.autoscaling.enabled (gt (int .Values.writer.autoscaling.maxReplicas) (int .Values.kafka.topicPartitions)) -}}
{{- fail (printf "writer.autoscaling.maxReplicas (%d) exceeds kafka.topicPartitions (%d)" (int .Values.writer.autoscaling.maxReplicas) (int .Values.kafka.topicPartitions)) -}}
{{- end -}}
{{- end -}}

{{- define "cinder.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.secrets.existingSecret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The long-running services, as a JSON list: the runner only when enabled. */}}
{{- define "cinder.components" -}}
{{- $components := list "collector" "writer" "api" -}}
{{- if .Values.runner.enabled }}{{ $components = append $components "runner" }}{{ end -}}
{{- toJson $components -}}
{{- end -}}

{{/* Environment every service shares: database, auth, logging, schema policy. */}}
{{- define "cinder.commonEnv" -}}
{{ include "cinder.secretEnv" (dict "root" . "name" "PHOENIX_SQL_DATABASE_URL" "key" .Values.secrets.keys.databaseURL) }}
- name: CINDER_MIGRATE_ON_START
  value: "false"
- name: CINDER_SCHEMA_WAIT_SECONDS
  value: {{ .Values.migrations.schemaWaitSeconds | int64 | quote }}
# Cancels what a SIGTERM'd pod has not finished before Kubernetes kills it, leaving time to exit.
- name: CINDER_SHUTDOWN_TIMEOUT_SECONDS
  value: {{ sub (int .Values.terminationGracePeriodSeconds) 10 | quote }}
- name: CINDER_DATABASE_POOL_SIZE
  value: {{ .Values.database.poolSize | int64 | quote }}
- name: PHOENIX_HOST
  value: "0.0.0.0"
- name: CINDER_LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: CINDER_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
- name: PHOENIX_ENABLE_AUTH
  value: {{ .Values.auth.enabled | quote }}
{{- if .Values.auth.enabled }}
{{ include "cinder.secretEnv" (dict "root" . "name" "PHOENIX_SECRET" "key" .Values.secrets.keys.secret) }}
{{ include "cinder.secretEnv" (dict "root" . "name" "PHOENIX_ADMIN_SECRET" "key" .Values.secrets.keys.adminSecret) }}
{{- else }}
{{- /* Without auth the secret still keys the store of provider credentials (API and runner). */}}
{{ include "cinder.secretEnv" (dict "root" . "name" "PHOENIX_SECRET" "key" .Values.secrets.keys.secret "optional" true) }}
{{- end }}
{{- end -}}

{{/* Kafka client settings (librdkafka properties through CINDER_KAFKA_CLIENT_*). */}}
{{- define "cinder.kafkaEnv" -}}
- name: CINDER_KAFKA_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: CINDER_KAFKA_TOPIC
  value: {{ .Values.kafka.topic | quote }}
- name: CINDER_KAFKA_TOPIC_PARTITIONS
  value: {{ .Values.kafka.topicPartitions | int64 | quote }}
- name: CINDER_KAFKA_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.topicReplicationFactor | int64 | quote }}
{{- if or .Values.kafka.tls.enabled .Values.kafka.sasl.enabled }}
- name: CINDER_KAFKA_CLIENT_SECURITY_PROTOCOL
  value: {{ ternary (ternary "SASL_SSL" "SASL_PLAINTEXT" .Values.kafka.tls.enabled) "SSL" .Values.kafka.sasl.enabled | quote }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
- name: CINDER_KAFKA_CLIENT_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: CINDER_KAFKA_CLIENT_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
{{ include "cinder.secretEnv" (dict "root" . "name" "CINDER_KAFKA_CLIENT_SASL_PASSWORD" "key" .Values.secrets.keys.kafkaSASLPassword) }}
{{- end }}
{{- range $name, $value := .Values.kafka.extraProperties }}
- name: {{ printf "CINDER_KAFKA_CLIENT_%s" ($name | upper | replace "." "_") }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every service shares. */}}
{{- define "cinder.podSpec" -}}
serviceAccountName: {{ include "cinder.serviceAccountName" .root }}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .root.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.topologySpread.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "cinder.selectorLabels" . | nindent 8 }}
  - maxSkew: {{ .root.Values.topologySpread.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "cinder.selectorLabels" . | nindent 8 }}
{{- end }}
volumes:
  # The root filesystem is read-only; backtraces and temporary files go here.
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end -}}

{{/* Container-level settings every service shares: image, security, probes on its HTTP port. */}}
{{- define "cinder.containerBase" -}}
image: {{ include "cinder.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .probePort }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .probePort }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
startupProbe:
  # A service waits for its schema (migrations.schemaWaitSeconds) before it listens.
  httpGet:
    path: /healthz
    port: {{ .probePort }}
  periodSeconds: 5
  failureThreshold: {{ add 12 (div .root.Values.migrations.schemaWaitSeconds 5) }}
{{- end -}}
