import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderProviders
import CinderRunner
import CinderStorage
import Foundation
import Hummingbird
import NIOCore

/// Models from the API: `GET /v1/model_providers`, `GET /v1/custom_model_providers`, `PUT /v1/secrets`
/// and `POST /v1/chat/completions` (OpenAI's wire format, streamed or not), each call traced into the
/// organization's `playground` project.
struct ModelsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/model_providers") { _, _ in
            let families = api.credentials?.directory.families ?? ProviderFamily.all
            return jsonResponse(["data": .array(families.map { ["provider": .string($0.id), "name": .string($0.displayName)] })])
        }
        router.get("/v1/custom_model_providers") { request, context in
            let parameters = QueryParameters(request)
            let limit = try parameters.int("limit", default: 100)
            guard limit > 0, limit <= 1000 else { throw CinderError.unprocessable("limit must be between 1 and 1000") }
            var cursor: Int64?
            if let text = parameters.string("cursor") {
                guard let id = GlobalID(encoded: text, type: Self.customProviderType)?.rowID else { throw CinderError.unprocessable("Invalid cursor: \(text)") }
                cursor = id
            }
            let rows = try await api.scope(context).customProviders.providers(atOrBeforeID: cursor, limit: limit + 1)
            let page = rows.prefix(limit).map { row -> JSONValue in
                [
                    "id": .string(GlobalID(Self.customProviderType, row.id).encoded), "name": .string(row.name),
                    "description": row.description.map { .string($0) } ?? .null, "provider": .string(row.provider), "sdk": .string(row.sdk.lowercased()),
                    "created_at": iso(row.createdMicros), "updated_at": iso(row.updatedMicros),
                ]
            }
            let next: JSONValue = rows.count > limit ? .string(GlobalID(Self.customProviderType, rows[limit].id).encoded) : .null
            return jsonResponse(["data": .array(page), "next_cursor": next])
        }
        router.put("/v1/secrets") { request, context in try await putSecrets(request, context) }
        router.post("/v1/chat/completions") { request, context in
            try await Self.openAIErrors { try await chatCompletion(try await JSONBody.fields(request, context), try api.scope(context)) }
        }
        router.post("/v1/spans/:span/replay") { request, context in
            try await Self.openAIErrors { try await replay(request, context) }
        }
    }

    /// Errors in OpenAI's shape, which the `openai` SDK reads.
    static func openAIErrors(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ChatCompletionFailure {
            return error.response
        } catch let error as CinderError where error.code == .unprocessable || error.code == .badRequest {
            return ChatCompletionFailure(
                status: error.code == .badRequest ? .badRequest : .unprocessableContent, type: "invalid_request_error", message: error.message,
                param: error.location?.last
            ).response
        }
    }

    // MARK: Replay

    /// `POST /v1/spans/{span_id}/replay` (Cinder's addition): an LLM span's call made again, with edits.
    /// The body may replace `model` (`{provider}:{model}`), `messages`, and any invocation parameter
    /// (merged over the span's); `stream` as for chat completions. The new call is traced into the
    /// playground project like any other.
    func replay(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let scope = try api.scope(context)
        let spanID = try context.parameters.require("span")
        guard let span = try await scope.spans.spans(spanIDs: [spanID]).first else { throw CinderError.notFound("Span not found: \(spanID)") }
        let attributes = (try? JSONValue(parsing: span.attributesJSON)) ?? .null
        guard attributes[path: ["openinference", "span", "kind"]]?.stringValue?.uppercased() == "LLM" || span.spanKind.uppercased() == "LLM" else {
            throw CinderError.unprocessable("Only LLM spans can be replayed")
        }
        let edits = try await JSONBody.fields(request, context).fields
        var fields: [String: JSONValue] = [:]
        if let parameters = attributes[path: ["llm", "invocation_parameters"]] {
            let decoded = parameters.stringValue.flatMap { try? JSONValue(parsing: $0) } ?? parameters
            if case .object(let values) = decoded { fields = values }
        }
        fields.removeValue(forKey: "stream")
        if case .array(let recorded)? = attributes[path: ["llm", "input_messages"]] {
            fields["messages"] = .array(recorded.compactMap { entry in
                guard let message = entry["message"], let role = message["role"]?.stringValue else { return nil }
                return ["role": .string(role == "model" ? "assistant" : role), "content": message["content"] ?? .string("")]
            })
        }
        if let provider = attributes[path: ["llm", "provider"]]?.stringValue, let model = attributes[path: ["llm", "model_name"]]?.stringValue {
            // OpenInference names Azure `azure`; Cinder's model names say `azure_openai`.
            fields["model"] = .string("\(provider == "azure" ? "azure_openai" : provider):\(model)")
        }
        fields.merge(edits) { _, edited in edited }
        guard fields["model"] != nil else {
            throw CinderError.invalid(["body", "model"], "The span names no provider and model: give `model`", type: "missing", input: nil)
        }
        return try await chatCompletion(BodyFields(fields), scope)
    }

    static let customProviderType = "GenerativeModelCustomProvider"

    // MARK: Secrets

    func putSecrets(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        if api.authenticator != nil { _ = try context.requireAdminAccess() }
        let body = try await JSONBody.fields(request, context)
        guard case .array(let entries)? = body.fields["secrets"] else {
            throw CinderError.invalid(["body", "secrets"], "Field required", type: "missing", input: nil)
        }
        // The last occurrence of a key wins, as in Phoenix.
        var latest: [String: String?] = [:]
        var order: [String] = []
        for (index, entry) in entries.enumerated() {
            let path = ["body", "secrets", String(index)]
            guard case .object(let fields) = entry else {
                throw CinderError.invalid(path, "Input should be a valid dictionary", type: "dict_type", input: nil)
            }
            guard let key = fields["key"]?.stringValue, !key.trimmingCharacters(in: .whitespaces).isEmpty, key.count <= 256 else {
                throw CinderError.invalid(path + ["key"], "key must be a non-empty string of at most 256 characters", type: "value_error", input: nil)
            }
            let value: String?
            switch fields["value"] {
            case nil: throw CinderError.invalid(path + ["value"], "Field required", type: "missing", input: nil)
            case .null?: value = nil
            case .string(let text)?: value = text
            default: throw CinderError.invalid(path + ["value"], "Input should be a valid string", type: "string_type", input: nil)
            }
            if latest.updateValue(value, forKey: key) == nil { order.append(key) }
        }
        let upserts = order.compactMap { key in latest[key].flatMap { $0 }.map { (key: key, value: $0) } }
        let deleted = order.filter { latest[$0].flatMap { $0 } == nil }
        let scope = try api.scope(context)
        var sealed: [(key: String, value: [UInt8])] = []
        if !upserts.isEmpty {
            guard let cipher = api.credentials?.cipher else {
                throw CinderError(.unprocessable, "The secret store needs PHOENIX_SECRET (it encrypts the secrets)")
            }
            for (key, value) in upserts {
                sealed.append((key, try cipher.seal(value, organization: scope.organization, name: key)))
            }
        }
        try await scope.secrets.apply(sealed: sealed, deleted: deleted)
        return jsonResponse(["data": ["upserted_keys": .array(upserts.map { .string($0.key) }), "deleted_keys": .array(deleted.map { .string($0) })]])
    }

    // MARK: Chat completions

    func chatCompletion(_ body: BodyFields, _ scope: TenantScope) async throws -> Response {
        let modelName = try body.string("model")
        let reference: ModelReference
        do {
            reference = try ModelReference(parsing: modelName)
        } catch {
            throw ChatCompletionFailure(status: .badRequest, type: "invalid_request_error", message: error.description, param: "model")
        }
        // A custom provider is read here, once: unknown is a 404, and the call uses the row read.
        enum Target {
            case builtIn(ProviderFamily)
            case custom(CustomProviderRow)
        }
        let target: Target
        let model: String
        switch reference {
        case .builtIn(let family, let name):
            target = .builtIn(family)
            model = name
        case .custom(let providerID, let name):
            guard let id = GlobalID(encoded: providerID, type: Self.customProviderType)?.rowID ?? Int64(providerID),
                let row = try await scope.customProviders.provider(id: id)
            else {
                throw ChatCompletionFailure(status: .notFound, type: "invalid_request_error", message: "Custom model provider not found", param: "model")
            }
            target = .custom(row)
            model = name
        }
        if body.value("tools") != nil || body.value("tool_choice") != nil {
            throw ChatCompletionFailure(status: .badRequest, type: "invalid_request_error", message: "Tool calling is not supported", param: "tools")
        }
        let messages = try Self.messages(body)
        guard let credentials = api.credentials else {
            throw ChatCompletionFailure(status: .badRequest, type: "invalid_request_error", message: "Model calls are not enabled on this server", param: nil)
        }
        let family: ProviderFamily
        let provider: any ChatProvider
        do {
            switch target {
            case .builtIn(let builtIn):
                (family, provider) = (builtIn, try await credentials.provider(builtIn, scope: scope))
            case .custom(let row):
                (family, provider) = try credentials.provider(custom: row, organization: scope.organization)
            }
        } catch let error as ProviderError {
            throw ChatCompletionFailure(status: .badRequest, type: "invalid_request_error", message: error.message, param: "model")
        }
        var parameters: [String: JSONValue] = [:]
        for key in ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "frequency_penalty", "presence_penalty", "seed", "n"] {
            if let value = body.value(key) { parameters[key] = value }
        }
        if family.wireFormat == .anthropic {
            // Anthropic's names for the same settings.
            if let stop = parameters.removeValue(forKey: "stop") { parameters["stop_sequences"] = stop.stringValue.map { .array([.string($0)]) } ?? stop }
            if let limit = parameters.removeValue(forKey: "max_completion_tokens") { parameters["max_tokens"] = limit }
            for unsupported in ["frequency_penalty", "presence_penalty", "seed", "n"] { parameters.removeValue(forKey: unsupported) }
        }
        let stream = try body.bool("stream") ?? false
        let includeUsage = (try body.object("stream_options")?.bool("include_usage")) ?? false
        let chat = ChatRequest(model: model, messages: messages, parameters: parameters)
        let call = PlaygroundCall(api: api, scope: scope, family: family, request: chat, provider: provider, modelName: modelName)
        if stream { return call.streamed(includeUsage: includeUsage) }
        return try await call.whole()
    }

    static func messages(_ body: BodyFields) throws -> [ChatMessage] {
        guard case .array(let items)? = body.value("messages"), !items.isEmpty else {
            throw CinderError.invalid(["body", "messages"], "List should have at least 1 item after validation", type: "too_short", input: nil)
        }
        return try items.enumerated().map { index, item in
            let path = ["body", "messages", String(index)]
            guard case .object(let fields) = item else { throw CinderError.invalid(path, "Input should be a valid dictionary", type: "dict_type", input: nil) }
            let message = BodyFields(fields, path: path)
            let role = try message.literal("role", ["system", "developer", "user", "assistant"])
            let content: String
            switch message.value("content") {
            case .string(let s)?: content = s
            case .array(let parts)?:
                content = try parts.enumerated().map { partIndex, part in
                    guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                        throw CinderError.invalid(path + ["content", String(partIndex)], "Only text parts are supported", type: "value_error", input: nil)
                    }
                    return text
                }.joined()
            default:
                throw CinderError.invalid(path + ["content"], "Field required", type: "missing", input: nil)
            }
            return ChatMessage(role: ChatMessage.Role(rawValue: role) ?? .user, content: content)
        }
    }
}

