import CinderModel
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// One span as its row will be written: text columns cleaned, JSON documents serialized. Encoding
/// happens on the receiving request's task, so the writer only concatenates and inserts.
public struct EncodedSpan: Sendable {
    var traceID: String
    var spanID: String
    var parentID: String
    var name: String
    var kind: String
    var startMicros: Int64
    var endMicros: Int64
    var attributes: JSONText
    var events: JSONText
    var statusCode: String
    var statusMessage: String
    var promptTokens: Int64
    var completionTokens: Int64
    /// Prompt, completion and total cost; NaN where unknown (bound as SQL NULL).
    var costs: (prompt: Double, completion: Double, total: Double)
    var sessionID: String?
}

/// Encoded spans bound for one project of one organization.
public struct EncodedSpans: Sendable {
    public let organizationID: OrganizationID
    public let projectName: String
    let spans: [EncodedSpan]

    public var count: Int { spans.count }

    public init(_ batch: ProjectSpans) {
        self.init(
            organizationID: batch.organizationID, projectName: batch.projectName,
            spans: batch.spans.map { span in
                EncodedSpan(
                    traceID: span.traceID, spanID: span.spanID, parentID: span.parentID, name: span.name, kind: span.kind,
                    startTime: span.startTime, endTime: span.endTime, statusCode: span.statusCode, statusMessage: span.statusMessage,
                    attributesJSON: span.attributesJSON, eventsJSON: SpanRows.eventsJSON(span.events),
                    promptTokenCount: span.promptTokenCount, completionTokenCount: span.completionTokenCount,
                    costs: (span.promptCost, span.completionCost, span.totalCost), sessionID: span.sessionID)
            })
    }

    public init(organizationID: OrganizationID, projectName: String, spans: [EncodedSpan]) {
        self.organizationID = organizationID
        self.projectName = SQLText.clean(projectName)
        self.spans = spans
    }
}

extension EncodedSpan {
    /// A row from its parts; `attributesJSON` and `eventsJSON` are stored as they are (PostgreSQL
    /// validates them: invalid JSON fails the write as unprocessable data).
    public init(
        traceID: String, spanID: String, parentID: String?, name: String, kind: SpanKind, startTime: UnixNanos, endTime: UnixNanos,
        statusCode: SpanStatusCode, statusMessage: String, attributesJSON: [UInt8], eventsJSON: [UInt8],
        promptTokenCount: Int64?, completionTokenCount: Int64?, costs: (Double?, Double?, Double?) = (nil, nil, nil),
        sessionID: String?
    ) {
        // Phoenix records token counts on LLM spans only, zero when the instrumentation sent none.
        // Counts are clamped to 32 bits (Phoenix's column type), so that sums cannot overflow.
        let isLLM = kind == .llm
        func tokens(_ count: Int64?) -> Int64 { isLLM ? min(max(count ?? 0, 0), Int64(Int32.max)) : -1 }
        // Costs count on LLM spans only, as token counts do (an agent span's total would count its calls twice).
        func cost(_ value: Double?) -> Double { isLLM ? value.flatMap { $0.isFinite ? $0 : nil } ?? .nan : .nan }
        let session = sessionID.map(SQLText.clean)?.trimmingCharacters(in: .whitespaces)
        self.init(
            traceID: traceID, spanID: SQLText.clean(spanID), parentID: SQLText.clean(parentID ?? ""), name: SQLText.clean(name),
            kind: kind.rawValue, startMicros: startTime.micros, endMicros: endTime.micros, attributes: JSONText(attributesJSON),
            events: JSONText(eventsJSON), statusCode: statusCode.rawValue, statusMessage: SQLText.clean(statusMessage),
            promptTokens: tokens(promptTokenCount), completionTokens: tokens(completionTokenCount),
            costs: (cost(costs.0), cost(costs.1), cost(costs.2)), sessionID: session?.isEmpty == false ? session : nil)
    }
}

