import CinderModel
import Logging
import PostgresNIO

/// A rule that scores a sample of a project's spans with an evaluator (see migration 0014).
public struct OnlineRuleRow: Sendable {
    public var id: Int64
    public var projectID: Int64
    public var name: String
    /// The evaluator as the runner runs it (the form a job's task holds its evaluators in).
    public var evaluator: JSONValue
    public var filterCondition: String
    public var samplingRate: Double
    public var enabled: Bool
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

/// What a rule is made of, to create or replace one.
public struct OnlineRuleChange: Sendable {
    public var name: String
    public var evaluator: JSONValue
    public var filterCondition: String
    public var samplingRate: Double
    public var enabled: Bool

    public init(name: String, evaluator: JSONValue, filterCondition: String, samplingRate: Double, enabled: Bool) {
        self.name = name
        self.evaluator = evaluator
        self.filterCondition = filterCondition
        self.samplingRate = samplingRate
        self.enabled = enabled
    }
}

public struct OnlineEvaluationRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var onlineEvaluation: OnlineEvaluationRepository { OnlineEvaluationRepository(scope: self) }
}

extension OnlineEvaluationRepository {
    static let columns = """
        r.id, r.project_id, r.name, r.evaluator::text, r.filter_condition, r.sampling_rate, r.enabled, \(micros("r.created_at")), \(micros("r.updated_at"))
        """

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [OnlineRuleRow] {
        try await rows.decode((Int64, Int64, String, String, String, Double, Bool, Int64, Int64).self).all().map {
            OnlineRuleRow(
                id: $0.0, projectID: $0.1, name: $0.2, evaluator: JSONValue(storedJSON: $0.3), filterCondition: $0.4, samplingRate: $0.5, enabled: $0.6,
                createdMicros: $0.7, updatedMicros: $0.8)
        }
    }

    public func rules(projectID: Int64? = nil, ids: [Int64]? = nil, onPrimary: Bool = false) async throws -> [OnlineRuleRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.columns) FROM online_evaluation_rules r WHERE r.org_id = \(q.bind(org))")
        if let projectID { q.append(" AND r.project_id = \(q.bind(projectID))") }
        if let ids { q.append(" AND r.id = ANY(\(q.bind(ids))::int8[])") }
        q.append(" ORDER BY r.id")
        let query = q.query
        if onPrimary { return try await scope.readPrimary { try await Self.rows($0.query(query)) } }
        return try await scope.read(query, Self.rows)
    }

    public func create(projectID: Int64, _ change: OnlineRuleChange, userID: Int64?) async throws -> OnlineRuleRow {
        let org = org
        return try await scope.write { tx in
            try await tx.requireRows("projects", ids: [projectID], "Project not found")
            do {
                return try await Self.rows(
                    tx.query(
                        """
                        INSERT INTO online_evaluation_rules AS r (org_id, project_id, name, evaluator, filter_condition, sampling_rate, enabled, user_id)
                        VALUES (\(org), \(projectID), \(change.name), \(change.evaluator.jsonString)::jsonb, \(change.filterCondition), \(change.samplingRate),
                            \(change.enabled), \(userID))
                        RETURNING \(unescaped: Self.columns)
                        """))[0]
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "The project already has an online evaluation rule named \(change.name)")
            }
        }
    }

    /// Replaces a rule; nil when there is none. Queued spans stay queued (they run with the new rule).
    public func update(id: Int64, _ change: OnlineRuleChange) async throws -> OnlineRuleRow? {
        let org = org
        return try await scope.write { tx in
            do {
                return try await Self.rows(
                    tx.query(
                        """
                        UPDATE online_evaluation_rules AS r SET name = \(change.name), evaluator = \(change.evaluator.jsonString)::jsonb,
                            filter_condition = \(change.filterCondition), sampling_rate = \(change.samplingRate), enabled = \(change.enabled), updated_at = now()
                        WHERE r.org_id = \(org) AND r.id = \(id)
                        RETURNING \(unescaped: Self.columns)
                        """)
                ).first
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "The project already has an online evaluation rule named \(change.name)")
            }
        }
    }

    /// Deletes a rule and its queued spans; the annotations it recorded stay.
    public func delete(id: Int64) async throws -> OnlineRuleRow? {
        try await scope.write { tx in
            try await Self.rows(tx.query("DELETE FROM online_evaluation_rules AS r WHERE r.org_id = \(org) AND r.id = \(id) RETURNING \(unescaped: Self.columns)"))
        }.first
    }

    /// Queues the spans of the rule's project that started in [start, end) and that the rule samples
    /// (the same ones it sampled as they arrived), except those queued already. Returns how many.
    public func backfill(ruleID: Int64, startMicros: Int64, endMicros: Int64) async throws -> Int? {
        let org = org
        return try await scope.write { tx in
            let rules = try await tx.query(
                "SELECT project_id, sampling_rate FROM online_evaluation_rules WHERE org_id = \(org) AND id = \(ruleID)"
            ).decode((Int64, Double).self).all()
            guard let (projectID, _) = rules.first else { return nil }
            let queued = try await tx.query(
                """
                WITH queued AS (
                    INSERT INTO online_evaluation_queue (organization_id, rule_id, span_rowid)
                    SELECT \(org), r.id, s.id FROM spans s JOIN online_evaluation_rules r ON r.org_id = s.org_id AND r.id = \(ruleID)
                    WHERE s.org_id = \(org) AND s.project_id = \(projectID)
                        AND s.start_time >= to_timestamp(0) + \(startMicros) * interval '1 microsecond'
                        AND s.start_time < to_timestamp(0) + \(endMicros) * interval '1 microsecond'
                        AND cinder_sampled(s.span_id, r.id, r.sampling_rate)
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM queued
                """
            ).decode(Int64.self).all()
            return Int(queued.first ?? 0)
        }
    }

    /// Spans queued for each rule and not yet scored.
    public func backlog(ruleIDs: [Int64]) async throws -> [Int64: Int] {
        let pairs = try await scope.read(
            """
            SELECT q.rule_id, count(*) FROM online_evaluation_queue q JOIN online_evaluation_rules r ON r.id = q.rule_id
            WHERE r.org_id = \(org) AND q.organization_id = \(org) AND q.rule_id = ANY(\(ruleIDs)::int8[]) GROUP BY q.rule_id
            """) { try await $0.decode((Int64, Int64).self).all() }
        return Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, Int($0.1)) })
    }
}