/// An error of `/v1/chat/completions`, in OpenAI's error shape.
struct ChatCompletionFailure: Error {
    var status: HTTPResponse.Status
    var type: String
    var message: String
    var param: String?
    var retryAfter: Duration?

    static func body(type: String, message: String, param: String?) -> JSONValue {
        ["error": ["message": .string(message), "type": .string(type), "param": param.map { .string($0) } ?? .null, "code": .null]]
    }

    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(max(1, retryAfter.components.seconds)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Self.body(type: type, message: message, param: param).jsonBytes)))
    }

    /// What the caller is told when the provider failed.
    init(_ error: ProviderError) {
        switch error.kind {
        case .rateLimited:
            self.init(status: .tooManyRequests, type: "rate_limit_error", message: error.message, param: nil, retryAfter: error.retryAfter)
        case .badRequest, .unauthorized, .missingCredential:
            self.init(status: .badRequest, type: error.kind == .badRequest ? "invalid_request_error" : "authentication_error",
                      message: "The provider refused the request: \(error.message)", param: nil)
        case .timeout:
            self.init(status: .gatewayTimeout, type: "timeout_error", message: error.message, param: nil)
        case .unavailable, .malformed:
            self.init(status: .badGateway, type: "provider_error", message: error.message, param: nil)
        }
    }

    init(status: HTTPResponse.Status, type: String, message: String, param: String?, retryAfter: Duration? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.retryAfter = retryAfter
    }
}

