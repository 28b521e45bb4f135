import CinderAuth
import CinderIngest
import CinderOTLP
import CinderStorage
import Foundation
import Logging

/// Everything `cinder serve` and `cinder-api` can be configured with. Phoenix's environment variable
/// names are read where Phoenix has the setting; `CINDER_*` names otherwise (and as aliases).
public struct CinderConfiguration: Sendable {
    public var host = "0.0.0.0"
    public var port = 6006
    public var grpcPort = 4317
    public var workingDirectory: String
    /// nil: run a private PostgreSQL cluster under the working directory.
    public var databaseURL: String?
    /// The schema owner's connection for migrations; nil: migrate on `databaseURL`'s.
    public var migrationDatabaseURL: String?
    /// Whether a service applies pending migrations when it starts (`CINDER_MIGRATE_ON_START`). Off where a
    /// separate step (`cinder migrate`, the Helm chart's Job) owns them: the service then waits for the
    /// schema it was built for.
    public var migrateOnStart = true
    /// How long a service that does not migrate waits for the schema it needs (`CINDER_SCHEMA_WAIT_SECONDS`).
    public var schemaWaitSeconds = 300
    /// How long a SIGTERM'd service finishes what it holds before the rest is cancelled
    /// (`CINDER_SHUTDOWN_TIMEOUT_SECONDS`): keep it below the pod's termination grace period.
    public var shutdownTimeoutSeconds = 30
    /// Streaming replicas of the database for reads (cinder-api and cinder serve).
    public var databaseReadURLs: [String] = []
    public var maxSpansQueueSize = 20_000
    public var maxBatchSpans = 5_000
    public var writers = 2
    public var acknowledgement: InProcessSpanQueue.Acknowledgement = .committed
    public var limits = OTLPLimits()
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .logfmt
    public var databasePoolSize = 20
    public var kafka = KafkaSettings()
    /// cinder-collector's OTLP/HTTP port (the gRPC port is `grpcPort`).
    public var collectorHTTPPort = 4318
    /// How long the collector waits for Kafka to acknowledge a request before answering 503; below the
    /// OTLP exporters' own 10 s timeout, so they see the 503 and retry.
    public var collectorAckTimeoutMillis = 5_000
    /// Bytes produced but not yet acknowledged, per collector; beyond it requests get 503 at once.
    public var collectorMaxInFlightBytes = 64 << 20
    /// cinder-writer's port for /healthz, /readyz and /metrics.
    public var writerAdminPort = 9464
    public var writerBatchMillis = 100
    /// cinder-runner's port for /healthz, /readyz and /metrics.
    public var runnerAdminPort = 9465
    /// Provider calls in flight per runner replica, across its jobs (`CINDER_RUNNER_CONCURRENCY`).
    public var runnerConcurrency = 64
    /// How long a runner holds a job without renewing it (`CINDER_RUNNER_LEASE_SECONDS`): after a runner
    /// dies, its jobs wait this long for another.
    public var runnerLeaseSeconds = 30
    public var runnerPollMillis = 1000
    /// Whether `cinder serve` runs server-side experiments itself (`CINDER_SERVE_RUNNER`).
    public var serveRunsExperiments = true
    /// Whether LLM spans that recorded no cost get one from the model price table (`CINDER_COST_TRACKING`).
    public var costTracking = true
    /// The longest a provider call may take, each attempt (`CINDER_PROVIDER_TIMEOUT_SECONDS`).
    public var providerTimeoutSeconds = 120
    /// Attempts per provider call, the first included (`CINDER_PROVIDER_MAX_ATTEMPTS`).
    public var providerMaxAttempts = 5
    /// Whether provider keys missing from an organization's secrets may come from the environment
    /// (`CINDER_PROVIDER_ENV_CREDENTIALS`); by default only with auth off, where one team owns the server.
    public var providerEnvironmentCredentials: Bool?
    /// The process environment, where provider SDK variables (`OPENAI_BASE_URL`, …) are read.
    public var environment: [String: String] = [:]
    public var writerWriteTimeoutMillis = 15_000
    /// `CINDER_INGEST_SPANS_PER_SECOND` / `CINDER_INGEST_BURST_SPANS`: each organization's default
    /// ingestion rate (nil: unlimited), overridden per organization in the database.
    public var ingestSpansPerSecond: Int?
    public var ingestBurstSpans: Int?
    /// `CINDER_INGEST_RECEIVERS`: how many receivers share the limits when they cannot count each other
    /// through the database (a collector without one).
    public var ingestReceivers = 1
    /// `PHOENIX_ENABLE_AUTH`: every route needs a credential, and every credential one organization.
    public var authEnabled = false
    /// `PHOENIX_SECRET` and the other auth settings; read whatever `authEnabled` says (the collector
    /// needs the secret to verify keys), required only with auth on.
    public var secret: String?
    public var adminSecret: String?
    public var accessTokenExpiryMinutes = 10
    public var refreshTokenExpiryMinutes = 10_080
    public var defaultAdminInitialPassword = "admin"
    public var credentialCacheSeconds = 5
    /// `CINDER_PASSWORD_HASH_COST`: scrypt's log2 N for new password records (15: 32 MiB per hash).
    public var passwordHashCost = 15
    /// `PHOENIX_USE_SECURE_COOKIES`.
    public var secureCookies = false
    /// `PHOENIX_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS`, off with `PHOENIX_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION`.
    public var bruteForceMaxAttempts = 5
    public var bruteForceProtection = true
    /// Per-client limit on the sign-in routes, off with `PHOENIX_DISABLE_RATE_LIMIT`.
    public var rateLimitSignIn = true

