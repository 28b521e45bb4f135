import CinderKafka
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// Owns a producer's lifetime in a service group: on shutdown (after the services that send through it
/// stopped) it waits for outstanding deliveries, then releases the client.
public struct KafkaProducerService: Service {
    let producer: KafkaProducer

    public init(producer: KafkaProducer) { self.producer = producer }

    public func run() async throws {
        try? await gracefulShutdown()
        let producer = self.producer
        await offloadBlocking { producer.close() }
    }
}

/// Makes sure the topics exist at start-up, retrying while Kafka is unreachable (a collector may start
/// before its brokers); readiness waits for it.
public final class KafkaTopicSetup: Service, Sendable {
    public struct Topic: Sendable {
        public let name: String
        public let partitions: Int
        public let replicationFactor: Int

        public init(name: String, partitions: Int, replicationFactor: Int) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
        }
    }

    private let producer: KafkaProducer
    private let topics: [Topic]
    private let logger: Logger
    private let done = Atomic<Bool>(false)

    public init(producer: KafkaProducer, topics: [Topic], logger: Logger) {
        self.producer = producer
        self.topics = topics
        self.logger = logger
    }

    public var isDone: Bool { done.load(ordering: .relaxed) }

    public func run() async throws {
        var delay = Duration.milliseconds(500)
        for topic in topics {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let producer = self.producer
                let outcome: Result<Int, KafkaError> = await offloadBlocking {
                    Result { () throws(KafkaError) in
                        try producer.ensureTopic(topic.name, partitions: topic.partitions, replicationFactor: topic.replicationFactor, timeout: .seconds(5))
                    }
                }
                switch outcome {
                case .success(let partitions):
                    logger.info("Kafka topic ready", metadata: ["cinder.kafka.topic": "\(topic.name)", "cinder.kafka.partitions": "\(partitions)"])
                case .failure(let error):
                    logger.warning("cannot ensure Kafka topic yet, retrying", metadata: ["cinder.kafka.topic": "\(topic.name)", "cinder.error": "\(error)"])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(10))
                    continue
                }
                break
            }
        }
        done.store(true, ordering: .relaxed)
        try? await gracefulShutdown()
    }

    /// Ready when the topics were ensured and a broker answers now.
    public func readiness() async -> String? {
        guard isDone else { return "Kafka topics not ensured yet" }
        let producer = self.producer
        return await offloadBlocking { producer.isReachable(timeout: .seconds(2)) } ? nil : "Kafka unreachable"
    }
}

/// Runs a blocking librdkafka call on a thread outside Swift's cooperative pool.
func offloadBlocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
