import CinderModel
import Logging
import PostgresNIO

public struct TraceRow: Sendable {
    public var id: Int64
    public var projectID: Int64
    public var traceID: String
    public var startMicros: Int64
    public var endMicros: Int64
    public var sessionRowID: Int64?
    public var promptTokens: Int64 = 0
    public var completionTokens: Int64 = 0

    public var latencyMicros: Int64 { endMicros - startMicros }
}

public struct TraceFilter: Sendable {
    public enum Sort: String, Sendable { case startTime = "start_time", latency = "latency_ms" }
    /// Last row of the previous page: the sort value (start or latency, microseconds) and the row id.
    public struct Cursor: Sendable, Hashable {
        public var value: Int64
        public var id: Int64
        public init(value: Int64, id: Int64) {
            self.value = value
            self.id = id
        }
    }

    public var startMicros: Int64?
    public var endMicros: Int64?
    public var sort: Sort = .startTime
    public var order: SortOrder = .desc
    public var cursor: Cursor?
    /// Session row ids and user-facing session ids; a trace matches if it is in any of them.
    public var sessionRowIDs: [Int64] = []
    public var sessionIDs: [String] = []
    public var hasError: Bool?
    public var minLatencyMicros: Int64?
    public var maxLatencyMicros: Int64?

    public init() {}

    var filtersBySession: Bool { !sessionRowIDs.isEmpty || !sessionIDs.isEmpty }
}

extension TenantStore {
    static let traceColumns = """
        t.id, t.project_id, t.trace_id, \(micros("t.start_time")), \(micros("t.end_time")), t.project_session_id
        """

    static func traceRows(_ rows: PostgresRowSequence) async throws -> [TraceRow] {
        var out: [TraceRow] = []
        for try await c in rows.decode((Int64, Int64, String, Int64, Int64, Int64?).self) {
            out.append(TraceRow(id: c.0, projectID: c.1, traceID: c.2, startMicros: c.3, endMicros: c.4, sessionRowID: c.5))
        }
        return out
    }

