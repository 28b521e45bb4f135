import CinderModel
import PostgresNIO

public struct ProjectRow: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var createdMicros: Int64 = 0
    public var updatedMicros: Int64 = 0
}

extension ProjectRepository {
    static let columns = "id, name, description, \(micros("created_at")), \(micros("updated_at"))"

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [ProjectRow] {
        try await rows.decode((Int64, String, String?, Int64, Int64).self).all().map {
            ProjectRow(id: $0.0, name: $0.1, description: $0.2, createdMicros: $0.3, updatedMicros: $0.4)
        }
    }

    /// Projects that runs of experiments create; hidden from project lists unless asked for.
    static let experimentProjectPattern = "Experiment-%"

    public func list(
        atOrBeforeID cursor: Int64?, limit: Int, nameContains: String?, includeExperimentProjects: Bool
    ) async throws -> [ProjectRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.columns) FROM projects WHERE org_id = \(q.bind(org))")
        if let cursor { q.append(" AND id <= \(q.bind(cursor))") }
        if let nameContains, !nameContains.isEmpty {
            q.append(" AND strpos(lower(name), lower(\(q.bind(nameContains)))) > 0")
        }
        if !includeExperimentProjects { q.append(" AND name NOT LIKE \(q.bind(Self.experimentProjectPattern))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.rows)
    }

    /// Projects shown in lists (those of experiments excluded).
    public func count() async throws -> Int {
        try await scope.read(
            "SELECT count(*) FROM projects WHERE org_id = \(org) AND name NOT LIKE \(Self.experimentProjectPattern)", Self.count)
    }

    @Sendable static func count(_ rows: PostgresRowSequence) async throws -> Int {
        Int(try await rows.decode(Int64.self).all().first ?? 0)
    }

    public func project(id: Int64) async throws -> ProjectRow? {
        try await scope.read(
            "SELECT \(unescaped: Self.columns) FROM projects WHERE org_id = \(org) AND id = \(id)", Self.rows
        ).first
    }

    public func project(named name: String) async throws -> ProjectRow? {
        try await scope.read(
            "SELECT \(unescaped: Self.columns) FROM projects WHERE org_id = \(org) AND name = \(name)", Self.rows
        ).first
    }

    public func projects(ids: [Int64]) async throws -> [ProjectRow] {
        guard !ids.isEmpty else { return [] }
        return try await scope.read(
            "SELECT \(unescaped: Self.columns) FROM projects WHERE org_id = \(org) AND id = ANY(\(ids)::int8[])", Self.rows)
    }

    /// Returns nil when a project of that name exists already.
    public func create(name: String, description: String?) async throws -> ProjectRow? {
        try await scope.write(
            """
            INSERT INTO projects (org_id, name, description)
            VALUES (\(org), \(SQLText.clean(name)), \(description.map(SQLText.clean)))
            ON CONFLICT (org_id, name) DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """, Self.rows
        ).first
    }

    public func update(id: Int64, description: String?) async throws -> ProjectRow? {
        try await scope.write(
            """
            UPDATE projects SET description = \(description.map(SQLText.clean)), updated_at = now()
            WHERE org_id = \(org) AND id = \(id)
            RETURNING \(unescaped: Self.columns)
            """, Self.rows
        ).first
    }

    /// Deletes the project and, by cascade, its traces, spans and sessions. Returns false if absent.
    public func delete(id: Int64) async throws -> Bool {
        let org = org
        return try await scope.write { tx in
            // Locking the project first waits out writers already adding traces to it and makes new
            // ones wait for this delete (their foreign-key check then fails and they retry), so no span
            // is left behind without its trace.
            let locked = try await tx.query("SELECT id FROM projects WHERE org_id = \(org) AND id = \(id) FOR UPDATE")
                .decode(Int64.self).all()
            guard !locked.isEmpty else { return false }
            // Spans have no foreign key to cascade through: one range scan over the project index.
            try await tx.query("DELETE FROM spans WHERE org_id = \(org) AND project_id = \(id)")
            try await tx.query("DELETE FROM projects WHERE org_id = \(org) AND id = \(id)")
            return true
        }
    }
}

/// Aggregates over a project's traces or spans, computed for several projects in one statement.
public enum ProjectStatistic: Sendable, Hashable {
    case spanCount, traceCount
    case promptTokens, completionTokens, totalTokens
    case promptCost, completionCost, totalCost
    /// Trace latency (end of the last span minus start of the first) in milliseconds.
    case traceLatencyQuantile(Double)
    case spanLatencyQuantile(Double)
    case firstStart, lastEnd

