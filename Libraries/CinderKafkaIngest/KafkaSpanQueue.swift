import CinderIngest
import CinderKafka
import CinderModel
import CinderQueueFormat
import Logging
import Synchronization

/// The collector's `SpanQueue`: spans go to the span topic, one `SpanBatch` per trace keyed by trace id
/// (a trace stays in one partition, so one writer sees all of it). `publish` returns once the broker
/// acknowledged every message of the request (acks=all).
public final class KafkaSpanQueue: SpanQueue {
    public struct Configuration: Sendable {
        public var topic: String
        /// Bytes of messages awaiting acknowledgement; beyond it requests are refused (503).
        public var maxInFlightBytes: Int

        public init(topic: String = "cinder.spans.v1", maxInFlightBytes: Int = 64 << 20) {
            self.topic = topic
            self.maxInFlightBytes = maxInFlightBytes
        }
    }

    private let producer: KafkaProducer
    private let configuration: Configuration
    private let inFlightBytes = Atomic<Int>(0)
    private let logger: Logger

    public init(producer: KafkaProducer, configuration: Configuration, logger: Logger) {
        self.producer = producer
        self.configuration = configuration
        self.logger = logger
    }

    public func checkCapacity() throws(CinderError) {
        guard inFlightBytes.load(ordering: .relaxed) < configuration.maxInFlightBytes else { throw .queueFull }
    }

    public func publish(_ batches: [ProjectSpans]) async throws(CinderError) {
        var messages: [(key: [UInt8], value: [UInt8])] = []
        for batch in batches {
            var byTrace: [String: [Span]] = [:]
            var order: [String] = []
            for span in batch.spans {
                if byTrace[span.traceID] == nil { order.append(span.traceID) }
                byTrace[span.traceID, default: []].append(span)
            }
            for traceID in order {
                let envelope = ProjectSpans(organizationID: batch.organizationID, projectName: batch.projectName, spans: byTrace[traceID]!)
                messages.append((Array(traceID.utf8), SpanBatchCodec.encode(envelope)))
            }
        }
        let bytes = messages.reduce(0) { $0 + $1.value.count }
        let before = inFlightBytes.add(bytes, ordering: .relaxed).oldValue
        defer { inFlightBytes.subtract(bytes, ordering: .relaxed) }
        // A request larger than the whole budget still goes through alone.
        guard before == 0 || before + bytes <= configuration.maxInFlightBytes else { throw .queueFull }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for message in messages {
                    group.addTask {
                        _ = try await self.producer.send(topic: self.configuration.topic, key: message.key, value: message.value)
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as KafkaError where error.isQueueFull {
            throw .queueFull
        } catch {
            // Not acknowledged (broker unreachable, timed out): the caller answers 503 and the exporter retries;
            // messages that did reach Kafka are stored idempotently on the retry.
            logger.warning("span batch not acknowledged by Kafka", metadata: ["cinder.error": "\(error)"])
            throw CinderError(.unavailable, "Kafka did not acknowledge the spans; retry later", retryAfterSeconds: 1)
        }
    }
}
