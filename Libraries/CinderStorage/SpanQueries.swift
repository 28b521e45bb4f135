import CinderModel
import PostgresNIO

/// A stored span as read back: JSON columns stay text until the API decides how to present them.
public struct SpanRow: Sendable {
    public var id: Int64
    public var projectID: Int64
    public var traceRowID: Int64
    public var traceID: String
    public var spanID: String
    public var parentID: String?
    public var name: String
    public var spanKind: String
    public var startMicros: Int64
    public var endMicros: Int64
    public var attributesJSON: String
    public var eventsJSON: String
    public var statusCode: String
    public var statusMessage: String
}

public enum SortOrder: String, Sendable {
    case asc, desc
    var sql: String { rawValue.uppercased() }
    /// Keyset comparison that keeps rows at or after the cursor in this order.
    var atOrAfter: String { self == .asc ? ">=" : "<=" }
    /// Keyset comparison that keeps rows strictly after the cursor in this order.
    var after: String { self == .asc ? ">" : "<" }
}

public struct SpanFilter: Sendable {
    public enum Sort: String, Sendable { case id, startTime = "start_time", endTime = "end_time" }
    /// Start of the page in sort order: the first row of the page, as the previous page's extra row gave it.
    public enum Cursor: Sendable, Hashable {
        case id(Int64)
        case startTime(micros: Int64, id: Int64)
        case endTime(micros: Int64, id: Int64)
    }

    public var startMicros: Int64?
    public var endMicros: Int64?
    public var traceIDs: [String] = []
    public var spanIDs: [String] = []
    /// `.some(nil)` selects root spans only.
    public var parentID: String??
    public var names: [String] = []
    public var spanKinds: [String] = []
    public var statusCodes: [String] = []
    /// `(path, JSON value)` pairs that must match exactly (`attributes #> path = value`).
    public var attributes: [(path: [String], json: String)] = []
    public var sort: Sort = .id
    public var order: SortOrder = .desc
    public var cursor: Cursor?

    public init() {}
}

extension TenantStore {
    static let spanColumns = """
        s.id, s.project_id, s.trace_rowid, t.trace_id, s.span_id, s.parent_id, s.name, s.span_kind,
        \(micros("s.start_time")), \(micros("s.end_time")), s.attributes::text, s.events::text,
        s.status_code, s.status_message
        """

    static func spanRows(_ rows: PostgresRowSequence) async throws -> [SpanRow] {
        var out: [SpanRow] = []
        for try await row in rows {
            let c = try row.decode(
                (Int64, Int64, Int64, String, String, String?, String, String, Int64, Int64, String, String, String, String).self)
            out.append(
                SpanRow(
                    id: c.0, projectID: c.1, traceRowID: c.2, traceID: c.3, spanID: c.4, parentID: c.5, name: c.6,
                    spanKind: c.7, startMicros: c.8, endMicros: c.9, attributesJSON: c.10, eventsJSON: c.11,
                    statusCode: c.12, statusMessage: c.13))
        }
        return out
    }

