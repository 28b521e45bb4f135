/// How the collector and the writer reach Kafka, from `CINDER_KAFKA_*`.
public struct KafkaSettings: Sendable {
    /// The bootstrap list (`CINDER_KAFKA_BROKERS`); required by the collector and the writer.
    public var brokers: String?
    public var topic = "cinder.spans.v1"
    /// Used only when the topic does not exist yet and Cinder creates it.
    public var topicPartitions = 12
    /// -1: the brokers' `default.replication.factor`.
    public var topicReplicationFactor = -1
    public var deadLetterTopic: String?
    public var group = "cinder-writer"
    /// librdkafka properties for every client (`CINDER_KAFKA_CLIENT_*`, e.g. SASL and TLS settings),
    /// then for producers (`CINDER_KAFKA_PRODUCER_*`) and consumers (`CINDER_KAFKA_CONSUMER_*`).
    public var clientProperties: [String: String] = [:]
    public var producerProperties: [String: String] = [:]
    public var consumerProperties: [String: String] = [:]

    public init() {}

    public var deadLetterTopicName: String { deadLetterTopic ?? topic + ".dlq" }

    package func requireBrokers(for service: String) throws(CinderConfiguration.Invalid) -> String {
        guard let brokers else { throw .init(description: "\(service) needs CINDER_KAFKA_BROKERS (or --kafka-brokers), e.g. kafka-0:9092,kafka-1:9092") }
        return brokers
    }

    /// librdkafka properties of a producer: `defaults`, then the client's, then the producer's settings.
    package func effectiveProducerProperties(defaults: [String: String] = [:]) -> [String: String] {
        defaults.merging(clientProperties) { $1 }.merging(producerProperties) { $1 }
    }

    package func effectiveConsumerProperties() -> [String: String] {
        clientProperties.merging(consumerProperties) { $1 }
    }

    /// `CINDER_KAFKA_PRODUCER_MESSAGE_TIMEOUT_MS=5000` → `message.timeout.ms=5000`: environment names cannot
    /// hold dots, and librdkafka's property names hold nothing but lowercase words and dots.
    static func properties(prefix: String, in env: [String: String]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in env where name.hasPrefix(prefix) && name.count > prefix.count {
            result[name.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: ".")] = value
        }
        return result
    }
}
