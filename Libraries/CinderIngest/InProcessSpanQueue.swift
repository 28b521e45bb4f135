import CinderModel
import CinderResilience
import CinderStorage
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Writes span batches to storage. Exists so the queue can be tested against a failing store.
public protocol SpanStore: Sendable {
    /// Inserts the spans in one transaction; returns the number of rows inserted (duplicates skipped).
    func insert(_ batches: [EncodedSpans]) async throws -> Int
}

extension SpanIngestStore: SpanStore {}

/// The all-in-one's queue: a bounded in-memory queue drained by writers that group-commit.
///
/// Everything that arrives during a write is taken by the next transaction (up to `maxBatchSpans`), so
/// batches grow with load and latency stays at one commit when idle; `writers` transactions run at once.
/// Capacity is counted in spans (`PHOENIX_MAX_SPANS_QUEUE_SIZE`): a request that does not fit is refused
/// whole, never taken in part.
///
/// `acknowledgement` decides when `publish` returns: `.committed` (the default) only once the spans
/// are committed, so that even a crash loses nothing acknowledged; `.enqueued` (Phoenix's behaviour)
/// once they are in the queue, which graceful shutdown drains but a crash loses.
public actor InProcessSpanQueue: SpanQueue, Service {
    public enum Acknowledgement: String, Sendable {
        case enqueued = "queue"
        case committed = "commit"
    }

    public struct Configuration: Sendable {
        public var acknowledgement: Acknowledgement
        public var capacitySpans: Int
        public var maxBatchSpans: Int
        /// Concurrent writer transactions.
        public var writers: Int
        /// On shutdown, how long to keep retrying a failing database before giving up on queued spans
        /// (with `.committed`, their requests are answered with an error, so nothing acknowledged is dropped;
        /// with `.enqueued` they are dropped, logged and counted in `cinder_spans_dropped_total`).
        public var shutdownFlushTimeout: Duration

        public init(
            acknowledgement: Acknowledgement = .committed, capacitySpans: Int = 20_000, maxBatchSpans: Int = 5_000, writers: Int = 2,
            shutdownFlushTimeout: Duration = .seconds(30)
        ) {
            self.acknowledgement = acknowledgement
            self.capacitySpans = capacitySpans
            self.maxBatchSpans = maxBatchSpans
            self.writers = max(1, writers)
            self.shutdownFlushTimeout = shutdownFlushTimeout
        }
    }

    private struct Pending {
        var batches: [EncodedSpans]
        var spanCount: Int
        /// Present when the publisher waits for the commit.
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private let store: any SpanStore
    private let configuration: Configuration
    private let logger: Logger
    private let spansWritten: Counter
    private let requestsRejected: Counter
    private let spansDropped: Counter
    private let queueDepth: Gauge

    private var pending: [Pending] = []
    /// `queuedSpans` readable without a hop onto the actor, for the cheap check before decoding.
    private nonisolated let approximateDepth = Atomic<Int>(0)
    private var queuedSpans = 0
    private var idleWriters: [CheckedContinuation<Void, Never>] = []
    private var accepting = true
    private var shutdownStarted: ContinuousClock.Instant?

    public init(store: any SpanStore, configuration: Configuration, logger: Logger, metrics: any MetricsFactory) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.spansWritten = Counter(label: "cinder_spans_written_total", factory: metrics)
        self.requestsRejected = Counter(label: "cinder_queue_full_rejections_total", factory: metrics)
        self.spansDropped = Counter(label: "cinder_spans_dropped_total", factory: metrics)
        self.queueDepth = Gauge(label: "cinder_spans_queue_depth", factory: metrics)
    }

    public nonisolated func checkCapacity() throws(CinderError) {
        guard approximateDepth.load(ordering: .relaxed) < configuration.capacitySpans else {
            requestsRejected.increment()
            throw .queueFull
        }
    }

    /// Encodes on the caller's task (requests encode in parallel), then queues.
    public nonisolated func publish(_ batches: [ProjectSpans]) async throws(CinderError) {
        let encoded = batches.filter { !$0.spans.isEmpty }.map(EncodedSpans.init)
        guard !encoded.isEmpty else { return }
        try await enqueue(encoded)
    }

    private func enqueue(_ batches: [EncodedSpans]) async throws(CinderError) {
        let count = batches.reduce(0) { $0 + $1.count }
        guard accepting else {
            throw CinderError(.unavailable, "Cinder is shutting down; retry against another instance", retryAfterSeconds: 1)
        }
        // A request larger than the whole queue is still taken when the queue is empty, so it can succeed.
        guard queuedSpans + count <= configuration.capacitySpans || queuedSpans == 0 else {
            requestsRejected.increment()
            throw .queueFull
        }
        setQueuedSpans(queuedSpans + count)
        if configuration.acknowledgement == .enqueued {
            append(Pending(batches: batches, spanCount: count, continuation: nil))
            return
        }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                append(Pending(batches: batches, spanCount: count, continuation: continuation))
            }
        } catch let error as CinderError {
            throw error
        } catch {
            throw CinderError(.internal, "span write failed: \(error)")
        }
    }

    private func append(_ request: Pending) {
        pending.append(request)
        if !idleWriters.isEmpty { idleWriters.removeFirst().resume() }
    }

    private func setQueuedSpans(_ count: Int) {
        queuedSpans = count
        queueDepth.record(count)
        approximateDepth.store(count, ordering: .relaxed)
    }

    public func run() async throws {
        // Cancellation (the group failing, e.g. a port in use) ends the queue like a shutdown does.
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<configuration.writers {
                    group.addTask {
                        while let work = await self.nextWork() {
                            await self.write(work)
                        }
                    }
                }
            }
        } onCancelOrGracefulShutdown: {
            Task { await self.beginShutdown() }
        }
        logger.info("span queue drained")
    }

    private func beginShutdown() {
        accepting = false
        shutdownStarted = .now
        for writer in idleWriters { writer.resume() }
        idleWriters.removeAll()
    }

    /// Takes whole requests from the head of the queue up to the batch size; nil once shut down and empty.
    private func nextWork() async -> [Pending]? {
        while pending.isEmpty {
            if !accepting { return nil }
            await withCheckedContinuation { idleWriters.append($0) }
        }
        var taken = 0
        var spans = 0
        while taken < pending.count, taken == 0 || spans + pending[taken].spanCount <= configuration.maxBatchSpans {
            spans += pending[taken].spanCount
            taken += 1
        }
        let work = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        return work
    }

    private func write(_ work: [Pending]) async {
        let started = ContinuousClock.now
        let outcome: RefusedDataIsolation.Outcome
        do {
            // A request whose data the database refuses fails alone; the others are stored.
            outcome = try await RefusedDataIsolation.write(work) { requests in try await self.writeWithRetry(requests.flatMap(\.batches)).get() }
        } catch {
            finish(work, inserted: 0, error: error as? CinderError ?? DatabaseErrors.unavailable)
            return
        }
        let elapsed = (ContinuousClock.now - started).components
        logger.debug(
            "span batch written",
            metadata: [
                "cinder.spans": "\(work.reduce(0) { $0 + $1.spanCount })",
                "cinder.duration_ms": "\(elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000)",
            ])
        let stored = work.indices.filter { outcome.refused[$0] == nil }.map { work[$0] }
        finish(stored, inserted: outcome.inserted, error: nil)
        for (index, error) in outcome.refused.sorted(by: { $0.key < $1.key }) { finish([work[index]], inserted: 0, error: error) }
    }

    private func finish(_ work: [Pending], inserted: Int, error: CinderError?) {
        setQueuedSpans(queuedSpans - work.reduce(0) { $0 + $1.spanCount })
        if inserted > 0 { spansWritten.increment(by: inserted) }
        if let error, work.contains(where: { $0.continuation == nil }) {
            // Acknowledged on enqueue, so there is no caller left to tell: make the loss loud and countable.
            let lost = work.filter { $0.continuation == nil }.reduce(0) { $0 + $1.spanCount }
            spansDropped.increment(by: lost)
            logger.error(
                "accepted spans could not be written and are dropped",
                metadata: ["cinder.spans": "\(lost)", "cinder.error": "\(error.message)"])
        }
        for request in work {
            if let error { request.continuation?.resume(throwing: error) } else { request.continuation?.resume() }
        }
    }

    /// Retries transient failures with capped exponential back-off. Data errors are not retried.
    private func writeWithRetry(_ batches: [EncodedSpans]) async -> Result<Int, CinderError> {
        let backoff = Backoff.untilDeadline()
        var attempt = 0
        while true {
            attempt += 1
            do {
                return .success(try await store.insert(batches))
            } catch {
                if let error = error as? CinderError, error.code == .unprocessable {
                    logger.error("database rejected span data", metadata: ["cinder.error": "\(error.message)"])
                    return .failure(error)
                }
                if Task.isCancelled || (shutdownStarted.map { ContinuousClock.now - $0 > configuration.shutdownFlushTimeout } ?? false) {
                    logger.error("giving up on queued spans at shutdown", metadata: ["cinder.error": "\(String(reflecting: error))"])
                    return .failure(DatabaseErrors.unavailable)
                }
                logger.warning(
                    "span write failed, retrying",
                    metadata: ["cinder.attempt": "\(attempt)", "cinder.error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: backoff.delay(afterAttempt: attempt) ?? backoff.maxDelay)
            }
        }
    }
}
