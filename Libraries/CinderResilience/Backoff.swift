import Foundation

/// How long to wait before the next attempt of a call that failed in a way worth retrying: exponential
/// with full jitter (so that many callers that failed together do not retry together), never less than
/// what the server asked for with `Retry-After`, never more than `maxDelay`.
public struct Backoff: Sendable, Hashable {
    public enum Jitter: Sendable, Hashable {
        /// Anywhere between zero and the exponential delay: spreads many callers best.
        case full
        /// Half the exponential delay, plus up to as much again: never retries at once (a database that is
        /// down is not hammered by its own writers).
        case equal
    }

    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Attempts in all, the first included (`Int.max`: until the caller's own deadline).
    public var maxAttempts: Int
    public var jitter: Jitter

    public init(baseDelay: Duration = .milliseconds(250), maxDelay: Duration = .seconds(30), maxAttempts: Int = 5, jitter: Jitter = .full) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
        self.jitter = jitter
    }

    /// Ingestion's writes: retried until their own deadline, from 100 ms up to `maxDelay`.
    public static func untilDeadline(maxDelay: Duration = .seconds(5)) -> Backoff {
        Backoff(baseDelay: .milliseconds(100), maxDelay: maxDelay, maxAttempts: .max, jitter: .equal)
    }

    /// The wait after failed attempt number `attempt` (1-based); nil when no attempt is left.
    public func delay(
        afterAttempt attempt: Int, retryAfter: Duration? = nil, using random: inout some RandomNumberGenerator
    ) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt - 1, 30)))
        // 53 random bits as a fraction in [0, 1).
        let fraction = Double(random.next() >> 11) * 0x1p-53
        let jittered = jitter == .full ? ceiling * fraction : ceiling / 2 + ceiling / 2 * fraction
        // The server's own estimate wins over ours, but a hostile or broken one cannot park us for hours.
        return min(maxDelay, max(jittered, retryAfter ?? .zero))
    }

    public func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration? {
        var random = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, retryAfter: retryAfter, using: &random)
    }
}

/// A `Retry-After` header value: delay-seconds or an HTTP date (RFC 9110 §10.2.3); nil when unreadable.
public func parseRetryAfter(_ value: String?, now: Double) -> Duration? {
    guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
    if let seconds = Double(value), seconds >= 0, seconds.isFinite { return .milliseconds(Int64(seconds * 1000)) }
    guard let date = HTTPDate.parse(value) else { return nil }
    return .milliseconds(Int64(max(0, date - now) * 1000))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form senders may generate.
enum HTTPDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970 of an IMF-fixdate.
    static func parse(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
            let year = Int(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        return Double(daysFromCivil(year: year, month: month + 1, day: day) * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2])
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