    /// Spans `s` (with their traces `t`) of this organization; `conditions` appends the rest of the
    /// statement after `WHERE s.org_id = … AND `.
    func selectSpans(_ conditions: (inout SQLBuilder) -> Void) async throws -> [SpanRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.spanColumns) FROM spans s JOIN traces t ON t.id = s.trace_rowid WHERE s.org_id = \(q.bind(org)) AND ")
        conditions(&q)
        return try await Self.spanRows(database.reader.query(q.query, logger: logger))
    }

    /// One page of a project's spans; asks for `limit` rows (callers pass page size + 1 to detect more).
    public func spans(projectID: Int64, filter f: SpanFilter, limit: Int) async throws -> [SpanRow] {
        try await selectSpans { q in Self.appendPage(&q, projectID: projectID, filter: f, limit: limit) }
    }

    private static func appendPage(_ q: inout SQLBuilder, projectID: Int64, filter f: SpanFilter, limit: Int) {
        q.append("s.project_id = \(q.bind(projectID))")
        if let start = f.startMicros { q.append(" AND s.start_time >= \(timestamp(q.bind(start)))") }
        if let end = f.endMicros { q.append(" AND s.start_time < \(timestamp(q.bind(end)))") }
        if !f.traceIDs.isEmpty { q.append(" AND t.trace_id = ANY(\(q.bind(f.traceIDs))::text[])") }
        if !f.spanIDs.isEmpty { q.append(" AND s.span_id = ANY(\(q.bind(f.spanIDs))::text[])") }
        switch f.parentID {
        case .some(.none): q.append(" AND s.parent_id IS NULL")
        case .some(.some(let parent)): q.append(" AND s.parent_id = \(q.bind(parent))")
        case .none: break
        }
        if !f.names.isEmpty { q.append(" AND s.name = ANY(\(q.bind(f.names))::text[])") }
        if !f.spanKinds.isEmpty { q.append(" AND s.span_kind = ANY(\(q.bind(f.spanKinds))::text[])") }
        if !f.statusCodes.isEmpty { q.append(" AND s.status_code = ANY(\(q.bind(f.statusCodes))::text[])") }
        for (path, json) in f.attributes {
            q.append(" AND (s.attributes #> \(q.bind(path))::text[])::jsonb = \(q.bind(json))::jsonb")
        }
        switch (f.sort, f.cursor) {
        case (.id, .id(let id)?):
            q.append(" AND s.id \(f.order.atOrAfter) \(q.bind(id))")
        case (.startTime, .startTime(let start, let id)?):
            q.append(" AND (s.start_time, s.id) \(f.order.atOrAfter) (\(timestamp(q.bind(start))), \(q.bind(id)))")
        case (.endTime, .endTime(let end, let id)?):
            q.append(" AND (s.end_time, s.id) \(f.order.atOrAfter) (\(timestamp(q.bind(end))), \(q.bind(id)))")
        default: break
        }
        switch f.sort {
        case .id: q.append(" ORDER BY s.id \(f.order.sql)")
        case .startTime: q.append(" ORDER BY s.start_time \(f.order.sql), s.id \(f.order.sql)")
        case .endTime: q.append(" ORDER BY s.end_time \(f.order.sql), s.id \(f.order.sql)")
        }
        q.append(" LIMIT \(q.bind(Int64(limit)))")
    }

    /// Spans of the given traces (by row id), in start order, for trace pages with `include_spans`.
    public func spans(traceRowIDs: [Int64]) async throws -> [SpanRow] {
        guard !traceRowIDs.isEmpty else { return [] }
        return try await selectSpans { q in
            q.append("s.trace_rowid = ANY(\(q.bind(traceRowIDs))::int8[]) ORDER BY s.start_time, s.id")
        }
    }

    /// Deletes one span (not its descendants). The trace goes too when it was its last span.
    /// The identifier is a span row id or an OpenTelemetry span id. Returns false if there was none.
    public func deleteSpan(rowID: Int64?, spanID: String?) async throws -> Bool {
        try await database.primary.withTransaction(logger: logger) { connection in
            let deleted = try await connection.query(
                """
                DELETE FROM spans WHERE org_id = \(org) AND (id = \(rowID ?? -1) OR span_id = \(spanID ?? ""))
                RETURNING trace_rowid
                """, logger: logger
            ).decode(Int64.self).all()
            guard let trace = deleted.first else { return false }
            try await connection.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND id = \(trace)
                AND NOT EXISTS (SELECT 1 FROM spans WHERE trace_rowid = \(trace))
                """, logger: logger)
            return true
        }
    }
}

extension TenantStore {
    /// Which of these span ids are stored already (in any project of the organization).
    public func existingSpanIDs(_ spanIDs: [String]) async throws -> Set<String> {
        guard !spanIDs.isEmpty else { return [] }
        return Set(
            try await database.primary.query(
                "SELECT span_id FROM spans WHERE org_id = \(org) AND span_id = ANY(\(spanIDs)::text[])", logger: logger
            ).decode(String.self).all())
    }
}
