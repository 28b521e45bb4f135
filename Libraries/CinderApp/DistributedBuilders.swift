import CinderHTTPSupport
import CinderIngest
import CinderKafka
import CinderKafkaIngest
import CinderReceiver
import CinderStorage
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import Prometheus
import ServiceLifecycle

extension CinderBuilder {
    /// `cinder-collector`: OTLP over HTTP and gRPC into the span topic. Stateless; answers success only
    /// after Kafka acknowledged every message of the request.
    public static func collector(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let brokers = try configuration.kafka.requireBrokers(for: "cinder-collector")
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)
        let producer = try KafkaProducer(
            configuration: configuration.kafka.producer(
                brokers: brokers, defaults: ["message.timeout.ms": "\(configuration.collectorAckTimeoutMillis)"]),
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
        accessControl.addMiddleware(to: router)
        let receiver = SpanReceiver(
            queue: queue, limits: configuration.limits, metrics: ReceiverMetrics(factory: metrics), limiter: limiter)
        OTLPHTTPRoute.add(to: router, receiver: receiver)
        let grpc = OTLPGRPCServer(
            configuration: .init(host: configuration.host, port: configuration.grpcPort, maxMessageBytes: configuration.limits.maxBodyBytes),
            receiver: receiver, authenticate: accessControl.callerAuthentication, logger: logger)
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
        return CinderServer(serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: nil, httpPort: httpPort, grpc: grpc)
    }

    /// `cinder-writer`: the span topic into PostgreSQL, as one member of the writers' consumer group.
    public static func writer(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let brokers = try configuration.kafka.requireBrokers(for: "cinder-writer")
        let url = try configuration.requireDatabaseURL(for: "cinder-writer")
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)

        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        let client = try await migratedClient(url, owner: owner, configuration: configuration, logger: logger)
        let deadLetters = try KafkaProducer(configuration: configuration.kafka.producer(brokers: brokers), logger: logger)
        let kafka = configuration.kafka
        let topics = KafkaTopicSetup(
            producer: deadLetters,
            topics: [kafka.topic, kafka.deadLetterTopicName].map {
                .init(name: $0, partitions: kafka.topicPartitions, replicationFactor: kafka.topicReplicationFactor)
            },
            logger: logger)
        let writer = SpanTopicWriter(
            kafka: kafka.consumer(brokers: brokers), deadLetters: deadLetters, store: SpanIngestStore(database: Database(primary: client), logger: logger),
            configuration: .init(
                topic: kafka.topic, deadLetterTopic: kafka.deadLetterTopicName, groupID: kafka.group, batchSpans: configuration.maxBatchSpans,
                batchInterval: .milliseconds(configuration.writerBatchMillis),
                writeTimeout: .milliseconds(configuration.writerWriteTimeoutMillis), concurrentWrites: configuration.writers),
            logger: logger, metrics: metrics)

        let router = Router(context: CinderRequestContext.self)
        OperationalRoutes.add(to: router, registry: registry) {
            guard writer.isRunning else { return "span writer not running" }
            if let problem = await databaseReadiness(client, logger: logger) { return problem }
            return await topics.readiness()
        }
        let httpPort = PortBox()
        let app = application(router, host: configuration.host, port: configuration.writerAdminPort, boundPort: httpPort, logger: logger) { port in
            [
                "cinder-writer is running (group \(kafka.group))",
                "  Kafka:                    \(brokers) ← \(kafka.topic) (dead letters: \(kafka.deadLetterTopicName))",
                "  Database:                 \(url.redactedDescription)",
                "  Health / metrics:         http://\(configuration.displayHost):\(port)/healthz  /readyz  /metrics",
            ]
        }
        // Stopped in reverse: the consumer writes and commits its last batch while the database and the
        // dead-letter producer are still there.
        let services: [any Service] = [client, KafkaProducerService(producer: deadLetters), topics, writer, app]
        return CinderServer(serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: url, httpPort: httpPort, grpc: nil)
    }

    /// The HTTP server, announcing itself with `banner` once it listens.
    static func application(
        _ router: Router<CinderRequestContext>, host: String, port: Int, boundPort: PortBox, logger: Logger,
        banner: @escaping @Sendable (Int) async -> [String]
    ) -> some Service {
        Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? port
                boundPort.set(port)
                Banner.write(await banner(port))
            },
            logger: logger)
    }

    /// SIGTERM starts a graceful shutdown (servers stop accepting, in-flight requests and batches finish);
    /// what has not finished after `CINDER_SHUTDOWN_TIMEOUT_SECONDS` is cancelled, so the process exits
    /// inside the pod's termination grace period.
    static func group(_ services: [any Service], configuration: CinderConfiguration, logger: Logger) -> ServiceGroup {
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(configuration.shutdownTimeoutSeconds)
        return ServiceGroup(configuration: groupConfiguration)
    }
}
