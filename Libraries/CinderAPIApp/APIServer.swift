import CinderAPI
import CinderApp
import CinderCosts
import CinderAuth
import CinderGraphQL
import CinderHTTPSupport
import CinderIngest
import CinderRunner
import CinderStorage
import CinderWebUI
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// What a process that also receives OTLP (`cinder serve`) adds to the API's: routes on the same router,
/// behind the same access control, into the same in-process queue, and services of its own.
package struct SpanIngress: Sendable {
    package struct Attached: Sendable {
        package var services: [any Service]
        package var grpcPort: @Sendable () async throws -> Int?

        package init(services: [any Service], grpcPort: @escaping @Sendable () async throws -> Int?) {
            self.services = services
            self.grpcPort = grpcPort
        }
    }

    /// Called with the process's span queue, already pricing spans when cost tracking is on.
    package let attach: @Sendable (Router<CinderRequestContext>, any SpanQueue, Database, AccessControl, any MetricsFactory) -> Attached

    package init(
        attach: @escaping @Sendable (Router<CinderRequestContext>, any SpanQueue, Database, AccessControl, any MetricsFactory) -> Attached
    ) {
        self.attach = attach
    }
}

extension CinderBuilder {
    /// `cinder-api`: the REST API, GraphQL and the web UI against an existing database (spans sent through
    /// the REST API are written directly; OTLP ingestion belongs to the collector and writer).
    public static func apiServer(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let url = try configuration.requireDatabaseURL(for: "cinder-api")
        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        return try await apiServer(configuration, database: url, owner: owner, services: [], ingress: nil, localKeyFile: nil, logger: logger)
    }

    /// Provider clients and the secret store for the API's model calls.
    static func modelAccess(_ configuration: CinderConfiguration, localKeyFile: String?, logger: Logger) throws -> ModelAccess {
        try ModelAccess(
            .init(
                installationSecret: configuration.secret, localKeyFile: localKeyFile, environment: configuration.environment,
                environmentCredentials: configuration.environmentCredentialsAllowed, callTimeout: .seconds(configuration.providerTimeoutSeconds),
                maxAttempts: configuration.providerMaxAttempts),
            logger: logger)
    }

    /// The API's process over `url` (migrated as `owner` when given), with `ingress` for `cinder serve`.
    package static func apiServer(
        _ configuration: CinderConfiguration, database url: DatabaseURL, owner: DatabaseURL?, services initial: [any Service],
        ingress: SpanIngress?, localKeyFile: String?, logger: Logger,
        alongside: (Database, ModelAccess, any MetricsFactory) -> [any Service] = { _, _, _ in [] }
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
        let models = try modelAccess(configuration, localKeyFile: localKeyFile, logger: logger)
        services.append(models.client)
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
        addSignIn(accessControl, configuration: configuration, to: router)
        // One price cache for the process: a price changed through GraphQL applies at once to OTLP too.
        let prices = organizationPrices(configuration, database: db, logger: logger)
        let attached = ingress?.attach(router, pricing(queue, with: prices), db, accessControl, metrics)
        PhoenixAPI(database: db, spanQueue: pricing(queue, with: prices), authenticator: accessControl.authenticator, credentials: models.credentials)
            .addRoutes(to: router)
        let playground = Playground(
            credentials: models.credentials, spans: SpanIngestStore(database: db, logger: logger), prices: prices,
            evaluators: models.evaluators(metrics: metrics))
        try await GraphQLEndpoint(
            database: db, authenticator: accessControl.authenticator, playground: playground, prices: prices, explorer: webUI.page
        ).addRoutes(to: router)

        let httpPort = PortBox()
        let grpcPort: @Sendable () async throws -> Int?
        if let attached { grpcPort = attached.grpcPort } else { grpcPort = { @Sendable in nil } }
        let app = application(router, host: configuration.host, port: configuration.port, boundPort: httpPort, logger: logger) { port in
            let grpc = (try? await grpcPort()) ?? nil
            return bannerLines(configuration: configuration, httpPort: port, grpcPort: grpc, database: url, ingestion: attached != nil)
        }
        services += alongside(db, models, metrics)
        services.append(app)
        services += attached?.services ?? []
        return CinderServer(
            serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: url, httpPort: httpPort,
            grpcPort: grpcPort)
    }

    /// Sign-in routes (which need no credential), then the middleware every later route is behind, then
    /// the routes of signed-in people (their account, keys and organizations).
    static func addSignIn(_ accessControl: AccessControl, configuration: CinderConfiguration, to router: Router<CinderRequestContext>) {
        guard let authenticator = accessControl.authenticator, let database = accessControl.database else {
            AuthAPI.addDisabledRoutes(to: router)
            accessControl.addMiddleware(to: router, viewersMay: PhoenixAPI.viewersMay)
            return
        }
        let limits = SignInLimits(
            perEmail: configuration.bruteForceProtection ? SignInThrottle(maxFailures: configuration.bruteForceMaxAttempts) : nil,
            perClient: configuration.rateLimitSignIn ? RequestRateLimiter() : nil)
        let signIn = AuthAPI(authenticator: authenticator, database: database, limits: limits, secureCookies: configuration.secureCookies)
        signIn.addPublicRoutes(to: router)
        accessControl.addMiddleware(to: router, viewersMay: PhoenixAPI.viewersMay)
        signIn.addRoutes(to: router)
    }

    static func bannerLines(configuration: CinderConfiguration, httpPort: Int, grpcPort: Int?, database: DatabaseURL, ingestion: Bool) -> [String] {
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
}
