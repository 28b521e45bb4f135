import CinderIngest
import CinderKafka
import CinderModel
import CinderQueueFormat
import CinderStorage
import Dispatch
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// `cinder-writer`'s core: consumes the span topic in a consumer group and writes what it reads to
/// PostgreSQL, batched by span count and time, each batch in one transaction.
///
/// Offsets are committed only after the batch's transaction committed (and its undecodable messages
/// were acknowledged by the dead-letter topic), so a crash at any point re-delivers rather than loses;
/// rows are idempotent on span id, so re-delivery stores nothing twice. When the database fails,
/// the batch is retried with back-off while consumption is paused (the member stays in its group).
///
/// The consumer runs on a thread of its own: librdkafka's poll blocks, and rebalance callbacks arrive
/// inside it, where the work done for revoked partitions must be committed before they move.
public final class SpanTopicWriter: Service, Sendable {
    public struct Configuration: Sendable {
        public var topic: String
        public var deadLetterTopic: String
        public var groupID: String
        /// A batch is written once it holds this many spans...
        public var batchSpans: Int
        /// ...or once its first message has waited this long.
        public var batchInterval: Duration
        public var maxRetryDelay: Duration
        /// A write that has not finished by then counts as failed and is retried. PostgreSQL clients wait
        /// for a connection indefinitely while the server is down; this turns that into visible retries.
        public var writeTimeout: Duration
        /// After SIGTERM, how long to keep retrying a failing database before leaving the group with the
        /// batch uncommitted (the partitions' next owner reads it again).
        public var shutdownTimeout: Duration

        public init(
            topic: String = "cinder.spans.v1", deadLetterTopic: String = "cinder.spans.v1.dlq", groupID: String = "cinder-writer",
            batchSpans: Int = 5_000, batchInterval: Duration = .milliseconds(100), maxRetryDelay: Duration = .seconds(5),
            writeTimeout: Duration = .seconds(15), shutdownTimeout: Duration = .seconds(20)
        ) {
            self.topic = topic
            self.deadLetterTopic = deadLetterTopic
            self.groupID = groupID
            self.batchSpans = max(1, batchSpans)
            self.batchInterval = batchInterval
            self.maxRetryDelay = maxRetryDelay
            self.writeTimeout = writeTimeout
            self.shutdownTimeout = shutdownTimeout
        }
    }

    private let kafka: KafkaConfiguration
    private let deadLetters: KafkaProducer
    private let store: any SpanStore
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: WriterMetrics
    private let running = Atomic<Bool>(false)

    public init(
        kafka: KafkaConfiguration, deadLetters: KafkaProducer, store: any SpanStore, configuration: Configuration, logger: Logger,
        metrics: any MetricsFactory
    ) {
        self.kafka = kafka
        self.deadLetters = deadLetters
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.metrics = WriterMetrics(factory: metrics)
    }

    /// True while the consumer thread runs (for readiness).
    public var isRunning: Bool { running.load(ordering: .relaxed) }

    public func run() async throws {
        let loop = try ConsumerLoop(
            kafka: kafka, deadLetters: deadLetters, store: store, configuration: configuration, logger: logger, metrics: metrics)
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    loop.run()
                    finished.resume()
                }
                thread.name = "cinder-writer-consumer"
                thread.start()
            }
        } onCancelOrGracefulShutdown: {
            loop.stop()
        }
        logger.info("span writer stopped")
    }
}

struct WriterMetrics: Sendable {
    let spansWritten: Counter
    let batches: Counter
    let deadLettered: Counter
    let retries: Counter
    let batchDuration: Metrics.Timer
    let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        spansWritten = Counter(label: "cinder_spans_written_total", factory: factory)
        batches = Counter(label: "cinder_writer_batches_total", factory: factory)
        deadLettered = Counter(label: "cinder_writer_dead_letters_total", factory: factory)
        retries = Counter(label: "cinder_writer_write_retries_total", factory: factory)
        batchDuration = Metrics.Timer(label: "cinder_writer_batch_duration_seconds", preferredDisplayUnit: .seconds, factory: factory)
    }

    func lag(_ partition: KafkaTopicPartition) -> Gauge {
        Gauge(label: "cinder_writer_consumer_lag", dimensions: [("topic", partition.topic), ("partition", "\(partition.partition)")], factory: factory)
    }
}

struct WriteTimedOut: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "the database did not complete the write within \(timeout)" }
}

/// Runs an async operation to completion from the consumer thread (never from a concurrency thread).
private func runBlocking<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Result<T, any Error>?>(nil)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}

