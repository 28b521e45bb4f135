import CinderModel

/// One message of a conversation, in the shape every provider client translates from.
public struct ChatMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case system, developer, user, assistant, tool
    }

    public var role: Role
    public var content: String
    /// Calls the assistant made (role `assistant`).
    public var toolCalls: [ToolCall]
    /// The call this message answers (role `tool`).
    public var toolCallID: String?

    public init(role: Role, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

public struct ToolCall: Sendable, Hashable {
    public var id: String
    public var name: String
    /// JSON text, as the model produced it.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A tool the model may call, with its parameters' JSON schema.
public struct ToolDefinition: Sendable, Hashable {
    public var name: String
    public var description: String?
    public var parameters: JSONValue

    public init(name: String, description: String?, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// What to send: the model's own name (without the provider prefix), the conversation, and the
/// invocation parameters in the provider's own names (`temperature`, `max_tokens`, …).
public struct ChatRequest: Sendable, Hashable {
    public var model: String
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    /// OpenAI's `response_format` object (`{"type": "json_schema", "json_schema": {…}}`).
    public var responseFormat: JSONValue?
    public var parameters: [String: JSONValue]

    public init(
        model: String, messages: [ChatMessage], tools: [ToolDefinition] = [], responseFormat: JSONValue? = nil,
        parameters: [String: JSONValue] = [:]
    ) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.responseFormat = responseFormat
        self.parameters = parameters
    }
}

/// What a streaming answer is made of, provider-neutral.
public enum ChatEvent: Sendable, Hashable {
    case text(String)
    /// A fragment of tool call `index`: its id and name come with the first fragment.
    case toolCall(index: Int, id: String?, name: String?, arguments: String)
    case usage(TokenUsage)
    case finished(reason: String)
}

public struct TokenUsage: Sendable, Hashable {
    public var prompt: Int
    public var completion: Int
    public var cachedPrompt: Int?

    public init(prompt: Int, completion: Int, cachedPrompt: Int? = nil) {
        self.prompt = prompt
        self.completion = completion
        self.cachedPrompt = cachedPrompt
    }

    public var total: Int { prompt + completion }
}

/// A whole answer, assembled from its events.
public struct ChatCompletion: Sendable, Hashable {
    public var text = ""
    public var toolCalls: [ToolCall] = []
    public var usage: TokenUsage?
    public var finishReason: String?

    public init() {}

    public mutating func apply(_ event: ChatEvent) {
        switch event {
        case .text(let fragment):
            text += fragment
        case .toolCall(let index, let id, let name, let arguments):
            while toolCalls.count <= index { toolCalls.append(ToolCall(id: "", name: "", arguments: "")) }
            if let id { toolCalls[index].id = id }
            if let name { toolCalls[index].name += name }
            toolCalls[index].arguments += arguments
        case .usage(let usage):
            self.usage = usage
        case .finished(let reason):
            finishReason = reason
        }
    }
}

/// Why a provider call failed, in the categories the caller acts on.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The credential was refused (401/403): no retry can help, the job stops.
        case unauthorized
        /// 429: retry after a pause, and slow down.
        case rateLimited
        /// The request itself was refused (400, 404, 422): specific to this input, not retried.
        case badRequest
        /// 5xx, a dropped connection: retried.
        case unavailable
        /// No answer in time: retried.
        case timeout
        /// The answer was not in the provider's wire format: retried, as a broken stream usually is transient.
        case malformed
        /// No credential could be found for the provider.
        case missingCredential
    }

    public var kind: Kind
    public var message: String
    public var status: Int?
    public var retryAfter: Duration?

    public init(_ kind: Kind, _ message: String, status: Int? = nil, retryAfter: Duration? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.retryAfter = retryAfter
    }

    public var isRetryable: Bool { [.rateLimited, .unavailable, .timeout, .malformed].contains(kind) }

    public var description: String {
        status.map { "\(kind.rawValue) (HTTP \($0)): \(message)" } ?? "\(kind.rawValue): \(message)"
    }

    /// The category an HTTP error status falls in.
    static func status(_ status: Int, body: String, retryAfter: Duration?) -> ProviderError {
        let message = Self.errorMessage(body) ?? "HTTP \(status)"
        switch status {
        case 401, 403: return ProviderError(.unauthorized, message, status: status)
        case 429: return ProviderError(.rateLimited, message, status: status, retryAfter: retryAfter)
        case 408: return ProviderError(.timeout, message, status: status)
        case 400..<500: return ProviderError(.badRequest, message, status: status)
        default: return ProviderError(.unavailable, message, status: status, retryAfter: retryAfter)
        }
    }

    /// `{"error": {"message": …}}`, OpenAI's and Anthropic's error bodies alike.
    static func errorMessage(_ body: String) -> String? {
        guard let json = try? JSONValue(parsing: body) else { return body.isEmpty ? nil : String(body.prefix(500)) }
        return json[path: ["error", "message"]]?.stringValue ?? json["message"]?.stringValue ?? String(body.prefix(500))
    }
}

/// The seam to an LLM: one implementation per wire format.
public protocol ChatProvider: Sendable {
    /// The answer as it streams; throws `ProviderError`.
    func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error>
}

extension ChatProvider {
    /// The events `produce` yields, as a stream that cancels `produce` when its consumer goes away.
    func eventStream(
        _ produce: @escaping @Sendable (_ yield: @escaping @Sendable (ChatEvent) -> Void) async throws -> Void
    ) -> AsyncThrowingStream<ChatEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await produce { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The whole answer.
    public func complete(_ request: ChatRequest) async throws -> ChatCompletion {
        var completion = ChatCompletion()
        for try await event in stream(request) { completion.apply(event) }
        return completion
    }
}
