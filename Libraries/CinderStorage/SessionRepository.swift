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

    /// A page of a project's sessions; with a time range, the sessions with a trace starting in it.
    public func sessions(
        projectID: Int64, afterID cursor: Int64?, order: SortOrder, limit: Int, startMicros: Int64? = nil, endMicros: Int64? = nil
    ) async throws -> [SessionRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.columns) FROM project_sessions ps WHERE ps.org_id = \(q.bind(org))")
        q.append(" AND ps.project_id = \(q.bind(projectID))")
        Self.appendHasTraceStarting(&q, startMicros: startMicros, endMicros: endMicros)
        if let cursor { q.append(" AND ps.id \(order.atOrAfter) \(q.bind(cursor))") }
        q.append(" ORDER BY ps.id \(order.sql) LIMIT \(q.bind(Int64(limit)))")
        return try await addingTracesAndTokens(scope.read(q.query, Self.rows))
    }

    /// Sessions of a project with a trace starting in the range (all sessions without one).
    public func count(projectID: Int64, startMicros: Int64?, endMicros: Int64?) async throws -> Int {
        var q = SQLBuilder()
        q.append("SELECT count(*) FROM project_sessions ps WHERE ps.org_id = \(q.bind(org)) AND ps.project_id = \(q.bind(projectID))")
        Self.appendHasTraceStarting(&q, startMicros: startMicros, endMicros: endMicros)
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
                       coalesce(sum(s.llm_token_count_completion), 0)::int8
                FROM traces t JOIN spans s ON s.org_id = t.org_id AND s.trace_rowid = t.id
                WHERE t.org_id = \(org) AND t.project_session_id = ANY(\(ids)::int8[])
                GROUP BY t.project_session_id
                """
            ).decode((Int64, Int64, Int64).self).all()
            return (traces, tokens)
        }
        var traces: [Int64: [SessionRow.Trace]] = [:]
        for c in traceRows { traces[c.0, default: []].append(.init(id: c.1, traceID: c.2, startMicros: c.3, endMicros: c.4)) }
        let tokens = Dictionary(tokenRows.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
        var rows = rows
        for i in rows.indices {
            rows[i].traces = traces[rows[i].id] ?? []
            if let first = rows[i].traces.first {
                rows[i].startMicros = first.startMicros
                rows[i].endMicros = rows[i].traces.map(\.endMicros).max() ?? first.endMicros
            }
            if let (prompt, completion) = tokens[rows[i].id] {
                rows[i].promptTokens = prompt
                rows[i].completionTokens = completion
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
