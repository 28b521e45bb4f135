import CinderModel
import CinderProviders
import CinderResilience
import Metrics
import Synchronization

/// Calls providers the way a job must: bounded and adapted per provider (an AIMD limiter that backs off
/// on 429), each attempt under a deadline, retried with jittered back-off that honours `Retry-After`,
/// measured per provider and model.
public final class ProviderCaller: Sendable {
    public struct Configuration: Sendable {
        public var callTimeout: Duration
        public var backoff: Backoff
        public var limiter: AdaptiveLimiter<ContinuousClock>.Configuration

        public init(callTimeout: Duration = .seconds(120), backoff: Backoff = .init(), limiter: AdaptiveLimiter<ContinuousClock>.Configuration = .init()) {
            self.callTimeout = callTimeout
            self.backoff = backoff
            self.limiter = limiter
        }
    }

    let configuration: Configuration
    private let limiters = Mutex<[String: AdaptiveLimiter<ContinuousClock>]>([:])
    private let metrics: any MetricsFactory

    public init(configuration: Configuration, metrics: any MetricsFactory) {
        self.configuration = configuration
        self.metrics = metrics
    }

    func limiter(_ family: ProviderFamily) -> AdaptiveLimiter<ContinuousClock> {
        limiters.withLock { limiters in
            if let existing = limiters[family.id] { return existing }
            let created = AdaptiveLimiter(configuration: configuration.limiter, clock: ContinuousClock())
            limiters[family.id] = created
            return created
        }
    }

    /// The completion, after as many attempts as the back-off allows; throws the last `ProviderError`.
    public func complete(_ request: ChatRequest, family: ProviderFamily, provider: any ChatProvider) async throws -> ChatCompletion {
        let limiter = limiter(family)
        let dimensions = [("provider", family.prefix), ("model", request.model)]
        let timer = Timer(label: "cinder_provider_request_duration_seconds", dimensions: dimensions, factory: metrics)
        var attempt = 1
        while true {
            try await limiter.acquire()
            let started = ContinuousClock.now
            do {
                let completion = try await withDeadline(configuration.callTimeout, clock: ContinuousClock()) {
                    try await provider.complete(request)
                }
                await limiter.release(.success)
                timer.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
                return completion
            } catch {
                let failure = Self.providerError(error, timeout: configuration.callTimeout)
                await limiter.release(failure.kind == .rateLimited ? .rateLimited(retryAfter: failure.retryAfter) : .other)
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                Counter(label: "cinder_provider_errors_total", dimensions: dimensions + [("kind", failure.kind.rawValue)], factory: metrics).increment()
                guard failure.isRetryable, let delay = configuration.backoff.delay(afterAttempt: attempt, retryAfter: failure.retryAfter) else {
                    throw failure
                }
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    static func providerError(_ error: any Error, timeout: Duration) -> ProviderError {
        if let error = error as? ProviderError { return error }
        if error is DeadlineExceeded { return ProviderError(.timeout, "no answer within \(timeout)") }
        return ProviderError(.unavailable, "\(error)")
    }
}
