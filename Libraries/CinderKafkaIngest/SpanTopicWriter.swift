import CinderIngest
import CinderKafka
import CinderModel
import CinderQueueFormat
import CinderResilience
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
        /// Batches being written at once. More than one overlaps PostgreSQL's commit flushes; offsets are
        /// still committed in order.
        public var concurrentWrites: Int
        /// After SIGTERM, how long to keep retrying a failing database before leaving the group with the
        /// batch uncommitted (the partitions' next owner reads it again).
        public var shutdownTimeout: Duration

        public init(
            topic: String = "cinder.spans.v1", deadLetterTopic: String = "cinder.spans.v1.dlq", groupID: String = "cinder-writer",
            batchSpans: Int = 5_000, batchInterval: Duration = .milliseconds(100), maxRetryDelay: Duration = .seconds(5),
            writeTimeout: Duration = .seconds(15), concurrentWrites: Int = 2, shutdownTimeout: Duration = .seconds(20)
        ) {
            self.topic = topic
            self.deadLetterTopic = deadLetterTopic
            self.groupID = groupID
            self.batchSpans = max(1, batchSpans)
            self.batchInterval = batchInterval
            self.maxRetryDelay = maxRetryDelay
            self.writeTimeout = writeTimeout
            self.concurrentWrites = max(1, concurrentWrites)
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
    /// Messages that could be neither stored nor dead-lettered (alert on any).
    let deadLettersLost: Counter
    let retries: Counter
    let batchDuration: Metrics.Timer
    let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        spansWritten = Counter(label: "cinder_spans_written_total", factory: factory)
        batches = Counter(label: "cinder_writer_batches_total", factory: factory)
        deadLettered = Counter(label: "cinder_writer_dead_letters_total", factory: factory)
        deadLettersLost = Counter(label: "cinder_writer_dead_letters_failed_total", factory: factory)
        retries = Counter(label: "cinder_writer_write_retries_total", factory: factory)
        batchDuration = Metrics.Timer(label: "cinder_writer_batch_duration_seconds", preferredDisplayUnit: .seconds, factory: factory)
    }

    func lag(_ partition: KafkaTopicPartition) -> Gauge {
        Gauge(label: "cinder_writer_consumer_lag", dimensions: [("topic", partition.topic), ("partition", "\(partition.partition)")], factory: factory)
    }
}

/// The first of a write and its timer to finish decides the outcome.
private final class WriteRace: Sendable {
    private let state = Mutex<(result: Result<Int, any Error>?, waiter: CheckedContinuation<Int, any Error>?)>((nil, nil))

    func finish(_ result: Result<Int, any Error>) {
        let waiter: CheckedContinuation<Int, any Error>? = state.withLock { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Int, any Error>? = state.withLock { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

struct WriteTimedOut: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "the database did not complete the write within \(timeout)" }
}

/// Async work started from the consumer thread, which later blocks for its result (never do that on a
/// concurrency thread).
private final class BlockingTask<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let finished = Atomic<Bool>(false)
    // Written by the task before `finished` and `done` are set, read only after either.
    private var value: Value?

    init(_ operation: @escaping @Sendable () async -> Value) {
        Task { [self] in
            value = await operation()
            finished.store(true, ordering: .releasing)
            done.signal()
        }
    }

    var isDone: Bool { finished.load(ordering: .acquiring) }

    func wait() -> Value {
        done.wait()
        done.signal()  // later waits return at once
        return value!
    }
}

/// How a write attempt ended, with the entries as they then were (dead letters already sent are
/// marked, so a retry does not send them again).
private enum WriteOutcome: Sendable {
    case written([ConsumerLoop.Entry], inserted: Int)
    case failed([ConsumerLoop.Entry], any Error)
}

/// Everything a write attempt needs, shareable with the task that runs it.
private struct WriteContext: Sendable {
    let deadLetters: KafkaProducer
    let store: any SpanStore
    let deadLetterTopic: String
    let writeTimeout: Duration
    let logger: Logger
    let metrics: WriterMetrics

    /// One attempt: the entries' bad messages to the dead-letter topic, their spans in one transaction
    /// (one message at a time if the database refuses some; those are dead-lettered too). Returns the
    /// rows inserted.
    func write(_ entries: [ConsumerLoop.Entry]) async -> WriteOutcome {
        var written = entries
        do {
            let inserted = try await attempt(&written)
            // Counted as soon as the transaction committed, whatever happens to the offsets.
            metrics.spansWritten.increment(by: inserted)
            return .written(written, inserted: inserted)
        } catch {
            return .failed(written, error)
        }
    }

