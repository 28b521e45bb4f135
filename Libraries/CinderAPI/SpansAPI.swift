import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/projects/{id}/spans`, `/v1/projects/{id}/spans/otlpv1`, `DELETE /v1/spans/{id}`, and span
/// creation through the REST API (`log_spans`).
struct SpansAPI {
    let api: PhoenixAPI

    static let spanKinds: Set<String> = Set(SpanKind.allCases.map(\.rawValue))
    static let statusCodes: Set<String> = Set(SpanStatusCode.allCases.map(\.rawValue))

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/projects/:project/spans") { request, context in try await list(request, context, otlp: false) }
        router.get("/v1/projects/:project/spans/otlpv1") { request, context in try await list(request, context, otlp: true) }
        router.post("/v1/projects/:project/spans") { request, context in try await create(request, context) }
        router.delete("/v1/spans/:span") { _, context in
            let identifier = try pathParameter(context, "span")
            let scope = try api.scope(context)
            if let id = GlobalID(encoded: identifier, type: NodeType.span) {
                guard try await scope.spans.deleteSpan(rowID: id.rowID, spanID: nil) else {
                    throw CinderError.notFound("Span with relay ID '\(identifier)' not found")
                }
            } else {
                guard try await scope.spans.deleteSpan(rowID: nil, spanID: identifier) else {
                    throw CinderError.notFound("Span with span_id '\(identifier)' not found")
                }
            }
            return Response(status: .noContent)
        }
    }

    func list(_ request: Request, _ context: CinderRequestContext, otlp: Bool) async throws -> Response {
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100, max: 1000)
        var filter = SpanFilter()
        filter.startMicros = try query.datetime("start_time")
        filter.endMicros = try query.datetime("end_time")
        filter.traceIDs = query.strings("trace_id")
        filter.spanIDs = query.strings("span_id")
        if let parent = query.string("parent_id") { filter.parentID = parent == "null" ? .some(nil) : .some(parent) }
        filter.names = query.strings("name")
        filter.statusCodes = try validatedEnumValues(query.strings("status_code"), allowed: Self.statusCodes, parameter: "status_code")
        filter.attributes = try query.strings("attribute").map(Self.attributeFilter)
        if otlp {
            filter.sort = .id
            filter.order = .desc
        } else {
            filter.spanKinds = try validatedEnumValues(query.strings("span_kind"), allowed: Self.spanKinds, parameter: "span_kind")
            filter.sort = try query.literal("sort", default: SpanFilter.Sort.id, allowed: [.id, .startTime])
            filter.order = try query.literal("order", default: SortOrder.desc, allowed: [.asc, .desc])
        }
        if let cursor = query.string("cursor") {
            switch filter.sort {
            case .id:
                guard let id = GlobalID(encoded: cursor) else { throw CinderError.unprocessable("Invalid cursor") }
                filter.cursor = .init(key: id.rowID, id: id.rowID)
            default:  // REST sorts by start time otherwise
                guard let (rowID, value) = SortCursor.decode(cursor), case .datetime(let micros) = value else {
                    throw CinderError.unprocessable("Invalid cursor")
                }
                filter.cursor = .init(key: micros, id: rowID)
            }
        }
        let scope = try api.scope(context)
        let project = try await scope.projects.resolve(try pathParameter(context, "project"))
        let rows = try await scope.spans.spans(projectID: project.id, filter: filter, limit: limit + 1)
        var next: JSONValue = .null
        if rows.count > limit {
            let extra = rows[limit]
            next = filter.sort == .id
                ? GlobalID.span(extra.id) : .string(SortCursor.encode(rowID: extra.id, datetimeMicros: extra.startMicros))
        }
        let page = rows.prefix(limit)
        let data = otlp ? page.map(OTLPSpanJSON.span) : page.map(Self.json)
        return jsonResponse(["data": .array(data), "next_cursor": next])
    }

    /// `key:value`, the value read as JSON (so `n:3` is a number and `k:"3"` a string), anything else text.
    static func attributeFilter(_ text: String) throws(CinderError) -> (path: [String], json: String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw CinderError.unprocessable("Invalid attribute '\(text)': expected format 'key:value'")
        }
        let key = String(text[..<colon]), value = String(text[text.index(after: colon)...])
        guard !key.isEmpty else { throw CinderError.unprocessable("Invalid attribute: key must not be empty") }
        guard !value.isEmpty else { throw CinderError.unprocessable("Invalid attribute: value must not be empty") }
        let parsed = (try? JSONValue(parsing: value)) ?? .string(value)
        switch parsed {
        case .bool, .int, .double, .string: break
        default:
            throw CinderError.unprocessable(
                "Invalid attribute value '\(value)': must be a string, integer, float, or boolean. To match a string that looks like a number or boolean, JSON-quote the value: `key:\"12345\"`.")
        }
        return (key.split(separator: ".", omittingEmptySubsequences: false).map(String.init), parsed.jsonString)
    }

    /// Phoenix's REST span: flat dotted attributes; `span_kind` is the `openinference.span.kind` attribute as sent.
    static func json(_ row: SpanRow) -> JSONValue {
        var attributes: [String: JSONValue] = [:]
        if case .object(let nested) = (try? JSONValue(parsing: row.attributesJSON)) ?? .null {
            for (key, value) in Attributes.flatten(nested) { attributes[key] = value }
        }
        let kind = attributes.removeValue(forKey: "openinference.span.kind")?.stringValue ?? "UNKNOWN"
        let events = (try? JSONValue(parsing: row.eventsJSON)) ?? .array([])
        return [
            "id": GlobalID.span(row.id),
            "name": .string(row.name),
            "context": ["trace_id": .string(row.traceID), "span_id": .string(row.spanID)],
            "span_kind": .string(kind),
            "parent_id": row.parentID.map { .string($0) } ?? .null,
            "start_time": iso(row.startMicros),
            "end_time": iso(row.endMicros),
            "status_code": .string(row.statusCode),
            "status_message": .string(row.statusMessage),
            "attributes": .object(attributes),
            "events": events,
        ]
    }

    /// `POST /v1/projects/{id}/spans`: Phoenix REST spans in, through the same queue as OTLP.
    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let identifier = try pathParameter(context, "project")
        var projectName = identifier
        if let id = GlobalID(encoded: identifier, type: NodeType.project) {
            guard let project = try await (try api.scope(context)).projects.project(id: id.rowID) else {
                throw CinderError.notFound("Project with ID \(identifier) not found")
            }
            projectName = project.name
        }
        let body = try await JSONBody.object(request, context)
        guard case .array(let items)? = body["data"] else {
            throw CinderError.invalid(["body", "data"], "Field required", type: "missing", input: nil)
        }
        if let problem = SpanLimits.problem(withProjectName: projectName) { throw CinderError.unprocessable(problem) }
        var spans: [Span] = []
        for (index, item) in items.enumerated() {
            let span = try RESTSpanInput.span(item, index: index)
            if let problem = SpanLimits.problem(with: span) {
                throw CinderError.invalid(["body", "data", String(index)], "Value error, \(problem)", type: "value_error", input: nil)
            }
            spans.append(span)
        }
        // All or nothing: spans already stored are reported, and nothing is queued.
        let existing = try await (try api.scope(context)).spans.existingSpanIDs(spans.map(\.spanID))
        if !existing.isEmpty {
            let duplicates: [JSONValue] = spans.filter { existing.contains($0.spanID) }.map {
                ["span_id": .string($0.spanID), "trace_id": .string($0.traceID)]
            }
            let report: JSONValue = [
                "error": "Request contains invalid or duplicate spans",
                "total_received": .int(Int64(spans.count)), "total_queued": 0,
                "total_duplicates": .int(Int64(duplicates.count)), "total_invalid": 0,
                "duplicate_spans": .array(duplicates), "invalid_spans": [],
            ]
            throw CinderError.badRequest(report.jsonString)
        }
        guard let queue = api.spanQueue else {
            throw CinderError(.unavailable, "Span ingestion is not enabled on this server")
        }
        try await queue.publish([ProjectSpans(organizationID: try context.requireWriteAccess().organization, projectName: projectName, spans: spans)])
        return jsonResponse(
            ["total_received": .int(Int64(spans.count)), "total_queued": .int(Int64(spans.count))], status: .accepted)
    }
}

