import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird
import NIOCore

/// `POST /v1/spans?project_name=…`: the span query behind the client's `get_spans_dataframe`.
///
/// Answers `multipart/mixed` with one part per query holding a pandas "table" JSON document, which is
/// what the Python client decodes. Query parts: `filter.condition` (see `SpanFilterCondition`),
/// `select`, `rename`, `index`, `explode` and `concat` (what the client's RAG helpers send).
struct SpanDataFrameAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.post("/v1/spans") { request, context in try await query(request, context) }
    }

    struct ColumnQuery {
        var select: [(name: String, key: String)]?
        var condition: SpanFilterCondition?
        var indexKey = "context.span_id"
        var rename: [String: String] = [:]
        var explode: Explode?
        var concat: Concat?
    }

    /// Rows per element of a list attribute (e.g. `retrieval.documents`), with fields taken from each element.
    struct Explode {
        var key: String
        var primaryIndexKey: String
        var fields: [(name: String, key: String)]
    }

    /// A list attribute's element fields joined into one text per span.
    struct Concat {
        var key: String
        var separator: String
        var fields: [(name: String, key: String)]
    }

    func query(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let raw = try await request.body.collect(upTo: context.maxUploadSize)
        let rawBytes = Array(raw.readableBytesView)
        guard case .object(let body) = (try? JSONValue(parsing: rawBytes)) ?? .null else {
            throw CinderError.invalid(
                ["body"], "Input should be a valid dictionary or object to extract fields from", type: "model_attributes_type",
                input: nil)
        }
        let projectName = QueryParameters(request).string("project_name") ?? ProjectDefaults.name
        var filter = SpanFilter()
        filter.sort = .startTime
        filter.order = .desc
        if let start = try BodyFields(body).optionalString("start_time") {
            filter.startMicros = try QueryParameters.parseDatetime(start, location: ["body", "start_time"])
        }
        if let end = try BodyFields(body).optionalString("end_time") ?? BodyFields(body).optionalString("stop_time") {
            filter.endMicros = try QueryParameters.parseDatetime(end, location: ["body", "end_time"])
        }
        if case .bool(true)? = body["root_spans_only"] { filter.parentID = .some(nil) }
        let limit: Int?
        switch body["limit"] {
        case .int(let n)? where n >= 0: limit = Int(min(n, 1_000_000))
        case .int?: throw CinderError.invalid(["body", "limit"], "Input should be greater than or equal to 0", type: "greater_than_equal", input: nil)
        case nil: limit = 1000
        case .null?: limit = nil
        default: throw CinderError.invalid(["body", "limit"], "Input should be a valid integer", type: "int_type", input: nil)
        }
        guard case .array(let queryDocuments)? = body["queries"] else {
            throw CinderError.invalid(["body", "queries"], "Field required", type: "missing", input: nil)
        }
        var queries = try queryDocuments.map(Self.columnQuery)
        // JSON objects are unordered once parsed, but a select's order is the column order: take it from the text.
        for i in queries.indices {
            if let select = queries[i].select {
                queries[i].select = Self.inTextOrder(select, after: "select", body: rawBytes, queryIndex: i)
            }
            if let explode = queries[i].explode {
                queries[i].explode?.fields = Self.inTextOrder(explode.fields, after: "explode", body: rawBytes, queryIndex: i)
            }
            if let concat = queries[i].concat {
                queries[i].concat?.fields = Self.inTextOrder(concat.fields, after: "concat", body: rawBytes, queryIndex: i)
            }
        }

        let scope = try api.scope(context)
        guard let project = try await scope.projects.project(named: projectName) else {
            throw CinderError.notFound("Project with name \(projectName) not found")
        }
        var parts: [String] = []
        for query in queries {
            let spans = try await matchingSpans(scope, project: project.id, filter: filter, condition: query.condition, limit: limit)
            parts.append(DataFrameJSON.encode(rows: spans, query: query))
        }
        let boundary = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var text = ""
        for part in parts {
            text += "--\(boundary)\r\nContent-Type: application/json\r\n\r\n\(part)\r\n"
        }
        text += "--\(boundary)--\r\n"
        return Response(
            status: .ok, headers: [.contentType: "multipart/mixed; boundary=\(boundary)"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Newest first, `limit` at most (nil: all), read from the database in pages; the condition runs there
    /// too, so a rare match in a large project is found however far back it is.
    func matchingSpans(
        _ scope: TenantScope, project: Int64, filter: SpanFilter, condition: SpanFilterCondition?, limit: Int?
    ) async throws -> [(SpanRow, JSONValue)] {
        var filter = filter
        filter.condition = condition
        var out: [(SpanRow, JSONValue)] = []
        let pageSize = 1000
        while out.count < limit ?? Int.max {
            let want = min(pageSize, (limit ?? Int.max) - out.count)
            let rows = try await scope.spans.spans(projectID: project, filter: filter, limit: want + 1)
            for row in rows.prefix(want) {
                out.append((row, (try? JSONValue(parsing: row.attributesJSON)) ?? .object([:])))
            }
            guard rows.count > want else { break }
            filter.cursor = .init(key: rows[want].startMicros, id: rows[want].id)
        }
        return out
    }

    /// Orders entries by where their names first appear after the query's `"<section>"` in the body.
    static func inTextOrder(
        _ select: [(name: String, key: String)], after section: String, body: [UInt8], queryIndex: Int
    ) -> [(name: String, key: String)] {
        let text = String(decoding: body, as: UTF8.self)
        var searchStart = text.startIndex
        for _ in 0...queryIndex {
            guard let found = text.range(of: "\"\(section)\"", range: searchStart..<text.endIndex) else { return select }
            searchStart = found.upperBound
        }
        func position(_ name: String) -> String.Index {
            text.range(of: JSONValue.string(name).jsonString, range: searchStart..<text.endIndex)?.lowerBound ?? text.endIndex
        }
        return select.map { ($0, position($0.name)) }.sorted { $0.1 < $1.1 }.map(\.0)
    }

    static func columnQuery(_ document: JSONValue) throws(CinderError) -> ColumnQuery {
        guard case .object(let o) = document else { throw SpanFilterCondition.invalid("each query must be an object") }
        var query = ColumnQuery()
        func fields(_ kwargs: JSONValue?) -> [(name: String, key: String)] {
            guard case .object(let kwargs)? = kwargs else { return [] }
            return kwargs.keys.sorted().compactMap { name in kwargs[name]?.stringValue.map { (name, $0) } }
        }
        if case .object(let explode)? = o["explode"], let key = explode["key"]?.stringValue {
            query.explode = Explode(
                key: key, primaryIndexKey: explode["primary_index_key"]?.stringValue ?? "context.span_id",
                fields: fields(explode["kwargs"]))
        }
        if case .object(let concat)? = o["concat"], let key = concat["key"]?.stringValue {
            query.concat = Concat(key: key, separator: concat["separator"]?.stringValue ?? "\n\n", fields: fields(concat["kwargs"]))
        }
        if case .object(let select)? = o["select"] {
            query.select = select.keys.sorted().map { name in
                (name, select[name]?["key"]?.stringValue ?? name)
            }
        }
        if case .object(let f)? = o["filter"], let condition = f["condition"]?.stringValue,
            !condition.trimmingCharacters(in: .whitespaces).isEmpty
        {
            query.condition = try SpanFilterCondition.parse(condition)
        }
        if let key = o["index"]?["key"]?.stringValue { query.indexKey = key }
        if case .object(let rename)? = o["rename"] {
            for (from, to) in rename { if let to = to.stringValue { query.rename[from] = to } }
        }
        return query
    }
}

/// pandas' "table" orientation with the column-name prefixes Phoenix's client strips (`0_`, `1_`, …).
enum DataFrameJSON {
    static let defaultColumns = [
        "name", "span_kind", "parent_id", "start_time", "end_time", "status_code", "status_message", "events",
        "context.span_id", "context.trace_id",
    ]

    static func value(_ key: String, span: SpanRow, attributes: JSONValue) -> JSONValue {
        switch key {
        case "start_time": return .string(pandasTime(span.startMicros))
        case "end_time": return .string(pandasTime(span.endMicros))
        case "events": return (try? JSONValue(parsing: span.eventsJSON)) ?? .array([])
        case "span_id", "context.span_id": return .string(span.spanID)
        case "trace_id", "context.trace_id": return .string(span.traceID)
        default:
            let path = key.split(separator: ".").map(String.init)
            return SpanFilterCondition.resolve(path, span: span, attributes: attributes)
        }
    }

    static func pandasTime(_ micros: Int64) -> String {
        // ISO with nanoseconds and Z: what pandas writes for UTC datetimes and reads back as such.
        let iso = Timestamp.iso8601(micros: micros).replacingOccurrences(of: "+00:00", with: "")
        return (iso.contains(".") ? iso + "000" : iso + ".000000000") + "Z"
    }

    /// One row of the frame: its index values (in index order) and its columns.
    struct Record {
        var index: [JSONValue]
        var columns: [String: JSONValue]
    }

    static func encode(rows: [(SpanRow, JSONValue)], query: SpanDataFrameAPI.ColumnQuery) -> String {
        var columns: [String] = []
        var records: [Record] = []
        var indexNames = [query.rename[query.indexKey] ?? query.indexKey]

        func selected(_ span: SpanRow, _ attributes: JSONValue) -> [String: JSONValue] {
            var out: [String: JSONValue] = [:]
            for column in query.select ?? [] {
                out[query.rename[column.name] ?? column.name] = value(column.key, span: span, attributes: attributes)
            }
            return out
        }
        columns = (query.select ?? []).map { query.rename[$0.name] ?? $0.name }

        if let explode = query.explode {
            // One row per element of the list, indexed by (span, position in the list).
            indexNames = [explode.primaryIndexKey, "document_position"]
            columns += explode.fields.map(\.name)
            for (span, attributes) in rows {
                guard case .array(let items) = value(explode.key, span: span, attributes: attributes) else { continue }
                for (position, item) in items.enumerated() {
                    var record = selected(span, attributes)
                    for field in explode.fields { record[field.name] = item[path: field.key.split(separator: ".").map(String.init)] ?? .null }
                    records.append(Record(
                        index: [value(explode.primaryIndexKey, span: span, attributes: attributes), .int(Int64(position))],
                        columns: record))
                }
            }
        } else if let concat = query.concat {
            // The list's values joined into one text per span.
            columns += concat.fields.map(\.name)
            for (span, attributes) in rows {
                guard case .array(let items) = value(concat.key, span: span, attributes: attributes) else { continue }
                var record = selected(span, attributes)
                for field in concat.fields {
                    let parts = items.compactMap { item -> String? in
                        switch item[path: field.key.split(separator: ".").map(String.init)] {
                        case .string(let s)?: s
                        case nil, .null?: nil
                        case let other?: other.jsonString
                        }
                    }
                    record[field.name] = .string(parts.joined(separator: concat.separator))
                }
                records.append(Record(index: [value(query.indexKey, span: span, attributes: attributes)], columns: record))
            }
        } else if query.select != nil {
            for (span, attributes) in rows {
                records.append(Record(index: [value(query.indexKey, span: span, attributes: attributes)], columns: selected(span, attributes)))
            }
        } else {
            columns = defaultColumns.map { query.rename[$0] ?? $0 }
            var attributeColumns: [String] = []
            var seen = Set<String>()
            for (span, attributes) in rows {
                var record: [String: JSONValue] = [:]
                for (i, key) in defaultColumns.enumerated() {
                    record[columns[i]] = key == "span_kind" ? .string(span.spanKind) : value(key, span: span, attributes: attributes)
                }
                if case .object(let nested) = attributes {
                    for (key, v) in Attributes.dataFrameColumns(nested) {
                        let column = "attributes.\(key)"
                        if seen.insert(column).inserted { attributeColumns.append(column) }
                        record[column] = v
                    }
                }
                records.append(Record(index: [value(query.indexKey, span: span, attributes: attributes)], columns: record))
            }
            columns += attributeColumns.sorted()
        }

        if query.select != nil || query.explode != nil || query.concat != nil {
            // A selected column that is also the index is the index only (pandas' set_index drops it);
            // the default projection keeps `context.span_id` as both, as Phoenix does.
            columns.removeAll { indexNames.contains($0) }
        }
        // Index levels are named "<level>_<name>", columns "<n>_<name>" numbered after them.
        let indexFields = indexNames.enumerated().map { "\($0.offset)_\($0.element)" }
        let columnFields = columns.enumerated().map { "\($0.offset + indexNames.count)_\($0.element)" }
        var fields: [JSONValue] = []
        for (level, name) in indexFields.enumerated() {
            fields.append(field(name, values: records.map { $0.index[level] }))
        }
        for (n, name) in columnFields.enumerated() {
            fields.append(field(name, values: records.map { $0.columns[columns[n]] ?? .null }))
        }
        let data: [JSONValue] = records.map { record in
            var row: [String: JSONValue] = [:]
            for (level, name) in indexFields.enumerated() { row[name] = record.index[level] }
            for (n, name) in columnFields.enumerated() { row[name] = record.columns[columns[n]] ?? .null }
            return .object(row)
        }
        let document: JSONValue = [
            "schema": ["fields": .array(fields), "primaryKey": .array(indexFields.map { .string($0) }), "pandas_version": "1.4.0"],
            "data": .array(data),
        ]
        return document.jsonString
    }

    /// Table-schema type of a column from its values; numbers are float64 so that gaps can be NaN.
    static func field(_ name: String, values: [JSONValue]) -> JSONValue {
        let present = values.filter { $0 != .null }
        var type = "string"
        if name.hasSuffix("_start_time") || name.hasSuffix("_end_time") {
            return ["name": .string(name), "type": "datetime", "tz": "UTC"]
        }
        if !present.isEmpty {
            if present.allSatisfy({ SpanFilterCondition.number($0) != nil }) {
                type = "number"
            } else if present.count == values.count, present.allSatisfy({ if case .bool = $0 { true } else { false } }) {
                type = "boolean"
            }
        }
        return ["name": .string(name), "type": .string(type)]
    }
}
