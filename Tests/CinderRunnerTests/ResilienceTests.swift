import CinderResilience
import Synchronization
import Testing

/// A value tasks of a test share.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}

@Suite struct ResilienceTests {
    struct FixedRandom: RandomNumberGenerator {
        var value: UInt64
        mutating func next() -> UInt64 { value }
    }

    @Test func backoffGrowsWithJitterHonoursRetryAfterAndStops() {
        let backoff = Backoff(baseDelay: .milliseconds(100), maxDelay: .seconds(2), maxAttempts: 4)
        var highest = FixedRandom(value: .max)
        let first = backoff.delay(afterAttempt: 1, using: &highest)!
        #expect(first > .milliseconds(99) && first <= .milliseconds(100))
        let third = backoff.delay(afterAttempt: 3, using: &highest)!
        #expect(third > .milliseconds(399) && third <= .milliseconds(400))
        var lowest = FixedRandom(value: 0)
        #expect(backoff.delay(afterAttempt: 2, using: &lowest) == .zero)
        // The server's Retry-After is a floor; the maximum still caps it.
        #expect(backoff.delay(afterAttempt: 1, retryAfter: .seconds(1), using: &lowest) == .seconds(1))
        #expect(backoff.delay(afterAttempt: 1, retryAfter: .seconds(600), using: &lowest) == .seconds(2))
        #expect(backoff.delay(afterAttempt: 4, using: &highest) == nil)
        var random = SystemRandomNumberGenerator()
        for attempt in 1...3 {
            let delay = backoff.delay(afterAttempt: attempt, using: &random)!
            #expect(delay >= .zero && delay <= .milliseconds(100) * (1 << (attempt - 1)))
        }
    }

    @Test func retryAfterInSecondsOrAsAnHTTPDate() {
        #expect(parseRetryAfter("3", now: 0) == .seconds(3))
        #expect(parseRetryAfter("0.5", now: 0) == .milliseconds(500))
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        #expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_770) == .seconds(7))
        #expect(parseRetryAfter("soon", now: 0) == nil)
        #expect(parseRetryAfter(nil, now: 0) == nil)
    }

    @Test func limiterBoundsCallsInFlightAndServesWaitersInOrder() async throws {
        let clock = ManualClock()
        let limiter = AdaptiveLimiter(configuration: .init(initialLimit: 2, maxLimit: 2), clock: clock)
        try await limiter.acquire()
        try await limiter.acquire()
        let order = Shared<[Int]>([])
        let waiters = (1...2).map { index in
            Task {
                try await limiter.acquire()
                order.update { $0.append(index) }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(order.value.isEmpty)
        await limiter.release(.success)
        try await waiters[0].value
        await limiter.release(.success)
        try await waiters[1].value
        #expect(order.value == [1, 2])
    }

    @Test func rateLimitHalvesTheBoundAndPausesEveryoneForRetryAfter() async throws {
        let clock = ManualClock()
        let limiter = AdaptiveLimiter(configuration: .init(initialLimit: 8, maxLimit: 8), clock: clock)
        try await limiter.acquire()
        await limiter.release(.rateLimited(retryAfter: .seconds(3)))
        #expect(await limiter.currentLimit == 4)
        let acquired = Shared(false)
        let waiter = Task {
            try await limiter.acquire()
            acquired.update { $0 = true }
        }
        #expect(await settle { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(2))
        try await Task.sleep(for: .milliseconds(30))
        let early = acquired.value
        #expect(!early, "acquired during the provider's Retry-After")
        clock.advance(by: .seconds(1))
        try await waiter.value
        let late = acquired.value
        #expect(late)
        // Successes win the bound back slowly (additive increase).
        for _ in 0..<4 { await limiter.release(.success); try await limiter.acquire() }
        let limit = await limiter.currentLimit
        #expect(limit == 4)
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let limiter = AdaptiveLimiter(configuration: .init(initialLimit: 1, maxLimit: 1), clock: ManualClock())
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await limiter.release(.success)
        // The slot went to nobody who left: a new caller gets it at once.
        try await limiter.acquire()
    }

    @Test func breakerOpensAfterFailuresInARowOrAtOnceForAFatalOne() {
        var breaker = CircuitBreaker(threshold: 3)
        breaker.recordFailure("a")
        breaker.recordFailure("b")
        breaker.recordSuccess()
        breaker.recordFailure("c")
        breaker.recordFailure("d")
        #expect(!breaker.isOpen)
        breaker.recordFailure("e")
        #expect(breaker.openReason == "e")
        var fatal = CircuitBreaker(threshold: 3)
        fatal.recordFailure("401", fatal: true)
        #expect(fatal.openReason == "401")
    }

    @Test func deadlineCancelsTheOperation() async throws {
        let clock = ManualClock()
        let call = Task {
            try await withDeadline(.seconds(5), clock: clock) {
                try await Task.sleep(for: .seconds(3600))
                return 1
            }
        }
        #expect(await settle { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(5))
        await #expect(throws: DeadlineExceeded.self) { try await call.value }
        #expect(try await withDeadline(.seconds(5), clock: clock) { 42 } == 42)
    }
}