/// One playground call: the provider's answer relayed to the caller, and its LLM span recorded.
struct PlaygroundCall: Sendable {
    let api: PhoenixAPI
    let scope: TenantScope
    let family: ProviderFamily
    let request: ChatRequest
    let provider: any ChatProvider
    let modelName: String
    let id = "chatcmpl-" + LLMSpan.newTraceID()
    let created = Int64(Date().timeIntervalSince1970)

    func whole() async throws -> Response {
        let start = LLMSpan.now()
        do {
            let completion = try await provider.complete(request)
            await trace(completion: completion, error: nil, start: start)
            let usage = completion.usage ?? TokenUsage(prompt: 0, completion: 0)
            return jsonResponse([
                "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(modelName),
                "choices": [["index": 0, "message": ["role": "assistant", "content": .string(completion.text)], "finish_reason": .string(completion.finishReason ?? "stop")]],
                "usage": [
                    "prompt_tokens": .int(Int64(usage.prompt)), "completion_tokens": .int(Int64(usage.completion)), "total_tokens": .int(Int64(usage.total)),
                    "prompt_tokens_details": usage.cachedPrompt.map { ["cached_tokens": .int(Int64($0))] } ?? .null,
                ],
            ])
        } catch let error as ProviderError {
            await trace(completion: nil, error: error.description, start: start)
            throw ChatCompletionFailure(error)
        }
    }

