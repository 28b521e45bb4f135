import CinderModel
import Logging
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
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var promptCost: Double?
    public var completionCost: Double?
    public var totalCost: Double?

    /// The row's key in `sort`: what a cursor after this row carries.
    public func sortKey(_ sort: SpanFilter.Sort) -> Int64 {
        switch sort {
        case .id: id
        case .startTime: startMicros
        case .endTime: endMicros
        case .latency: endMicros - startMicros
        case .totalTokens: (promptTokens ?? 0) + (completionTokens ?? 0)
        case .promptTokens: promptTokens ?? 0
        case .completionTokens: completionTokens ?? 0
        // The cost's bits: the cursor gives back the exact value (pages compare it in SQL as a float).
        case .totalCost: Int64(bitPattern: (totalCost ?? 0).bitPattern)
        }
    }
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
    public enum Sort: String, Sendable, CaseIterable {
        case id, startTime = "start_time", endTime = "end_time"
        /// Computed keys (integers, so that a cursor compares exactly); a missing token count sorts as 0.
        case latency = "latency_ms", totalTokens = "token_count_total"
        case promptTokens = "token_count_prompt", completionTokens = "token_count_completion"
        /// A float key: cursors carry its bits (`SpanRow.sortKey`); a span without a cost sorts as 0.
        case totalCost = "cost_total"

        /// The key as SQL over spans `s`, matching `SpanRow.sortKey` value for value.
        var keySQL: String {
            switch self {
            case .id: "s.id"
            case .startTime: "s.start_time"
            case .endTime: "s.end_time"
            case .latency: "(\(micros("s.end_time")) - \(micros("s.start_time")))"
            case .totalTokens: "(coalesce(s.llm_token_count_prompt, 0) + coalesce(s.llm_token_count_completion, 0))"
            case .promptTokens: "coalesce(s.llm_token_count_prompt, 0)"
            case .completionTokens: "coalesce(s.llm_token_count_completion, 0)"
            case .totalCost: "coalesce(s.llm_cost_total, 0)"
            }
        }
    }
    /// Start of the page in sort order: the first row of the page, as the previous page's extra row gave
    /// it — its key in the sort (`SpanRow.sortKey`: microseconds for times) and its row id.
    public struct Cursor: Sendable, Hashable {
        public var key: Int64
        public var id: Int64
        public init(key: Int64, id: Int64) {
            self.key = key
            self.id = id
        }
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
    /// A filter-language condition (`span_kind == 'LLM' and latency_ms > 1000`), checked in SQL.
    public var condition: SpanFilterCondition?
    public var sort: Sort = .id
    public var order: SortOrder = .desc
    public var cursor: Cursor?

    public init() {}
}

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
    /// A span filter its root span must match (Phoenix's traces table filters root spans).
    public var rootCondition: SpanFilterCondition?

    public init() {}

    var filtersBySession: Bool { !sessionRowIDs.isEmpty || !sessionIDs.isEmpty }
}

extension SpanRepository {
    static let spanColumns = """
        s.id, s.project_id, s.trace_rowid, t.trace_id, s.span_id, s.parent_id, s.name, s.span_kind,
        \(micros("s.start_time")), \(micros("s.end_time")), s.attributes::text, s.events::text,
        s.status_code, s.status_message, s.llm_token_count_prompt, s.llm_token_count_completion,
        s.llm_cost_prompt, s.llm_cost_completion, s.llm_cost_total
        """

    @Sendable static func spanRows(_ rows: PostgresRowSequence) async throws -> [SpanRow] {
        var out: [SpanRow] = []
        for try await row in rows {
            let c = try row.decode(
                (Int64, Int64, Int64, String, String, String?, String, String, Int64, Int64, String, String, String, String,
                 Int64?, Int64?, Double?, Double?, Double?).self)
            out.append(
                SpanRow(
                    id: c.0, projectID: c.1, traceRowID: c.2, traceID: c.3, spanID: c.4, parentID: c.5, name: c.6,
                    spanKind: c.7, startMicros: c.8, endMicros: c.9, attributesJSON: c.10, eventsJSON: c.11,
                    statusCode: c.12, statusMessage: c.13, promptTokens: c.14, completionTokens: c.15,
                    promptCost: c.16, completionCost: c.17, totalCost: c.18))
        }
        return out
    }

