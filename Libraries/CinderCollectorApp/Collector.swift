import CinderApp
import CinderHTTPSupport
import CinderKafka
import CinderKafkaIngest
import CinderReceiverApp
import CinderStorage
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle

extension CinderBuilder {
    /// `cinder-collector`: OTLP over HTTP and gRPC into the span topic. Stateless; answers success only
    /// after Kafka acknowledged every message of the request.
    public static func collector(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let brokers = try configuration.kafka.requireBrokers(for: "cinder-collector")
        KafkaLog.bootstrap(logger)
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: brokers,
                properties: configuration.kafka.effectiveProducerProperties(defaults: ["message.timeout.ms": "\(configuration.collectorAckTimeoutMillis)"])),
            logger: logger)
        let topics = KafkaTopicSetup(
            producer: producer,
            topics: [.init(name: configuration.kafka.topic, partitions: configuration.kafka.topicPartitions, replicationFactor: configuration.kafka.topicReplicationFactor)],
            logger: logger)
        let queue = KafkaSpanQueue(
            producer: producer,
            configuration: .init(
                topic: configuration.kafka.topic, maxInFlightBytes: configuration.collectorMaxInFlightBytes,
                ackTimeout: .milliseconds(configuration.collectorAckTimeoutMillis)),
            logger: logger, metrics: metrics)

        // With auth, keys are verified against the database (a replica will do: revocations are read
        // through the credential cache, CINDER_CREDENTIAL_CACHE_SECONDS).
        var databaseServices: [any Service] = []
        var accessControl = AccessControl.open
        var database: Database?
        if configuration.authEnabled || configuration.databaseURL != nil {
            // With auth, keys are verified against it; with or without, quotas and the receiver count come from it.
            let url = try configuration.requireDatabaseURL(for: "cinder-collector with PHOENIX_ENABLE_AUTH")
            var clientConfiguration = url.clientConfiguration()
            clientConfiguration.options.maximumConnections = configuration.databasePoolSize
            let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
            let replicas = try readReplicas(configuration, metrics: metrics, logger: logger)
            databaseServices = [client] + (replicas.map { $0.replicas.map(\.client) as [any Service] + [ReadReplicaMonitor(replicas: $0)] } ?? [])
            let db = Database(primary: client, replicas: replicas)
            accessControl = try await AccessControl(configuration, database: db, logger: logger)
            database = db
        }
        let limiter = ingestionLimiter(configuration, database: database, logger: logger, metrics: metrics)
        if let database {
            databaseServices.append(ReceiverRegistration(limiter: limiter, database: database, name: "cinder-collector", logger: logger))
        }

        let router = Router(context: CinderRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        OperationalRoutes.add(to: router, registry: registry, readiness: topics.readiness)
        // Sending spans is a change: viewers' keys are refused here as on the API.
        accessControl.addMiddleware(to: router, viewersMay: { _, _ in false })
        let receivers = OTLPReceivers(
            configuration, queue: queue, limiter: limiter, accessControl: accessControl,
            prices: organizationPrices(configuration, database: database, logger: logger), metrics: metrics, logger: logger)
        receivers.addHTTPRoute(to: router)
        let grpc = receivers.grpc
        let httpPort = PortBox()
        let app = application(router, host: configuration.host, port: configuration.collectorHTTPPort, boundPort: httpPort, logger: logger) { port in
            let grpcPort = (try? await grpc.listeningPort()) ?? nil
            return [
                "cinder-collector is running",
                "  Send traces (OTLP/HTTP):  http://\(configuration.displayHost):\(port)/v1/traces",
                "  Send traces (OTLP/gRPC):  http://\(configuration.displayHost):\(grpcPort.map(String.init) ?? "?")",
                "  Kafka:                    \(brokers) → \(configuration.kafka.topic)",
            ]
        }
        // Stopped in reverse: receivers first (in-flight requests finish), then the producer flushes.
        let services: [any Service] = databaseServices + accessControl.services(bootstrap: false) + [KafkaProducerService(producer: producer), topics, app, grpc]
        return CinderServer(
            serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: nil, httpPort: httpPort,
            grpcPort: { try await grpc.listeningPort() })
    }
}