    var overTraces: Bool {
        switch self {
        case .traceCount, .traceLatencyQuantile, .firstStart, .lastEnd: true
        default: false
        }
    }

    /// The aggregate over the rows aliased `r` (a quantile's probability is bound through `q`).
    func aggregate(_ q: inout SQLBuilder) -> String {
        // Costs are OpenInference's `llm.cost.*` attributes of LLM spans, kept in columns at ingestion
        // (reading them from the attribute documents took most of a project's statistics time).
        func cost(_ part: String) -> String { "sum(r.llm_cost_\(part))::float8" }
        let latency = "extract(epoch FROM r.end_time - r.start_time) * 1000"
        switch self {
        case .spanCount, .traceCount: return "count(*)::float8"
        case .promptTokens: return "sum(r.llm_token_count_prompt)::float8"
        case .completionTokens: return "sum(r.llm_token_count_completion)::float8"
        case .totalTokens:
            return "sum(coalesce(r.llm_token_count_prompt, 0) + coalesce(r.llm_token_count_completion, 0))::float8"
        case .promptCost: return cost("prompt")
        case .completionCost: return cost("completion")
        case .totalCost: return cost("total")
        case .traceLatencyQuantile(let p), .spanLatencyQuantile(let p):
            return "(percentile_cont(\(q.bind(p))::float8) WITHIN GROUP (ORDER BY \(latency)))::float8"
        case .firstStart: return "\(micros("min(r.start_time)"))::float8"
        case .lastEnd: return "\(micros("max(r.end_time)"))::float8"
        }
    }
}

extension ProjectRepository {
    /// Statistics per project over rows starting in `[startMicros, endMicros)`, all in one statement:
    /// they must all aggregate the same rows (traces, or spans). A project without rows, or a
    /// statistic that is null for it, is absent (callers decide whether that is zero or null).
    public func statistics(
        _ statistics: [ProjectStatistic], projectIDs: [Int64], startMicros: Int64?, endMicros: Int64?
    ) async throws -> [Int64: [ProjectStatistic: Double]] {
        guard !projectIDs.isEmpty, let overTraces = statistics.first?.overTraces else { return [:] }
        precondition(statistics.allSatisfy { $0.overTraces == overTraces }, "statistics over traces and spans need two statements")
        var q = SQLBuilder()
        let aggregates = statistics.map { $0.aggregate(&q) }.joined(separator: ", ")
        q.append(
            """
            SELECT r.project_id, \(aggregates) FROM \(overTraces ? "traces" : "spans") r
            WHERE r.org_id = \(q.bind(org)) AND r.project_id = ANY(\(q.bind(projectIDs))::int8[])
            """)
        if let startMicros { q.append(" AND r.start_time >= \(timestamp(q.bind(startMicros)))") }
        if let endMicros { q.append(" AND r.start_time < \(timestamp(q.bind(endMicros)))") }
        q.append(" GROUP BY r.project_id")
        return try await scope.read(q.query) { rows in
            var values: [Int64: [ProjectStatistic: Double]] = [:]
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let project = try cells[0].decode(Int64.self)
                for (index, statistic) in statistics.enumerated() {
                    if let value = try cells[index + 1].decode(Double?.self) { values[project, default: [:]][statistic] = value }
                }
            }
            return values
        }
    }
}