/// Writes decoded spans in bulk: one transaction per call, a handful of statements whatever the span
/// count (arrays bound as parameters and `unnest`ed), idempotent on span id.
///
/// Semantics follow Phoenix: projects are created on first use; a trace belongs to the project of its
/// first span (later spans of the trace join it there); a trace joins the session named by the first
/// `session.id` seen on its spans; trace time ranges grow to cover their spans (a session's range is
/// its traces' range, derived on read).
public struct SpanIngestStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.client = database.primary
        self.logger = logger
    }

    /// Stores the batches and returns how many span rows were inserted (duplicates are skipped). Spans
    /// that online evaluation rules sample are queued for them, unless `evaluated` is false: the traces
    /// of evaluations themselves, which a rule scoring them would multiply without end.
    public func insert(_ batches: [ProjectSpans], evaluated: Bool = true) async throws -> Int {
        try await insert(batches.map(EncodedSpans.init), evaluated: evaluated)
    }

    public func insert(_ batches: [EncodedSpans]) async throws -> Int {
        try await insert(batches, evaluated: true)
    }

    public func insert(_ batches: [EncodedSpans], evaluated: Bool) async throws -> Int {
        var byOrganization: [OrganizationID: [EncodedSpans]] = [:]
        for batch in batches where !batch.spans.isEmpty {
            byOrganization[batch.organizationID, default: []].append(batch)
        }
        guard !byOrganization.isEmpty else { return 0 }
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                var inserted = 0
                for (organization, batches) in byOrganization.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                    // Each organization's rows are written under its own setting, which row-level
                    // security checks every inserted row against; the batches carry the organization
                    // the receiver authenticated.
                    try await TransactionSettings.apply(TransactionSettings(organization: organization), on: connection, logger: logger)
                    inserted += try await Self.insert(batches, organization: organization, evaluated: evaluated, on: connection, logger: logger)
                }
                return inserted
            }
        } catch {
            throw DatabaseErrors.rejectedSpanData(error, logger: logger) ?? DatabaseErrors.classify(error, logger: logger)
        }
    }

    private struct TraceRollup {
        var projectID: Int64
        var start: Int64
        var end: Int64
        var sessionID: String?
    }

    private static func insert(
        _ batches: [EncodedSpans], organization: OrganizationID, evaluated: Bool, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        let org = organization.rawValue

        // Spans of traces stored already belong to their trace's project, whatever project they name;
        // projects are created on first use only by spans that start new traces.
        let batchTraceIDs = Array(Set(batches.flatMap { $0.spans.map(\.traceID) }))
        var existingTraceProjects: [String: Int64] = [:]
        for try await (traceID, projectID) in try await connection.query(
            "SELECT trace_id, project_id FROM traces WHERE org_id = \(org) AND trace_id = ANY(\(batchTraceIDs)::text[])",
            logger: logger
        ).decode((String, Int64).self) {
            existingTraceProjects[traceID] = projectID
        }
        let projectNames = Array(
            Set(batches.filter { $0.spans.contains { existingTraceProjects[$0.traceID] == nil } }.map(\.projectName))
        ).sorted()
        var projectIDs: [String: Int64] = [:]
        // Twice at most: a project deleted between the insert and the select is simply created again.
        for _ in 0..<2 where projectIDs.count < projectNames.count {
            try await connection.query(
                """
                INSERT INTO projects (org_id, name) SELECT \(org), unnest(\(projectNames)::text[])
                ON CONFLICT (org_id, name) DO NOTHING
                """, logger: logger)
            for try await (id, name) in try await connection.query(
                "SELECT id, name FROM projects WHERE org_id = \(org) AND name = ANY(\(projectNames)::text[])", logger: logger
            ).decode((Int64, String).self) {
                projectIDs[name] = id
            }
        }
        guard projectIDs.count == projectNames.count else { throw ConcurrentProjectDeletion() }

        // Per-trace roll-ups of this batch.
        var traces: [String: TraceRollup] = [:]
        for batch in batches {
            for span in batch.spans {
                let projectID = existingTraceProjects[span.traceID] ?? projectIDs[batch.projectName]!
                let start = span.startMicros, end = span.endMicros
                if var t = traces[span.traceID] {
                    t.start = min(t.start, start)
                    t.end = max(t.end, end)
                    if t.sessionID == nil { t.sessionID = span.sessionID }
                    traces[span.traceID] = t
                } else {
                    traces[span.traceID] = TraceRollup(projectID: projectID, start: start, end: end, sessionID: span.sessionID)
                }
            }
        }

        // Sessions before traces, so that each trace row is written once. Existing sessions are not
        // updated (their time range is derived from their traces on read): concurrent writers share
        // sessions, and updating them would make every transaction wait for the others' commits.
        var sessions: [String: TraceRollup] = [:]
        for t in traces.values {
            guard let sessionID = t.sessionID else { continue }
            if var s = sessions[sessionID] {
                s.start = min(s.start, t.start)
                s.end = max(s.end, t.end)
                sessions[sessionID] = s
            } else {
                sessions[sessionID] = t
            }
        }
        var sessionRowIDs: [String: Int64] = [:]
        if !sessions.isEmpty {
            let keys = sessions.keys.sorted()  // a fixed lock order keeps concurrent writers from deadlocking
            let projects = keys.map { sessions[$0]!.projectID }
            let starts = keys.map { sessions[$0]!.start }
            let ends = keys.map { sessions[$0]!.end }
            try await connection.query(
                """
                INSERT INTO project_sessions (org_id, project_id, session_id, start_time, end_time)
                SELECT \(org), u.p, u.s, to_timestamp(0) + u.b * interval '1 microsecond',
                       to_timestamp(0) + u.e * interval '1 microsecond'
                FROM unnest(\(projects)::int8[], \(keys)::text[], \(starts)::int8[], \(ends)::int8[]) AS u(p, s, b, e)
                ORDER BY u.s
                ON CONFLICT (org_id, session_id) DO NOTHING
                """, logger: logger)
            for try await (id, sessionID) in try await connection.query(
                "SELECT id, session_id FROM project_sessions WHERE org_id = \(org) AND session_id = ANY(\(keys)::text[])",
                logger: logger
            ).decode((Int64, String).self) {
                sessionRowIDs[sessionID] = id
            }
        }

        let traceIDs = traces.keys.sorted()
        let traceProjects = traceIDs.map { traces[$0]!.projectID }
        let traceStarts = traceIDs.map { traces[$0]!.start }
        let traceEnds = traceIDs.map { traces[$0]!.end }
        let traceSessions = traceIDs.map { id in traces[id]!.sessionID.flatMap { sessionRowIDs[$0] } ?? 0 }
        var traceRows: [String: (rowID: Int64, projectID: Int64)] = [:]
        for try await (rowID, traceID, projectID) in try await connection.query(
            """
            INSERT INTO traces (org_id, project_id, trace_id, start_time, end_time, project_session_id)
            SELECT \(org), u.p, u.t, to_timestamp(0) + u.b * interval '1 microsecond',
                   to_timestamp(0) + u.e * interval '1 microsecond', nullif(u.s, 0)
            FROM unnest(\(traceProjects)::int8[], \(traceIDs)::text[], \(traceStarts)::int8[], \(traceEnds)::int8[],
                        \(traceSessions)::int8[]) AS u(p, t, b, e, s)
            ORDER BY u.t
            ON CONFLICT (org_id, trace_id) DO UPDATE
            SET start_time = least(traces.start_time, excluded.start_time),
                end_time = greatest(traces.end_time, excluded.end_time),
                project_session_id = coalesce(traces.project_session_id, excluded.project_session_id)
            RETURNING id, trace_id, project_id
            """, logger: logger
        ).decode((Int64, String, Int64).self) {
            traceRows[traceID] = (rowID, projectID)
        }

        // Spans: one row per span, columns as parallel arrays.
        let count = batches.reduce(0) { $0 + $1.spans.count }
        var projectColumn = [Int64](), traceColumn = [Int64](), spanIDs = [String](), parentIDs = [String]()
        var names = [String](), kinds = [String](), starts = [Int64](), ends = [Int64]()
        var attributes = [JSONText](), events = [JSONText](), statusCodes = [String](), statusMessages = [String]()
        var promptTokens = [Int64](), completionTokens = [Int64]()
        var promptCosts = [Double](), completionCosts = [Double](), totalCosts = [Double]()
        projectColumn.reserveCapacity(count)
        traceColumn.reserveCapacity(count)
        spanIDs.reserveCapacity(count)
        attributes.reserveCapacity(count)
        // A span sent twice in one batch is written once.
        var seen = Set<String>(minimumCapacity: count)
        for batch in batches {
            for span in batch.spans where seen.insert(span.spanID).inserted {
                let trace = traceRows[span.traceID]!
                projectColumn.append(trace.projectID)
                traceColumn.append(trace.rowID)
                spanIDs.append(span.spanID)
                parentIDs.append(span.parentID)
                names.append(span.name)
                kinds.append(span.kind)
                starts.append(span.startMicros)
                ends.append(span.endMicros)
                attributes.append(span.attributes)
                events.append(span.events)
                statusCodes.append(span.statusCode)
                statusMessages.append(span.statusMessage)
                promptTokens.append(span.promptTokens)
                completionTokens.append(span.completionTokens)
                promptCosts.append(span.costs.prompt)
                completionCosts.append(span.costs.completion)
                totalCosts.append(span.costs.total)
            }
        }
        var inserted = 0
        for try await n in try await connection.query(
            """
            WITH rows AS (
                INSERT INTO spans (org_id, project_id, trace_rowid, span_id, parent_id, name, span_kind, start_time,
                                   end_time, attributes, events, status_code, status_message,
                                   llm_token_count_prompt, llm_token_count_completion,
                                   llm_cost_prompt, llm_cost_completion, llm_cost_total)
                SELECT \(org), u.p, u.t, u.id, nullif(u.par, ''), u.n, u.k,
                       to_timestamp(0) + u.b * interval '1 microsecond', to_timestamp(0) + u.e * interval '1 microsecond',
                       u.a, u.ev, u.sc, u.sm, nullif(u.tp, -1), nullif(u.tc, -1),
                       nullif(u.cp, 'NaN'), nullif(u.cc, 'NaN'), nullif(u.ct, 'NaN')
                FROM unnest(\(projectColumn)::int8[], \(traceColumn)::int8[], \(spanIDs)::text[], \(parentIDs)::text[],
                            \(names)::text[], \(kinds)::text[], \(starts)::int8[], \(ends)::int8[], \(attributes)::json[],
                            \(events)::json[], \(statusCodes)::text[], \(statusMessages)::text[],
                            \(promptTokens)::int8[], \(completionTokens)::int8[],
                            \(promptCosts)::float8[], \(completionCosts)::float8[], \(totalCosts)::float8[])
                     AS u(p, t, id, par, n, k, b, e, a, ev, sc, sm, tp, tc, cp, cc, ct)
                ON CONFLICT (org_id, span_id) DO NOTHING
                RETURNING id, project_id, span_id
            ), queued AS (
                -- Spans online evaluation rules sample, queued with them (see migration 0014).
                INSERT INTO online_evaluation_queue (organization_id, rule_id, span_rowid)
                SELECT \(org), r.id, rows.id FROM rows
                JOIN online_evaluation_rules r ON r.org_id = \(org) AND r.project_id = rows.project_id AND r.enabled
                WHERE \(evaluated) AND cinder_sampled(rows.span_id, r.id, r.sampling_rate)
                ON CONFLICT DO NOTHING
            )
            SELECT count(*) FROM rows
            """, logger: logger
        ).decode(Int64.self) {
            inserted = Int(n)
        }
        return inserted
    }
}

