import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird

/// Span, document, trace and session annotations and notes:
/// `POST /v1/{span,document,trace,session}_annotations`, `GET/DELETE /v1/projects/{id}/{span,trace,session}_annotations`,
/// `POST /v1/{span,trace,session}_notes`.
struct AnnotationsAPI {
    let api: PhoenixAPI

    /// How long an annotation request without `sync` waits for its entities to be ingested: Phoenix
    /// queues such requests and retries, so clients annotate spans they have only just sent.
    static let asyncEntityWait: Duration = .seconds(5)

    func add(to router: Router<CinderRequestContext>) {
        for target in AnnotationTarget.allCases {
            router.post("/v1/\(target.resource)_annotations") { request, context in try await annotate(target, request, context) }
        }
        for target in [AnnotationTarget.span, .trace, .session] {
            router.get("/v1/projects/:project/\(target.resource)_annotations") { request, context in try await list(target, request, context) }
            router.delete("/v1/projects/:project/\(target.resource)_annotations") { request, context in
                try await delete(target, request, context)
            }
            router.post("/v1/\(target.resource)_notes") { request, context in try await note(target, request, context) }
        }
    }

    static func json(_ row: AnnotationRow, _ target: AnnotationTarget) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(GlobalID(target.nodeType, row.id).encoded),
            "created_at": iso(row.createdMicros), "updated_at": iso(row.updatedMicros),
            "source": .string(row.source), "user_id": row.userID.map { .string(GlobalID("User", $0).encoded) } ?? .null,
            "name": .string(row.name), "annotator_kind": .string(row.annotatorKind),
            "result": [
                "label": row.label.map { .string($0) } ?? .null, "score": row.score.map { .double($0) } ?? .null,
                "explanation": row.explanation.map { .string($0) } ?? .null,
            ],
            "metadata": row.metadata, "identifier": .string(row.identifier),
            target.entityKey: .string(row.entityID),
        ]
        if let position = row.documentPosition { object["document_position"] = .int(Int64(position)) }
        return .object(object)
    }

    func annotate(_ target: AnnotationTarget, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let sync = try QueryParameters(request).bool("sync", default: false)
        let items = try await JSONBody.fields(request, context).objects("data")
        let inputs = try items.map { item throws(CinderError) in try Self.annotation(item, target) }
        guard !inputs.isEmpty else { return jsonResponse(["data": []]) }
        if target == .document, let input = inputs.first(where: { !$0.identifier.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw CinderError.unprocessable("Non-empty identifier '\(input.identifier)' is not supported")
        }
        if target != .document, inputs.contains(where: { $0.name == "note" }) {
            throw CinderError.badRequest(
                "The name 'note' is reserved for trace and span notes. Use POST /v1/\(target.resource)_notes instead.")
        }
        let scope = try api.scope(context)
        var result = try await scope.annotations.upsert(target, inputs)
        if !sync {
            let deadline = ContinuousClock.now + Self.asyncEntityWait
            while case .missingEntities = result, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                result = try await scope.annotations.upsert(target, inputs)
            }
        }
        switch result {
        case .missingEntities(let ids):
            throw CinderError.notFound("\(target.entityNoun)s with IDs \(ids.joined(separator: ", ")) do not exist.")
        case .documentOutOfBounds(let spanID, let position, let count):
            throw CinderError.unprocessable("Document position \(position) is out of bounds for span \(spanID) (max: \(count - 1))")
        case .written(let ids):
            // Phoenix answers asynchronous requests before inserting, so without ids.
            guard sync else { return jsonResponse(["data": []]) }
            return jsonResponse(["data": .array(ids.map { ["id": .string(GlobalID(target.nodeType, $0).encoded)] })])
        }
    }

    static func annotation(_ item: BodyFields, _ target: AnnotationTarget) throws(CinderError) -> AnnotationInput {
        let result = try item.object("result")
        return AnnotationInput(
            entityID: try item.string(target.entityKey),
            documentPosition: target == .document ? try item.int("document_position") : nil,
            name: try item.string("name"),
            annotatorKind: AnnotatorKind(rawValue: try item.literal("annotator_kind", AnnotatorKind.allCases.map(\.rawValue)))!,
            label: try result?.optionalString("label"), score: try result?.double("score"),
            explanation: try result?.optionalString("explanation"),
            metadata: .object(try item.dictionary("metadata") ?? [:]),
            identifier: try item.optionalString("identifier") ?? "")
    }

    func list(_ target: AnnotationTarget, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let idsParameter = "\(target.entityKey)s"
        let entityIDs = Array(Set(query.strings(idsParameter)))
        let identifiers = Array(Set(query.strings("identifier")))
        if entityIDs.count > 1000 {
            throw CinderError.unprocessable("Too many \(idsParameter) supplied: \(entityIDs.count) (max 1000)")
        }
        if identifiers.contains("") {
            throw CinderError.invalid(["query", "identifier"], "String should have at least 1 character", type: "string_too_short", input: "")
        }
        guard !entityIDs.isEmpty || !identifiers.isEmpty else {
            throw CinderError.unprocessable("At least one of \(idsParameter) or identifier must be supplied")
        }
        let includeNames = query.strings("include_annotation_names")
        let limit = try query.int("limit", default: 10, max: 10000)
        var cursor: Int64?
        if let text = query.string("cursor") {
            guard let id = GlobalID(encoded: text) else { throw CinderError.unprocessable("Invalid cursor value") }
            cursor = id.rowID
        }
        let scope = try api.scope(context)
        let project = try await scope.projects.resolve(try pathParameter(context, "project"))
        let rows = try await scope.annotations.list(
            target, projectID: project.id, entityIDs: entityIDs, identifiers: identifiers,
            includeNames: includeNames.isEmpty ? nil : includeNames, excludeNames: query.strings("exclude_annotation_names"),
            atOrBeforeID: cursor, limit: limit + 1)
        if rows.isEmpty, identifiers.isEmpty, try await !scope.annotations.anyEntityExists(target, projectID: project.id, entityIDs: entityIDs) {
            throw CinderError.notFound("None of the supplied \(idsParameter) exist in this project")
        }
        return pageResponse(rows, limit: limit, cursor: { GlobalID(target.nodeType, $0.id).encoded }) { Self.json($0, target) }
    }

    func delete(_ target: AnnotationTarget, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let start = try query.datetime("start_time")
        let end = try query.datetime("end_time")
        guard try query.bool("delete_all", default: false) || (start != nil && end != nil) else {
            throw CinderError.unprocessable(
                "Delete is unbounded. Set delete_all=true to acknowledge, or supply both start_time and end_time to bound the time range.")
        }
        if let start, let end, start >= end { throw CinderError.unprocessable("`start_time` must be strictly earlier than `end_time`.") }
        for key in ["name", "identifier"] where query.getAll(key).last == "" {
            throw CinderError.invalid(["query", key], "String should have at least 1 character", type: "string_too_short", input: "")
        }
        let kind = try query.getAll("annotator_kind").last.map { raw throws(CinderError) in
            guard let kind = AnnotatorKind(rawValue: raw) else {
                throw CinderError.invalid(["query", "annotator_kind"], "Input should be 'LLM', 'CODE' or 'HUMAN'", type: "literal_error", input: raw)
            }
            return kind
        }
        let scope = try api.scope(context)
        let project = try await scope.projects.resolve(try pathParameter(context, "project"))
        try await scope.annotations.delete(
            target, projectID: project.id,
            filter: AnnotationDeleteFilter(
                name: query.string("name"), identifier: query.string("identifier"), annotatorKind: kind, createdFromMicros: start,
                createdBeforeMicros: end))
        return Response(status: .noContent)
    }

    /// A note is a human annotation named `note` whose text is the explanation; without an identifier
    /// each note is a new annotation.
    func note(_ target: AnnotationTarget, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let data = try await JSONBody.fields(request, context).requiredObject("data")
        let entityID = try data.string(target.entityKey).trimmingCharacters(in: .whitespaces)
        let text = try data.string("note").trimmingCharacters(in: .whitespaces)
        if entityID.isEmpty {
            throw CinderError.invalid(data.path + [target.entityKey], "String should have at least 1 character", type: "string_too_short", input: "")
        }
        if text.isEmpty { throw CinderError.invalid(data.path + ["note"], "String should have at least 1 character", type: "string_too_short", input: "") }
        var identifier = try data.optionalString("identifier") ?? ""
        if identifier.isEmpty { identifier = "px-\(target.resource)-note:\(UUID().uuidString.lowercased())" }
        let input = AnnotationInput(
            entityID: entityID, name: "note", annotatorKind: .human, label: nil, score: nil, explanation: text, metadata: [:],
            identifier: identifier)
        switch try await (try api.scope(context)).annotations.upsert(target, [input]) {
        case .written(let ids):
            return jsonResponse(["data": ["id": .string(GlobalID(target.nodeType, ids[0]).encoded)]])
        case .missingEntities, .documentOutOfBounds:
            throw CinderError.notFound("\(target.entityNoun) with ID \(entityID) not found")
        }
    }
}

extension AnnotationTarget {
    /// The path segment: `span_annotations`, `trace_notes`, ...
    var resource: String {
        switch self {
        case .span: "span"
        case .document: "document"
        case .trace: "trace"
        case .session: "session"
        }
    }

    var entityNoun: String {
        switch self {
        case .span, .document: "Span"
        case .trace: "Trace"
        case .session: "Session"
        }
    }
}
