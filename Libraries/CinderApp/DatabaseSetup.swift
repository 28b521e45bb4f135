import CinderStorage
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle

/// Health checks of the read replicas for as long as the service group runs.
package struct ReadReplicaMonitor: Service {
    let replicas: ReadReplicas

    package init(replicas: ReadReplicas) { self.replicas = replicas }

    package func run() async throws {
        await cancelWhenGracefulShutdown { await replicas.monitor() }
    }
}

extension CinderBuilder {
    /// The configured read replicas (they get no migrations: replication brings the primary's schema).
    package static func readReplicas(_ configuration: CinderConfiguration, metrics: any MetricsFactory, logger: Logger) throws -> ReadReplicas? {
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
    package static func migratedClient(
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
    package static func waitForSchema(_ url: DatabaseURL, seconds: Int, logger: Logger) async throws {
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

    package static func checkServiceRole(_ privileges: DatabaseRoles.Privileges, authEnabled: Bool, logger: Logger) throws {
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
    package static func databaseReadiness(_ client: PostgresClient, logger: Logger) async -> String? {
        do {
            _ = try await client.query("SELECT 1", logger: logger).collect()
            return nil
        } catch {
            return "database unavailable"
        }
    }

    /// A dedicated connection for set-up work before any service starts.
    package static func withConnection<T: Sendable>(
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
