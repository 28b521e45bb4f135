import CinderKafka
import Foundation
import Logging
import Testing

@Suite struct KafkaRoundTripTests {
    /// Every acknowledged message is consumed exactly once by the group, and committed offsets hold:
    /// a second consumer of the same group sees nothing again.
    @Test func producedMessagesAreAcknowledgedConsumedAndCommitted() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("spans", partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        var logger = Logger(label: "kafka-test")
        logger.logLevel = .error

        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        var deliveries: [KafkaDelivery] = []
        for i in 0..<60 {
            deliveries.append(try await producer.send(topic: "spans", key: Array("trace-\(i % 7)".utf8), value: Array("span-\(i)".utf8)))
        }
        producer.close()
        #expect(Set(deliveries.map(\.partition)).isSubset(of: [0, 1, 2]))

        let consumer = try KafkaConsumer(configuration: configuration, groupID: "writers", topics: ["spans"], logger: logger)
        var values: [String] = []
        var keysByPartition: [Int32: Set<String>] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while values.count < 60, ContinuousClock.now < deadline {
            if let message = consumer.poll(timeout: .milliseconds(200)) {
                values.append(String(decoding: message.value, as: UTF8.self))
                keysByPartition[message.partition, default: []].insert(String(decoding: message.key, as: UTF8.self))
                try consumer.commit([message])
            }
        }
        consumer.close()
        #expect(values.sorted() == (0..<60).map { "span-\($0)" }.sorted())
        // A key (trace id) always lands in one partition.
        let allKeys = keysByPartition.values.flatMap { $0 }
        #expect(allKeys.count == Set(allKeys).count)

        let again = try KafkaConsumer(configuration: configuration, groupID: "writers", topics: ["spans"], logger: logger)
        var redelivered = 0
        let until = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < until {
            if again.poll(timeout: .milliseconds(200)) != nil { redelivered += 1 }
        }
        again.close()
        #expect(redelivered == 0)
    }
}
