/// Bounds the calls in flight to one provider and adapts the bound to what the provider accepts:
/// additive increase after each success, halved on a 429, and everyone paused for the `Retry-After` the
/// provider gave (additive-increase/multiplicative-decrease, as TCP does for congestion). Waiters are
/// served first come, first served.
public actor AdaptiveLimiter<C: Clock> where C.Duration == Duration {
    public struct Configuration: Sendable {
        public var initialLimit: Int
        public var minLimit: Int
        public var maxLimit: Int
        /// The pause after a 429 that named no `Retry-After`.
        public var defaultPause: Duration

        public init(initialLimit: Int = 16, minLimit: Int = 1, maxLimit: Int = 256, defaultPause: Duration = .seconds(1)) {
            self.initialLimit = initialLimit
            self.minLimit = minLimit
            self.maxLimit = maxLimit
            self.defaultPause = defaultPause
        }
    }

    public enum Outcome: Sendable {
        case success
        case rateLimited(retryAfter: Duration?)
        /// Neither: the bound stays as it is.
        case other
    }

    public let configuration: Configuration
    private let clock: C
    private var limit: Double
    private var inFlight = 0
    private var pausedUntil: C.Instant?
    private var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiter = 0

    public init(configuration: Configuration = .init(), clock: C) {
        self.configuration = configuration
        self.clock = clock
        self.limit = Double(configuration.initialLimit)
    }

    /// The current bound on calls in flight.
    public var currentLimit: Int { Int(limit) }

    /// Waits for a slot (and for any pause to end); each successful `acquire` needs one `release`.
    public func acquire() async throws {
        try Task.checkCancellation()
        if !isPaused, inFlight < Int(limit), waiters.isEmpty {
            inFlight += 1
            return
        }
        // `handOver` counts the slot for us before it resumes us.
        try await wait()
    }

    public func release(_ outcome: Outcome) {
        switch outcome {
        case .success:
            limit = min(Double(configuration.maxLimit), limit + 1 / limit)
        case .rateLimited(let retryAfter):
            limit = max(Double(configuration.minLimit), limit / 2)
            pause(until: clock.now.advanced(by: retryAfter ?? configuration.defaultPause))
        case .other:
            break
        }
        inFlight -= 1
        handOver()
    }

    private var isPaused: Bool { pausedUntil.map { clock.now < $0 } ?? false }

    private func pause(until: C.Instant) {
        guard pausedUntil.map({ until > $0 }) ?? true else { return }
        pausedUntil = until
        // Nobody may be left to release a slot: the end of the pause serves the waiters itself.
        let clock = clock
        Task {
            try? await clock.sleep(until: until, tolerance: nil)
            self.handOver()
        }
    }

    private func handOver() {
        guard !isPaused else { return }
        while inFlight < Int(limit), !waiters.isEmpty {
            inFlight += 1
            waiters.removeFirst().continuation.resume()
        }
    }

    private func wait() async throws {
        let id = nextWaiter
        nextWaiter += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}

/// A fixed number of permits, first come, first served (a job's concurrency, a replica's).
public actor Permits {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(_ count: Int) {
        available = count
    }

    public func acquire() async {
        if available > 0, waiters.isEmpty {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Stops work that keeps failing: after `threshold` failures in a row, or at once for a failure that no
/// retry can fix (a rejected credential), it opens with the reason of the failure that opened it.
public struct CircuitBreaker: Sendable {
    public let threshold: Int
    public private(set) var consecutiveFailures = 0
    public private(set) var openReason: String?

    public init(threshold: Int = 5) {
        self.threshold = threshold
    }

    public var isOpen: Bool { openReason != nil }

    public mutating func recordSuccess() {
        consecutiveFailures = 0
    }

    public mutating func recordFailure(_ reason: String, fatal: Bool = false) {
        consecutiveFailures += 1
        if openReason == nil, fatal || consecutiveFailures >= threshold { openReason = reason }
    }
}

public struct DeadlineExceeded: Error, Sendable, CustomStringConvertible {
    public let after: Duration
    public var description: String { "no answer within \(after)" }
}

/// Runs `operation`, cancelling it and throwing `DeadlineExceeded` when `timeout` passes first.
public func withDeadline<T: Sendable, C: Clock>(
    _ timeout: Duration, clock: C, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T where C.Duration == Duration {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: timeout)
            throw DeadlineExceeded(after: timeout)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
