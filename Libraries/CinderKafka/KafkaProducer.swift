import CRdKafka
import Foundation
import Logging
import Synchronization

/// Where a produced message landed.
public struct KafkaDelivery: Sendable, Hashable {
    public let partition: Int32
    public let offset: Int64
}

/// A record header, e.g. why a message was dead-lettered.
public struct KafkaHeader: Sendable, Hashable {
    public let name: String
    public let value: [UInt8]

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = Array(value.utf8)
    }
}

/// One in-flight message: its delivery report resumes the waiting task.
private final class DeliveryBox {
    let continuation: CheckedContinuation<KafkaDelivery, any Error>
    init(_ continuation: CheckedContinuation<KafkaDelivery, any Error>) { self.continuation = continuation }
}

/// A librdkafka producer: idempotent, `acks=all`, compressed. `send` returns only once the broker
/// acknowledged the message (its delivery report), which is what lets a receiver answer 200 safely.
public final class KafkaProducer: @unchecked Sendable {
    // rd_kafka_t is thread-safe; topic handles are cached under the lock.
    private let handle: OpaquePointer
    private let topics = Mutex<[String: OpaquePointer]>([:])
    private let poller: PollThread
    private let logger: Logger

    public static let defaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": "5",
        "message.timeout.ms": "30000",
    ]

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        let conf = try configuration.makeConf(Self.defaults)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message = message?.pointee, let opaque = message._private else { return }
            let box = Unmanaged<DeliveryBox>.fromOpaque(opaque).takeRetainedValue()
            if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                box.continuation.resume(returning: KafkaDelivery(partition: message.partition, offset: message.offset))
            } else {
                box.continuation.resume(throwing: KafkaError(message.err, context: "delivery failed"))
            }
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            throw KafkaError(message: "cannot create Kafka producer: \(errorText(errstr))")
        }
        self.handle = handle
        self.logger = logger
        let shared = ClientHandle(pointer: handle)
        self.poller = PollThread(name: "cinder-kafka-producer") { _ = rd_kafka_poll(shared.pointer, 100) }
    }

    private func topic(_ name: String) -> OpaquePointer {
        topics.withLock { topics in
            if let existing = topics[name] { return existing }
            let created = rd_kafka_topic_new(handle, name, nil)!
            topics[name] = created
            return created
        }
    }

    /// Sends one message and waits for the broker's acknowledgement.
    public func send(topic name: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader] = []) async throws -> KafkaDelivery {
        let topic = self.topic(name)
        return try await withCheckedThrowingContinuation { continuation in
            let opaque = Unmanaged.passRetained(DeliveryBox(continuation)).toOpaque()
            // Owned by librdkafka once the produce call succeeds, by us otherwise.
            var recordHeaders: OpaquePointer?
            if !headers.isEmpty {
                recordHeaders = rd_kafka_headers_new(headers.count)
                for header in headers {
                    _ = header.value.withUnsafeBytes { rd_kafka_header_add(recordHeaders, header.name, -1, $0.baseAddress, $0.count) }
                }
            }
            let error = value.withUnsafeBytes { valueBytes in
                key.withUnsafeBytes { keyBytes in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: recordHeaders == nil ? 4 : 5)
                    fields[0].vtype = RD_KAFKA_VTYPE_RKT
                    fields[0].u.rkt = topic
                    fields[1].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[1].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress), size: valueBytes.count)
                    fields[2].vtype = RD_KAFKA_VTYPE_KEY
                    fields[2].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress), size: keyBytes.count)
                    fields[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                    fields[3].u.ptr = opaque
                    if let recordHeaders {
                        fields[4].vtype = RD_KAFKA_VTYPE_HEADERS
                        fields[4].u.headers = recordHeaders
                    }
                    // Without a MSGFLAGS field librdkafka copies the payload (RD_KAFKA_MSG_F_COPY).
                    return rd_kafka_produceva(handle, fields, fields.count)
                }
            }
            if let error {
                defer { rd_kafka_error_destroy(error) }
                if let recordHeaders { rd_kafka_headers_destroy(recordHeaders) }
                Unmanaged<DeliveryBox>.fromOpaque(opaque).release()
                continuation.resume(throwing: KafkaError(rd_kafka_error_code(error), context: "produce failed"))
            }
        }
    }

    /// Whether a broker answers a metadata request within `timeout` (blocks the calling thread).
    public func isReachable(timeout: Duration) -> Bool {
        (try? KafkaMetadata.topics(handle, timeout: timeout)) != nil
    }

    /// Makes sure `name` exists, creating it with `partitions` when it does not; returns its partition count.
    /// Blocks the calling thread for up to about `timeout`.
    public func ensureTopic(_ name: String, partitions: Int, replicationFactor: Int, timeout: Duration) throws(KafkaError) -> Int {
        try KafkaMetadata.ensureTopic(handle, name: name, partitions: partitions, replicationFactor: replicationFactor, timeout: timeout)
    }

    /// Waits for outstanding deliveries (up to `timeout`), then releases the client.
    public func close(timeout: Duration = .seconds(10)) {
        let err = rd_kafka_flush(handle, timeout.milliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.error("Kafka producer closed with undelivered messages", metadata: ["cinder.kafka.error": "\(KafkaError(err, context: "flush"))"])
            // Fail what is left, so every waiting `send` is answered (with an error) before the client goes.
            _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            _ = rd_kafka_flush(handle, 1000)
        }
        poller.stop()
        topics.withLock { topics in
            for topic in topics.values { rd_kafka_topic_destroy(topic) }
            topics.removeAll()
        }
        rd_kafka_destroy(handle)
    }
}
