import CinderIngest
import CinderKafka
import CinderModel
import CinderQueueFormat
import Logging
import Metrics
import Synchronization

/// The collector's `SpanQueue`: spans go to the span topic, one `SpanBatch` per trace keyed by trace id
/// (a trace stays in one partition, so one writer sees all of it). `publish` returns once the broker
/// acknowledged every message of the request (acks=all).
public final class KafkaSpanQueue: SpanQueue {
    public struct Configuration: Sendable {
        public var topic: String
        /// Bytes of messages awaiting acknowledgement; beyond it requests are refused (503).
        public var maxInFlightBytes: Int
        /// How long a request waits for Kafka's acknowledgement before it is refused (503, retried).
        public var ackTimeout: Duration

        public init(topic: String = "cinder.spans.v1", maxInFlightBytes: Int = 64 << 20, ackTimeout: Duration = .seconds(5)) {
            self.topic = topic
            self.maxInFlightBytes = maxInFlightBytes
            self.ackTimeout = ackTimeout
        }
    }

    private let producer: KafkaProducer
    private let configuration: Configuration
    private let inFlightBytes = Atomic<Int>(0)
    private let logger: Logger
    private let produceDuration: Metrics.Timer
    private let refusedForCapacity: Counter
    private let refusedUnacknowledged: Counter

    public init(producer: KafkaProducer, configuration: Configuration, logger: Logger, metrics: any MetricsFactory) {
        self.producer = producer
        self.configuration = configuration
        self.logger = logger
        produceDuration = Metrics.Timer(
            label: "cinder_kafka_produce_duration_seconds", preferredDisplayUnit: .seconds, factory: metrics)
        refusedForCapacity = Counter(
            label: "cinder_collector_requests_refused_total", dimensions: [("reason", "in_flight_bytes")], factory: metrics)
        refusedUnacknowledged = Counter(
            label: "cinder_collector_requests_refused_total", dimensions: [("reason", "kafka_unavailable")], factory: metrics)
    }

    public func checkCapacity() throws(CinderError) {
        guard inFlightBytes.load(ordering: .relaxed) < configuration.maxInFlightBytes else {
            refusedForCapacity.increment()
            throw .queueFull
        }
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
        guard before == 0 || before + bytes <= configuration.maxInFlightBytes else {
            refusedForCapacity.increment()
            throw .queueFull
        }
        let started = ContinuousClock.now
        do {
            try await producer.sendAll(topic: configuration.topic, messages: messages, deadline: configuration.ackTimeout)
            produceDuration.recordInterval(since: started)
        } catch let error as KafkaError where error.isQueueFull {
            refusedForCapacity.increment()
            throw .queueFull
        } catch {
            // Not acknowledged (broker unreachable, timed out): the caller answers 503 and the exporter retries;
            // messages that did reach Kafka are stored idempotently on the retry.
            refusedUnacknowledged.increment()
            logger.warning("span batch not acknowledged by Kafka", metadata: ["cinder.error": "\(error)"])
            // Back-pressure like a full queue (503 + Retry-After, RESOURCE_EXHAUSTED + RetryInfo): both tell
            // exporters to retry, and this is capacity the cluster lacks right now, not a broken request.
            throw CinderError(.overloaded, "Kafka did not acknowledge the spans in time; retry later", retryAfterSeconds: 1)
        }
    }
}

extension Metrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - start).components
        recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }
}