    func streamed(includeUsage: Bool) -> Response {
        let call = self
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let start = LLMSpan.now()
                var completion = ChatCompletion()
                var failure: String?
                func send(_ value: JSONValue) async throws {
                    try await writer.write(ByteBuffer(string: "data: " + value.jsonString + "\n\n"))
                }
                do {
                    try await send(call.chunk(["role": "assistant", "content": ""], finish: nil))
                    for try await event in call.provider.stream(call.request) {
                        completion.apply(event)
                        if case .text(let text) = event { try await send(call.chunk(["content": .string(text)], finish: nil)) }
                    }
                    try await send(call.chunk([:], finish: completion.finishReason ?? "stop"))
                    if includeUsage, let usage = completion.usage {
                        try await send([
                            "id": .string(call.id), "object": "chat.completion.chunk", "created": .int(call.created), "model": .string(call.modelName),
                            "choices": [],
                            "usage": ["prompt_tokens": .int(Int64(usage.prompt)), "completion_tokens": .int(Int64(usage.completion)), "total_tokens": .int(Int64(usage.total))],
                        ])
                    }
                } catch let error as ProviderError {
                    failure = error.description
                    let relayed = ChatCompletionFailure(error)
                    try await send(ChatCompletionFailure.body(type: relayed.type, message: relayed.message, param: nil))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
                await call.trace(completion: failure == nil ? completion : nil, error: failure, start: start)
            })
    }

    func chunk(_ delta: [String: JSONValue], finish: String?) -> JSONValue {
        [
            "id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(modelName),
            "choices": [["index": 0, "delta": .object(delta), "finish_reason": finish.map { .string($0) } ?? .null]],
        ]
    }

    /// Records the call as an LLM span in the organization's playground project.
    func trace(completion: ChatCompletion?, error: String?, start: UnixNanos) async {
        guard let queue = api.spanQueue else { return }
        let span = LLMSpan.make(
            traceID: LLMSpan.newTraceID(), family: family, request: request, completion: completion, error: error, start: start,
            end: LLMSpan.now())
        try? await queue.publish([ProjectSpans(organizationID: scope.organization, projectName: Playground.projectName, spans: [span])])
    }
}
