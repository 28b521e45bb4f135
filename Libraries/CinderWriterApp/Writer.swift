import CinderApp
import CinderHTTPSupport
import CinderKafka
import CinderKafkaIngest
import CinderStorage
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

extension CinderBuilder {
    /// `cinder-writer`: the span topic into PostgreSQL, as one member of the writers' consumer group.
    public static func writer(_ configuration: CinderConfiguration, logger: Logger) async throws -> CinderServer {
        let brokers = try configuration.kafka.requireBrokers(for: "cinder-writer")
        KafkaLog.bootstrap(logger)
        let url = try configuration.requireDatabaseURL(for: "cinder-writer")
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusMetricsFactory(registry: registry)

        let owner = try configuration.migrationDatabaseURL.map { try DatabaseURL(parsing: $0) }
        let client = try await migratedClient(url, owner: owner, configuration: configuration, logger: logger)
        let deadLetters = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: brokers, properties: configuration.kafka.effectiveProducerProperties()), logger: logger)
        let kafka = configuration.kafka
        let topics = KafkaTopicSetup(
            producer: deadLetters,
            topics: [kafka.topic, kafka.deadLetterTopicName].map {
                .init(name: $0, partitions: kafka.topicPartitions, replicationFactor: kafka.topicReplicationFactor)
            },
            logger: logger)
        let writer = SpanTopicWriter(
            kafka: KafkaConfiguration(bootstrapServers: brokers, properties: kafka.effectiveConsumerProperties()), deadLetters: deadLetters, store: SpanIngestStore(database: Database(primary: client), logger: logger),
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
        return CinderServer(serviceGroup: group(services, configuration: configuration, logger: logger), registry: registry, database: url, httpPort: httpPort)
    }
}
