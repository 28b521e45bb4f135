import CinderModel
import Foundation
import PostgresNIO

/// An organization's own ingestion limits (nil: the installation's default).
public struct IngestionQuota: Sendable, Hashable {
    public var spansPerSecond: Int?
    public var burstSpans: Int?
    public var maxRequestBytes: Int?

    public init(spansPerSecond: Int? = nil, burstSpans: Int? = nil, maxRequestBytes: Int? = nil) {
        self.spansPerSecond = spansPerSecond
        self.burstSpans = burstSpans
        self.maxRequestBytes = maxRequestBytes
    }
}

extension MemberRepository {
    /// The organization's ingestion limits, where they differ from the installation's.
    public func ingestionQuota() async throws -> IngestionQuota {
        let rows = try await scope.read(
            "SELECT spans_per_second::int8, burst_spans::int8, max_request_bytes::int8 FROM ingestion_quotas WHERE org_id = \(org)"
        ) { rows in try await rows.decode((Int64?, Int64?, Int64?).self).all() }
        guard let row = rows.first else { return IngestionQuota() }
        let (rate, burst, bytes): (Int64?, Int64?, Int64?) = row
        return IngestionQuota(spansPerSecond: rate.map { Int($0) }, burstSpans: burst.map { Int($0) }, maxRequestBytes: bytes.map { Int($0) })
    }

    public func setIngestionQuota(_ quota: IngestionQuota) async throws {
        try await scope.write(
            """
            INSERT INTO ingestion_quotas (org_id, spans_per_second, burst_spans, max_request_bytes)
            VALUES (\(org), \(quota.spansPerSecond.map(Int64.init)), \(quota.burstSpans.map(Int64.init)), \(quota.maxRequestBytes.map(Int64.init)))
            ON CONFLICT (org_id) DO UPDATE SET spans_per_second = excluded.spans_per_second, burst_spans = excluded.burst_spans,
                max_request_bytes = excluded.max_request_bytes, updated_at = now()
            """)
    }
}

extension InstallationScope {
    /// Records that a receiver is alive and answers how many reported within `window` (itself included).
    public func reportReceiver(_ id: UUID, name: String, window: Duration) async throws -> Int {
        let seconds = Double(window.components.seconds)
        return try await write { tx in
            try await tx.query(
                """
                INSERT INTO ingestion_receivers (id, name, last_seen) VALUES (\(id), \(name), now())
                ON CONFLICT (id) DO UPDATE SET last_seen = now(), name = excluded.name
                """)
            // Receivers gone for long are forgotten.
            try await tx.query("DELETE FROM ingestion_receivers WHERE last_seen < now() - interval '1 hour'")
            let live = try await tx.query(
                "SELECT count(*) FROM ingestion_receivers WHERE last_seen > now() - \(seconds) * interval '1 second'"
            ).decode(Int64.self).all().first ?? 1
            return max(1, Int(live))
        }
    }

    /// Forgets a receiver that is shutting down, so the others take over its share at once.
    public func removeReceiver(_ id: UUID) async throws {
        try await write { tx -> Void in try await tx.query("DELETE FROM ingestion_receivers WHERE id = \(id)") }
    }
}