    /// A page of a project's traces; `withTokenCounts` adds their spans' token sums (one more statement).
    public func traces(projectID: Int64, filter f: TraceFilter, limit: Int, withTokenCounts: Bool = true) async throws -> [TraceRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.traceColumns) FROM traces t WHERE t.org_id = \(q.bind(org)) AND t.project_id = \(q.bind(projectID))")
        if let start = f.startMicros { q.append(" AND t.start_time >= \(timestamp(q.bind(start)))") }
        if let end = f.endMicros { q.append(" AND t.start_time < \(timestamp(q.bind(end)))") }
        if f.filtersBySession {
            q.append(
                """
                 AND t.project_session_id IN (SELECT id FROM project_sessions WHERE org_id = \(q.bind(org))
                 AND (id = ANY(\(q.bind(f.sessionRowIDs))::int8[]) OR session_id = ANY(\(q.bind(f.sessionIDs))::text[])))
                """)
        }
        if let hasError = f.hasError {
            q.append(
                " AND \(hasError ? "" : "NOT ")EXISTS (SELECT 1 FROM spans s WHERE s.trace_rowid = t.id AND s.status_code = 'ERROR')")
        }
        let latency = "(t.end_time - t.start_time)"
        if let min = f.minLatencyMicros { q.append(" AND \(latency) >= \(q.bind(min)) * interval '1 microsecond'") }
        if let max = f.maxLatencyMicros { q.append(" AND \(latency) <= \(q.bind(max)) * interval '1 microsecond'") }
        let key = f.sort == .startTime ? "t.start_time" : latency
        if let cursor = f.cursor {
            let value = f.sort == .startTime ? timestamp(q.bind(cursor.value)) : "(\(q.bind(cursor.value)) * interval '1 microsecond')"
            q.append(" AND (\(key), t.id) \(f.order.after) (\(value), \(q.bind(cursor.id)))")
        }
        q.append(" ORDER BY \(key) \(f.order.sql), t.id \(f.order.sql) LIMIT \(q.bind(Int64(limit)))")
        var rows = try await Self.traceRows(database.reader.query(q.query, logger: logger))
        if withTokenCounts { try await addTokenCounts(&rows) }
        return rows
    }

    func addTokenCounts(_ rows: inout [TraceRow]) async throws {
        guard !rows.isEmpty else { return }
        var counts: [Int64: (Int64, Int64)] = [:]
        for try await (trace, prompt, completion) in try await database.reader.query(
            """
            SELECT trace_rowid, coalesce(sum(llm_token_count_prompt), 0)::int8, coalesce(sum(llm_token_count_completion), 0)::int8
            FROM spans WHERE org_id = \(org) AND trace_rowid = ANY(\(rows.map(\.id))::int8[])
            GROUP BY trace_rowid
            """, logger: logger
        ).decode((Int64, Int64, Int64).self) {
            counts[trace] = (prompt, completion)
        }
        for i in rows.indices {
            if let (prompt, completion) = counts[rows[i].id] {
                rows[i].promptTokens = prompt
                rows[i].completionTokens = completion
            }
        }
    }

    /// A trace by row id or OpenTelemetry trace id.
    public func trace(rowID: Int64?, traceID: String?) async throws -> TraceRow? {
        try await Self.traceRows(
            database.reader.query(
                """
                SELECT \(unescaped: Self.traceColumns) FROM traces t
                WHERE t.org_id = \(org) AND (t.id = \(rowID ?? -1) OR t.trace_id = \(traceID ?? ""))
                """, logger: logger)
        ).first
    }

    /// Deletes a trace with its spans; a session left without traces goes too.
    public func deleteTrace(rowID: Int64?, traceID: String?) async throws -> Bool {
        try await database.primary.withTransaction(logger: logger) { connection in
            let deleted = try await connection.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND (id = \(rowID ?? -1) OR trace_id = \(traceID ?? ""))
                RETURNING id, coalesce(project_session_id, 0)
                """, logger: logger
            ).decode((Int64, Int64).self).all()
            guard !deleted.isEmpty else { return false }
            try await Self.deleteSpans(ofTraces: deleted.map(\.0), org: org, on: connection, logger: logger)
            try await Self.deleteEmptySessions(deleted.map(\.1), org: org, on: connection, logger: logger)
            return true
        }
    }

    /// Spans have no foreign key to their trace (it would be checked on every insert): remove them here.
    static func deleteSpans(ofTraces traceRowIDs: [Int64], org: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        guard !traceRowIDs.isEmpty else { return }
        try await connection.query(
            "DELETE FROM spans WHERE org_id = \(org) AND trace_rowid = ANY(\(traceRowIDs)::int8[])", logger: logger)
    }

    /// Deletes a project's traces that started in `[start, end)`, with their spans and emptied sessions.
    public func deleteTraces(projectID: Int64, startMicros: Int64, endMicros: Int64) async throws {
        try await database.primary.withTransaction(logger: logger) { connection in
            let deleted = try await connection.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND project_id = \(projectID)
                AND start_time >= to_timestamp(0) + \(startMicros) * interval '1 microsecond'
                AND start_time < to_timestamp(0) + \(endMicros) * interval '1 microsecond'
                RETURNING id, coalesce(project_session_id, 0)
                """, logger: logger
            ).decode((Int64, Int64).self).all()
            try await Self.deleteSpans(ofTraces: deleted.map(\.0), org: org, on: connection, logger: logger)
            try await Self.deleteEmptySessions(deleted.map(\.1), org: org, on: connection, logger: logger)
        }
    }

    static func deleteEmptySessions(
        _ sessionRowIDs: [Int64], org: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let ids = Array(Set(sessionRowIDs.filter { $0 != 0 }))
        guard !ids.isEmpty else { return }
        try await connection.query(
            """
            DELETE FROM project_sessions ps WHERE ps.org_id = \(org) AND ps.id = ANY(\(ids)::int8[])
            AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.project_session_id = ps.id)
            """, logger: logger)
    }

    /// Moves traces (by row id) to another project, spans included. Returns how many moved.
    public func transferTraces(rowIDs: [Int64], toProjectID: Int64) async throws -> Int {
        try await database.primary.withTransaction(logger: logger) { connection in
            let moved = try await connection.query(
                """
                UPDATE traces SET project_id = \(toProjectID)
                WHERE org_id = \(org) AND id = ANY(\(rowIDs)::int8[]) RETURNING id
                """, logger: logger
            ).decode(Int64.self).all()
            try await connection.query(
                """
                UPDATE spans SET project_id = \(toProjectID)
                WHERE org_id = \(org) AND trace_rowid = ANY(\(moved)::int8[])
                """, logger: logger)
            // Sessions follow their traces when every trace of the session moved.
            try await connection.query(
                """
                UPDATE project_sessions ps SET project_id = \(toProjectID)
                WHERE ps.org_id = \(org)
                AND ps.id IN (SELECT project_session_id FROM traces WHERE id = ANY(\(moved)::int8[]))
                AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.project_session_id = ps.id AND t.project_id <> \(toProjectID))
                """, logger: logger)
            return moved.count
        }
    }
}