    private func attempt(_ entries: inout [ConsumerLoop.Entry]) async throws -> Int {
        // A newer collector's message is not poison: dead-lettering it would lose it mid-rollout. The
        // batch fails like a write to a database that is down (retried, consumption paused, nothing
        // committed) until a writer of the new release takes the partition over.
        if let held = entries.first(where: { $0.newerFormat != nil }), let reason = held.newerFormat {
            throw NewerFormatHeld(reason: reason, partition: held.message.partition, offset: held.message.offset)
        }
        try await deadLetter(&entries)
        let carrying = entries.indices.filter { entries[$0].spans != nil }
        // A message whose spans the database refuses is dead-lettered alone; the others are stored.
        let outcome = try await RefusedDataIsolation.write(carrying.compactMap { entries[$0].spans }) { try await insert($0) }
        for (position, error) in outcome.refused {
            entries[carrying[position]].spans = nil
            entries[carrying[position]].poison = error.message
        }
        try await deadLetter(&entries)
        return outcome.inserted
    }

    struct NewerFormatHeld: Error, CustomStringConvertible {
        let reason: String
        let partition: Int32
        let offset: Int64
        var description: String {
            "\(reason) at partition \(partition) offset \(offset): held until a writer that reads it takes over (roll the writers to the collectors' release)"
        }
    }

    private func insert(_ spans: [EncodedSpans]) async throws -> Int {
        guard !spans.isEmpty else { return 0 }
        let store = self.store
        let timeout = writeTimeout
        // Not a task group: a group waits for its children, and a query already sent does not stop when
        // cancelled (a dead server can hold it for TCP's whole retransmission time). The loser is left to
        // finish on its own; the rows it may still insert are idempotent.
        let race = WriteRace()
        let write = Task {
            do { race.finish(.success(try await store.insert(spans))) } catch { race.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            race.finish(.failure(WriteTimedOut(timeout: timeout)))
            write.cancel()
        }
        defer { timer.cancel() }
        return try await race.value()
    }

    /// Sends undecodable messages to the dead-letter topic, with why and where they came from.
    private func deadLetter(_ entries: inout [ConsumerLoop.Entry]) async throws {
        let pending = entries.indices.filter { entries[$0].poison != nil && !entries[$0].deadLettered }
        guard !pending.isEmpty else { return }
        let messages = pending.map { (entries[$0].message, entries[$0].poison!) }
        let producer = deadLetters
        let topic = deadLetterTopic
        // Per message: one that can never be produced (too large with its headers, topic refusing us) is
        // logged and counted as lost rather than blocking its partition forever.
        let outcomes = try await withThrowingTaskGroup(of: (Int, KafkaError?).self) { group in
            for (position, (message, reason)) in messages.enumerated() {
                group.addTask {
                    do {
                        _ = try await producer.send(
                            topic: topic, key: message.key, value: message.value,
                            headers: [
                                KafkaHeader("cinder.error", reason), KafkaHeader("cinder.source.topic", message.topic),
                                KafkaHeader("cinder.source.partition", "\(message.partition)"),
                                KafkaHeader("cinder.source.offset", "\(message.offset)"),
                            ])
                        return (position, nil)
                    } catch let error as KafkaError where error.isPermanentForMessage {
                        return (position, error)
                    }
                }
            }
            var outcomes = [KafkaError?](repeating: nil, count: messages.count)
            for try await (position, error) in group { outcomes[position] = error }
            return outcomes
        }
        for (index, ((message, reason), failure)) in zip(pending, zip(messages, outcomes)) {
            entries[index].deadLettered = true
            if let failure {
                metrics.deadLettersLost.increment()
                logger.critical(
                    "message cannot be stored nor dead-lettered; skipped",
                    metadata: [
                        "cinder.kafka.source": "\(message.topicPartition)@\(message.offset)", "cinder.kafka.topic": "\(topic)",
                        "cinder.error": "\(reason)", "cinder.kafka.error": "\(failure)",
                    ])
                continue
            }
            logger.error(
                "message sent to the dead-letter topic",
                metadata: [
                    "cinder.kafka.source": "\(message.topicPartition)@\(message.offset)", "cinder.kafka.topic": "\(topic)",
                    "cinder.error": "\(reason)",
                ])
        }
        metrics.deadLettered.increment(by: outcomes.filter { $0 == nil }.count)
    }
}

/// A batch being written by a task while the consumer thread reads the next one.
private struct InFlightWrite {
    let entries: [ConsumerLoop.Entry]
    let started = ContinuousClock.now
    let outcome: BlockingTask<WriteOutcome>

