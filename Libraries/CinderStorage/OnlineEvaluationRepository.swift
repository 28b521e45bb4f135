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

/// One queued entry a runner holds: a (rule, span) of online evaluation, or a (request, run) of an
/// experiment evaluated again.
public struct QueuedEvaluation: Sendable {
    public let id: Int64
    public let organization: OrganizationID
    /// The rule, or the request.
    public let ownerID: Int64
    /// The span row, or the experiment run.
    public let targetID: Int64
    /// Times the entry was claimed, this one included.
    public let attempts: Int
}

/// An installation's queue of evaluations to make, claimed with leases like the job queue: what a
/// runner that stopped held goes back to the others when its lease runs out.
public struct EvaluationQueue: Sendable {
    public enum Kind: Sendable {
        /// Spans queued for online evaluation rules.
        case spans
        /// Experiment runs queued to be evaluated again.
        case experimentRuns

        var table: String { self == .spans ? "online_evaluation_queue" : "experiment_evaluation_queue" }
        var columns: String { self == .spans ? "rule_id, span_rowid" : "request_id, experiment_run_id" }
    }

    let database: Database
    let logger: Logger
    public let kind: Kind
    public let runner: String

    public init(_ kind: Kind, database: Database, runner: String, logger: Logger) {
        self.kind = kind
        self.database = database
        self.runner = runner
        self.logger = logger
    }

    /// Up to `limit` of one organization's oldest free entries: the next organization with any after
    /// `after` (the one served last), round the organizations' ids, so that one organization's backlog
    /// (a large backfill) delays the others by one batch at most.
    public func claim(limit: Int, lease: Duration, after: OrganizationID? = nil) async throws -> [QueuedEvaluation] {
        let seconds = JobQueue.seconds(lease)
        let table = kind.table
        let free = "(lease_until IS NULL OR lease_until < now())"
        let query = PostgresQuery(
            unsafeSQL: """
                WITH next AS (
                    (SELECT organization_id FROM \(table) WHERE \(free) AND organization_id > $4 ORDER BY organization_id, id LIMIT 1)
                    UNION ALL
                    (SELECT organization_id FROM \(table) WHERE \(free) ORDER BY organization_id, id LIMIT 1)
                    LIMIT 1
                )
                UPDATE \(table) SET claimed_by = $1, lease_until = now() + $2 * interval '1 second', attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM \(table)
                    WHERE \(free) AND organization_id = (SELECT organization_id FROM next)
                    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING id, organization_id, \(kind.columns), attempts::int8
                """, binds: SQLBuilder.binds(runner, seconds, Int64(limit), after?.rawValue ?? 0))
        let rows = try await database.installation(logger: logger).write { tx in
            try await tx.query(query).decode((Int64, Int64, Int64, Int64, Int64).self).all()
        }
        return rows.map { QueuedEvaluation(id: $0.0, organization: OrganizationID($0.1), ownerID: $0.2, targetID: $0.3, attempts: Int($0.4)) }
    }

    /// Extends the lease of entries this runner holds (a batch that takes long is not claimed twice).
    public func renew(_ ids: [Int64], lease: Duration) async throws {
        guard !ids.isEmpty else { return }
        let query = PostgresQuery(
            unsafeSQL: "UPDATE \(kind.table) SET lease_until = now() + $1 * interval '1 second' WHERE id = ANY($2::int8[]) AND claimed_by = $3",
            binds: SQLBuilder.binds(JobQueue.seconds(lease), ids, runner))
        try await database.installation(logger: logger).write { tx -> Void in try await tx.query(query) }
    }

    /// Removes entries that are done (scored, or no longer to be).
    public func complete(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let query = PostgresQuery(
            unsafeSQL: "DELETE FROM \(kind.table) WHERE id = ANY($1::int8[]) AND claimed_by = $2", binds: SQLBuilder.binds(ids, runner))
        try await database.installation(logger: logger).write { tx -> Void in try await tx.query(query) }
    }

    /// Entries waiting or in progress, across the installation.
    public func backlog() async throws -> Int {
        let query = PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(kind.table)")
        let counts = try await database.installation(logger: logger).write { tx in try await tx.query(query).decode(Int64.self).all() }
        return Int(counts.first ?? 0)
    }

