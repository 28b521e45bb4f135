import CRdKafka
import Foundation
import Logging
import Synchronization

/// Where a produced message landed.
public struct KafkaDelivery: Sendable, Hashable {
    public let partition: Int32
    public let offset: Int64
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
    public func send(topic name: String, key: [UInt8], value: [UInt8]) async throws -> KafkaDelivery {
        let topic = self.topic(name)
        return try await withCheckedThrowingContinuation { continuation in
            let opaque = Unmanaged.passRetained(DeliveryBox(continuation)).toOpaque()
            let result = value.withUnsafeBytes { valueBytes in
                key.withUnsafeBytes { keyBytes in
                    rd_kafka_produce(
                        topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                        UnsafeMutableRawPointer(mutating: valueBytes.baseAddress), valueBytes.count,
                        keyBytes.baseAddress, keyBytes.count, opaque)
                }
            }
            if result != 0 {
                Unmanaged<DeliveryBox>.fromOpaque(opaque).release()
                continuation.resume(throwing: KafkaError(rd_kafka_last_error(), context: "produce failed"))
            }
        }
    }

    /// Waits for outstanding deliveries (up to `timeout`), then releases the client.
    public func close(timeout: Duration = .seconds(10)) {
        let ms = Int32(timeout.components.seconds * 1000)
        let err = rd_kafka_flush(handle, ms)
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

