import CinderModel
import PostgresNIO

/// Reads keyed by a set of parents, one statement per set, for callers (GraphQL) that resolve the
/// same field for many sibling objects at once instead of issuing one query per object.
extension TenantStore {
    public func spans(rowIDs: [Int64]) async throws -> [SpanRow] {
        guard !rowIDs.isEmpty else { return [] }
        return try await selectSpans { q in q.append("s.id = ANY(\(q.bind(rowIDs))::int8[])") }
    }

    /// Spans by OpenTelemetry span id.
    public func spans(spanIDs: [String]) async throws -> [SpanRow] {
        guard !spanIDs.isEmpty else { return [] }
        return try await selectSpans { q in q.append("s.span_id = ANY(\(q.bind(spanIDs))::text[])") }
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
            ) s JOIN traces t ON t.id = s.trace_rowid
            WHERE s.position <= \(q.bind(Int64(limit)))
            ORDER BY s.trace_rowid, s.position
            """)
        return try await Self.spanRows(database.reader.query(q.query, logger: logger))
    }

    /// The root spans (no parent) of the given traces.
    public func rootSpans(traceRowIDs: [Int64]) async throws -> [SpanRow] {
        guard !traceRowIDs.isEmpty else { return [] }
        return try await selectSpans { q in
            q.append("s.trace_rowid = ANY(\(q.bind(traceRowIDs))::int8[]) AND s.parent_id IS NULL ORDER BY s.start_time, s.id")
        }
    }

    /// Number of spans per trace row id.
    public func spanCounts(traceRowIDs: [Int64]) async throws -> [Int64: Int] {
        guard !traceRowIDs.isEmpty else { return [:] }
        var counts: [Int64: Int] = [:]
        for try await (trace, count) in try await database.reader.query(
            """
            SELECT trace_rowid, count(*) FROM spans WHERE org_id = \(org) AND trace_rowid = ANY(\(traceRowIDs)::int8[])
            GROUP BY trace_rowid
            """, logger: logger
        ).decode((Int64, Int64).self) {
            counts[trace] = Int(count)
        }
        return counts
    }

    /// Number of direct children per span id. The traces bound the search to the spans' own traces,
    /// which the trace index finds without an index on parent ids.
    public func childSpanCounts(spanIDs: [String], traceRowIDs: [Int64]) async throws -> [String: Int] {
        guard !spanIDs.isEmpty else { return [:] }
        var counts: [String: Int] = [:]
        for try await (parent, count) in try await database.reader.query(
            """
            SELECT parent_id, count(*) FROM spans
            WHERE org_id = \(org) AND trace_rowid = ANY(\(traceRowIDs)::int8[]) AND parent_id = ANY(\(spanIDs)::text[])
            GROUP BY parent_id
            """, logger: logger
        ).decode((String, Int64).self) {
            counts[parent] = Int(count)
        }
        return counts
    }

    /// A span's descendants down to `maxDepth` levels (nil: all), in row order from `afterID` (exclusive).
    public func descendantSpans(of span: SpanRow, maxDepth: Int?, afterID: Int64?, limit: Int) async throws -> [SpanRow] {
        try await Self.spanRows(
            database.reader.query(
                """
                WITH RECURSIVE descendants (span_id, depth) AS (
                    SELECT span_id, 1 FROM spans
                    WHERE org_id = \(org) AND trace_rowid = \(span.traceRowID) AND parent_id = \(span.spanID)
                    UNION ALL
                    SELECT s.span_id, d.depth + 1 FROM spans s JOIN descendants d ON s.parent_id = d.span_id
                    WHERE s.org_id = \(org) AND s.trace_rowid = \(span.traceRowID) AND d.depth < \(Int64(maxDepth ?? Int(Int32.max)))
                )
                SELECT \(unescaped: Self.spanColumns) FROM spans s JOIN traces t ON t.id = s.trace_rowid
                WHERE s.org_id = \(org) AND s.trace_rowid = \(span.traceRowID)
                AND s.span_id IN (SELECT span_id FROM descendants) AND s.id > \(afterID ?? 0)
                ORDER BY s.id LIMIT \(Int64(limit))
                """, logger: logger))
    }

    /// Traces by row id, without their token sums.
    public func traces(rowIDs: [Int64]) async throws -> [TraceRow] {
        guard !rowIDs.isEmpty else { return [] }
        return try await Self.traceRows(
            database.reader.query(
                "SELECT \(unescaped: Self.traceColumns) FROM traces t WHERE t.org_id = \(org) AND t.id = ANY(\(rowIDs)::int8[])",
                logger: logger))
    }

    public func sessions(rowIDs: [Int64]) async throws -> [SessionRow] {
        guard !rowIDs.isEmpty else { return [] }
        var rows = try await Self.sessionRows(
            database.reader.query(
                """
                SELECT \(unescaped: Self.sessionColumns) FROM project_sessions ps
                WHERE ps.org_id = \(org) AND ps.id = ANY(\(rowIDs)::int8[])
                """, logger: logger))
        try await addTracesAndTokens(&rows)
        return rows
    }

    public func projects(ids: [Int64]) async throws -> [ProjectRow] {
        guard !ids.isEmpty else { return [] }
        return try await Self.projectRows(
            database.reader.query(
                "SELECT \(unescaped: Self.projectColumns) FROM projects WHERE org_id = \(org) AND id = ANY(\(ids)::int8[])",
                logger: logger))
    }

    /// All annotations of the given entities (by row id), oldest first.
    public func annotations(_ target: AnnotationTarget, entityRowIDs: [Int64]) async throws -> [AnnotationRow] {
        guard !entityRowIDs.isEmpty else { return [] }
        var q = SQLBuilder()
        q.append(
            """
            \(Self.annotationSelect(target))
            WHERE a.org_id = \(q.bind(org)) AND a.\(target.entityReference) = ANY(\(q.bind(entityRowIDs))::int8[])
            ORDER BY a.id
            """)
        return try await Self.annotationRows(database.reader.query(q.query, logger: logger))
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
        func cost(_ part: String) -> String {
            // Costs are OpenInference's `llm.cost.*` attributes, where an instrumentation records them.
            "sum(CASE WHEN json_typeof(r.attributes #> '{llm,cost,\(part)}') = 'number' THEN (r.attributes #>> '{llm,cost,\(part)}')::float8 END)"
        }
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

extension TenantStore {
    /// Statistics per project over rows starting in `[startMicros, endMicros)`, all in one statement:
    /// they must all aggregate the same rows (traces, or spans). A project without rows, or a
    /// statistic that is null for it, is absent (callers decide whether that is zero or null).
    public func projectStatistics(
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
        var values: [Int64: [ProjectStatistic: Double]] = [:]
        for try await row in try await database.reader.query(q.query, logger: logger) {
            let cells = row.makeRandomAccess()
            let project = try cells[0].decode(Int64.self)
            for (index, statistic) in statistics.enumerated() {
                if let value = try cells[index + 1].decode(Double?.self) { values[project, default: [:]][statistic] = value }
            }
        }
        return values
    }
}

extension TenantStore {
    /// Sessions of a project with a trace starting in the range (all sessions without one).
    public func sessionCount(projectID: Int64, startMicros: Int64?, endMicros: Int64?) async throws -> Int {
        var q = SQLBuilder()
        q.append("SELECT count(*) FROM project_sessions ps WHERE ps.org_id = \(q.bind(org)) AND ps.project_id = \(q.bind(projectID))")
        Self.appendHasTraceStarting(&q, startMicros: startMicros, endMicros: endMicros)
        return Int(try await database.reader.query(q.query, logger: logger).decode(Int64.self).all().first ?? 0)
    }

    /// The distinct names of a project's annotations of one kind, notes excluded.
    public func annotationNames(_ target: AnnotationTarget, projectID: Int64) async throws -> [String] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT DISTINCT a.name FROM \(target.table) a JOIN \(target.entityTable) e ON e.id = a.\(target.entityReference)
            WHERE a.org_id = \(q.bind(org)) AND e.project_id = \(q.bind(projectID)) AND a.name <> 'note' ORDER BY a.name
            """)
        return try await database.reader.query(q.query, logger: logger).decode(String.self).all()
    }
}

