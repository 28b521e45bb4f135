import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird
import NIOCore

/// `POST /v1/spans?project_name=…`: the span query behind the client's `get_spans_dataframe`.
///
/// Answers `multipart/mixed` with one part per query holding a pandas "table" JSON document, which is
/// what the Python client decodes. Supported query parts: `filter.condition` (see
/// `SpanFilterCondition`), `select`, `rename` and `index`; `explode` and `concat` are refused with 422.
struct SpanDataFrameAPI {
    let api: PhoenixAPI
    /// Spans examined per query when a filter has to be evaluated, so a rare match cannot scan forever.
    static let maxScannedSpans = 200_000

    func add(to router: Router<CinderRequestContext>) {
        router.post("/v1/spans") { request, context in try await query(request, context) }
    }

    struct ColumnQuery {
        var select: [(name: String, key: String)]?
        var condition: SpanFilterCondition?
        var indexKey = "context.span_id"
        var rename: [String: String] = [:]
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
        if let start = try JSONBody.optionalString(body, "start_time") {
            filter.startMicros = try QueryParameters.parseDatetime(start, location: ["body", "start_time"])
        }
        if let end = try JSONBody.optionalString(body, "end_time") ?? JSONBody.optionalString(body, "stop_time") {
            filter.endMicros = try QueryParameters.parseDatetime(end, location: ["body", "end_time"])
        }
        if case .bool(true)? = body["root_spans_only"] { filter.parentID = .some(nil) }
        let limit: Int? =
            switch body["limit"] {
            case .int(let n)?: Int(n)
            case nil: 1000
            default: nil
            }
        guard case .array(let queryDocuments)? = body["queries"] else {
            throw CinderError.invalid(["body", "queries"], "Field required", type: "missing", input: nil)
        }
        var queries = try queryDocuments.map(Self.columnQuery)
        // JSON objects are unordered once parsed, but a select's order is the column order: take it from the text.
        for i in queries.indices {
            if let select = queries[i].select {
                queries[i].select = Self.inTextOrder(select, body: rawBytes, queryIndex: i)
            }
        }

        let store = api.store(context)
        guard let project = try await store.project(named: projectName) else {
            throw CinderError.notFound("Project with name \(projectName) not found")
        }
        var parts: [String] = []
        for query in queries {
            let spans = try await matchingSpans(store, project: project.id, filter: filter, condition: query.condition, limit: limit)
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

    /// Newest first. Without a condition the database applies the limit; with one, pages are scanned
    /// and the condition evaluated here until the limit is reached.
    func matchingSpans(
        _ store: TenantStore, project: Int64, filter: SpanFilter, condition: SpanFilterCondition?, limit: Int?
    ) async throws -> [(SpanRow, JSONValue)] {
        var filter = filter
        var out: [(SpanRow, JSONValue)] = []
        var scanned = 0
        let pageSize = 1000
        while true {
            let want = condition == nil ? min(pageSize, (limit ?? Int.max) - out.count) : pageSize
            let rows = try await store.spans(projectID: project, filter: filter, limit: want + 1)
            for row in rows.prefix(want) {
                let attributes = (try? JSONValue(parsing: row.attributesJSON)) ?? .object([:])
                if condition?.matches(row, attributes: attributes) ?? true {
                    out.append((row, attributes))
                    if let limit, out.count >= limit { return out }
                }
            }
            scanned += min(rows.count, want)
            guard rows.count > want, scanned < Self.maxScannedSpans else { return out }
            let extra = rows[want]
            filter.cursor = .startTime(micros: extra.startMicros, id: extra.id)
        }
    }

    /// Orders select entries by where their keys first appear after the query's `"select"` in the body.
    static func inTextOrder(_ select: [(name: String, key: String)], body: [UInt8], queryIndex: Int) -> [(name: String, key: String)] {
        let text = String(decoding: body, as: UTF8.self)
        var searchStart = text.startIndex
        for _ in 0...queryIndex {
            guard let found = text.range(of: "\"select\"", range: searchStart..<text.endIndex) else { return select }
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
        for unsupported in ["explode", "concat"] where o[unsupported] != nil && o[unsupported] != .null {
            throw SpanFilterCondition.invalid("`\(unsupported)` is not supported by Cinder yet")
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

    static func encode(rows: [(SpanRow, JSONValue)], query: SpanDataFrameAPI.ColumnQuery) -> String {
        var columns: [String] = []
        var records: [[String: JSONValue]] = []
        if let select = query.select {
            columns = select.map { query.rename[$0.name] ?? $0.name }
            for (span, attributes) in rows {
                var record: [String: JSONValue] = [:]
                for (i, column) in select.enumerated() {
                    record[columns[i]] = value(column.key, span: span, attributes: attributes)
                }
                records.append(record)
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
                records.append(record)
            }
            columns += attributeColumns.sorted()
        }
        let indexName = query.rename[query.indexKey] ?? query.indexKey
        let indexField = "0_\(indexName)"
        var fields: [JSONValue] = [field(indexField, values: rows.map { value(query.indexKey, span: $0.0, attributes: $0.1) })]
        var data: [JSONValue] = records.enumerated().map { (i, _) in
            .object([indexField: value(query.indexKey, span: rows[i].0, attributes: rows[i].1)])
        }
        for (n, column) in columns.enumerated() {
            let name = "\(n + 1)_\(column)"
            fields.append(field(name, values: records.map { $0[column] ?? .null }))
            for i in data.indices {
                guard case .object(var o) = data[i] else { continue }
                o[name] = records[i][column] ?? .null
                data[i] = .object(o)
            }
        }
        let document: JSONValue = [
            "schema": ["fields": .array(fields), "primaryKey": [.string(indexField)], "pandas_version": "1.4.0"],
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