    /// Spans `s` (with their traces `t`) of this organization; `conditions` appends the rest of the
    /// statement after `WHERE s.org_id = … AND `.
    func selectSpans(onPrimary: Bool = false, _ conditions: (inout SQLBuilder) throws -> Void) async throws -> [SpanRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.spanColumns) FROM spans s JOIN traces t ON t.org_id = s.org_id AND t.id = s.trace_rowid WHERE s.org_id = \(q.bind(org)) AND ")
        try conditions(&q)
        let query = q.query
        if onPrimary { return try await scope.readPrimary { try await Self.spanRows($0.query(query)) } }
        return try await scope.read(query, Self.spanRows)
    }

    /// One page of a project's spans; asks for `limit` rows (callers pass page size + 1 to detect more).
    public func spans(projectID: Int64, filter f: SpanFilter, limit: Int) async throws -> [SpanRow] {
        try await selectSpans { q in try Self.appendPage(&q, projectID: projectID, filter: f, limit: limit) }
    }
    private static func appendPage(_ q: inout SQLBuilder, projectID: Int64, filter f: SpanFilter, limit: Int) throws(CinderError) {
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
        if let condition = f.condition {
            q.append(" AND ")
            try condition.appendSQL(&q)
        }
        if let cursor = f.cursor {
            let key = switch f.sort {
            case .startTime, .endTime: timestamp(q.bind(cursor.key))
            case .totalCost: q.bind(Double(bitPattern: UInt64(bitPattern: cursor.key)))
            default: q.bind(cursor.key)
            }
            q.append(" AND (\(f.sort.keySQL), s.id) \(f.order.atOrAfter) (\(key), \(q.bind(cursor.id)))")
        }
        q.append(" ORDER BY \(f.sort.keySQL) \(f.order.sql), s.id \(f.order.sql)")
        q.append(" LIMIT \(q.bind(Int64(limit)))")
    }

    /// The spans of `rowIDs` that match `condition` (all of them without one).
    public func spans(rowIDs: [Int64], matching condition: SpanFilterCondition?) async throws -> [SpanRow] {
        guard !rowIDs.isEmpty else { return [] }
        // On the primary: the spans were queued as they were written, maybe not on a replica yet.
        return try await selectSpans(onPrimary: true) { q in
            q.append("s.id = ANY(\(q.bind(rowIDs))::int8[])")
            if let condition {
                q.append(" AND ")
                try condition.appendSQL(&q)
            }
        }
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
        let org = org
        return try await scope.write { tx in
            let deleted = try await tx.query(
                """
                DELETE FROM spans WHERE org_id = \(org) AND (id = \(rowID ?? -1) OR span_id = \(spanID ?? ""))
                RETURNING trace_rowid
                """
            ).decode(Int64.self).all()
            guard let trace = deleted.first else { return false }
            try await tx.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND id = \(trace)
                AND NOT EXISTS (SELECT 1 FROM spans WHERE org_id = \(org) AND trace_rowid = \(trace))
                """)
            return true
        }
    }

    /// Which of these span ids are stored already (in any project of the organization); read on the
    /// primary, since the caller has just written spans.
    public func existingSpanIDs(_ spanIDs: [String]) async throws -> Set<String> {
        guard !spanIDs.isEmpty else { return [] }
        return Set(
            try await scope.readPrimary {
                try await $0.query("SELECT span_id FROM spans WHERE org_id = \(org) AND span_id = ANY(\(spanIDs)::text[])")
                    .decode(String.self).all()
            })
    }
}

// MARK: Reads keyed by a set of parents

/// Reads keyed by a set of parents, one statement per set, for callers (GraphQL) that resolve the
/// same field for many sibling objects at once instead of issuing one query per object.
extension SpanRepository {
    public func spans(rowIDs: [Int64]) async throws -> [SpanRow] {
        guard !rowIDs.isEmpty else { return [] }
        return try await selectSpans { q in q.append("s.id = ANY(\(q.bind(rowIDs))::int8[])") }
    }

    /// Spans by OpenTelemetry span id; `onPrimary` for spans the request has just written.
    public func spans(spanIDs: [String], onPrimary: Bool = false) async throws -> [SpanRow] {
        guard !spanIDs.isEmpty else { return [] }
        return try await selectSpans(onPrimary: onPrimary) { q in q.append("s.span_id = ANY(\(q.bind(spanIDs))::text[])") }
    }

    /// The root spans of the traces with these OpenTelemetry trace ids, read on the primary (for runs
    /// just recorded, whose spans a replica may not have yet).
    public func rootSpans(traceIDs: [String]) async throws -> [SpanRow] {
        guard !traceIDs.isEmpty else { return [] }
        return try await selectSpans(onPrimary: true) { q in q.append("t.trace_id = ANY(\(q.bind(traceIDs))::text[]) AND s.parent_id IS NULL") }
    }

    /// Up to `limit` spans of each trace, newest start first (Phoenix's order for a trace's spans);
    /// with a cursor (one trace only, in practice) the spans strictly after it.
    public func spans(
        traceRowIDs: [Int64], perTrace limit: Int, after cursor: (startMicros: Int64, id: Int64)? = nil
    ) async throws -> [SpanRow] {
        guard !traceRowIDs.isEmpty else { return [] }
        var q = SQLBuilder()
        q.append(
            """
            SELECT \(Self.spanColumns) FROM (
                SELECT s.*, row_number() OVER (PARTITION BY s.trace_rowid ORDER BY s.start_time DESC, s.id DESC) AS position
                FROM spans s WHERE s.org_id = \(q.bind(org)) AND s.trace_rowid = ANY(\(q.bind(traceRowIDs))::int8[])
            """)
        if let cursor {
            q.append(" AND (s.start_time, s.id) < (\(timestamp(q.bind(cursor.startMicros))), \(q.bind(cursor.id)))")
        }
        q.append(
            """
            ) s JOIN traces t ON t.org_id = s.org_id AND t.id = s.trace_rowid
            WHERE s.position <= \(q.bind(Int64(limit)))
            ORDER BY s.trace_rowid, s.position
            """)
        return try await scope.read(q.query, Self.spanRows)
    }

    /// The root spans (no parent) of the given traces.
    public func rootSpans(traceRowIDs: [Int64]) async throws -> [SpanRow] {
        guard !traceRowIDs.isEmpty else { return [] }
        return try await selectSpans { q in
            q.append("s.trace_rowid = ANY(\(q.bind(traceRowIDs))::int8[]) AND s.parent_id IS NULL ORDER BY s.start_time, s.id")
        }
    }

    /// What a trace's spans add up to.
    public struct TraceTotals: Sendable {
        public var spans = 0
        public var promptTokens: Int64 = 0
        public var completionTokens: Int64 = 0
        /// Sums of recorded costs; nil where no span recorded one.
        public var promptCost: Double?
        public var completionCost: Double?
        public var totalCost: Double?
        public init() {}
    }

    /// Span counts, token and cost totals per trace row id.
    public func traceTotals(traceRowIDs: [Int64]) async throws -> [Int64: TraceTotals] {
        guard !traceRowIDs.isEmpty else { return [:] }
        return try await totals(
            """
            SELECT trace_rowid, count(*), coalesce(sum(llm_token_count_prompt), 0)::int8, coalesce(sum(llm_token_count_completion), 0)::int8,
                   sum(llm_cost_prompt)::float8, sum(llm_cost_completion)::float8, sum(llm_cost_total)::float8
            FROM spans WHERE org_id = \(org) AND trace_rowid = ANY(\(traceRowIDs)::int8[])
            GROUP BY trace_rowid
            """)
    }

    /// Token and cost totals of the traces of experiment runs, by run id (what each run's task spent).
    public func runTotals(runIDs: [Int64]) async throws -> [Int64: TraceTotals] {
        guard !runIDs.isEmpty else { return [:] }
        return try await totals(
            """
            SELECT r.id, count(s.id), coalesce(sum(s.llm_token_count_prompt), 0)::int8, coalesce(sum(s.llm_token_count_completion), 0)::int8,
                   sum(s.llm_cost_prompt)::float8, sum(s.llm_cost_completion)::float8, sum(s.llm_cost_total)::float8
            FROM experiment_runs r JOIN traces t ON t.org_id = r.org_id AND t.trace_id = r.trace_id
            JOIN spans s ON s.org_id = t.org_id AND s.trace_rowid = t.id
            WHERE r.org_id = \(org) AND r.id = ANY(\(runIDs)::int8[])
            GROUP BY r.id
            """)
    }

    /// Token and cost totals of all the runs' traces of each experiment, by experiment id.
    public func experimentTotals(experimentIDs: [Int64]) async throws -> [Int64: TraceTotals] {
        guard !experimentIDs.isEmpty else { return [:] }
        return try await totals(
            """
            SELECT r.experiment_id, count(s.id), coalesce(sum(s.llm_token_count_prompt), 0)::int8, coalesce(sum(s.llm_token_count_completion), 0)::int8,
                   sum(s.llm_cost_prompt)::float8, sum(s.llm_cost_completion)::float8, sum(s.llm_cost_total)::float8
            FROM experiment_runs r JOIN traces t ON t.org_id = r.org_id AND t.trace_id = r.trace_id
            JOIN spans s ON s.org_id = t.org_id AND s.trace_rowid = t.id
            WHERE r.org_id = \(org) AND r.experiment_id = ANY(\(experimentIDs)::int8[])
            GROUP BY r.experiment_id
            """)
    }

    private func totals(_ query: PostgresQuery) async throws -> [Int64: TraceTotals] {
        let rows = try await scope.read(query) { try await $0.decode((Int64, Int64, Int64, Int64, Double?, Double?, Double?).self).all() }
        var totals: [Int64: TraceTotals] = [:]
        for c in rows {
            var t = TraceTotals()
            t.spans = Int(c.1)
            t.promptTokens = c.2
            t.completionTokens = c.3
            t.promptCost = c.4
            t.completionCost = c.5
            t.totalCost = c.6
            totals[c.0] = t
        }
        return totals
    }

    /// Number of direct children per span id. The traces bound the search to the spans' own traces,
    /// which the trace index finds without an index on parent ids.
    public func childSpanCounts(spanIDs: [String], traceRowIDs: [Int64]) async throws -> [String: Int] {
        guard !spanIDs.isEmpty else { return [:] }
        let rows = try await scope.read(
            """
            SELECT parent_id, count(*) FROM spans
            WHERE org_id = \(org) AND trace_rowid = ANY(\(traceRowIDs)::int8[]) AND parent_id = ANY(\(spanIDs)::text[])
            GROUP BY parent_id
            """
        ) { try await $0.decode((String, Int64).self).all() }
        return Dictionary(rows.map { ($0.0, Int($0.1)) }, uniquingKeysWith: { first, _ in first })
    }

    /// A span's descendants down to `maxDepth` levels (nil: all), in row order from `afterID` (exclusive).
    public func descendantSpans(of span: SpanRow, maxDepth: Int?, afterID: Int64?, limit: Int) async throws -> [SpanRow] {
        try await scope.read(
            """
            WITH RECURSIVE descendants (span_id, depth) AS (
                SELECT span_id, 1 FROM spans
                WHERE org_id = \(org) AND trace_rowid = \(span.traceRowID) AND parent_id = \(span.spanID)
                UNION ALL
                SELECT s.span_id, d.depth + 1 FROM spans s JOIN descendants d ON s.parent_id = d.span_id
                WHERE s.org_id = \(org) AND s.trace_rowid = \(span.traceRowID) AND d.depth < \(Int64(maxDepth ?? Int(Int32.max)))
            )
            SELECT \(unescaped: Self.spanColumns) FROM spans s JOIN traces t ON t.org_id = s.org_id AND t.id = s.trace_rowid
            WHERE s.org_id = \(org) AND s.trace_rowid = \(span.traceRowID)
            AND s.span_id IN (SELECT span_id FROM descendants) AND s.id > \(afterID ?? 0)
            ORDER BY s.id LIMIT \(Int64(limit))
            """, Self.spanRows)
    }
}

// MARK: Traces

extension SpanRepository {
    static let traceColumns = """
        t.id, t.project_id, t.trace_id, \(micros("t.start_time")), \(micros("t.end_time")), t.project_session_id
        """

    @Sendable static func traceRows(_ rows: PostgresRowSequence) async throws -> [TraceRow] {
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
                " AND \(hasError ? "" : "NOT ")EXISTS (SELECT 1 FROM spans s WHERE s.org_id = t.org_id AND s.trace_rowid = t.id AND s.status_code = 'ERROR')")
        }
        if let condition = f.rootCondition {
            q.append(" AND EXISTS (SELECT 1 FROM spans s WHERE s.org_id = t.org_id AND s.trace_rowid = t.id AND s.parent_id IS NULL AND ")
            try condition.appendSQL(&q)
            q.append(")")
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
        let rows = try await scope.read(q.query, Self.traceRows)
        return withTokenCounts ? try await addingTokenCounts(rows) : rows
    }

    func addingTokenCounts(_ rows: [TraceRow]) async throws -> [TraceRow] {
        guard !rows.isEmpty else { return rows }
        let sums = try await scope.read(
            """
            SELECT trace_rowid, coalesce(sum(llm_token_count_prompt), 0)::int8, coalesce(sum(llm_token_count_completion), 0)::int8
            FROM spans WHERE org_id = \(org) AND trace_rowid = ANY(\(rows.map(\.id))::int8[])
            GROUP BY trace_rowid
            """
        ) { try await $0.decode((Int64, Int64, Int64).self).all() }
        let counts = Dictionary(sums.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
        var rows = rows
        for i in rows.indices {
            if let (prompt, completion) = counts[rows[i].id] {
                rows[i].promptTokens = prompt
                rows[i].completionTokens = completion
            }
        }
        return rows
    }

    /// A trace by row id or OpenTelemetry trace id.
    public func trace(rowID: Int64?, traceID: String?) async throws -> TraceRow? {
        try await scope.read(
            """
            SELECT \(unescaped: Self.traceColumns) FROM traces t
            WHERE t.org_id = \(org) AND (t.id = \(rowID ?? -1) OR t.trace_id = \(traceID ?? ""))
            """, Self.traceRows
        ).first
    }

    /// Traces by row id, without their token sums.
    public func traces(rowIDs: [Int64]) async throws -> [TraceRow] {
        guard !rowIDs.isEmpty else { return [] }
        return try await scope.read(
            "SELECT \(unescaped: Self.traceColumns) FROM traces t WHERE t.org_id = \(org) AND t.id = ANY(\(rowIDs)::int8[])",
            Self.traceRows)
    }

    /// Deletes a trace with its spans; a session left without traces goes too.
    public func deleteTrace(rowID: Int64?, traceID: String?) async throws -> Bool {
        let org = org
        return try await scope.write { tx in
            let deleted = try await tx.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND (id = \(rowID ?? -1) OR trace_id = \(traceID ?? ""))
                RETURNING id, coalesce(project_session_id, 0)
                """
            ).decode((Int64, Int64).self).all()
            guard !deleted.isEmpty else { return false }
            try await Self.deleteSpans(ofTraces: deleted.map(\.0), in: tx)
            try await Self.deleteEmptySessions(deleted.map(\.1), in: tx)
            return true
        }
    }

    /// Spans have no foreign key to their trace (it would be checked on every insert): remove them here.
    static func deleteSpans(ofTraces traceRowIDs: [Int64], in tx: TenantTransaction) async throws {
        guard !traceRowIDs.isEmpty else { return }
        try await tx.query("DELETE FROM spans WHERE org_id = \(tx.org) AND trace_rowid = ANY(\(traceRowIDs)::int8[])")
    }

    /// Deletes a project's traces that started in `[start, end)`, with their spans and emptied sessions.
    public func deleteTraces(projectID: Int64, startMicros: Int64, endMicros: Int64) async throws {
        let org = org
        try await scope.write { tx in
            let deleted = try await tx.query(
                """
                DELETE FROM traces WHERE org_id = \(org) AND project_id = \(projectID)
                AND start_time >= to_timestamp(0) + \(startMicros) * interval '1 microsecond'
                AND start_time < to_timestamp(0) + \(endMicros) * interval '1 microsecond'
                RETURNING id, coalesce(project_session_id, 0)
                """
            ).decode((Int64, Int64).self).all()
            try await Self.deleteSpans(ofTraces: deleted.map(\.0), in: tx)
            try await Self.deleteEmptySessions(deleted.map(\.1), in: tx)
        }
    }

    static func deleteEmptySessions(_ sessionRowIDs: [Int64], in tx: TenantTransaction) async throws {
        let ids = Array(Set(sessionRowIDs.filter { $0 != 0 }))
        guard !ids.isEmpty else { return }
        try await tx.query(
            """
            DELETE FROM project_sessions ps WHERE ps.org_id = \(tx.org) AND ps.id = ANY(\(ids)::int8[])
            AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id)
            """)
    }

    /// Moves traces (by row id) to another project, spans included. Returns how many moved.
    public func transferTraces(rowIDs: [Int64], toProjectID: Int64) async throws -> Int {
        let org = org
        return try await scope.write { tx in
            // The destination must be this organization's: references are not checked by row security.
            let destination = try await tx.query(
                "SELECT id FROM projects WHERE org_id = \(org) AND id = \(toProjectID) FOR SHARE"
            ).decode(Int64.self).all()
            guard !destination.isEmpty else { throw CinderError.notFound("Project not found") }
            let moved = try await tx.query(
                """
                UPDATE traces SET project_id = \(toProjectID)
                WHERE org_id = \(org) AND id = ANY(\(rowIDs)::int8[]) RETURNING id
                """
            ).decode(Int64.self).all()
            try await tx.query(
                """
                UPDATE spans SET project_id = \(toProjectID)
                WHERE org_id = \(org) AND trace_rowid = ANY(\(moved)::int8[])
                """)
            // Sessions follow their traces when every trace of the session moved.
            try await tx.query(
                """
                UPDATE project_sessions ps SET project_id = \(toProjectID)
                WHERE ps.org_id = \(org)
                AND ps.id IN (SELECT project_session_id FROM traces WHERE org_id = \(org) AND id = ANY(\(moved)::int8[]))
                AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.org_id = ps.org_id AND t.project_session_id = ps.id AND t.project_id <> \(toProjectID))
                """)
            return moved.count
        }
    }
}