    init(_ entries: [ConsumerLoop.Entry], context: WriteContext) {
        self.entries = entries
        outcome = BlockingTask { await context.write(entries) }
    }
}

/// The state of one consumer: touched only by its thread (and `stop`, which only sets a flag).
///
/// Writes are pipelined: a full batch goes to a task (up to `concurrentWrites` at once) and the thread
/// goes on reading the next one; writes are joined oldest first, and each one's offsets are committed
/// only after every earlier write's were. A failed write, and every write started after it, go back
/// to the batch uncommitted and are retried synchronously, with consumption paused.
private final class ConsumerLoop: @unchecked Sendable {
    /// One consumed message: its spans, or why it goes to the dead-letter topic.
    struct Entry: Sendable {
        let message: KafkaMessage
        var spans: EncodedSpans?
        var poison: String?
        var deadLettered = false
        /// Why the message waits for a newer writer (a format this build does not read yet).
        var newerFormat: String?
    }

    private let context: WriteContext
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: WriterMetrics
    private var consumer: KafkaConsumer!
    private let stopping = Atomic<Bool>(false)

    private var batch: [Entry] = []
    private var batchSpans = 0
    private var batchStarted: ContinuousClock.Instant?
    private var inFlight: [InFlightWrite] = []
    private var retrying = false
    /// Set once, when stopping is first noticed: every wait at shutdown shares it.
    private var shutdownDeadline: ContinuousClock.Instant?
    private var gaveUp = false
    private var lagGauges: [KafkaTopicPartition: Gauge] = [:]
    private var lagReported = ContinuousClock.now

    typealias Configuration = SpanTopicWriter.Configuration

    init(
        kafka: KafkaConfiguration, deadLetters: KafkaProducer, store: any SpanStore, configuration: Configuration, logger: Logger,
        metrics: WriterMetrics
    ) throws(KafkaError) {
        self.context = WriteContext(
            deadLetters: deadLetters, store: store, deadLetterTopic: configuration.deadLetterTopic, writeTimeout: configuration.writeTimeout,
            logger: logger, metrics: metrics)
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        // The listener runs on this loop's thread, inside `poll` or `close`.
        let listener = KafkaRebalanceListener(
            assigned: { [unowned self] partitions in
                self.logger.info("partitions assigned", metadata: ["cinder.kafka.partitions": "\(partitions)"])
                // Consumption stays paused while a write is being retried; new partitions join the pause.
                if self.retrying { self.consumer.pauseAll() }
            },
            revoked: { [unowned self] partitions in self.revoked(partitions) })
        consumer = try KafkaConsumer(
            configuration: kafka, groupID: configuration.groupID, topics: [configuration.topic], logger: logger, rebalance: listener)
    }

    func stop() { stopping.store(true, ordering: .relaxed) }

    private func shutdownDeadlineNow() -> ContinuousClock.Instant {
        if let shutdownDeadline { return shutdownDeadline }
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        shutdownDeadline = deadline
        return deadline
    }

    func run() {
        logger.info("span writer consuming", metadata: ["cinder.kafka.topic": "\(configuration.topic)", "cinder.kafka.group": "\(configuration.groupID)"])
        while !stopping.load(ordering: .relaxed) {
            var wait = Duration.milliseconds(100)
            if let batchStarted { wait = max(.zero, min(wait, configuration.batchInterval - (ContinuousClock.now - batchStarted))) }
            if let message = consumer.poll(timeout: wait) { take(message) }
            let ready = batchSpans >= configuration.batchSpans
                || (batchStarted.map { ContinuousClock.now - $0 >= configuration.batchInterval } ?? false)
            // Finished writes are committed at once, not only when the next batch is due.
            while let oldest = inFlight.first, oldest.outcome.isDone || (ready && inFlight.count >= configuration.concurrentWrites) {
                if !joinOldest() {
                    flush(deadline: nil)
                    break
                }
            }
            if ready, inFlight.count < configuration.concurrentWrites, !batch.isEmpty, !stopping.load(ordering: .relaxed) {
                inFlight.append(InFlightWrite(batch, context: context))
                clear()
            }
            reportLag()
        }
        _ = joinAll()
        if !gaveUp { flush(deadline: shutdownDeadlineNow()) }
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
        } catch where error.isNewerFormat {
            entry.newerFormat = error.description
        } catch {
            entry.poison = error.description
        }
        if batchStarted == nil { batchStarted = .now }
        batch.append(entry)
    }

