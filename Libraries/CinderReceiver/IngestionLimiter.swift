import CinderModel
import Foundation
import Logging
import Metrics
import Synchronization

/// Per-organization ingestion limits: spans per second with a burst (a token bucket per organization)
/// and the largest request. An organization over its rate is refused with 429 / RESOURCE_EXHAUSTED
/// before anything of the request is queued, so one organization's flood neither stores anything past
/// its limit nor takes another's share.
///
/// Several receivers (collectors behind a load balancer, which spreads requests evenly) share each
/// limit: every receiver enforces `limit / receivers`, where `receivers` is the number of receivers
/// that reported to the database recently (`shareWith`), so the installation as a whole admits about
/// the configured rate however many replicas run.
public final class IngestionLimiter: Sendable {
    /// The installation's defaults (`CINDER_INGEST_*`); an organization's own quota overrides them.
    public struct Defaults: Sendable {
        /// nil: no rate limit.
        public var spansPerSecond: Int?
        /// Spans that may arrive at once; 2 s of the rate when not set.
        public var burstSpans: Int?
        public var maxRequestBytes: Int

        public init(spansPerSecond: Int? = nil, burstSpans: Int? = nil, maxRequestBytes: Int) {
            self.spansPerSecond = spansPerSecond
            self.burstSpans = burstSpans
            self.maxRequestBytes = maxRequestBytes
        }
    }

    /// An organization's effective limits.
    public struct Limits: Sendable, Hashable {
        public var spansPerSecond: Int?
        public var burstSpans: Int
        public var maxRequestBytes: Int
    }

    /// Reads an organization's own quota (nil fields: the default).
    public typealias QuotaSource = @Sendable (OrganizationID) async throws -> (spansPerSecond: Int?, burstSpans: Int?, maxRequestBytes: Int?)

    let defaults: Defaults
    let quotas: QuotaSource?
    /// How long an organization's quota is used before it is read again.
    let quotaLifetime: Duration
    let logger: Logger
    private let receivers = Atomic<Int>(1)
    private let state = Mutex<[OrganizationID: Entry]>([:])
    private let refused: Counter

    struct Entry {
        var limits: Limits
        var readAt: ContinuousClock.Instant
        var tokens: Double
        var refilledAt: ContinuousClock.Instant
    }

    public init(defaults: Defaults, quotas: QuotaSource?, quotaLifetime: Duration = .seconds(30), logger: Logger, metrics: any MetricsFactory) {
        self.defaults = defaults
        self.quotas = quotas
        self.quotaLifetime = quotaLifetime
        self.logger = logger
        refused = Counter(label: "cinder_ingest_rate_limited_spans_total", factory: metrics)
    }

    /// How many receivers share each limit now.
    public var receiverCount: Int { receivers.load(ordering: .relaxed) }

    public func shareWith(receivers count: Int) {
        receivers.store(max(1, count), ordering: .relaxed)
    }

    /// The organization's limits, read from its quota at most every `quotaLifetime`.
    public func limits(for organization: OrganizationID, now: ContinuousClock.Instant = .now) async -> Limits {
        if let entry = state.withLock({ $0[organization] }), now - entry.readAt < quotaLifetime { return entry.limits }
        var quota: (spansPerSecond: Int?, burstSpans: Int?, maxRequestBytes: Int?) = (nil, nil, nil)
        if let quotas {
            do {
                quota = try await quotas(organization)
            } catch {
                // The limits last read stay in force (or the defaults): ingestion does not stop with the database.
                logger.warning("could not read an organization's ingestion quota", metadata: ["cinder.error": "\(error)"])
                if let entry = state.withLock({ $0[organization] }) { return entry.limits }
            }
        }
        let rate = quota.spansPerSecond ?? defaults.spansPerSecond
        let limits = Limits(
            spansPerSecond: rate, burstSpans: quota.burstSpans ?? defaults.burstSpans ?? (rate ?? 0) * 2,
            maxRequestBytes: min(quota.maxRequestBytes ?? defaults.maxRequestBytes, defaults.maxRequestBytes))
        state.withLock { state in
            if var entry = state[organization] {
                entry.limits = limits
                entry.readAt = now
                state[organization] = entry
            } else {
                state[organization] = Entry(limits: limits, readAt: now, tokens: Double(limits.burstSpans), refilledAt: now)
            }
        }
        return limits
    }

    /// Takes `spans` from the organization's bucket, or refuses the request (429, with the seconds
    /// until it would fit). A request larger than the burst passes when the bucket is full and leaves
    /// it in debt, so a large export is slowed, never refused for good.
    public func admit(_ organization: OrganizationID, spans: Int, now: ContinuousClock.Instant = .now) async throws(CinderError) {
        guard spans > 0 else { return }
        let limits = await limits(for: organization, now: now)
        guard let perSecond = limits.spansPerSecond else { return }
        let share = Double(receiverCount)
        let rate = Double(perSecond) / share
        let capacity = max(1, Double(limits.burstSpans) / share)
        let wait: Double? = state.withLock { state in
            guard var entry = state[organization] else { return nil }
            let elapsed = now - entry.refilledAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            entry.tokens = min(capacity, entry.tokens + seconds * rate)
            entry.refilledAt = now
            defer { state[organization] = entry }
            if entry.tokens >= Double(spans) || entry.tokens >= capacity {
                entry.tokens -= Double(spans)
                return nil
            }
            return (min(Double(spans), capacity) - entry.tokens) / rate
        }
        if let wait {
            refused.increment(by: spans)
            throw CinderError(
                .rateLimited, "Organization is over its ingestion rate of \(perSecond) spans per second; retry later",
                retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
    }
}
