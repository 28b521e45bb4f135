import CinderAPIApp
import CinderApp
import CinderLocalPostgres
import CinderReceiverApp
import CinderRunner
import CinderRunnerApp
import Metrics
import CinderStorage
import Logging
import ServiceLifecycle

extension CinderBuilder {
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
            // Beside the private cluster, a generated key keys the secret store when PHOENIX_SECRET is not set.
            return try await apiServer(
                configuration, database: service, owner: owner, services: services, ingress: otlpIngress(configuration, logger: logger),
                localKeyFile: configuration.workingDirectory + "/secret-store.key", logger: logger, alongside: runner(configuration, logger: logger))
        }
        // With a database of its own choosing, the installation's secret keys the secret store, as for cinder-api.
        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        return try await apiServer(
            configuration, database: database, owner: owner, services: services, ingress: otlpIngress(configuration, logger: logger),
            localKeyFile: nil, logger: logger, alongside: runner(configuration, logger: logger))
    }

    /// The experiment runner inside `cinder serve`, unless turned off for separate `cinder-runner`s.
    static func runner(_ configuration: CinderConfiguration, logger: Logger) -> (Database, ModelAccess, any MetricsFactory) -> [any Service] {
        { database, models, metrics in
            guard configuration.serveRunsExperiments else { return [] }
            return [
                experimentRunner(configuration, database: database, models: models, metrics: metrics, logger: logger),
                evaluationWorker(configuration, database: database, models: models, metrics: metrics, logger: logger),
            ]
        }
    }

    /// OTLP over HTTP (on the API's port) and gRPC into the API process's own queue.
    static func otlpIngress(_ configuration: CinderConfiguration, logger: Logger) -> SpanIngress {
        SpanIngress { router, queue, database, accessControl, metrics in
            let limiter = ingestionLimiter(configuration, database: database, logger: logger, metrics: metrics)
            // `queue` prices spans already, with the API process's price cache.
            let receivers = OTLPReceivers(
                configuration, queue: queue, limiter: limiter, accessControl: accessControl, prices: nil, metrics: metrics, logger: logger)
            receivers.addHTTPRoute(to: router)
            let grpc = receivers.grpc
            return .init(
                services: [ReceiverRegistration(limiter: limiter, database: database, name: "cinder serve", logger: logger), grpc],
                grpcPort: { try await grpc.listeningPort() })
        }
    }
}
