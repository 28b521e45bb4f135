import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/annotation_configs` and their assignment to projects.
struct AnnotationConfigsAPI {
    let api: PhoenixAPI

    enum ConfigType: String, CaseIterable {
        case categorical = "CATEGORICAL", continuous = "CONTINUOUS", freeform = "FREEFORM"

        var nodeType: String {
            switch self {
            case .categorical: "CategoricalAnnotationConfig"
            case .continuous: "ContinuousAnnotationConfig"
            case .freeform: "FreeformAnnotationConfig"
            }
        }
    }

    static let directions = ["MINIMIZE", "MAXIMIZE", "NONE"]

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/annotation_configs") { request, context in
            let (cursor, limit) = try Self.page(request)
            let rows = try await (try api.scope(context)).annotations.configs(atOrBeforeID: cursor, limit: limit + 1)
            return Self.page(rows, limit: limit)
        }
        router.post("/v1/annotation_configs") { request, context in
            let (name, config) = try Self.parse(try await JSONBody.parse(request, context))
            guard let row = try await (try api.scope(context)).annotations.createConfig(name: name, config: config) else {
                throw Self.nameTaken
            }
            return jsonResponse(["data": Self.json(row)])
        }
        router.get("/v1/annotation_configs/:config") { _, context in
            let row = try await resolve(try pathParameter(context, "config"), (try api.scope(context)))
            return jsonResponse(["data": Self.json(row)])
        }
        router.put("/v1/annotation_configs/:config") { request, context in
            let (name, config) = try Self.parse(try await JSONBody.parse(request, context))
            let scope = try api.scope(context)
            let existing = try await resolve(try pathParameter(context, "config"), scope)
            switch try await scope.annotations.updateConfig(id: existing.id, name: name, config: config) {
            case .updated(let row): return jsonResponse(["data": Self.json(row)])
            case .nameTaken: throw Self.nameTaken
            case .notFound: throw CinderError.notFound("Annotation configuration not found")
            }
        }
        router.delete("/v1/annotation_configs/:config") { _, context in
            let scope = try api.scope(context)
            let existing = try await resolve(try pathParameter(context, "config"), scope)
            _ = try await scope.annotations.deleteConfig(id: existing.id)
            return jsonResponse(["data": Self.json(existing)])
        }
        router.get("/v1/projects/:project/annotation_configs") { request, context in
            let (cursor, limit) = try Self.page(request)
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            let rows = try await scope.annotations.configs(projectID: project.id, atOrBeforeID: cursor, limit: limit + 1)
            return Self.page(rows, limit: limit)
        }
        router.put("/v1/projects/:project/annotation_configs") { request, context in
            let ids = try await JSONBody.fields(request, context).stringList("annotation_config_ids")
            let rowIDs = try Set(
                ids.map { text throws(CinderError) in
                    guard let id = Self.configID(text) else { throw CinderError.unprocessable("Invalid annotation configuration ID: \(text)") }
                    return id
                })
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            let configs = try await scope.annotations.configs(ids: Array(rowIDs))
            guard configs.count == rowIDs.count else { throw CinderError.unprocessable("One or more annotation configurations were not found") }
            try await scope.annotations.setProjectConfigs(projectID: project.id, configIDs: Array(rowIDs))
            return jsonResponse(["data": .array(configs.map(Self.json)), "next_cursor": .null])
        }
        router.put("/v1/projects/:project/annotation_configs/:config") { _, context in
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            let config = try await resolve(try pathParameter(context, "config"), scope)
            try await scope.annotations.assignConfig(config.id, toProject: project.id)
            return jsonResponse(["data": Self.json(config)])
        }
        router.delete("/v1/projects/:project/annotation_configs/:config") { _, context in
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            let config = try await resolve(try pathParameter(context, "config"), scope)
            try await scope.annotations.unassignConfig(config.id, fromProject: project.id)
            return Response(status: .noContent)
        }
    }

    static let nameTaken = CinderError(.conflict, "The name of the annotation configuration is already taken")

    static func configID(_ text: String) -> Int64? {
        guard let id = GlobalID(encoded: text), ConfigType.allCases.contains(where: { $0.nodeType == id.typeName }) else { return nil }
        return id.rowID
    }

    /// A config by global id or, failing that, by name.
    func resolve(_ identifier: String, _ scope: TenantScope) async throws -> AnnotationConfigRow {
        let id = Self.configID(identifier)
        guard let row = try await scope.annotations.config(id: id, name: id == nil ? identifier : nil) else {
            throw CinderError.notFound("Annotation configuration with \(id == nil ? "name" : "ID") '\(identifier)' not found")
        }
        return row
    }

    static func page(_ request: Request) throws(CinderError) -> (cursor: Int64?, limit: Int) {
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100)
        guard let text = query.string("cursor") else { return (nil, limit) }
        guard let id = configID(text) else { throw CinderError.badRequest("Invalid cursor: \(text)") }
        return (id, limit)
    }

    static func page(_ rows: [AnnotationConfigRow], limit: Int) -> Response {
        pageResponse(rows, limit: limit, cursor: { nodeID($0) }, json)
    }

    static func nodeID(_ row: AnnotationConfigRow) -> String {
        let type = row.config["type"]?.stringValue.flatMap(ConfigType.init(rawValue:)) ?? .freeform
        return GlobalID(type.nodeType, row.id).encoded
    }

    static func json(_ row: AnnotationConfigRow) -> JSONValue {
        guard case .object(var object) = row.config else { return ["id": .string(nodeID(row)), "name": .string(row.name)] }
        object["id"] = .string(nodeID(row))
        object["name"] = .string(row.name)
        return .object(object)
    }

    /// Validates a config body (one of three shapes, chosen by `type`) into its name and stored document.
    static func parse(_ body: JSONValue) throws(CinderError) -> (name: String, config: JSONValue) {
        guard case .object(let object) = body else {
            throw .invalid(["body"], "Input should be a valid dictionary or object to extract fields from", type: "model_attributes_type", input: nil)
        }
        let fields = BodyFields(object)
        guard case .string(let typeText)? = fields.value("type"), let type = ConfigType(rawValue: typeText) else {
            if fields.value("type") == nil {
                throw .invalid(["body"], "Unable to extract tag using discriminator 'type'", type: "union_tag_not_found", input: nil)
            }
            throw .invalid(
                ["body"], "Input tag '\(fields.value("type")?.stringValue ?? "")' found using 'type' does not match any of the expected tags: 'CATEGORICAL', 'CONTINUOUS', 'FREEFORM'",
                type: "union_tag_invalid", input: nil)
        }
        let shaped = BodyFields(object, path: ["body", type.rawValue])
        let name = try shaped.string("name")
        if name == "note" {
            throw CinderError(.conflict, "The name 'note' is reserved for trace and span notes and cannot be used for annotation configs.")
        }
        var config: [String: JSONValue] = [
            "type": .string(type.rawValue),
            "description": try shaped.optionalString("description").map { .string($0) } ?? .null,
        ]
        switch type {
        case .categorical:
            config["optimization_direction"] = .string(try shaped.literal("optimization_direction", directions))
            var labels = Set<String>()
            let values = try shaped.objects("values").map { value throws(CinderError) -> JSONValue in
                let label = try value.string("label")
                guard labels.insert(label).inserted else { throw CinderError.badRequest("Values must have unique labels") }
                return ["label": .string(label), "score": try value.double("score").map { .double($0) } ?? .null]
            }
            guard !values.isEmpty else { throw CinderError.badRequest("Values must be non-empty") }
            config["values"] = .array(values)
        case .continuous, .freeform:
            if type == .continuous {
                config["optimization_direction"] = .string(try shaped.literal("optimization_direction", directions))
            } else {
                config["optimization_direction"] = try shaped.optionalLiteral("optimization_direction", directions).map { .string($0) } ?? .null
                config["threshold"] = try shaped.double("threshold").map { .double($0) } ?? .null
            }
            let lower = try shaped.double("lower_bound")
            let upper = try shaped.double("upper_bound")
            if let lower, let upper, lower >= upper { throw CinderError.badRequest("Lower bound must be strictly less than upper bound") }
            config["lower_bound"] = lower.map { .double($0) } ?? .null
            config["upper_bound"] = upper.map { .double($0) } ?? .null
        }
        return (name, .object(config))
    }
}
