import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/projects`: list, create, get, update, delete.
struct ProjectsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/projects") { request, context in try await list(request, context) }
        router.post("/v1/projects") { request, context in try await create(request, context) }
        router.get("/v1/projects/:project") { _, context in
            let store = api.store(context)
            let project = try await store.resolveProject(try pathParameter(context, "project"))
            return jsonResponse(["data": Self.json(project)])
        }
        router.put("/v1/projects/:project") { request, context in try await update(request, context) }
        router.delete("/v1/projects/:project") { _, context in
            let store = api.store(context)
            let project = try await store.resolveProject(try pathParameter(context, "project"))
            if project.name == ProjectDefaults.name {
                throw CinderError(.forbidden, "The default project cannot be deleted")
            }
            _ = try await store.deleteProject(id: project.id)
            return Response(status: .noContent)
        }
    }

    static func json(_ project: ProjectRow) -> JSONValue {
        ["name": .string(project.name), "description": project.description.map { .string($0) } ?? .null, "id": GlobalID.project(project.id)]
    }

    func list(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100)
        let cursor = try rowIDCursor(query.string("cursor"))
        let rows = try await api.store(context).listProjects(
            atOrBeforeID: cursor, limit: limit + 1, nameContains: query.string("name_contains"),
            includeExperimentProjects: try query.bool("include_experiment_projects", default: false))
        let page = rows.prefix(limit)
        let next: JSONValue = rows.count > limit ? GlobalID.project(rows[limit].id) : .null
        return jsonResponse(["data": .array(page.map(Self.json)), "next_cursor": next])
    }

    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context)
        let name = try JSONBody.requiredString(body, "name", minLength: 1)
        let description = try JSONBody.optionalString(body, "description")
        guard let project = try await api.store(context).createProject(name: name, description: description) else {
            throw CinderError(.conflict, "A project named '\(name)' already exists")
        }
        return jsonResponse(["data": Self.json(project)])
    }

    func update(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context)
        let store = api.store(context)
        let project = try await store.resolveProject(try pathParameter(context, "project"))
        // Names never change; a null or absent description leaves it as it is.
        guard let description = try JSONBody.optionalString(body, "description") else {
            return jsonResponse(["data": Self.json(project)])
        }
        guard let updated = try await store.updateProject(id: project.id, description: description) else {
            throw CinderError.notFound("Project with ID \(GlobalID(NodeType.project, project.id).encoded) not found")
        }
        return jsonResponse(["data": Self.json(updated)])
    }
}

/// JSON request bodies with FastAPI-style validation errors.
enum JSONBody {
    static func parse(_ request: Request, _ context: some RequestContext) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        if bytes.isEmpty { throw CinderError.invalid(["body"], "Field required", type: "missing", input: nil) }
        do {
            return try JSONValue(parsing: bytes)
        } catch {
            throw CinderError.invalid(["body", String(error.offset)], "JSON decode error", type: "json_invalid", input: nil)
        }
    }

    static func object(_ request: Request, _ context: some RequestContext) async throws -> [String: JSONValue] {
        guard case .object(let object) = try await parse(request, context) else {
            throw CinderError.invalid(
                ["body"], "Input should be a valid dictionary or object to extract fields from", type: "model_attributes_type",
                input: nil)
        }
        return object
    }

    static func requiredString(_ object: [String: JSONValue], _ key: String, minLength: Int = 0, path: [String] = ["body"]) throws(CinderError) -> String {
        switch object[key] {
        case .string(let s)?:
            if s.count < minLength {
                throw .invalid(path + [key], "String should have at least \(minLength) character", type: "string_too_short", input: s)
            }
            return s
        case nil, .null?: throw .invalid(path + [key], "Field required", type: "missing", input: nil)
        default: throw .invalid(path + [key], "Input should be a valid string", type: "string_type", input: nil)
        }
    }

    static func optionalString(_ object: [String: JSONValue], _ key: String, path: [String] = ["body"]) throws(CinderError) -> String? {
        switch object[key] {
        case .string(let s)?: return s
        case nil, .null?: return nil
        default: throw .invalid(path + [key], "Input should be a valid string", type: "string_type", input: nil)
        }
    }

    static func stringList(_ object: [String: JSONValue], _ key: String, path: [String] = ["body"]) throws(CinderError) -> [String] {
        guard case .array(let items)? = object[key] else {
            if object[key] == nil { throw .invalid(path + [key], "Field required", type: "missing", input: nil) }
            throw .invalid(path + [key], "Input should be a valid list", type: "list_type", input: nil)
        }
        return try items.enumerated().map { (i, item) throws(CinderError) in
            guard case .string(let s) = item else {
                throw .invalid(path + [key, String(i)], "Input should be a valid string", type: "string_type", input: nil)
            }
            return s
        }
    }
}
