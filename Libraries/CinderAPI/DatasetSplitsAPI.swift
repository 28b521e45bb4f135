import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// Dataset splits (`/v1/datasets/{id}/splits`) and labels (`/v1/dataset_labels`, `/v1/datasets/{id}/labels`).
struct DatasetSplitsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/datasets/:id/splits") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 10, max: 1000)
            let cursor = try rowIDCursor(query.string("cursor"))
            let dataset = try await dataset(context)
            let rows = try await (try api.scope(context)).datasets.datasetSplits(datasetID: dataset.id, atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.datasetSplit, $0.id).encoded }, Self.json)
        }
        router.post("/v1/datasets/:id/splits") { request, context in
            let body = try await JSONBody.fields(request, context)
            let name = try body.string("name", minLength: 1)
            let dataset = try await dataset(context)
            let scope = try api.scope(context)
            let examples = try await exampleIDs(try body.optionalList("example_ids").map { _ in try body.stringList("example_ids") } ?? [], dataset, scope)
            guard
                let split = try await scope.datasets.createDatasetSplit(
                    datasetID: dataset.id, name: name, description: try body.optionalString("description"),
                    color: try body.optionalString("color").map { text throws(CinderError) in try Self.color(text, body) },
                    metadata: .object(try body.dictionary("metadata") ?? [:]), exampleIDs: examples)
            else { throw CinderError(.conflict, "A dataset split named '\(name)' already exists") }
            return jsonResponse(["data": Self.json(split)], status: .created)
        }
        router.patch("/v1/datasets/:id/splits/:split") { request, context in
            let body = try await JSONBody.fields(request, context)
            let dataset = try await dataset(context)
            let scope = try api.scope(context)
            let splitID = try Self.id(try pathParameter(context, "split"), NodeType.datasetSplit, "dataset split")
            let add = try await exampleIDs(try body.optionalList("add_example_ids").map { _ in try body.stringList("add_example_ids") } ?? [], dataset, scope)
            let remove = try await exampleIDs(
                try body.optionalList("remove_example_ids").map { _ in try body.stringList("remove_example_ids") } ?? [], dataset, scope)
            let change = DatasetSplitChange(
                name: try body.optionalString("name"),
                description: body.fields.keys.contains("description") ? .some(try body.optionalString("description")) : .none,
                color: try body.optionalString("color").map { text throws(CinderError) in try Self.color(text, body) },
                metadata: try body.dictionary("metadata").map { .object($0) },
                addExampleIDs: add, removeExampleIDs: remove)
            switch try await scope.datasets.updateDatasetSplit(datasetID: dataset.id, splitID: splitID, change: change) {
            case .updated(let split): return jsonResponse(["data": Self.json(split)])
            case .notFound: throw CinderError.notFound("Dataset split not found")
            case .nameTaken: throw CinderError(.conflict, "A dataset split named '\(change.name ?? "")' already exists")
            }
        }
        router.delete("/v1/datasets/:id/splits/:split") { _, context in
            _ = try await dataset(context)
            let splitID = try Self.id(try pathParameter(context, "split"), NodeType.datasetSplit, "dataset split")
            switch try await (try api.scope(context)).datasets.deleteDatasetSplit(id: splitID) {
            case .deleted: return Response(status: .noContent)
            case .notFound: throw CinderError.notFound("Dataset split not found")
            case .usedByExperiments: throw CinderError(.conflict, "The dataset split is used by experiments and cannot be deleted")
            }
        }
        addLabelRoutes(to: router)
    }

    func addLabelRoutes(to router: Router<CinderRequestContext>) {
        router.get("/v1/dataset_labels") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 100)
            let cursor = try rowIDCursor(query.string("cursor"))
            let rows = try await (try api.scope(context)).datasets.datasetLabels(atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.datasetLabel, $0.id).encoded }, Self.json)
        }
        router.post("/v1/dataset_labels") { request, context in
            let body = try await JSONBody.fields(request, context)
            let name = try body.string("name", minLength: 1)
            let color = try Self.color(body.string("color"), body)
            guard let label = try await (try api.scope(context)).datasets.createDatasetLabel(name: name, description: try body.optionalString("description"), color: color)
            else { throw CinderError(.conflict, "A dataset label named '\(name)' already exists") }
            return jsonResponse(["data": Self.json(label)], status: .created)
        }
        router.get("/v1/dataset_labels/:label") { _, context in
            let id = try Self.id(try pathParameter(context, "label"), NodeType.datasetLabel, "dataset label")
            guard let label = try await (try api.scope(context)).datasets.datasetLabels(ids: [id]).first else {
                throw CinderError.notFound("Dataset label not found")
            }
            return jsonResponse(["data": Self.json(label)])
        }
        router.patch("/v1/dataset_labels/:label") { request, context in
            let id = try Self.id(try pathParameter(context, "label"), NodeType.datasetLabel, "dataset label")
            let body = try await JSONBody.fields(request, context)
            if body.fields["name"] == .null { throw CinderError.unprocessable("name cannot be null") }
            if body.fields["color"] == .null { throw CinderError.unprocessable("color cannot be null") }
            let name = body.value("name") == nil ? nil : try body.string("name", minLength: 1)
            let color = body.value("color") == nil ? nil : try Self.color(body.string("color"), body)
            let description: String?? = body.fields.keys.contains("description") ? .some(try body.optionalString("description")) : .none
            switch try await (try api.scope(context)).datasets.updateDatasetLabel(id: id, name: name, description: description, color: color) {
            case .updated(let label): return jsonResponse(["data": Self.json(label)])
            case .notFound: throw CinderError.notFound("Dataset label not found")
            case .nameTaken: throw CinderError(.conflict, "A dataset label named '\(name ?? "")' already exists")
            }
        }
        router.delete("/v1/dataset_labels/:label") { _, context in
            let id = try Self.id(try pathParameter(context, "label"), NodeType.datasetLabel, "dataset label")
            guard try await (try api.scope(context)).datasets.deleteDatasetLabel(id: id) else { throw CinderError.notFound("Dataset label not found") }
            return Response(status: .noContent)
        }
        router.get("/v1/datasets/:id/labels") { _, context in
            let dataset = try await dataset(context)
            return jsonResponse(["data": .array(try await (try api.scope(context)).datasets.datasetLabels(datasetID: dataset.id).map(Self.json))])
        }
        router.put("/v1/datasets/:id/labels") { request, context in
            let body = try await JSONBody.fields(request, context)
            let ids = try (body.value("dataset_label_ids") == nil ? [] : body.stringList("dataset_label_ids")).map { text throws(CinderError) in
                try Self.id(text, NodeType.datasetLabel, "dataset label")
            }
            let dataset = try await dataset(context)
            let scope = try api.scope(context)
            let labels = try await scope.datasets.datasetLabels(ids: Array(Set(ids)))
            guard labels.count == Set(ids).count else { throw CinderError.notFound("One or more dataset labels not found") }
            try await scope.datasets.setDatasetLabels(labels.map(\.id), on: dataset.id)
            return jsonResponse(["data": .array(labels.map(Self.json))])
        }
        router.put("/v1/datasets/:id/labels/:label") { _, context in
            let dataset = try await dataset(context)
            let id = try Self.id(try pathParameter(context, "label"), NodeType.datasetLabel, "dataset label")
            let scope = try api.scope(context)
            guard let label = try await scope.datasets.datasetLabels(ids: [id]).first else { throw CinderError.notFound("Dataset label not found") }
            try await scope.datasets.addDatasetLabels([label.id], to: dataset.id)
            return jsonResponse(["data": Self.json(label)])
        }
        router.delete("/v1/datasets/:id/labels/:label") { _, context in
            let dataset = try await dataset(context)
            let id = try Self.id(try pathParameter(context, "label"), NodeType.datasetLabel, "dataset label")
            try await (try api.scope(context)).datasets.removeDatasetLabel(id, from: dataset.id)
            return Response(status: .noContent)
        }
    }

    /// The path's dataset, by global id or name.
    func dataset(_ context: CinderRequestContext) async throws -> DatasetRow {
        let text = try pathParameter(context, "id")
        let id = GlobalID(encoded: text, type: NodeType.dataset)
        guard let dataset = try await (try api.scope(context)).datasets.dataset(id: id?.rowID, name: id == nil ? text : nil) else {
            throw CinderError.notFound("Dataset '\(text)' not found")
        }
        return dataset
    }

    /// Example row ids from global ids or caller-given example ids; 404 when one is not the dataset's.
    func exampleIDs(_ identifiers: [String], _ dataset: DatasetRow, _ scope: TenantScope) async throws -> [Int64] {
        guard !identifiers.isEmpty else { return [] }
        let rowIDs = identifiers.compactMap { GlobalID(encoded: $0, type: NodeType.datasetExample)?.rowID }
        let found = try await scope.datasets.datasetExampleIDs(datasetID: dataset.id, rowIDs: rowIDs, externalIDs: identifiers)
        guard found.count >= Set(identifiers).count else { throw CinderError.notFound("One or more dataset examples not found") }
        return found
    }

    static func id(_ text: String, _ type: String, _ noun: String) throws(CinderError) -> Int64 {
        guard let id = GlobalID(encoded: text, type: type) else { throw CinderError.unprocessable("Invalid \(noun) ID: \(text)") }
        return id.rowID
    }

    static func color(_ text: String, _ body: BodyFields) throws(CinderError) -> String {
        let hex = text.utf8.dropFirst()
        guard text.utf8.first == UInt8(ascii: "#"), hex.count == 6,
            hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else {
            throw .invalid(body.path + ["color"], "String should match pattern '^#([0-9a-f]{6})$'", type: "string_pattern_mismatch", input: text)
        }
        return text
    }

    static func json(_ split: DatasetSplitRow) -> JSONValue {
        [
            "id": .string(GlobalID(NodeType.datasetSplit, split.id).encoded), "name": .string(split.name),
            "description": split.description.map { .string($0) } ?? .null, "color": .string(split.color), "metadata": split.metadata,
            "example_count": .int(split.exampleCount), "created_at": iso(split.createdMicros), "updated_at": iso(split.updatedMicros),
        ]
    }

    static func json(_ label: DatasetLabelRow) -> JSONValue {
        [
            "id": .string(GlobalID(NodeType.datasetLabel, label.id).encoded), "name": .string(label.name),
            "description": label.description.map { .string($0) } ?? .null, "color": .string(label.color),
        ]
    }
}