/// One queued (rule, span) a runner holds.
public struct QueuedEvaluation: Sendable {
    public let id: Int64
    public let organization: OrganizationID
    public let ruleID: Int64
    public let spanRowID: Int64
}

/// The installation's queue of spans to score, claimed with leases like the job queue: what a runner
/// that stopped held goes back to the others when its lease runs out.
public struct EvaluationQueue: Sendable {
    let database: Database
    let logger: Logger
    public let runner: String

    public init(database: Database, runner: String, logger: Logger) {
        self.database = database
        self.runner = runner
        self.logger = logger
    }

    /// Up to `limit` of the oldest free entries, one organization's at a time (the oldest entry's).
    public func claim(limit: Int, lease: Duration) async throws -> [QueuedEvaluation] {
        let seconds = JobQueue.seconds(lease)
        let runner = runner
        let rows = try await database.installation(logger: logger).write { tx in
            try await tx.query(
                """
                WITH first AS (
                    SELECT organization_id FROM online_evaluation_queue WHERE lease_until IS NULL OR lease_until < now() ORDER BY id LIMIT 1
                )
                UPDATE online_evaluation_queue SET claimed_by = \(runner), lease_until = now() + \(seconds) * interval '1 second'
                WHERE id IN (
                    SELECT id FROM online_evaluation_queue
                    WHERE (lease_until IS NULL OR lease_until < now()) AND organization_id = (SELECT organization_id FROM first)
                    ORDER BY id LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
                RETURNING id, organization_id, rule_id, span_rowid
                """
            ).decode((Int64, Int64, Int64, Int64).self).all()
        }
        return rows.map { QueuedEvaluation(id: $0.0, organization: OrganizationID($0.1), ruleID: $0.2, spanRowID: $0.3) }
    }

    /// Removes entries that are done (scored, or no longer matching their rule).
    public func complete(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let runner = runner
        try await database.installation(logger: logger).write { tx -> Void in
            try await tx.query("DELETE FROM online_evaluation_queue WHERE id = ANY(\(ids)::int8[]) AND claimed_by = \(runner)")
        }
    }

    /// Entries waiting or in progress, across the installation.
    public func backlog() async throws -> Int {
        let counts = try await database.installation(logger: logger).write { tx in
            try await tx.query("SELECT count(*) FROM online_evaluation_queue").decode(Int64.self).all()
        }
        return Int(counts.first ?? 0)
    }

    public func tenant(_ organization: OrganizationID) -> TenantScope { database.installation(logger: logger).tenant(organization) }
}