extension TenantStore {
    /// The dataset an example belongs to.
    public func datasetID(ofExample exampleID: Int64) async throws -> Int64? {
        try await database.reader.query(
            "SELECT dataset_id FROM dataset_examples WHERE org_id = \(org) AND id = \(exampleID)", logger: logger
        ).decode(Int64.self).all().first
    }

    /// Every version id of each prompt, oldest first (a version's position is its sequence number).
    public func promptVersionIDs(promptIDs: [Int64]) async throws -> [Int64: [Int64]] {
        guard !promptIDs.isEmpty else { return [:] }
        var ids: [Int64: [Int64]] = [:]
        for try await (prompt, version) in try await database.reader.query(
            "SELECT prompt_id, id FROM prompt_versions WHERE org_id = \(org) AND prompt_id = ANY(\(promptIDs)::int8[]) ORDER BY id",
            logger: logger
        ).decode((Int64, Int64).self) {
            ids[prompt, default: []].append(version)
        }
        return ids
    }
}

extension TenantStore {
    /// Every tag of a prompt with the version it points at.
    public func promptTags(promptID: Int64) async throws -> [(tag: PromptTagRow, versionID: Int64)] {
        try await database.reader.query(
            """
            SELECT id, name, description, prompt_version_id FROM prompt_version_tags
            WHERE org_id = \(org) AND prompt_id = \(promptID) ORDER BY id
            """, logger: logger
        ).decode((Int64, String, String?, Int64).self).all().map { (PromptTagRow(id: $0.0, name: $0.1, description: $0.2), $0.3) }
    }
}

/// Resources whose number a page shows.
public enum CountedResource: Sendable {
    case projects, datasets, prompts
    case experiments(datasetID: Int64)
}

extension TenantStore {
    public func count(_ resource: CountedResource) async throws -> Int {
        let query: PostgresQuery =
            switch resource {
            case .projects:
                "SELECT count(*) FROM projects WHERE org_id = \(org) AND name NOT LIKE \(Self.experimentProjectPattern)"
            case .datasets: "SELECT count(*) FROM datasets WHERE org_id = \(org)"
            case .prompts: "SELECT count(*) FROM prompts WHERE org_id = \(org)"
            case .experiments(let dataset): "SELECT count(*) FROM experiments WHERE org_id = \(org) AND dataset_id = \(dataset)"
            }
        return Int(try await database.reader.query(query, logger: logger).decode(Int64.self).all().first ?? 0)
    }

    /// The dataset a version belongs to.
    public func datasetID(ofVersion versionID: Int64) async throws -> Int64? {
        try await database.reader.query(
            "SELECT dataset_id FROM dataset_versions WHERE org_id = \(org) AND id = \(versionID)", logger: logger
        ).decode(Int64.self).all().first
    }

    /// One annotation by its own id.
    public func annotation(_ target: AnnotationTarget, id: Int64) async throws -> AnnotationRow? {
        var q = SQLBuilder()
        q.append("\(Self.annotationSelect(target)) WHERE a.org_id = \(q.bind(org)) AND a.id = \(q.bind(id))")
        return try await Self.annotationRows(database.reader.query(q.query, logger: logger)).first
    }
}
