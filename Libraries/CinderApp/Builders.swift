import CinderAPI
import CinderAuth
import CinderGraphQL
import CinderHTTPSupport
import CinderIngest
import CinderLocalPostgres
import CinderModel
import CinderReceiver
import CinderStorage
import CinderWebUI
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// A composed server: the service group to run and what it listens on once running.
public struct CinderServer: Sendable {
    public let serviceGroup: ServiceGroup
    public let registry: PrometheusCollectorRegistry
    /// nil for the collector, which has no database.
    public let database: DatabaseURL?
    let httpPort: PortBox
    let grpc: OTLPGRPCServer?

    /// The bound HTTP port (differs from the configured one when that is 0); waits until listening.
    public func boundHTTPPort() async -> Int { await httpPort.value() }

    public func boundGRPCPort() async throws -> Int? { try await grpc?.listeningPort() }
}

/// Hands the HTTP port over from Hummingbird's `onServerRunning` to whoever waits for it.
final class PortBox: Sendable {
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    func set(_ port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    func value() async -> Int {
        await withCheckedContinuation { continuation in
            let port: Int? = state.withLock { state in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }
}

/// Health checks of the read replicas for as long as the service group runs.
struct ReadReplicaMonitor: Service {
    let replicas: ReadReplicas

    func run() async throws {
        await cancelWhenGracefulShutdown { await replicas.monitor() }
    }
}

public enum CinderBuilder {
    /// `cinder serve`: OTLP (HTTP and gRPC), the REST API and the in-process queue and writer, over a
    /// private PostgreSQL cluster unless a database URL is configured.
    public static func allInOne(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        var services: [any Service] = []
        let database: DatabaseURL
        if let url = configuration.databaseURL {
            database = try DatabaseURL(parsing: url)
        } else {
            let cluster = LocalPostgresCluster(
                configuration: .init(directory: configuration.workingDirectory + "/postgres"), logger: logger)
            try cluster.start()
            services.append(LocalPostgresService(cluster: cluster))
            // The cluster's superuser owns the schema and migrates it; Cinder serves as a role of its own,
            // which row-level security holds (a superuser would bypass it).
            let owner = DatabaseURL(username: "postgres", database: cluster.configuration.database, socketDirectory: cluster.socketDirectory)
            try await withConnection(owner, logger: logger) { connection in
                try await DatabaseRoles.createServiceRole(LocalPostgresCluster.serviceRole, on: connection, logger: logger)
            }
            var service = owner
            service.username = LocalPostgresCluster.serviceRole
            return try await compose(configuration, database: service, owner: owner, ingestion: true, services: services, logger: logger)
        }
        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        return try await compose(configuration, database: database, owner: owner, ingestion: true, services: services, logger: logger)
    }

    /// `cinder-api`: the REST API against an existing database (spans sent through the REST API are
    /// written directly; OTLP ingestion belongs to the collector and writer).
    public static func apiServer(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let url = try configuration.requireDatabaseURL(for: "cinder-api")
        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        return try await compose(configuration, database: url, owner: owner, ingestion: false, services: [], logger: logger)
    }

    static func compose(
        _ configuration: CinderConfiguration, database url: DatabaseURL, owner: DatabaseURL?, ingestion: Bool, services initial: [any Service],
        logger: Logger
    ) async throws -> CinderServer {
        var services = initial
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)

        let client = try await migratedClient(url, owner: owner, configuration: configuration, logger: logger)
        services.append(client)
        let replicas = try readReplicas(configuration, metrics: metrics, logger: logger)
        if let replicas {
            services += replicas.replicas.map(\.client) as [any Service]
            services.append(ReadReplicaMonitor(replicas: replicas))
        }
        let db = Database(primary: client, replicas: replicas)
        let accessControl = try await AccessControl(configuration, database: db, logger: logger)
        services += accessControl.services(bootstrap: true)

        let queue = InProcessSpanQueue(
            store: SpanIngestStore(database: db, logger: logger),
            configuration: .init(
                acknowledgement: configuration.acknowledgement, capacitySpans: configuration.maxSpansQueueSize, maxBatchSpans: configuration.maxBatchSpans,
                writers: configuration.writers),
            logger: logger, metrics: metrics)
        services.append(queue)

        let router = Router(context: CinderRequestContext.self)
        // Outermost first: the version header goes on error responses too.
        router.add(middleware: PhoenixVersionHeaderMiddleware())
        router.add(middleware: ErrorMiddleware())
        OperationalRoutes.add(to: router, registry: registry) { await databaseReadiness(client, logger: logger) }
        PhoenixAPI.addPublicRoutes(to: router)
        let webUI = WebUIRoutes(assets: UIAssets(authEnabled: accessControl.authenticator != nil))
        webUI.add(to: router)
        accessControl.addRoutes(to: router)
        let limiter = ingestionLimiter(configuration, database: db, logger: logger, metrics: metrics)
        if ingestion { services.append(ReceiverRegistration(limiter: limiter, database: db, name: "cinder serve", logger: logger)) }
        let receiver = SpanReceiver(
            queue: queue, limits: configuration.limits, metrics: ReceiverMetrics(factory: metrics), limiter: limiter)
        if ingestion { OTLPHTTPRoute.add(to: router, receiver: receiver) }
        PhoenixAPI(database: db, spanQueue: queue, authenticator: accessControl.authenticator).addRoutes(to: router)
        try await GraphQLEndpoint(database: db, authenticator: accessControl.authenticator, explorer: webUI.page).addRoutes(to: router)

        let httpPort = PortBox()
        var grpc: OTLPGRPCServer?
        if ingestion {
            grpc = OTLPGRPCServer(
                configuration: .init(host: configuration.host, port: configuration.grpcPort, maxMessageBytes: configuration.limits.maxBodyBytes),
                receiver: receiver, authenticate: accessControl.callerAuthentication, logger: logger)
        }
        let grpcServer = grpc
        let app = application(router, host: configuration.host, port: configuration.port, boundPort: httpPort, logger: logger) { port in
            let grpcPort = (try? await grpcServer?.listeningPort()) ?? nil
            return Banner.lines(configuration: configuration, httpPort: port, grpcPort: grpcPort, database: url, ingestion: ingestion)
        }
        services.append(app)
        if let grpc { services.append(grpc) }
        return CinderServer(serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: url, httpPort: httpPort, grpc: grpc)
    }

    /// The configured read replicas (they get no migrations: replication brings the primary's schema).
    static func readReplicas(_ configuration: CinderConfiguration, metrics: any MetricsFactory, logger: Logger) throws -> ReadReplicas? {
        guard !configuration.databaseReadURLs.isEmpty else { return nil }
        let replicas = try configuration.databaseReadURLs.map { text in
            let url = try DatabaseURL(parsing: text)
            var clientConfiguration = url.clientConfiguration()
            clientConfiguration.options.maximumConnections = configuration.databasePoolSize
            return ReadReplicas.Replica(client: PostgresClient(configuration: clientConfiguration, backgroundLogger: logger), name: url.redactedDescription)
        }
        return ReadReplicas(replicas: replicas, logger: logger, metrics: metrics)
    }

    /// The pool a service uses, after the migrations ran on the owner's connection (the service's own
    /// when no owner is configured). Refuses, with auth on, a service role that row-level security
    /// does not hold: it would see every organization's rows.
    static func migratedClient(
        _ url: DatabaseURL, owner: DatabaseURL?, configuration: CinderConfiguration, logger: Logger
    ) async throws -> PostgresClient {
        if configuration.migrateOnStart {
            let serviceRole = owner.flatMap { $0.username == url.username ? nil : url.username }
            try await withConnection(owner ?? url, logger: logger) { connection in
                try await Migrations.migrate(connection, serviceRole: serviceRole, logger: logger)
            }
        } else {
            try await waitForSchema(url, seconds: configuration.schemaWaitSeconds, logger: logger)
        }
        let privileges = try await withConnection(url, logger: logger) { try await DatabaseRoles.privileges($0, logger: logger) }
        try checkServiceRole(privileges, authEnabled: configuration.authEnabled, logger: logger)
        var clientConfiguration = url.clientConfiguration()
        clientConfiguration.options.maximumConnections = configuration.databasePoolSize
        return PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
    }

    /// `cinder migrate`: applies pending migrations as the schema's owner (`CINDER_MIGRATION_DATABASE_URL`,
    /// else `PHOENIX_SQL_DATABASE_URL`) and grants the service role (the user of `PHOENIX_SQL_DATABASE_URL`
    /// when it is another) its row access. Returns the schema version reached.
    public static func migrate(_ configuration: CinderConfiguration, logger: Logger) async throws -> Int {
        guard let text = configuration.migrationDatabaseURL ?? configuration.databaseURL else {
            throw CinderConfiguration.Invalid(
                description: "cinder migrate needs the schema owner's URL in CINDER_MIGRATION_DATABASE_URL (or PHOENIX_SQL_DATABASE_URL)")
        }
        let owner = try DatabaseURL(parsing: text)
        let service = try configuration.databaseURL.map { try DatabaseURL(parsing: $0) }
        let serviceRole = service.flatMap { $0.username == owner.username ? nil : $0.username }
        try await withConnection(owner, logger: logger) { connection in
            try await Migrations.migrate(connection, serviceRole: serviceRole, logger: logger)
        }
        logger.info(
            "database schema is current",
            metadata: ["cinder.migration.version": "\(Migrations.latestVersion)", "cinder.database": "\(owner.redactedDescription)"])
        return Migrations.latestVersion
    }

    /// For a service that does not migrate: returns once the database is at the schema this build knows,
    /// waiting (up to `seconds`) while it is older or unreachable, as during a rollout whose migration Job
    /// has not finished; refuses a newer schema at once, which an older build must not write into.
    static func waitForSchema(_ url: DatabaseURL, seconds: Int, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var reported: Int?
        while true {
            let outcome: Result<Int, any Error>
            do {
                outcome = .success(try await withConnection(url, logger: logger) { try await Migrations.currentVersion($0, logger: logger) })
            } catch {
                outcome = .failure(error)
            }
            let problem: String
            switch outcome {
            case .success(let version) where version == Migrations.latestVersion:
                return
            case .success(let version) where version > Migrations.latestVersion:
                throw CinderConfiguration.Invalid(
                    description: "database schema is at version \(version) but this build knows only up to \(Migrations.latestVersion): upgrade Cinder")
            case .success(let version):
                problem = "database schema is at version \(version), this build needs \(Migrations.latestVersion): run `cinder migrate` (the chart's migration Job)"
                if reported != version {
                    reported = version
                    logger.notice("waiting for migrations", metadata: ["cinder.migration.version": "\(version)", "cinder.migration.needed": "\(Migrations.latestVersion)"])
                }
            case .failure(let error):
                problem = "the database cannot be reached (\(String(describing: error)))"
            }
            guard ContinuousClock.now < deadline else {
                throw CinderConfiguration.Invalid(description: "\(problem); gave up after CINDER_SCHEMA_WAIT_SECONDS=\(seconds)")
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    static func checkServiceRole(_ privileges: DatabaseRoles.Privileges, authEnabled: Bool, logger: Logger) throws {
        let metadata: Logger.Metadata = ["cinder.database.role": "\(privileges.role)"]
        if !privileges.isHeldByRowSecurity {
            let problem = "database role '\(privileges.role)' is \(privileges.superuser ? "a superuser" : "allowed to bypass row-level security")"
            if authEnabled {
                throw CinderConfiguration.Invalid(
                    description: "\(problem): with PHOENIX_ENABLE_AUTH Cinder serves organizations only as a role that row-level security holds; "
                        + "connect PHOENIX_SQL_DATABASE_URL as the service role and give the owner's URL in CINDER_MIGRATION_DATABASE_URL (see README)")
            }
            logger.warning("\(problem): row-level security does not apply to it", metadata: metadata)
        } else if privileges.ownedTables > 0 {
            logger.notice(
                "the service connects as the schema's owner; set CINDER_MIGRATION_DATABASE_URL to migrate as another role (see README)",
                metadata: metadata)
        }
    }

    /// nil when the database answers a query now.
    static func databaseReadiness(_ client: PostgresClient, logger: Logger) async -> String? {
        do {
            _ = try await client.query("SELECT 1", logger: logger).collect()
            return nil
        } catch {
            return "database unavailable"
        }
    }

    /// A dedicated connection for set-up work before any service starts.
    static func withConnection<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 0, logger: logger)
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

enum Banner {
    static func lines(
        configuration: CinderConfiguration, httpPort: Int, grpcPort: Int?, database: DatabaseURL, ingestion: Bool
    ) -> [String] {
        let host = configuration.displayHost
        var lines = ["🔥 Cinder is running (Phoenix \(PhoenixAPI.phoenixVersion) compatible)"]
        if ingestion {
            lines.append("  Send traces (OTLP/HTTP):  http://\(host):\(httpPort)/v1/traces")
            if let grpcPort { lines.append("  Send traces (OTLP/gRPC):  http://\(host):\(grpcPort)") }
        }
        lines.append("  REST API:                 http://\(host):\(httpPort)/v1")
        lines.append("  Health / metrics:         http://\(host):\(httpPort)/healthz  /readyz  /metrics")
        lines.append("  Database:                 \(database.redactedDescription)")
        return lines
    }

    /// Written straight to the descriptor: stdout may be a buffered pipe or file.
    static func write(_ lines: [String]) {
        FileHandle.standardOutput.write(Data((([""] + lines + [""]).joined(separator: "\n") + "\n").utf8))
    }
}

extension CinderConfiguration {
    /// The host to show in URLs: a wildcard listen address is reached as localhost.
    var displayHost: String { host == "0.0.0.0" || host == "::" ? "localhost" : host }
}