    public func tenant(_ organization: OrganizationID) -> TenantScope { database.installation(logger: logger).tenant(organization) }
}

/// An experiment run as an evaluator reads it: the run and its example (at the experiment's version).
public struct RunToEvaluate: Sendable {
    public var run: ExperimentRunRow
    public var input: JSONValue
    public var reference: JSONValue
    public var metadata: JSONValue
    public var projectName: String?
}

extension OnlineEvaluationRepository {
    /// Queues the experiment's recorded runs (not the failed ones) to be scored by `evaluators`.
    /// Returns how many runs were queued; nil when there is no such experiment.
    public func requestEvaluation(experimentID: Int64, evaluators: JSONValue, userID: Int64?) async throws -> Int? {
        let org = org
        return try await scope.write { tx in
            let found = try await tx.query("SELECT id FROM experiments WHERE org_id = \(org) AND id = \(experimentID) FOR KEY SHARE").decode(Int64.self).all()
            guard !found.isEmpty else { return nil }
            let request = try await tx.query(
                """
                INSERT INTO experiment_evaluation_requests (org_id, experiment_id, evaluators, user_id)
                VALUES (\(org), \(experimentID), \(evaluators.jsonString)::jsonb, \(userID)) RETURNING id
                """
            ).decode(Int64.self).all()[0]
            let queued = try await tx.query(
                """
                WITH queued AS (
                    INSERT INTO experiment_evaluation_queue (organization_id, request_id, experiment_run_id)
                    SELECT \(org), \(request), r.id FROM experiment_runs r WHERE r.org_id = \(org) AND r.experiment_id = \(experimentID) AND r.error IS NULL
                    RETURNING 1
                )
                SELECT count(*) FROM queued
                """
            ).decode(Int64.self).all()
            return Int(queued.first ?? 0)
        }
    }

    /// Requests' evaluators, by request id.
    public func requestedEvaluators(ids: [Int64]) async throws -> [Int64: JSONValue] {
        let pairs = try await scope.readPrimary { tx in
            try await tx.query(
                "SELECT id, evaluators::text FROM experiment_evaluation_requests WHERE org_id = \(org) AND id = ANY(\(ids)::int8[])"
            ).decode((Int64, String).self).all()
        }
        return Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, JSONValue(storedJSON: $0.1)) })
    }

    /// Runs with their examples as of the experiment's dataset version, and the experiment's project.
    public func runsToEvaluate(runIDs: [Int64]) async throws -> [RunToEvaluate] {
        let org = org
        let rows = try await scope.readPrimary { tx in
            try await tx.query(
                """
                SELECT r.id, r.experiment_id, r.dataset_example_id, r.repetition_number::int8, r.output::text, \(unescaped: micros("r.start_time")),
                    \(unescaped: micros("r.end_time")), r.trace_id, r.error, v.input::text, v.output::text, v.metadata::text, e.project_name
                FROM experiment_runs r JOIN experiments e ON e.org_id = r.org_id AND e.id = r.experiment_id
                JOIN LATERAL (
                    SELECT x.input, x.output, x.metadata FROM dataset_example_revisions x
                    WHERE x.org_id = r.org_id AND x.dataset_example_id = r.dataset_example_id AND x.dataset_version_id <= e.dataset_version_id
                    ORDER BY x.dataset_version_id DESC LIMIT 1
                ) v ON true
                WHERE r.org_id = \(org) AND r.id = ANY(\(runIDs)::int8[])
                """
            ).decode((Int64, Int64, Int64, Int64, String, Int64, Int64, String?, String?, String, String, String, String?).self).all()
        }
        return rows.map {
            RunToEvaluate(
                run: ExperimentRunRow(
                    id: $0.0, experimentID: $0.1, exampleID: $0.2, repetition: Int($0.3), output: JSONValue(storedJSON: $0.4), startMicros: $0.5,
                    endMicros: $0.6, traceID: $0.7, error: $0.8, promptTokens: nil, completionTokens: nil),
                input: JSONValue(storedJSON: $0.9), reference: JSONValue(storedJSON: $0.10), metadata: JSONValue(storedJSON: $0.11), projectName: $0.12)
        }
    }
}