/// Phoenix REST span documents (as `log_spans` sends them) to domain spans.
enum RESTSpanInput {
    static func span(_ value: JSONValue, index: Int) throws(CinderError) -> Span {
        let path = ["body", "data", String(index)]
        guard case .object(let o) = value else {
            throw .invalid(path, "Input should be a valid dictionary", type: "model_type", input: nil)
        }
        let name = try BodyFields(o, path: path).string("name")
        guard case .object(let context)? = o["context"] else {
            throw .invalid(path + ["context"], "Field required", type: "missing", input: nil)
        }
        let traceID = try BodyFields(context, path: path + ["context"]).string("trace_id")
        let spanID = try BodyFields(context, path: path + ["context"]).string("span_id")
        let kindText = try BodyFields(o, path: path).string("span_kind")
        let statusText = try BodyFields(o, path: path).string("status_code")
        let start = try time(o, "start_time", path: path)
        let end = try time(o, "end_time", path: path)
        var pairs: [(key: String, value: JSONValue)] = []
        if case .object(let attributes)? = o["attributes"] {
            pairs = attributes.map { ($0.key, $0.value) }.sorted { $0.key < $1.key }
        }
        pairs.append(("openinference.span.kind", .string(kindText)))
        var events: [SpanEvent] = []
        if case .array(let items)? = o["events"] {
            for item in items {
                guard case .object(let e) = item, let timestamp = e["timestamp"]?.stringValue,
                    let micros = Timestamp.parseMicros(timestamp), nanosecondSafeMicros.contains(micros)
                else { continue }
                var attributes: [String: JSONValue] = [:]
                if case .object(let a)? = e["attributes"] { attributes = a }
                events.append(SpanEvent(name: e["name"]?.stringValue ?? "", time: micros * 1000, attributes: attributes))
            }
        }
        return Span(
            traceID: traceID, spanID: spanID,
            parentID: try BodyFields(o, path: path).optionalString("parent_id"),
            name: name, kind: SpanKind(attribute: kindText), startTime: start * 1000, endTime: end * 1000,
            statusCode: SpanStatusCode(rawValue: statusText.uppercased()) ?? .unset,
            statusMessage: try BodyFields(o, path: path).optionalString("status_message") ?? "",
            attributes: Attributes.unflatten(pairs), events: events)
    }

    /// Microseconds such that the nanosecond value fits in 64 bits (years 1678 to 2261).
    static let nanosecondSafeMicros: ClosedRange<Int64> = (Int64.min / 1000 + 1)...(Int64.max / 1000)

    static func time(_ o: [String: JSONValue], _ key: String, path: [String]) throws(CinderError) -> Int64 {
        let text = try BodyFields(o, path: path).string(key)
        let hasOffset = text.hasSuffix("Z") || text.hasSuffix("z") || text.dropFirst(19).contains("+")
            || text.dropFirst(19).contains("-")
        guard hasOffset else {
            throw .invalid(
                path,
                "Value error, \(key): timezone-naive timestamp is not allowed; all timestamps must be timezone-aware (e.g., use UTC).",
                type: "value_error", input: nil)
        }
        let micros = try QueryParameters.parseDatetime(text, location: path + [key])
        guard nanosecondSafeMicros.contains(micros) else {
            throw .invalid(path + [key], "Value error, \(key) is out of range (years 1678 to 2261)", type: "value_error", input: text)
        }
        return micros
    }
}