/// The state of one consumer: touched only by its thread (and `stop`, which only sets a flag).
private final class ConsumerLoop: @unchecked Sendable {
    /// One consumed message: its spans, or why it goes to the dead-letter topic.
    struct Entry {
        let message: KafkaMessage
        var spans: EncodedSpans?
        var poison: String?
        var deadLettered = false
    }

    private let deadLetters: KafkaProducer
    private let store: any SpanStore
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: WriterMetrics
    private var consumer: KafkaConsumer!
    private let stopping = Atomic<Bool>(false)

    private var batch: [Entry] = []
    private var batchSpans = 0
    private var batchStarted: ContinuousClock.Instant?
    private var retrying = false
    private var lagGauges: [KafkaTopicPartition: Gauge] = [:]
    private var lagReported = ContinuousClock.now

    typealias Configuration = SpanTopicWriter.Configuration

    init(
        kafka: KafkaConfiguration, deadLetters: KafkaProducer, store: any SpanStore, configuration: Configuration, logger: Logger,
        metrics: WriterMetrics
    ) throws(KafkaError) {
        self.deadLetters = deadLetters
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        // The listener runs on this loop's thread, inside `poll` or `close`.
        let listener = KafkaRebalanceListener(
            assigned: { [unowned self] partitions in
                self.logger.info("partitions assigned", metadata: ["cinder.kafka.partitions": "\(partitions)"])
            },
            revoked: { [unowned self] partitions in self.revoked(partitions) })
        consumer = try KafkaConsumer(
            configuration: kafka, groupID: configuration.groupID, topics: [configuration.topic], logger: logger, rebalance: listener)
    }

    func stop() { stopping.store(true, ordering: .relaxed) }

    func run() {
        logger.info("span writer consuming", metadata: ["cinder.kafka.topic": "\(configuration.topic)", "cinder.kafka.group": "\(configuration.groupID)"])
        while !stopping.load(ordering: .relaxed) {
            var wait = Duration.milliseconds(100)
            if let batchStarted { wait = max(.zero, min(wait, configuration.batchInterval - (ContinuousClock.now - batchStarted))) }
            if let message = consumer.poll(timeout: wait) { take(message) }
            if batchSpans >= configuration.batchSpans
                || (batchStarted.map { ContinuousClock.now - $0 >= configuration.batchInterval } ?? false)
            {
                flush(deadline: nil)
            }
            reportLag()
        }
        flush(deadline: .now + configuration.shutdownTimeout)
        // Leaving the group runs the revocation listener, which finds nothing left to commit.
        consumer.close()
        for gauge in lagGauges.values { gauge.record(0) }
    }

    private func take(_ message: KafkaMessage) {
        var entry = Entry(message: message)
        do {
            let rows = try SpanBatchCodec.decodeRows(message.value)
            if rows.count > 0 {
                entry.spans = rows
                batchSpans += rows.count
            }
        } catch {
            entry.poison = error.description
        }
        if batchStarted == nil { batchStarted = .now }
        batch.append(entry)
    }

    /// Writes the batch and commits its offsets, retrying (consumption paused) until it succeeds, the
    /// batch is revoked away, or the deadline passes. Returns whether the batch was committed.
    @discardableResult
    private func flush(deadline initial: ContinuousClock.Instant?) -> Bool {
        var deadline = initial
        var delay = Duration.milliseconds(100)
        var paused = false
        defer {
            if paused { consumer.resumeAll() }
            retrying = false
        }
        while !batch.isEmpty {
            do {
                try writeAndCommit()
                return true
            } catch {
                if deadline == nil, stopping.load(ordering: .relaxed) { deadline = .now + configuration.shutdownTimeout }
                if let deadline, ContinuousClock.now >= deadline {
                    logger.error(
                        "giving up on a span batch; its offsets stay uncommitted and the group reads it again",
                        metadata: ["cinder.messages": "\(batch.count)", "cinder.error": "\(String(reflecting: error))"])
                    return false
                }
                metrics.retries.increment()
                logger.warning(
                    "span batch write failed, retrying with consumption paused",
                    metadata: ["cinder.messages": "\(batch.count)", "cinder.error": "\(String(reflecting: error))"])
                retrying = true
                // Re-paused every time: a rebalance meanwhile may have brought partitions that are not.
                consumer.pauseAll()
                paused = true
                // Keep polling while waiting, so the group sees this member alive and rebalances reach it.
                let until = ContinuousClock.now + delay
                while ContinuousClock.now < until {
                    if let message = consumer.poll(timeout: min(until - .now, .milliseconds(100))) { take(message) }
                }
                delay = min(delay * 2, configuration.maxRetryDelay)
            }
        }
        return true
    }

