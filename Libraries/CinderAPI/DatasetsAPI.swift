import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird
import NIOCore

/// `/v1/datasets`: list, get, delete, versions, examples and the four exports. Uploads are in
/// `DatasetUpload`, splits and labels in `DatasetSplitsAPI`.
struct DatasetsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/datasets") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 10)
            let cursor = try rowIDCursor(query.string("cursor"))
            let rows = try await (try api.scope(context)).datasets.datasets(named: query.string("name"), atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.dataset, $0.id).encoded }, Self.json)
        }
        router.get("/v1/datasets/:id") { _, context in
            let dataset = try await dataset(context)
            return jsonResponse(["data": Self.json(dataset)])
        }
        router.delete("/v1/datasets/:id") { _, context in
            let id = try Self.datasetRowID(try pathParameter(context, "id"), notFoundIfOtherType: false)
            guard try await (try api.scope(context)).datasets.deleteDataset(id: id) else { throw CinderError.notFound("Dataset does not exist") }
            return Response(status: .noContent)
        }
        router.get("/v1/datasets/:id/versions") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 10)
            let dataset = try await dataset(context)
            var cursor: Int64?
            if let text = query.string("cursor") {
                guard let id = GlobalID(encoded: text, type: NodeType.datasetVersion) else {
                    throw CinderError.unprocessable("Invalid cursor: \(text)")
                }
                cursor = id.rowID
            }
            let rows = try await (try api.scope(context)).datasets.datasetVersions(datasetID: dataset.id, atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.datasetVersion, $0.id).encoded }, Self.json)
        }
        router.get("/v1/datasets/:id/examples") { request, context in try await examples(request, context) }
        for format in ExportFormat.allCases {
            router.get("/v1/datasets/:id/\(format.path)") { request, context in try await export(format, request, context) }
        }
        DatasetUpload(api: api).add(to: router)
        DatasetSplitsAPI(api: api).add(to: router)
    }

    /// The path's dataset (a `Dataset` global id), or 404/422 as Phoenix answers.
    func dataset(_ context: CinderRequestContext, parameter: String = "id") async throws -> DatasetRow {
        let text = try pathParameter(context, parameter)
        let id = try Self.datasetRowID(text, notFoundIfOtherType: true)
        guard let dataset = try await (try api.scope(context)).datasets.dataset(id: id) else {
            throw CinderError.notFound("Dataset with ID \(text) not found")
        }
        return dataset
    }

    static func datasetRowID(_ text: String, notFoundIfOtherType: Bool) throws(CinderError) -> Int64 {
        guard let id = GlobalID(encoded: text) else { throw CinderError.unprocessable("Invalid Dataset ID: \(text)") }
        guard id.typeName == NodeType.dataset else {
            if notFoundIfOtherType { throw CinderError.notFound("ID \(text) refers to a \(id.typeName)") }
            throw CinderError.unprocessable("Invalid Dataset ID: \(text)")
        }
        return id.rowID
    }

    static func json(_ dataset: DatasetRow) -> JSONValue {
        [
            "id": .string(GlobalID(NodeType.dataset, dataset.id).encoded), "name": .string(dataset.name),
            "description": dataset.description.map { .string($0) } ?? .null, "metadata": dataset.metadata,
            "created_at": iso(dataset.createdMicros), "updated_at": iso(dataset.updatedMicros), "example_count": .int(dataset.exampleCount),
        ]
    }

    static func json(_ version: DatasetVersionRow) -> JSONValue {
        [
            "version_id": .string(GlobalID(NodeType.datasetVersion, version.id).encoded),
            "description": version.description.map { .string($0) } ?? .null, "metadata": version.metadata,
            "created_at": iso(version.createdMicros),
        ]
    }

    static func json(_ example: DatasetExampleRow) -> JSONValue {
        let nodeID = GlobalID(NodeType.datasetExample, example.id).encoded
        var object: [String: JSONValue] = [
            "id": .string(example.externalID ?? nodeID), "node_id": .string(nodeID), "input": example.input, "output": example.output,
            "metadata": example.metadata, "updated_at": iso(example.updatedMicros),
        ]
        if let spanID = example.spanID, let rowID = example.spanRowID {
            object["source"] = ["span_id": .string(spanID), "span_node_id": GlobalID.span(rowID)]
        }
        return .object(object)
    }

    /// The version named by `version_id`, or the latest; 404 when it is not one of the dataset's.
    func version(_ query: QueryParameters, of dataset: DatasetRow, _ scope: TenantScope) async throws -> DatasetVersionRow {
        var versionID: Int64?
        if let text = query.string("version_id") {
            guard let id = GlobalID(encoded: text, type: NodeType.datasetVersion) else {
                throw CinderError.notFound("Dataset version with ID \(text) not found")
            }
            versionID = id.rowID
        }
        guard let version = try await scope.datasets.datasetVersion(datasetID: dataset.id, id: versionID) else {
            throw CinderError.notFound(versionID == nil ? "Dataset has no versions." : "Dataset version not found")
        }
        return version
    }

    func examples(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let scope = try api.scope(context)
        let dataset = try await dataset(context)
        let version = try await version(query, of: dataset, scope)
        let splitNames = query.strings("split").filter { !$0.isEmpty }
        var splits: [DatasetSplitRow]?
        if !splitNames.isEmpty {
            let ids = splitNames.compactMap { GlobalID(encoded: $0, type: NodeType.datasetSplit)?.rowID }
            let found = try await scope.datasets.datasetSplits(datasetID: dataset.id, ids: ids, names: splitNames)
            let known = Set(found.map(\.name)).union(found.map { GlobalID(NodeType.datasetSplit, $0.id).encoded })
            if let missing = splitNames.first(where: { !known.contains($0) }) {
                throw CinderError.notFound("Dataset split '\(missing)' not found")
            }
            splits = found
        }
        let rows = try await scope.datasets.datasetExamples(datasetID: dataset.id, versionID: version.id, splitIDs: splits?.map(\.id))
        return jsonResponse([
            "data": [
                "dataset_id": .string(GlobalID(NodeType.dataset, dataset.id).encoded),
                "version_id": .string(GlobalID(NodeType.datasetVersion, version.id).encoded),
                "filtered_splits": .array((splits ?? []).map { .string($0.name) }),
                "examples": .array(rows.map(Self.json)),
            ]
        ])
    }

    enum ExportFormat: CaseIterable {
        case csv, jsonl, openAIFineTuning, openAIEvals

        var path: String {
            switch self {
            case .csv: "csv"
            case .jsonl: "jsonl"
            case .openAIFineTuning: "jsonl/openai_ft"
            case .openAIEvals: "jsonl/openai_evals"
            }
        }
    }

    func export(_ format: ExportFormat, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let scope = try api.scope(context)
        // Phoenix answers every export failure (unknown dataset or version) with 422.
        let dataset: DatasetRow
        let version: DatasetVersionRow
        do {
            dataset = try await self.dataset(context)
            version = try await self.version(QueryParameters(request), of: dataset, scope)
        } catch let error as CinderError where error.code == .notFound {
            throw CinderError.unprocessable(error.message)
        }
        let rows = try await scope.datasets.datasetExamples(datasetID: dataset.id, versionID: version.id)
        var headers: HTTPFields = [
            .contentDisposition: "attachment; filename=\"\(dataset.name.replacingOccurrences(of: "\"", with: "'")).\(format == .csv ? "csv" : "jsonl")\""
        ]
        let text: String
        switch format {
        case .csv:
            headers[.contentType] = "text/csv"
            text = Self.csv(rows)
        case .jsonl:
            headers[.contentType] = "text/plain; charset=utf-8"
            text = Self.jsonLines(rows) { row in
                var object = Self.json(row).objectValue ?? [:]
                object["updated_at"] = nil
                object["source"] = nil
                object["splits"] = .array(row.splits.map { .string($0) })
                return .object(object)
            }
        case .openAIFineTuning:
            headers[.contentType] = "text/plain; charset=utf-8"
            text = Self.jsonLines(rows) { row in
                ["messages": .array(Self.messages(row.input) + Self.messages(row.output))]
            }
        case .openAIEvals:
            headers[.contentType] = "text/plain; charset=utf-8"
            text = Self.jsonLines(rows) { row in
                let ideal = Self.messages(row.output).last?["content"]?.stringValue ?? ""
                return ["messages": .array(Self.messages(row.input)), "ideal": .string(ideal)]
            }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func messages(_ document: JSONValue) -> [JSONValue] {
        if case .array(let messages)? = document["messages"] { return messages }
        return []
    }

    static func jsonLines(_ rows: [DatasetExampleRow], _ line: (DatasetExampleRow) -> JSONValue) -> String {
        rows.map { line($0).jsonString + "\n" }.joined()
    }

    /// One row per example: `id`, `node_id`, then `input.<key>`, `output.<key>`, `metadata.<key>` for
    /// every key any example has (strings as they are, other values as JSON).
    static func csv(_ rows: [DatasetExampleRow]) -> String {
        func keys(_ part: KeyPath<DatasetExampleRow, JSONValue>) -> [String] {
            var seen: [String] = []
            var known = Set<String>()
            for row in rows {
                for key in (row[keyPath: part].objectValue ?? [:]).keys.sorted() where known.insert(key).inserted { seen.append(key) }
            }
            return seen
        }
        let parts: [(String, KeyPath<DatasetExampleRow, JSONValue>)] = [("input", \.input), ("output", \.output), ("metadata", \.metadata)]
        let columns = parts.map { (prefix: $0.0, path: $0.1, keys: keys($0.1)) }
        var header = ["id", "node_id"]
        for column in columns { header += column.keys.map { "\(column.prefix).\($0)" } }
        var lines = [header.map(CSV.escape).joined(separator: ",")]
        for row in rows {
            let nodeID = GlobalID(NodeType.datasetExample, row.id).encoded
            var fields = [row.externalID ?? nodeID, nodeID]
            for column in columns {
                let object = row[keyPath: column.path].objectValue ?? [:]
                fields += column.keys.map { key in
                    switch object[key] {
                    case nil, .null?: ""
                    case .string(let s)?: s
                    case let value?: value.jsonString
                    }
                }
            }
            lines.append(fields.map(CSV.escape).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }
}