    public enum LogFormat: String, Sendable { case logfmt, json }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The configured database, for the services that cannot run without one.
    package func requireDatabaseURL(for service: String) throws -> DatabaseURL {
        guard let databaseURL else { throw Invalid(description: "\(service) needs PHOENIX_SQL_DATABASE_URL (or --database-url)") }
        return try DatabaseURL(parsing: databaseURL)
    }

    public static func urlList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public init(workingDirectory: String) {
        self.workingDirectory = workingDirectory
    }

    /// Reads settings from an environment dictionary (injected, so tests need not touch the process).
    public init(environment env: [String: String]) throws(Invalid) {
        func value(_ names: String...) -> String? {
            for name in names { if let v = env[name], !v.trimmingCharacters(in: .whitespaces).isEmpty { return v } }
            return nil
        }
        func int(_ names: String...) throws(Invalid) -> Int? {
            for name in names {
                guard let raw = env[name], !raw.isEmpty else { continue }
                guard let v = Int(raw), v > 0 else { throw Invalid(description: "\(name) must be a positive integer, got '\(raw)'") }
                return v
            }
            return nil
        }
        func bool(_ names: String...) throws(Invalid) -> Bool? {
            for name in names {
                guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { continue }
                switch raw.lowercased() {
                case "true", "1", "yes", "on": return true
                case "false", "0", "no", "off": return false
                default: throw Invalid(description: "\(name) must be true or false, got '\(raw)'")
                }
            }
            return nil
        }
        let home = env["HOME"] ?? NSHomeDirectory()
        self.init(workingDirectory: value("PHOENIX_WORKING_DIR", "CINDER_WORKING_DIR") ?? "\(home)/.cinder")
        if let v = value("PHOENIX_HOST", "CINDER_HOST") { host = v }
        if let v = try int("PHOENIX_PORT", "CINDER_PORT") { port = v }
        if let v = try int("PHOENIX_GRPC_PORT", "CINDER_GRPC_PORT") { grpcPort = v }
        databaseURL = value("PHOENIX_SQL_DATABASE_URL", "CINDER_DATABASE_URL")
        databaseReadURLs = value("CINDER_DATABASE_READ_URLS").map(Self.urlList) ?? []
        migrationDatabaseURL = value("CINDER_MIGRATION_DATABASE_URL")
        migrateOnStart = try bool("CINDER_MIGRATE_ON_START") ?? true
        if let v = try int("CINDER_SHUTDOWN_TIMEOUT_SECONDS") { shutdownTimeoutSeconds = v }
        if let v = try int("CINDER_SCHEMA_WAIT_SECONDS") { schemaWaitSeconds = v }
        ingestSpansPerSecond = try int("CINDER_INGEST_SPANS_PER_SECOND")
        ingestBurstSpans = try int("CINDER_INGEST_BURST_SPANS")
        if let v = try int("CINDER_INGEST_RECEIVERS") { ingestReceivers = v }
        secret = value("PHOENIX_SECRET", "CINDER_SECRET")
        adminSecret = value("PHOENIX_ADMIN_SECRET", "CINDER_ADMIN_SECRET")
        if let v = try int("PHOENIX_ACCESS_TOKEN_EXPIRY_MINUTES") { accessTokenExpiryMinutes = v }
        if let v = try int("PHOENIX_REFRESH_TOKEN_EXPIRY_MINUTES") { refreshTokenExpiryMinutes = v }
        if let v = value("PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD") { defaultAdminInitialPassword = v }
        if let v = try int("CINDER_CREDENTIAL_CACHE_SECONDS") { credentialCacheSeconds = v }
        secureCookies = try bool("PHOENIX_USE_SECURE_COOKIES") ?? false
        if let v = try int("CINDER_PASSWORD_HASH_COST") {
            guard (10...20).contains(v) else { throw Invalid(description: "CINDER_PASSWORD_HASH_COST must be between 10 and 20, got \(v)") }
            passwordHashCost = v
        }
        if let v = try int("PHOENIX_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS") { bruteForceMaxAttempts = v }
        bruteForceProtection = !(try bool("PHOENIX_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION") ?? false)
        rateLimitSignIn = !(try bool("PHOENIX_DISABLE_RATE_LIMIT") ?? false)
        authEnabled = try bool("PHOENIX_ENABLE_AUTH", "CINDER_ENABLE_AUTH") ?? false
        if let v = try int("PHOENIX_MAX_SPANS_QUEUE_SIZE", "CINDER_MAX_SPANS_QUEUE_SIZE") { maxSpansQueueSize = v }
        if let v = try int("CINDER_WRITER_BATCH_SIZE") { maxBatchSpans = v }
        if let v = try int("CINDER_WRITER_CONCURRENCY") { writers = v }
        if let raw = value("CINDER_INGEST_ACK") {
            guard let mode = InProcessSpanQueue.Acknowledgement(rawValue: raw.lowercased()) else {
                throw Invalid(description: "CINDER_INGEST_ACK must be queue or commit, got '\(raw)'")
            }
            acknowledgement = mode
        }
        if let v = try int("CINDER_MAX_REQUEST_BYTES") { limits.maxBodyBytes = v }
        if let v = try int("CINDER_MAX_DECOMPRESSED_BYTES") { limits.maxDecompressedBytes = v }
        if let v = try int("CINDER_DATABASE_POOL_SIZE") { databasePoolSize = v }
        kafka.brokers = value("CINDER_KAFKA_BROKERS")
        if let v = value("CINDER_KAFKA_TOPIC") { kafka.topic = v }
        if let v = try int("CINDER_KAFKA_TOPIC_PARTITIONS") { kafka.topicPartitions = v }
        if let v = try int("CINDER_KAFKA_TOPIC_REPLICATION_FACTOR") { kafka.topicReplicationFactor = v }
        kafka.deadLetterTopic = value("CINDER_KAFKA_DLQ_TOPIC")
        if let v = value("CINDER_KAFKA_GROUP") { kafka.group = v }
        kafka.clientProperties = KafkaSettings.properties(prefix: "CINDER_KAFKA_CLIENT_", in: env)
        kafka.producerProperties = KafkaSettings.properties(prefix: "CINDER_KAFKA_PRODUCER_", in: env)
        kafka.consumerProperties = KafkaSettings.properties(prefix: "CINDER_KAFKA_CONSUMER_", in: env)
        if let v = try int("CINDER_COLLECTOR_HTTP_PORT") { collectorHTTPPort = v }
        if let v = try int("CINDER_COLLECTOR_ACK_TIMEOUT_MS") { collectorAckTimeoutMillis = v }
        if let v = try int("CINDER_COLLECTOR_MAX_IN_FLIGHT_BYTES") { collectorMaxInFlightBytes = v }
        if let v = try int("CINDER_WRITER_ADMIN_PORT") { writerAdminPort = v }
        if let v = try int("CINDER_WRITER_BATCH_MS") { writerBatchMillis = v }
        if let v = try int("CINDER_WRITER_WRITE_TIMEOUT_MS") { writerWriteTimeoutMillis = v }
        if let v = try int("CINDER_RUNNER_ADMIN_PORT") { runnerAdminPort = v }
        if let v = try int("CINDER_RUNNER_CONCURRENCY") { runnerConcurrency = v }
        if let v = try int("CINDER_RUNNER_LEASE_SECONDS") { runnerLeaseSeconds = v }
        if let v = try int("CINDER_RUNNER_POLL_MS") { runnerPollMillis = v }
        serveRunsExperiments = try bool("CINDER_SERVE_RUNNER") ?? true
        costTracking = try bool("CINDER_COST_TRACKING") ?? true
        if let v = try int("CINDER_PROVIDER_TIMEOUT_SECONDS") { providerTimeoutSeconds = v }
        if let v = try int("CINDER_PROVIDER_MAX_ATTEMPTS") { providerMaxAttempts = v }
        providerEnvironmentCredentials = try bool("CINDER_PROVIDER_ENV_CREDENTIALS")
        environment = env
        if let raw = value("PHOENIX_LOGGING_LEVEL", "CINDER_LOG_LEVEL") {
            let normalized = raw.lowercased() == "warn" ? "warning" : raw.lowercased()
            guard let level = Logger.Level(rawValue: normalized) else {
                throw Invalid(description: "log level must be one of trace, debug, info, notice, warning, error, critical; got '\(raw)'")
            }
            logLevel = level
        }
        if let raw = value("CINDER_LOG_FORMAT") {
            guard let format = LogFormat(rawValue: raw.lowercased()) else {
                throw Invalid(description: "CINDER_LOG_FORMAT must be logfmt or json, got '\(raw)'")
            }
            logFormat = format
        }
    }
}

