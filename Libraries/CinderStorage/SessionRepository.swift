import CinderModel
import PostgresNIO

public struct SessionRow: Sendable {
    public struct Trace: Sendable {
        public var id: Int64
        public var traceID: String
        public var startMicros: Int64
        public var endMicros: Int64
    }

    public var id: Int64
    public var sessionID: String
    public var projectID: Int64
    public var startMicros: Int64
    public var endMicros: Int64
    public var traces: [Trace] = []
    public var promptTokens: Int64 = 0
    public var completionTokens: Int64 = 0
    /// Sums of the spans' recorded costs (nil: none recorded).
    public var costs: (prompt: Double?, completion: Double?, total: Double?) = (nil, nil, nil)
    /// The value the page was sorted by (for its cursor).
    public var sortKey: Double = 0
}

/// What a page of sessions holds and in which order.
public struct SessionPage: Sendable {
    /// What sessions are ordered by: Phoenix's `ProjectSessionColumn`s, or creation (row id).
    public enum Sort: String, Sendable {
        case rowID, startTime, endTime, tokenCountTotal, numTraces, costTotal

        /// SQL of the key over a session `ps`, as float8 (times in microseconds).
        var keySQL: String {
            switch self {
            case .rowID: "ps.id::float8"
            case .startTime: "\(micros(SessionFilterField.startTime))::float8"
            case .endTime: "\(micros(SessionFilterField.endTime))::float8"
            case .tokenCountTotal, .numTraces, .costTotal: "(\(SessionFilterField.named([sessionFieldName])!.sql))::float8"
            }
        }

        private var sessionFieldName: String {
            switch self {
            case .tokenCountTotal: "token_count_total"
            case .numTraces: "num_traces"
            default: "total_cost"
            }
        }
    }

    /// Pages start strictly after their cursor: the last row of the previous page.
    public struct Cursor: Sendable {
        public var key: Double
        public var id: Int64
        public init(key: Double, id: Int64) {
            self.key = key
            self.id = id
        }
    }

    public var startMicros: Int64?
    public var endMicros: Int64?
    public var condition: SessionFilterCondition?
    public var sort = Sort.rowID
    public var order = SortOrder.desc
    public var cursor: Cursor?

    public init() {}
}

extension SessionRepository {
    static let columns = "ps.id, ps.session_id, ps.project_id, \(micros("ps.start_time")), \(micros("ps.end_time"))"

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [SessionRow] {
        var out: [SessionRow] = []
        for try await c in rows.decode((Int64, String, Int64, Int64, Int64).self) {
            out.append(SessionRow(id: c.0, sessionID: c.1, projectID: c.2, startMicros: c.3, endMicros: c.4))
        }
        return out
    }

    /// A page of a project's sessions, filtered and sorted; asks for `limit` rows (callers pass page size
    /// + 1 to detect more). Rows carry their sort key, for the next page's cursor.
    public func sessions(projectID: Int64, page: SessionPage, limit: Int) async throws -> [SessionRow] {
        var q = SQLBuilder()
        q.append("SELECT id, session_id, project_id, \(micros("start_time")), \(micros("end_time")), sort_key FROM (")
        q.append("SELECT ps.*, \(page.sort.keySQL) AS sort_key FROM project_sessions ps WHERE ps.org_id = \(q.bind(org))")
        q.append(" AND ps.project_id = \(q.bind(projectID))")
        Self.appendHasTraceStarting(&q, startMicros: page.startMicros, endMicros: page.endMicros)
        if let condition = page.condition {
            q.append(" AND ")
            try condition.appendSQL(&q)
        }
        q.append(") ps")
        if let cursor = page.cursor {
            if page.sort == .rowID {
                q.append(" WHERE ps.id \(page.order.after) \(q.bind(cursor.id))")
            } else {
                q.append(" WHERE (ps.sort_key, ps.id) \(page.order.after) (\(q.bind(cursor.key)), \(q.bind(cursor.id)))")
            }
        }
        q.append(" ORDER BY ps.sort_key \(page.order.sql), ps.id \(page.order.sql) LIMIT \(q.bind(Int64(limit)))")
        let rows = try await scope.read(q.query) { rows in
            var out: [SessionRow] = []
            for try await c in rows.decode((Int64, String, Int64, Int64, Int64, Double).self) {
                var row = SessionRow(id: c.0, sessionID: c.1, projectID: c.2, startMicros: c.3, endMicros: c.4)
                row.sortKey = c.5
                out.append(row)
            }
            return out
        }
        return try await addingTracesAndTokens(rows)
    }

    /// Sessions of a project with a trace starting in the range (all sessions without one) that match
    /// the condition.
    public func count(projectID: Int64, startMicros: Int64?, endMicros: Int64?, condition: SessionFilterCondition? = nil) async throws -> Int {
        var q = SQLBuilder()
        q.append("SELECT count(*) FROM project_sessions ps WHERE ps.org_id = \(q.bind(org)) AND ps.project_id = \(q.bind(projectID))")
        Self.appendHasTraceStarting(&q, startMicros: startMicros, endMicros: endMicros)
        if let condition {
            q.append(" AND ")
            try condition.appendSQL(&q)
        }
        return try await scope.read(q.query, ProjectRepository.count)
    }