    /// Waits for the oldest write: commits its offsets, or, if it failed, puts its messages and those
    /// of every later write back at the head of the batch (uncommitted: a later write's offsets must not
    /// be committed past the failed one's) and returns false.
    private func joinOldest() -> Bool {
        let oldest = inFlight.removeFirst()
        switch oldest.outcome.wait() {
        case .written(let entries, let inserted):
            commit(entries, inserted: inserted, started: oldest.started)
            return true
        case .failed(let entries, let error):
            noteRetry(messages: entries.count, error: error)
            var requeued = entries
            for later in inFlight {
                switch later.outcome.wait() {
                // A later write's offsets wait for the failed one's; its rows are skipped as duplicates then.
                case .written(let entries, _), .failed(let entries, _):
                    requeued += entries
                }
            }
            inFlight.removeAll()
            batch = requeued + batch
            recount()
            batchStarted = batchStarted ?? oldest.started
            return false
        }
    }

    private func joinAll() -> Bool {
        while !inFlight.isEmpty {
            if !joinOldest() { return false }
        }
        return true
    }

    /// Writes the batch and commits its offsets, retrying (consumption paused) until it succeeds, the
    /// batch is revoked away, or the deadline passes. Returns whether the batch was committed.
    @discardableResult
    private func flush(deadline initial: ContinuousClock.Instant?) -> Bool {
        var deadline = initial
        let backoff = Backoff.untilDeadline(maxDelay: configuration.maxRetryDelay)
        var attempt = 0
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
                if deadline == nil, stopping.load(ordering: .relaxed) { deadline = shutdownDeadlineNow() }
                if let deadline, ContinuousClock.now >= deadline {
                    gaveUp = true
                    logger.error(
                        "giving up on a span batch; its offsets stay uncommitted and the group reads it again",
                        metadata: ["cinder.messages": "\(batch.count)", "cinder.error": "\(String(reflecting: error))"])
                    return false
                }
                noteRetry(messages: batch.count, error: error)
                retrying = true
                // Re-paused every time: a rebalance meanwhile may have brought partitions that are not.
                consumer.pauseAll()
                paused = true
                // Keep polling while waiting, so the group sees this member alive and rebalances reach it.
                attempt += 1
                let until = ContinuousClock.now + (backoff.delay(afterAttempt: attempt) ?? backoff.maxDelay)
                while ContinuousClock.now < until {
                    if let message = consumer.poll(timeout: max(.zero, min(until - .now, .milliseconds(100)))) { take(message) }
                }
            }
        }
        return true
    }

    /// One synchronous attempt at the whole batch, then its offsets.
    private func writeAndCommit() throws {
        let started = ContinuousClock.now
        let entries = batch
        let context = self.context
        switch BlockingTask({ await context.write(entries) }).wait() {
        case .written(let written, let inserted):
            commit(written, inserted: inserted, started: started)
            clear()
        case .failed(let entries, let error):
            batch = entries
            throw error
        }
    }

    private func noteRetry(messages: Int, error: any Error) {
        metrics.retries.increment()
        logger.warning(
            "span batch write failed, retrying with consumption paused",
            metadata: ["cinder.messages": "\(messages)", "cinder.error": "\(String(reflecting: error))"])
    }

    private func commit(_ entries: [Entry], inserted: Int, started: ContinuousClock.Instant) {
        do {
            try consumer.commit(entries.map(\.message))
        } catch {
            // The rows are committed; if the group re-delivers, they are skipped as duplicates.
            logger.warning("offset commit failed after the batch was written", metadata: ["cinder.error": "\(error)"])
        }
        metrics.batches.increment()
        metrics.batchDuration.recordInterval(since: started)
        logger.debug("span batch written", metadata: ["cinder.messages": "\(entries.count)", "cinder.inserted": "\(inserted)"])
    }

    private func clear() {
        batch.removeAll(keepingCapacity: true)
        batchSpans = 0
        batchStarted = nil
    }

    private func recount() {
        batchSpans = batch.reduce(0) { $0 + ($1.spans?.count ?? 0) }
        if batch.isEmpty { batchStarted = nil }
    }

    /// Partitions are leaving this member: commit what was read from them if the database allows it now,
    /// otherwise forget it (uncommitted, the next owner reads it again). Never retries here: this runs
    /// inside librdkafka's poll, and the group is waiting.
    private func revoked(_ partitions: [KafkaTopicPartition]) {
        logger.info("partitions revoked", metadata: ["cinder.kafka.partitions": "\(partitions)"])
        let leaving = Set(partitions)
        _ = joinAll()
        if !retrying, !gaveUp, !batch.isEmpty {
            do {
                try writeAndCommit()
            } catch {
                logger.warning("could not write the batch before a rebalance", metadata: ["cinder.error": "\(String(reflecting: error))"])
            }
        }
        batch.removeAll { leaving.contains($0.message.topicPartition) }
        recount()
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
