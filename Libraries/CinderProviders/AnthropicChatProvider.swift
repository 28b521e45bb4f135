import CinderModel

/// Anthropic's Messages API, streamed.
public struct AnthropicChatProvider: ChatProvider {
    public static let apiVersion = "2023-06-01"
    /// Anthropic requires `max_tokens`; a prompt that names none gets this.
    public static let defaultMaxTokens: Int64 = 4096

    let transport: ProviderTransport
    let baseURL: String
    let apiKey: String?
    let extraHeaders: [(String, String)]

    public init(transport: ProviderTransport, baseURL: String, apiKey: String?, extraHeaders: [(String, String)] = []) {
        self.transport = transport
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.extraHeaders = extraHeaders
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        eventStream { try await run(request, $0) }
    }

    private func run(_ request: ChatRequest, _ yield: @Sendable (ChatEvent) -> Void) async throws {
        var headers = extraHeaders + [("anthropic-version", Self.apiVersion)]
        if let apiKey { headers.append(("x-api-key", apiKey)) }
        let body = try await transport.post("\(baseURL)/v1/messages", headers: headers, body: Self.body(request))
        var state = StreamState()
        try await forEachServerSentEvent(body) { event in
            guard let payload = try? JSONValue(parsing: event.data) else {
                throw ProviderError(.malformed, "a streamed event is not JSON: \(event.data.prefix(200))")
            }
            let events = try state.events(of: payload, named: event.name ?? payload["type"]?.stringValue ?? "")
            for event in events { yield(event) }
            return !state.stopped
        }
        guard state.stopped else { throw ProviderError(.malformed, "the stream ended before message_stop") }
    }

    static func body(_ request: ChatRequest) -> JSONValue {
        var body = request.parameters
        body["model"] = .string(request.model)
        if body["max_tokens"] == nil { body["max_tokens"] = .int(defaultMaxTokens) }
        body["stream"] = true
        let system = request.messages.filter { $0.role == .system || $0.role == .developer }.map(\.content)
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        body["messages"] = .array(request.messages.filter { $0.role != .system && $0.role != .developer }.map(message))
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var object: [String: JSONValue] = ["name": .string(tool.name), "input_schema": tool.parameters]
                    if let description = tool.description { object["description"] = .string(description) }
                    return .object(object)
                })
        }
        return .object(body)
    }

    static func message(_ message: ChatMessage) -> JSONValue {
        switch message.role {
        case .tool:
            return [
                "role": "user",
                "content": [["type": "tool_result", "tool_use_id": .string(message.toolCallID ?? ""), "content": .string(message.content)]],
            ]
        case .assistant where !message.toolCalls.isEmpty:
            var blocks: [JSONValue] = message.content.isEmpty ? [] : [["type": "text", "text": .string(message.content)]]
            for call in message.toolCalls {
                blocks.append(
                    ["type": "tool_use", "id": .string(call.id), "name": .string(call.name), "input": (try? JSONValue(parsing: call.arguments)) ?? [:]])
            }
            return ["role": "assistant", "content": .array(blocks)]
        default:
            return ["role": .string(message.role == .assistant ? "assistant" : "user"), "content": .string(message.content)]
        }
    }

    /// What the events seen so far mean for the next ones: which content blocks are tool calls.
    struct StreamState {
        var toolIndexOfBlock: [Int64: Int] = [:]
        var promptTokens = 0
        var cachedTokens: Int?
        var stopped = false

        mutating func events(of payload: JSONValue, named name: String) throws -> [ChatEvent] {
            switch name {
            case "message_start":
                let usage = payload[path: ["message", "usage"]]
                promptTokens = Int(usage?["input_tokens"]?.integerValue ?? 0)
                cachedTokens = usage?["cache_read_input_tokens"]?.integerValue.map { Int($0) }
                return []
            case "content_block_start":
                guard let block = payload["content_block"], let index = payload["index"]?.integerValue else {
                    throw ProviderError(.malformed, "content_block_start without a block")
                }
                guard block["type"]?.stringValue == "tool_use" else { return [] }
                let toolIndex = toolIndexOfBlock.count
                toolIndexOfBlock[index] = toolIndex
                return [.toolCall(index: toolIndex, id: block["id"]?.stringValue, name: block["name"]?.stringValue, arguments: "")]
            case "content_block_delta":
                guard let delta = payload["delta"], let index = payload["index"]?.integerValue else {
                    throw ProviderError(.malformed, "content_block_delta without a delta")
                }
                switch delta["type"]?.stringValue {
                case "text_delta": return [.text(delta["text"]?.stringValue ?? "")]
                case "input_json_delta":
                    guard let toolIndex = toolIndexOfBlock[index] else { throw ProviderError(.malformed, "input_json_delta outside a tool_use block") }
                    return [.toolCall(index: toolIndex, id: nil, name: nil, arguments: delta["partial_json"]?.stringValue ?? "")]
                default: return []
                }
            case "message_delta":
                var events: [ChatEvent] = []
                if let reason = payload[path: ["delta", "stop_reason"]]?.stringValue { events.append(.finished(reason: reason)) }
                if let output = payload[path: ["usage", "output_tokens"]]?.integerValue {
                    events.append(.usage(TokenUsage(prompt: promptTokens, completion: Int(output), cachedPrompt: cachedTokens)))
                }
                return events
            case "message_stop":
                stopped = true
                return []
            case "error":
                let message = payload[path: ["error", "message"]]?.stringValue ?? "the provider reported an error mid-stream"
                let kind: ProviderError.Kind = payload[path: ["error", "type"]]?.stringValue == "overloaded_error" ? .rateLimited : .unavailable
                throw ProviderError(kind, message)
            default:
                return []
            }
        }
    }
}