    /// The batch's bad messages to the dead-letter topic, its spans in one transaction, then its offsets.
    private func writeAndCommit() throws {
        let started = ContinuousClock.now
        try deadLetterPoison()
        var inserted = 0
        let spans = batch.compactMap(\.spans)
        do {
            inserted = try insert(spans)
        } catch let error as CinderError where error.code == .unprocessable {
            // Some message carries data the database refuses: write them one by one, dead-letter the refused.
            for index in batch.indices {
                guard let spans = batch[index].spans else { continue }
                do {
                    inserted += try insert([spans])
                } catch let error as CinderError where error.code == .unprocessable {
                    batch[index].spans = nil
                    batch[index].poison = error.message
                }
            }
            try deadLetterPoison()
        }
        do {
            try consumer.commit(batch.map(\.message))
        } catch {
            // The rows are committed; if the group re-delivers, they are skipped as duplicates.
            logger.warning("offset commit failed after the batch was written", metadata: ["cinder.error": "\(error)"])
        }
        metrics.spansWritten.increment(by: inserted)
        metrics.batches.increment()
        metrics.batchDuration.recordInterval(since: started)
        logger.debug(
            "span batch written",
            metadata: ["cinder.messages": "\(batch.count)", "cinder.spans": "\(batchSpans)", "cinder.inserted": "\(inserted)"])
        clear()
    }

    private func insert(_ spans: [EncodedSpans]) throws -> Int {
        guard !spans.isEmpty else { return 0 }
        let store = self.store
        let timeout = configuration.writeTimeout
        return try runBlocking {
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await store.insert(spans) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw WriteTimedOut(timeout: timeout)
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        }
    }

    /// Sends the batch's undecodable messages to the dead-letter topic, with why and where they came from.
    private func deadLetterPoison() throws {
        let pending = batch.indices.filter { batch[$0].poison != nil && !batch[$0].deadLettered }
        guard !pending.isEmpty else { return }
        let producer = deadLetters
        let topic = configuration.deadLetterTopic
        let messages = pending.map { (batch[$0].message, batch[$0].poison!) }
        try runBlocking {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (message, reason) in messages {
                    group.addTask {
                        _ = try await producer.send(
                            topic: topic, key: message.key, value: message.value,
                            headers: [
                                KafkaHeader("cinder.error", reason), KafkaHeader("cinder.source.topic", message.topic),
                                KafkaHeader("cinder.source.partition", "\(message.partition)"),
                                KafkaHeader("cinder.source.offset", "\(message.offset)"),
                            ])
                    }
                }
                try await group.waitForAll()
            }
        }
        for index in pending {
            batch[index].deadLettered = true
            logger.error(
                "message sent to the dead-letter topic",
                metadata: [
                    "cinder.kafka.source": "\(batch[index].message.topicPartition)@\(batch[index].message.offset)",
                    "cinder.kafka.topic": "\(topic)", "cinder.error": "\(batch[index].poison!)",
                ])
        }
        metrics.deadLettered.increment(by: pending.count)
    }

    private func clear() {
        batch.removeAll(keepingCapacity: true)
        batchSpans = 0
        batchStarted = nil
    }

    /// Partitions are leaving this member: commit what was read from them if the database allows it now,
    /// otherwise forget it (uncommitted, the next owner reads it again). Never retries here: this runs
    /// inside librdkafka's poll, and the group is waiting.
    private func revoked(_ partitions: [KafkaTopicPartition]) {
        logger.info("partitions revoked", metadata: ["cinder.kafka.partitions": "\(partitions)"])
        let leaving = Set(partitions)
        if !retrying, !batch.isEmpty {
            do {
                try writeAndCommit()
            } catch {
                logger.warning("could not write the batch before a rebalance", metadata: ["cinder.error": "\(String(reflecting: error))"])
            }
        }
        batch.removeAll { leaving.contains($0.message.topicPartition) }
        batchSpans = batch.reduce(0) { $0 + ($1.spans?.count ?? 0) }
        if batch.isEmpty { batchStarted = nil }
        for partition in partitions { lagGauges.removeValue(forKey: partition)?.record(0) }
    }

    private func reportLag() {
        guard ContinuousClock.now - lagReported >= .seconds(1) else { return }
        lagReported = .now
        for (partition, lag) in consumer.lag() {
            if lagGauges[partition] == nil { lagGauges[partition] = metrics.lag(partition) }
            lagGauges[partition]!.record(lag)
        }
    }
}