extension CinderConfiguration {
    /// Whether provider keys may come from the environment when an organization stored none.
    public var environmentCredentialsAllowed: Bool { providerEnvironmentCredentials ?? !authEnabled }

    /// The auth settings, validated; nil with auth off.
    public func authSettings() throws(Invalid) -> AuthSettings? {
        guard authEnabled else { return nil }
        guard let secret else {
            throw Invalid(description: "PHOENIX_ENABLE_AUTH=true needs PHOENIX_SECRET (at least 32 characters, with a digit and a lowercase letter)")
        }
        if let problem = AuthSettings.validateSecret(secret, name: "PHOENIX_SECRET") { throw Invalid(description: problem) }
        if let adminSecret, let problem = AuthSettings.validateSecret(adminSecret, name: "PHOENIX_ADMIN_SECRET") {
            throw Invalid(description: problem)
        }
        if adminSecret == secret { throw Invalid(description: "PHOENIX_ADMIN_SECRET must differ from PHOENIX_SECRET") }
        var settings = AuthSettings(secret: secret)
        settings.adminSecret = adminSecret
        settings.accessTokenLifetime = .seconds(accessTokenExpiryMinutes * 60)
        settings.refreshTokenLifetime = .seconds(refreshTokenExpiryMinutes * 60)
        settings.defaultAdminInitialPassword = defaultAdminInitialPassword
        settings.credentialCacheLifetime = .seconds(credentialCacheSeconds)
        settings.passwordParameters = PasswordHashing.Parameters(log2N: passwordHashCost, r: 8, p: 1)
        return settings
    }
}
