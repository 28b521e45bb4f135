import Synchronization

/// Brute-force protection for password sign-in, as Phoenix does it: after `maxFailures` failed
/// attempts for one email (unknown emails count too), every attempt for it is refused with 429 —
/// the right password included — for `lockout` after the last failure; a success before that clears
/// the count. Counted per process: with several API replicas an attacker gets at most `maxFailures`
/// tries per replica per lockout.
public final class SignInThrottle: Sendable {
    public let maxFailures: Int
    public let lockout: Duration
    private let failures = Mutex<[String: (count: Int, last: ContinuousClock.Instant)]>([:])
    /// Emails tracked at most; beyond it the table is cleared (memory stays bounded).
    static let capacity = 100_000

    /// `PHOENIX_BRUTE_FORCE_LOGIN_PROTECTION_MAX_ATTEMPTS` (5); 5 minutes, as Phoenix.
    public init(maxFailures: Int = 5, lockout: Duration = .seconds(300)) {
        self.maxFailures = maxFailures
        self.lockout = lockout
    }

    /// Seconds until an attempt for `email` is allowed again, or nil when one is allowed now.
    public func retryAfter(_ email: String, now: ContinuousClock.Instant = .now) -> Int? {
        failures.withLock { failures in
            guard let entry = failures[email], entry.count >= maxFailures else { return nil }
            let elapsed = now - entry.last
            guard elapsed < lockout else {
                failures[email] = nil
                return nil
            }
            return max(1, Int((lockout - elapsed).components.seconds))
        }
    }

    public func recordFailure(_ email: String, now: ContinuousClock.Instant = .now) {
        failures.withLock { failures in
            if failures.count >= Self.capacity { failures.removeAll(keepingCapacity: true) }
            failures[email] = ((failures[email]?.count ?? 0) + 1, now)
        }
    }

    public func recordSuccess(_ email: String) {
        _ = failures.withLock { $0.removeValue(forKey: email) }
    }
}

/// A token bucket per caller: `capacity` requests at once, refilled at `perSecond`. Phoenix limits
/// its `/auth` routes per client address this way (12, then one every 5 s).
public final class RequestRateLimiter: Sendable {
    public let capacity: Double
    public let perSecond: Double
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])
    static let maxCallers = 100_000

    public init(capacity: Double = 12, perSecond: Double = 0.2) {
        self.capacity = capacity
        self.perSecond = perSecond
    }

    /// Takes a token for `caller`; returns the seconds to wait when there is none.
    public func take(_ caller: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            if buckets.count >= Self.maxCallers { buckets.removeAll(keepingCapacity: true) }
            var bucket = buckets[caller] ?? (capacity, now)
            let elapsed = now - bucket.at
            bucket.tokens = min(capacity, bucket.tokens + perSecond * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            bucket.at = now
            guard bucket.tokens >= 1 else {
                buckets[caller] = bucket
                return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            buckets[caller] = bucket
            return nil
        }
    }
}
