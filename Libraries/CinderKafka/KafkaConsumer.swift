import CRdKafka
import Foundation
import Logging

public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]
    public let value: [UInt8]
}

/// A consumer-group member with manual offset commits: offsets are committed only when the caller
/// says its work for them is durable.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger

    public static let defaults: [String: String] = [
        "enable.auto.commit": "false",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    public init(configuration: KafkaConfiguration, groupID: String, topics: [String], logger: Logger) throws(KafkaError) {
        var defaults = Self.defaults
        defaults["group.id"] = groupID
        let conf = try configuration.makeConf(defaults)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            throw KafkaError(message: "cannot create Kafka consumer: \(errorText(errstr))")
        }
        rd_kafka_poll_set_consumer(handle)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError(err, context: "subscribe failed")
        }
        self.handle = handle
        self.logger = logger
    }

    /// Blocks up to `timeout` for the next message (call it from a dedicated thread or a blocking task).
    /// Broker-side errors that librdkafka recovers from are logged and answered with nil.
    public func poll(timeout: Duration) -> KafkaMessage? {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard let pointer = rd_kafka_consumer_poll(handle, ms) else { return nil }
        defer { rd_kafka_message_destroy(pointer) }
        let message = pointer.pointee
        guard message.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            logger.warning("Kafka consumer error", metadata: ["cinder.kafka.error": "\(KafkaError(message.err, context: "poll"))"])
            return nil
        }
        let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
        let key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) } ?? []
        return KafkaMessage(topic: topic, partition: message.partition, offset: message.offset, key: key, value: value)
    }

    /// Synchronously commits "everything up to and including these messages" for their partitions.
    public func commit(_ messages: [KafkaMessage]) throws(KafkaError) {
        var next: [String: [Int32: Int64]] = [:]
        for message in messages {
            next[message.topic, default: [:]][message.partition] = max(next[message.topic]?[message.partition] ?? 0, message.offset + 1)
        }
        guard !next.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(messages.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topic, partitions) in next {
            for (partition, offset) in partitions {
                rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
            }
        }
        let err = rd_kafka_commit(handle, list, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "commit failed") }
    }

    /// Leaves the group (partitions are handed to the other members) and releases the client.
    public func close() {
        _ = rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }
}