extension UnixNanos {
    /// PostgreSQL timestamps hold microseconds; sub-microsecond digits are truncated toward the past.
    var micros: Int64 { self >= 0 ? self / 1000 : (self - 999) / 1000 }
}

/// PostgreSQL `text` cannot hold NUL; replacing it keeps the value storable and the position visible.
enum SQLText {
    static func clean(_ s: String) -> String {
        s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s
    }
}

/// A JSON document bound as `json` straight from its bytes (the binary format of `json` is its text),
/// so large documents never pass through a Swift `String`.
struct JSONText: PostgresArrayEncodable, PostgresNonThrowingEncodable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static var psqlType: PostgresDataType { .json }
    static var psqlArrayType: PostgresDataType { .jsonArray }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeBytes(bytes)
    }
}

public enum SpanRows {
    /// Events as Phoenix stores them: `[{"name", "timestamp" (ISO-8601), "attributes" (flat)}]`.
    public static func eventsJSON(_ events: [SpanEvent]) -> [UInt8] {
        eventsJSON(serialized: events.lazy.map { (name: $0.name, time: $0.time, attributesJSON: JSONValue.object($0.attributes).jsonBytes) })
    }

    /// The same document from events whose attributes are already a serialized JSON object (the writer's
    /// case: it never parses them).
    public static func eventsJSON(serialized events: some Collection<(name: String, time: UnixNanos, attributesJSON: [UInt8])>) -> [UInt8] {
        if events.isEmpty { return Array("[]".utf8) }
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, event) in events.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(#"{"name":"#.utf8) + JSONValue.string(event.name).jsonBytes
            out += Array(#","timestamp":"#.utf8) + JSONValue.string(Timestamp.iso8601(nanos: event.time)).jsonBytes
            out += Array(#","attributes":"#.utf8) + event.attributesJSON
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}

/// A project was deleted while spans for it were being written; the batch is retried (transient).
struct ConcurrentProjectDeletion: Error {}
