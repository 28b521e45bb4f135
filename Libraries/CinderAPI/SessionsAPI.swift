import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/projects/{id}/sessions`, `GET/DELETE /v1/sessions/{id}`, `POST /v1/sessions/delete`.
struct SessionsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/projects/:project/sessions") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 100)
            let order = try query.literal("order", default: SortOrder.asc, allowed: [.asc, .desc])
            let cursor = try rowIDCursor(query.string("cursor"))
            var page = SessionPage()
            page.order = order
            // Row-id cursors name the first session of the page; pages start after their cursor.
            page.cursor = cursor.map { .init(key: 0, id: order == .desc ? $0 + 1 : $0 - 1) }
            if let expression = query.string("filter"), !expression.trimmingCharacters(in: .whitespaces).isEmpty {
                do throws(CinderError) {
                    page.condition = try SessionFilterCondition.parse(expression)
                } catch {
                    // Phoenix answers a bad session filter with 400 (span queries with 422).
                    throw CinderError.badRequest(error.message)
                }
            }
            let scope = try api.scope(context)
            let project = try await scope.projects.resolve(try pathParameter(context, "project"))
            let rows = try await scope.sessions.sessions(projectID: project.id, page: page, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.session, $0.id).encoded }, Self.json)
        }
        router.get("/v1/sessions/:session") { _, context in
            let identifier = try pathParameter(context, "session")
            let id = GlobalID(encoded: identifier, type: NodeType.session)
            guard let session = try await (try api.scope(context)).sessions.session(rowID: id?.rowID, sessionID: id == nil ? identifier : nil) else {
                throw CinderError.notFound(
                    id == nil ? "Session with session_id \(identifier) not found" : "Session with ID \(identifier) not found")
            }
            return jsonResponse(["data": Self.json(session)])
        }
        router.delete("/v1/sessions/:session") { _, context in
            let identifier = try pathParameter(context, "session")
            let id = GlobalID(encoded: identifier, type: NodeType.session)
            let deleted = try await (try api.scope(context)).sessions.delete(
                rowIDs: id.map { [$0.rowID] } ?? [], sessionIDs: id == nil ? [identifier] : [])
            guard deleted > 0 else {
                throw CinderError.notFound(
                    id == nil ? "Session with session_id '\(identifier)' not found" : "Session with ID '\(identifier)' not found")
            }
            return Response(status: .noContent)
        }
        router.post("/v1/sessions/delete") { request, context in
            let body = try await JSONBody.object(request, context)
            let identifiers = try BodyFields(body).stringList("session_identifiers")
            guard !identifiers.isEmpty else { throw CinderError.unprocessable("Session identifier list must not be empty.") }
            let ids = identifiers.map { GlobalID(encoded: $0, type: NodeType.session) }
            let globalCount = ids.compactMap { $0 }.count
            guard globalCount == 0 || globalCount == ids.count else {
                throw CinderError.unprocessable(
                    "All identifiers must be the same type: either all GlobalIDs or all session_id strings.")
            }
            try await (try api.scope(context)).sessions.delete(
                rowIDs: ids.compactMap { $0?.rowID }, sessionIDs: globalCount == 0 ? identifiers : [])
            return Response(status: .noContent)
        }
    }

    static func json(_ session: SessionRow) -> JSONValue {
        [
            "id": GlobalID.session(session.id), "session_id": .string(session.sessionID),
            "project_id": GlobalID.project(session.projectID),
            "start_time": iso(session.startMicros), "end_time": iso(session.endMicros),
            "traces": .array(session.traces.map { trace in
                ["id": GlobalID.trace(trace.id), "trace_id": .string(trace.traceID),
                 "start_time": iso(trace.startMicros), "end_time": iso(trace.endMicros)]
            }),
            "token_count_prompt": .int(session.promptTokens), "token_count_completion": .int(session.completionTokens),
            "token_count_total": .int(session.promptTokens + session.completionTokens),
        ]
    }
}
