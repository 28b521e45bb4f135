import CinderHTTPSupport
import CinderModel
import CinderStorage
import Hummingbird

/// `/v1/prompts` and `/v1/prompt_versions`: prompts, their immutable versions, and version tags.
struct PromptsAPI {
    let api: PhoenixAPI

    static let promptType = NodeType.prompt
    static let versionType = NodeType.promptVersion
    static let tagType = NodeType.promptVersionTag

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/prompts") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 100)
            let cursor = try rowIDCursor(query.string("cursor"))
            let rows = try await (try api.scope(context)).prompts.prompts(atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(Self.promptType, $0.id).encoded }, Self.json)
        }
        router.post("/v1/prompts") { request, context in
            let body = try await JSONBody.fields(request, context)
            try body.requirePresent(["prompt", "version"])
            let prompt = try body.requiredObject("prompt")
            let name = try prompt.identifier("name")
            let version = try PromptVersionSchema.parse(try body.requiredObject("version"))
            let scope = try api.scope(context)
            var source: Int64?
            if let text = try prompt.optionalString("source_prompt_id") {
                guard let id = GlobalID(encoded: text, type: Self.promptType)?.rowID, let row = try await scope.prompts.prompt(id: id, name: nil) else {
                    throw CinderError.notFound("Source prompt \(text) not found")
                }
                source = row.id
            }
            guard
                let row = try await scope.prompts.addPromptVersion(
                    promptID: nil,
                    newPrompt: (name, try prompt.optionalString("description"), .object(try prompt.dictionary("metadata") ?? [:]), source),
                    version)
            else { throw CinderError(.internal, "The prompt could not be created") }
            return jsonResponse(["data": Self.json(row)])
        }
        router.get("/v1/prompts/:prompt/versions") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 100)
            let cursor = try rowIDCursor(query.string("cursor"))
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            let rows = try await scope.prompts.promptVersions(promptID: prompt.id, atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(Self.versionType, $0.id).encoded }, Self.json)
        }
        router.post("/v1/prompts/:prompt/versions") { request, context in
            let body = try await JSONBody.fields(request, context)
            let version = try PromptVersionSchema.parse(try body.requiredObject("version"))
            let tags = try (body.value("tags") == nil ? [] : body.objects("tags")).map { tag throws(CinderError) in
                (name: try tag.identifier("name"), description: try tag.optionalString("description"))
            }
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            guard let row = try await scope.prompts.addPromptVersion(promptID: prompt.id, newPrompt: nil, version, tags: tags) else {
                throw Self.promptNotFound(try pathParameter(context, "prompt"))
            }
            return jsonResponse(["data": Self.json(row)], status: .created)
        }
        router.get("/v1/prompts/:prompt/latest") { _, context in
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            guard let row = try await scope.prompts.promptVersions(promptID: prompt.id, atOrBeforeID: nil, limit: 1).first else {
                throw CinderError.notFound("Prompt \(prompt.name) has no versions")
            }
            return jsonResponse(["data": Self.json(row)])
        }
        router.get("/v1/prompts/:prompt/tags/:tag") { _, context in
            let tag = try Self.identifier(try pathParameter(context, "tag"), "tag_name")
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            guard let row = try await scope.prompts.promptVersion(promptID: prompt.id, tag: tag) else {
                throw CinderError.notFound("Prompt version with tag \(tag) not found")
            }
            return jsonResponse(["data": Self.json(row)])
        }
        router.patch("/v1/prompts/:prompt") { request, context in
            let body = try await JSONBody.fields(request, context)
            if body.fields["metadata"] == .null { throw CinderError.unprocessable("metadata cannot be null") }
            let description: String?? = body.fields.keys.contains("description") ? .some(try body.optionalString("description")) : .none
            let metadata = try body.dictionary("metadata").map { JSONValue.object($0) }
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            guard let updated = try await scope.prompts.updatePrompt(id: prompt.id, description: description, metadata: metadata) else {
                throw Self.promptNotFound(prompt.name)
            }
            return jsonResponse(["data": Self.json(updated)])
        }
        router.delete("/v1/prompts/:prompt") { _, context in
            let scope = try api.scope(context)
            let prompt = try await prompt(context, scope)
            _ = try await scope.prompts.deletePrompt(id: prompt.id)
            return Response(status: .noContent)
        }
        router.get("/v1/prompt_versions/:version") { _, context in
            jsonResponse(["data": Self.json(try await version(context, (try api.scope(context))))])
        }
        router.get("/v1/prompt_versions/:version/tags") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 100)
            let cursor = try rowIDCursor(query.string("cursor"))
            let scope = try api.scope(context)
            let version = try await version(context, scope)
            let rows = try await scope.prompts.promptVersionTags(versionID: version.id, atOrBeforeID: cursor, limit: limit + 1)
            return pageResponse(rows, limit: limit, cursor: { GlobalID(Self.tagType, $0.id).encoded }, Self.json)
        }
        router.post("/v1/prompt_versions/:version/tags") { request, context in
            let body = try await JSONBody.fields(request, context)
            let name = try body.identifier("name")
            let scope = try api.scope(context)
            let version = try await version(context, scope)
            try await scope.prompts.tagPromptVersion(version, name: name, description: try body.optionalString("description"))
            return Response(status: .noContent)
        }
        router.delete("/v1/prompt_versions/:version/tags/:tag") { _, context in
            let tag = try Self.identifier(try pathParameter(context, "tag"), "tag_name")
            let scope = try api.scope(context)
            let version = try await version(context, scope)
            guard try await scope.prompts.untagPromptVersion(version, name: tag) else {
                throw CinderError.notFound("Tag \(tag) not found on this prompt version")
            }
            return Response(status: .noContent)
        }
    }

    static func promptNotFound(_ identifier: String) -> CinderError { .notFound("Prompt not found: \(identifier)") }

    static func identifier(_ text: String, _ parameter: String) throws(CinderError) -> String {
        _ = try BodyFields(["value": .string(text)], path: ["path"]).identifier("value")
        return text
    }

    /// The path's prompt, by global id or name (which must be a valid identifier).
    func prompt(_ context: CinderRequestContext, _ scope: TenantScope) async throws -> PromptRow {
        let text = try pathParameter(context, "prompt")
        let id = GlobalID(encoded: text, type: Self.promptType)
        if id == nil {
            do {
                _ = try Self.identifier(text, "prompt_identifier")
            } catch {
                throw CinderError.unprocessable("Invalid prompt identifier: \(text)")
            }
        }
        guard let prompt = try await scope.prompts.prompt(id: id?.rowID, name: id == nil ? text : nil) else { throw Self.promptNotFound(text) }
        return prompt
    }

    func version(_ context: CinderRequestContext, _ scope: TenantScope) async throws -> PromptVersionRow {
        let text = try pathParameter(context, "version")
        guard let id = GlobalID(encoded: text, type: Self.versionType) else {
            throw CinderError.unprocessable("Invalid prompt version ID: \(text)")
        }
        guard let version = try await scope.prompts.promptVersion(id: id.rowID) else { throw CinderError.notFound("Prompt version \(text) not found") }
        return version
    }

    static func json(_ prompt: PromptRow) -> JSONValue {
        [
            "id": .string(GlobalID(promptType, prompt.id).encoded), "name": .string(prompt.name),
            "description": prompt.description.map { .string($0) } ?? .null,
            "source_prompt_id": prompt.sourcePromptID.map { .string(GlobalID(promptType, $0).encoded) } ?? .null,
            "metadata": prompt.metadata,
        ]
    }

    static func json(_ version: PromptVersionRow) -> JSONValue {
        let c = version.content
        return [
            "id": .string(GlobalID(versionType, version.id).encoded), "description": c.description.map { .string($0) } ?? .null,
            "metadata": c.metadata, "model_provider": .string(c.modelProvider), "model_name": .string(c.modelName),
            "template": c.template, "template_type": .string(c.templateType), "template_format": .string(c.templateFormat),
            "invocation_parameters": c.invocationParameters, "tools": c.tools ?? .null, "response_format": c.responseFormat ?? .null,
        ]
    }

    static func json(_ tag: PromptTagRow) -> JSONValue {
        ["id": .string(GlobalID(tagType, tag.id).encoded), "name": .string(tag.name), "description": tag.description.map { .string($0) } ?? .null]
    }
}