    /// Keeps sessions `ps` with a trace starting in `[startMicros, endMicros)` (all, without a range).
    static func appendHasTraceStarting(_ q: inout SQLBuilder, startMicros: Int64?, endMicros: Int64?) {
        guard startMicros != nil || endMicros != nil else { return }
        q.append(" AND EXISTS (SELECT 1 FROM traces t WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id")
        if let startMicros { q.append(" AND t.start_time >= \(timestamp(q.bind(startMicros)))") }
        if let endMicros { q.append(" AND t.start_time < \(timestamp(q.bind(endMicros)))") }
        q.append(")")
    }

    /// A session by row id or user-facing session id.
    public func session(rowID: Int64?, sessionID: String?) async throws -> SessionRow? {
        try await addingTracesAndTokens(
            scope.read(
                """
                SELECT \(unescaped: Self.columns) FROM project_sessions ps
                WHERE ps.org_id = \(org) AND (ps.id = \(rowID ?? -1) OR ps.session_id = \(sessionID ?? ""))
                """, Self.rows)
        ).first
    }

    public func sessions(rowIDs: [Int64]) async throws -> [SessionRow] {
        guard !rowIDs.isEmpty else { return [] }
        return try await addingTracesAndTokens(
            scope.read(
                """
                SELECT \(unescaped: Self.columns) FROM project_sessions ps
                WHERE ps.org_id = \(org) AND ps.id = ANY(\(rowIDs)::int8[])
                """, Self.rows))
    }

    func addingTracesAndTokens(_ rows: [SessionRow]) async throws -> [SessionRow] {
        guard !rows.isEmpty else { return rows }
        let ids = rows.map(\.id)
        let org = org
        let (traceRows, tokenRows) = try await scope.read { tx in
            let traces = try await tx.query(
                """
                SELECT project_session_id, id, trace_id, \(unescaped: micros("start_time")), \(unescaped: micros("end_time"))
                FROM traces WHERE org_id = \(org) AND project_session_id = ANY(\(ids)::int8[])
                ORDER BY start_time, id
                """
            ).decode((Int64, Int64, String, Int64, Int64).self).all()
            let tokens = try await tx.query(
                """
                SELECT t.project_session_id, coalesce(sum(s.llm_token_count_prompt), 0)::int8,
                       coalesce(sum(s.llm_token_count_completion), 0)::int8,
                       sum(s.llm_cost_prompt)::float8, sum(s.llm_cost_completion)::float8, sum(s.llm_cost_total)::float8
                FROM traces t JOIN spans s ON s.org_id = t.org_id AND s.trace_rowid = t.id
                WHERE t.org_id = \(org) AND t.project_session_id = ANY(\(ids)::int8[])
                GROUP BY t.project_session_id
                """
            ).decode((Int64, Int64, Int64, Double?, Double?, Double?).self).all()
            return (traces, tokens)
        }
        var traces: [Int64: [SessionRow.Trace]] = [:]
        for c in traceRows { traces[c.0, default: []].append(.init(id: c.1, traceID: c.2, startMicros: c.3, endMicros: c.4)) }
        let totals = Dictionary(tokenRows.map { ($0.0, $0) }, uniquingKeysWith: { first, _ in first })
        var rows = rows
        for i in rows.indices {
            rows[i].traces = traces[rows[i].id] ?? []
            if let first = rows[i].traces.first {
                rows[i].startMicros = first.startMicros
                rows[i].endMicros = rows[i].traces.map(\.endMicros).max() ?? first.endMicros
            }
            if let total = totals[rows[i].id] {
                rows[i].promptTokens = total.1
                rows[i].completionTokens = total.2
                rows[i].costs = (total.3, total.4, total.5)
            }
        }
        return rows
    }

    /// Deletes sessions (by row id or session id) with their traces and spans. Returns how many went.
    @discardableResult
    public func delete(rowIDs: [Int64], sessionIDs: [String]) async throws -> Int {
        let org = org
        return try await scope.write { tx in
            let sessions = try await tx.query(
                """
                SELECT id FROM project_sessions
                WHERE org_id = \(org) AND (id = ANY(\(rowIDs)::int8[]) OR session_id = ANY(\(sessionIDs)::text[]))
                FOR UPDATE
                """
            ).decode(Int64.self).all()
            guard !sessions.isEmpty else { return 0 }
            // Spans first (they have no foreign key to cascade through), then the sessions and, by
            // cascade, their traces.
            try await tx.query(
                """
                DELETE FROM spans s USING traces t
                WHERE s.org_id = \(org) AND t.org_id = \(org) AND s.trace_rowid = t.id AND t.project_session_id = ANY(\(sessions)::int8[])
                """)
            try await tx.query("DELETE FROM project_sessions WHERE org_id = \(org) AND id = ANY(\(sessions)::int8[])")
            return sessions.count
        }
    }
}
