import CinderModel
import CinderReceiver
import Logging
import Metrics
import Testing

@Suite struct IngestionLimiterTests {
    static let logger = Logger(label: "test")

    func limiter(rate: Int?, burst: Int? = nil, quota: IngestionLimiter.QuotaSource? = nil) -> IngestionLimiter {
        IngestionLimiter(
            defaults: .init(spansPerSecond: rate, burstSpans: burst, maxRequestBytes: 1_000_000), quotas: quota,
            logger: Self.logger, metrics: NOOPMetricsHandler.instance)
    }

    @Test func aFullBucketAdmitsTheBurstThenTheRate() async throws {
        let limiter = limiter(rate: 100, burst: 200)
        let org = OrganizationID(5), t0 = ContinuousClock.now
        try await limiter.admit(org, spans: 150, now: t0)
        try await limiter.admit(org, spans: 50, now: t0)
        let refused = await #expect(throws: CinderError.self) { try await limiter.admit(org, spans: 50, now: t0) }
        #expect(refused?.code == .rateLimited && refused?.retryAfterSeconds == 1)
        // Half a second later 50 spans have come back.
        try await limiter.admit(org, spans: 50, now: t0 + .milliseconds(500))
        // Another organization has its own bucket.
        try await limiter.admit(OrganizationID(6), spans: 200, now: t0)
    }

    @Test func aRequestLargerThanTheBurstPassesOnAFullBucketAndLeavesDebt() async throws {
        let limiter = limiter(rate: 100, burst: 100)
        let org = OrganizationID(1), t0 = ContinuousClock.now
        try await limiter.admit(org, spans: 500, now: t0)
        let refused = await #expect(throws: CinderError.self) { try await limiter.admit(org, spans: 10, now: t0 + .seconds(3)) }
        #expect(refused?.retryAfterSeconds == 2)
        try await limiter.admit(org, spans: 10, now: t0 + .seconds(5))
    }

    @Test func receiversShareTheLimit() async throws {
        let limiter = limiter(rate: 100, burst: 100)
        limiter.shareWith(receivers: 4)
        let org = OrganizationID(1), t0 = ContinuousClock.now
        try await limiter.admit(org, spans: 25, now: t0)
        await #expect(throws: CinderError.self) { try await limiter.admit(org, spans: 1, now: t0) }
        try await limiter.admit(org, spans: 25, now: t0 + .seconds(1))
    }

    @Test func anOrganizationsQuotaOverridesTheDefaultsAndNoRateMeansNoLimit() async throws {
        let limiter = limiter(rate: nil) { org in org == OrganizationID(2) ? (10, 10, 500) : (nil, nil, nil) }
        let t0 = ContinuousClock.now
        try await limiter.admit(OrganizationID(1), spans: 1_000_000, now: t0)
        try await limiter.admit(OrganizationID(2), spans: 10, now: t0)
        await #expect(throws: CinderError.self) { try await limiter.admit(OrganizationID(2), spans: 1, now: t0) }
        #expect(await limiter.limits(for: OrganizationID(2), now: t0).maxRequestBytes == 500)
        #expect(await limiter.limits(for: OrganizationID(1), now: t0).maxRequestBytes == 1_000_000)
    }
}
