import CinderApp
import CinderCosts
import CinderHTTPSupport
import CinderResilience
import CinderRunner
import CinderStorage
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

extension CinderBuilder {
    /// `cinder-runner`: runs server-side experiments from the jobs in PostgreSQL, one replica among many.
    public static func runner(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let url = try configuration.requireDatabaseURL(for: "cinder-runner")
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)
        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        let client = try await migratedClient(url, owner: owner, configuration: configuration, logger: logger)
        let models = try ModelAccess(
            .init(
                installationSecret: configuration.secret, localKeyFile: nil, environment: configuration.environment,
                environmentCredentials: configuration.environmentCredentialsAllowed, callTimeout: .seconds(configuration.providerTimeoutSeconds),
                maxAttempts: configuration.providerMaxAttempts),
            logger: logger)
        let runner = experimentRunner(configuration, database: Database(primary: client), models: models, metrics: metrics, logger: logger)
        let evaluations = evaluationWorker(configuration, database: Database(primary: client), models: models, metrics: metrics, logger: logger)

        let router = Router(context: CinderRequestContext.self)
        OperationalRoutes.add(to: router, registry: registry) { await databaseReadiness(client, logger: logger) }
        let httpPort = PortBox()
        let app = application(router, host: configuration.host, port: configuration.runnerAdminPort, boundPort: httpPort, logger: logger) { port in
            [
                "cinder-runner is running (\(configuration.runnerConcurrency) provider calls at most)",
                "  Database:                 \(url.redactedDescription)",
                "  Health / metrics:         http://\(configuration.displayHost):\(port)/healthz  /readyz  /metrics",
            ]
        }
        // Stopped in reverse: jobs hand their leases back while the database is still there.
        let services: [any Service] = [client, models.client, runner, evaluations, app]
        return CinderServer(serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: url, httpPort: httpPort)
    }

    /// The service that makes queued evaluations (online rules, experiments evaluated again) over
    /// `database`; it runs wherever experiments run.
    package static func evaluationWorker(
        _ configuration: CinderConfiguration, database: Database, models: ModelAccess, metrics: any MetricsFactory, logger: Logger
    ) -> EvaluationWorker {
        EvaluationWorker(
            configuration: .init(), database: database, runner: runnerName, executor: models.evaluators(metrics: metrics),
            spans: SpanIngestStore(database: database, logger: logger), prices: organizationPrices(configuration, database: database, logger: logger),
            metrics: metrics, logger: logger)
    }

    /// This process's name in leases: host, process and a random part.
    static let runnerName = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8))"

    /// The runner service over `database`, named after this host and process.
    package static func experimentRunner(
        _ configuration: CinderConfiguration, database: Database, models: ModelAccess, metrics: any MetricsFactory, logger: Logger
    ) -> ExperimentRunner {
        return ExperimentRunner(
            configuration: .init(
                concurrency: configuration.runnerConcurrency, lease: .seconds(configuration.runnerLeaseSeconds),
                pollInterval: .milliseconds(configuration.runnerPollMillis), prices: organizationPrices(configuration, database: database, logger: logger)),
            queue: JobQueue(database: database, runner: runnerName, logger: logger), credentials: models.credentials,
            caller: models.caller(metrics: metrics), sandbox: models.sandbox,
            spans: SpanIngestStore(database: database, logger: logger), metrics: metrics, logger: logger)
    }
}
