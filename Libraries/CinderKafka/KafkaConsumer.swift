import CRdKafka
import Foundation
import Logging

public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)/\(partition)" }

    static func array(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list = list?.pointee else { return [] }
        return (0..<Int(list.cnt)).map { KafkaTopicPartition(topic: String(cString: list.elems[$0].topic), partition: list.elems[$0].partition) }
    }
}

public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]
    public let value: [UInt8]

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8], value: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}

/// Told about partitions joining and leaving this member. Both run on the thread that called `poll`
/// (or `close`), inside that call, before librdkafka changes the assignment: `revoked` is the last moment
/// to commit work done for those partitions.
public struct KafkaRebalanceListener {
    public var assigned: ([KafkaTopicPartition]) -> Void
    public var revoked: ([KafkaTopicPartition]) -> Void

    public init(assigned: @escaping ([KafkaTopicPartition]) -> Void = { _ in }, revoked: @escaping ([KafkaTopicPartition]) -> Void) {
        self.assigned = assigned
        self.revoked = revoked
    }
}

private final class RebalanceBox {
    var listener: KafkaRebalanceListener?
}

/// A consumer-group member with manual offset commits: offsets are committed only when the caller
/// says its work for them is durable.
///
/// Not thread-safe by design: one thread polls, writes and commits (librdkafka requires `poll` to be
/// called regularly, and the rebalance listener runs inside it).
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let logger: Logger
    private let rebalance: RebalanceBox

    public static let defaults: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    public init(
        configuration: KafkaConfiguration, groupID: String, topics: [String], logger: Logger,
        rebalance listener: KafkaRebalanceListener? = nil
    ) throws(KafkaError) {
        var defaults = Self.defaults
        defaults["group.id"] = groupID
        let conf = try configuration.makeConf(defaults)
        let box = RebalanceBox()
        box.listener = listener
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(box).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { handle, err, partitions, opaque in
            guard let handle, let opaque else { return }
            let listener = Unmanaged<RebalanceBox>.fromOpaque(opaque).takeUnretainedValue().listener
            let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
            let changed = KafkaTopicPartition.array(partitions)
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                if cooperative {
                    if let error = rd_kafka_incremental_assign(handle, partitions) { rd_kafka_error_destroy(error) }
                } else {
                    _ = rd_kafka_assign(handle, partitions)
                }
                listener?.assigned(changed)
            } else {
                listener?.revoked(changed)
                if cooperative {
                    if let error = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(error) }
                } else {
                    _ = rd_kafka_assign(handle, nil)
                }
            }
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
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
        self.rebalance = box
    }

    /// Blocks up to `timeout` for the next message (call it from a dedicated thread).
    /// Broker-side errors that librdkafka recovers from are logged and answered with nil.
    public func poll(timeout: Duration) -> KafkaMessage? {
        guard let pointer = rd_kafka_consumer_poll(handle, timeout.milliseconds) else { return nil }
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

    /// Synchronously commits `offsets` (the next offset to read, per partition).
    public func commit(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = makeList(offsets.keys)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            list.pointee.elems[index].offset = offsets[KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)]!
        }
        let err = rd_kafka_commit(handle, list, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "commit failed") }
    }

    /// Synchronously commits "everything up to and including these messages" for their partitions.
    public func commit(_ messages: [KafkaMessage]) throws(KafkaError) {
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages { next[message.topicPartition] = max(next[message.topicPartition] ?? 0, message.offset + 1) }
        try commit(next)
    }

    /// The partitions currently assigned to this member.
    public func assignment() -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return KafkaTopicPartition.array(list)
    }

    /// Stops fetching for every assigned partition; `poll` keeps serving the group (heartbeats, rebalances)
    /// while the caller waits, e.g. for the database to come back.
    public func pauseAll() {
        let list = makeList(assignment())
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_pause_partitions(handle, list)
    }

    public func resumeAll() {
        let list = makeList(assignment())
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_resume_partitions(handle, list)
    }

    /// Messages not yet consumed per assigned partition: the last known high watermark minus this
    /// member's position (no broker round trip; both come with fetches).
    public func lag() -> [KafkaTopicPartition: Int64] {
        let list = makeList(assignment())
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_position(handle, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { return [:] }
        var result: [KafkaTopicPartition: Int64] = [:]
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(handle, element.topic, element.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                high >= 0
            else { continue }
            let position = element.offset >= 0 ? element.offset : low
            guard position >= 0 else { continue }
            result[KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)] = max(0, high - position)
        }
        return result
    }

    private func makeList(_ partitions: some Collection<KafkaTopicPartition>) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))!
        for partition in partitions { rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition) }
        return list
    }

    /// Leaves the group (the rebalance listener hears the revocation first, so it can commit) and
    /// releases the client.
    public func close() {
        _ = rd_kafka_consumer_close(handle)
        rebalance.listener = nil
        rd_kafka_destroy(handle)
    }
}
