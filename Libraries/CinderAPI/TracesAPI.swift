import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/projects/{id}/traces` (list, delete by time range), `DELETE /v1/traces/{id}`, `POST /v1/traces/transfer`.
struct TracesAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/projects/:project/traces") { request, context in try await list(request, context) }
        router.delete("/v1/projects/:project/traces") { request, context in
            let query = QueryParameters(request)
            let start = try query.datetime("start_time", required: true)!
            let end = try query.datetime("end_time", required: true)!
            guard start < end else { throw CinderError.unprocessable("`start_time` must be strictly earlier than `end_time`.") }
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            try await scope.spans.deleteTraces(projectID: project.id, startMicros: start, endMicros: end)
            return Response(status: .noContent)
        }
        router.delete("/v1/traces/:trace") { _, context in
            let identifier = try pathParameter(context, "trace")
            let scope = try api.scope(context)
            if let id = GlobalID(encoded: identifier, type: NodeType.trace) {
                guard try await scope.spans.deleteTrace(rowID: id.rowID, traceID: nil) else {
                    throw CinderError.notFound("Trace with relay ID '\(identifier)' not found")
                }
            } else {
                guard try await scope.spans.deleteTrace(rowID: nil, traceID: identifier) else {
                    throw CinderError.notFound("Trace with trace_id '\(identifier)' not found")
                }
            }
            return Response(status: .noContent)
        }
        router.post("/v1/traces/transfer") { request, context in try await transfer(request, context) }
    }

    func list(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        var filter = TraceFilter()
        filter.startMicros = try query.datetime("start_time")
        filter.endMicros = try query.datetime("end_time")
        filter.sort = try query.literal("sort", default: TraceFilter.Sort.startTime, allowed: [.startTime, .latency])
        filter.order = try query.literal("order", default: SortOrder.desc, allowed: [.asc, .desc])
        let limit = try query.int("limit", default: 100, max: 1000)
        let includeSpans = try query.bool("include_spans", default: false)
        for identifier in query.strings("session_identifier") {
            if let id = GlobalID(encoded: identifier, type: NodeType.session) {
                filter.sessionRowIDs.append(id.rowID)
            } else {
                filter.sessionIDs.append(identifier)
            }
        }
        filter.hasError = try query.bool("error")
        filter.minLatencyMicros = try query.double("min_latency_ms", min: 0).map { Int64(($0 * 1000).rounded(.up)) }
        filter.maxLatencyMicros = try query.double("max_latency_ms", min: 0).map { Int64(($0 * 1000).rounded(.down)) }
        if let expression = query.string("filter"), !expression.trimmingCharacters(in: .whitespaces).isEmpty {
            try TraceFilterExpression.apply(expression, to: &filter)
        }
        if let cursor = query.string("cursor") {
            guard let (rowID, value) = SortCursor.decode(cursor) else { throw CinderError.unprocessable("Invalid cursor") }
            switch (filter.sort, value) {
            case (.startTime, .datetime(let micros)): filter.cursor = .init(value: micros, id: rowID)
            case (.latency, .float(let ms)): filter.cursor = .init(value: Int64((ms * 1000).rounded()), id: rowID)
            default: throw CinderError.unprocessable("Invalid cursor")
            }
        }
        let scope = try api.scope(context)
        let project = try await scope.projects.resolve(try pathParameter(context, "project"))
        let rows = try await scope.spans.traces(projectID: project.id, filter: filter, limit: limit + 1)
        let page = Array(rows.prefix(limit))
        var next: JSONValue = .null
        // Trace cursors point at the last row of this page (Phoenix's convention for this endpoint).
        if rows.count > limit, let last = page.last {
            next = filter.sort == .startTime
                ? .string(SortCursor.encode(rowID: last.id, datetimeMicros: last.startMicros))
                : .string(SortCursor.encode(rowID: last.id, float: Double(last.latencyMicros) / 1000))
        }
        var spansByTrace: [Int64: [JSONValue]] = [:]
        if includeSpans {
            for span in try await scope.spans.spans(traceRowIDs: page.map(\.id)) {
                spansByTrace[span.traceRowID, default: []].append([
                    "id": GlobalID.span(span.id), "span_id": .string(span.spanID),
                    "parent_id": span.parentID.map { .string($0) } ?? .null, "name": .string(span.name),
                    "span_kind": .string(span.spanKind), "status_code": .string(span.statusCode),
                    "start_time": iso(span.startMicros), "end_time": iso(span.endMicros),
                ])
            }
        }
        let data: [JSONValue] = page.map { trace in
            [
                "id": GlobalID.trace(trace.id), "trace_id": .string(trace.traceID), "project_id": GlobalID.project(trace.projectID),
                "start_time": iso(trace.startMicros), "end_time": iso(trace.endMicros),
                "token_count_prompt": .int(trace.promptTokens), "token_count_completion": .int(trace.completionTokens),
                "token_count_total": .int(trace.promptTokens + trace.completionTokens),
                "spans": includeSpans ? .array(spansByTrace[trace.id] ?? []) : .null,
            ]
        }
        return jsonResponse(["data": .array(data), "next_cursor": next])
    }

    func transfer(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context)
        let identifiers = try BodyFields(body).stringList("trace_identifiers")
        guard !identifiers.isEmpty else {
            throw CinderError.invalid(
                ["body", "trace_identifiers"], "List should have at least 1 item after validation, not 0", type: "too_short",
                input: nil)
        }
        let destinationIdentifier = try BodyFields(body).string("destination_project_identifier")
        let scope = try api.scope(context)
        let destination = try await scope.projects.resolve(destinationIdentifier)
        var rows: [TraceRow] = []
        for identifier in identifiers {
            let id = GlobalID(encoded: identifier, type: NodeType.trace)
            guard let row = try await scope.spans.trace(rowID: id?.rowID, traceID: id == nil ? identifier : nil) else {
                throw CinderError.notFound("One or more traces not found")
            }
            rows.append(row)
        }
        guard Set(rows.map(\.projectID)).count <= 1 else {
            throw CinderError.unprocessable("Cannot transfer traces from multiple projects")
        }
        let moved = try await scope.spans.transferTraces(rowIDs: Array(Set(rows.map(\.id))), toProjectID: destination.id)
        return jsonResponse([
            "data": ["transferred_trace_count": .int(Int64(moved)), "destination_project_id": GlobalID.project(destination.id)]
        ])
    }
}

/// The part of Phoenix's trace filter language Cinder understands: conjunctions of comparisons on
/// `latency_ms` and `error_count`. Anything else is refused with 400 rather than silently ignored.
enum TraceFilterExpression {
    static func apply(_ expression: String, to filter: inout TraceFilter) throws(CinderError) {
        for clause in expression.components(separatedBy: " and ") {
            let parts = clause.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 3, let number = Double(parts[2]), number.isFinite, abs(number) < 1e15 else {
                throw unsupported(expression)
            }
            let micros = number * 1000
            switch (parts[0], parts[1]) {
            case ("latency_ms", ">"): filter.minLatencyMicros = Int64(micros.rounded(.down)) + 1
            case ("latency_ms", ">="): filter.minLatencyMicros = Int64(micros.rounded(.up))
            case ("latency_ms", "<"): filter.maxLatencyMicros = Int64(micros.rounded(.up)) - 1
            case ("latency_ms", "<="): filter.maxLatencyMicros = Int64(micros.rounded(.down))
            case ("error_count", ">") where number == 0, ("error_count", ">=") where number == 1:
                filter.hasError = true
            case ("error_count", "==") where number == 0:
                filter.hasError = false
            default:
                throw unsupported(expression)
            }
        }
    }

    static func unsupported(_ expression: String) -> CinderError {
        CinderError.badRequest(
            "unsupported trace filter expression `\(expression)`: Cinder supports `latency_ms <op> N`, `error_count > 0` and `error_count == 0` joined by `and`")
    }
}
