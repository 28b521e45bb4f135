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
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            return jsonResponse(["data": Self.json(project)])
        }
        router.put("/v1/projects/:project") { request, context in try await update(request, context) }
        router.delete("/v1/projects/:project") { _, context in
            _ = try context.requireAdminAccess()
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            if project.name == ProjectDefaults.name {
                throw CinderError(.forbidden, "The default project cannot be deleted")
            }
            _ = try await scope.projects.delete(id: project.id)
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
        let rows = try await (try api.scope(context)).projects.list(
            atOrBeforeID: cursor, limit: limit + 1, nameContains: query.string("name_contains"),
            includeExperimentProjects: try query.bool("include_experiment_projects", default: false))
        return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.project, $0.id).encoded }, Self.json)
    }

    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context)
        let fields = BodyFields(body)
        let name = try fields.string("name", minLength: 1)
        let description = try fields.optionalString("description")
        guard let project = try await (try api.scope(context)).projects.create(name: name, description: description) else {
            throw CinderError(.conflict, "A project named '\(name)' already exists")
        }
        return jsonResponse(["data": Self.json(project)])
    }

    func update(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.object(request, context)
        let scope = try api.scope(context)
        let project = try await scope.projects.resolve(try pathParameter(context, "project"))
        // Names never change; a null or absent description leaves it as it is.
        guard let description = try BodyFields(body).optionalString("description") else {
            return jsonResponse(["data": Self.json(project)])
        }
        guard let updated = try await scope.projects.update(id: project.id, description: description) else {
            throw CinderError.notFound("Project with ID \(GlobalID(NodeType.project, project.id).encoded) not found")
        }
        return jsonResponse(["data": Self.json(updated)])
    }
}
