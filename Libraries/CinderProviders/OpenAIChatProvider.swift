import CinderModel
import Foundation

/// OpenAI's Chat Completions wire format, streamed: OpenAI itself, Azure OpenAI (deployment URL and
/// `api-key` header) and every server that speaks the same format by base URL (vLLM, Ollama, LiteLLM,
/// DeepSeek, xAI, Groq, …).
public struct OpenAIChatProvider: ChatProvider {
    public enum Dialect: Sendable, Hashable {
        case openAI
        /// Azure's routes: the model names a deployment; the API version is a query parameter.
        case azure(apiVersion: String)
    }

    let transport: ProviderTransport
    let baseURL: String
    let apiKey: String?
    let dialect: Dialect
    let extraHeaders: [(String, String)]

    public init(transport: ProviderTransport, baseURL: String, apiKey: String?, dialect: Dialect = .openAI, extraHeaders: [(String, String)] = []) {
        self.transport = transport
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
        self.dialect = dialect
        self.extraHeaders = extraHeaders
    }

    public func stream(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        eventStream { try await run(request, $0) }
    }


    func url(for model: String) -> String {
        switch dialect {
        case .openAI: return "\(baseURL)/chat/completions"
        case .azure(let version):
            let deployment = model.addingPercentEncodingForPath()
            return "\(baseURL)/openai/deployments/\(deployment)/chat/completions?api-version=\(version)"
        }
    }

    var headers: [(String, String)] {
        var headers = extraHeaders
        if let apiKey {
            switch dialect {
            case .openAI: headers.append(("authorization", "Bearer \(apiKey)"))
            case .azure: headers.append(("api-key", apiKey))
            }
        }
        return headers
    }

    private func run(_ request: ChatRequest, _ yield: @Sendable (ChatEvent) -> Void) async throws {
        let body = try await transport.post(url(for: request.model), headers: headers, body: Self.body(request))
        var finished = false
        try await forEachServerSentEvent(body) { event in
            if event.data == "[DONE]" {
                finished = true
                return false
            }
            guard let chunk = try? JSONValue(parsing: event.data) else {
                throw ProviderError(.malformed, "a streamed chunk is not JSON: \(event.data.prefix(200))")
            }
            if let error = chunk["error"] {
                throw ProviderError(.unavailable, error["message"]?.stringValue ?? "the provider reported an error mid-stream")
            }
            for event in try Self.events(of: chunk) { yield(event) }
            return true
        }
        guard finished else { throw ProviderError(.malformed, "the stream ended before [DONE]") }
    }

    static func body(_ request: ChatRequest) -> JSONValue {
        var body = request.parameters
        body["model"] = .string(request.model)
        body["messages"] = .array(request.messages.map(message))
        body["stream"] = true
        body["stream_options"] = ["include_usage": true]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var function: [String: JSONValue] = ["name": .string(tool.name), "parameters": tool.parameters]
                    if let description = tool.description { function["description"] = .string(description) }
                    return ["type": "function", "function": .object(function)]
                })
        }
        if let format = request.responseFormat { body["response_format"] = format }
        return .object(body)
    }

    public static func message(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role.rawValue), "content": .string(message.content)]
        if !message.toolCalls.isEmpty {
            object["tool_calls"] = .array(
                message.toolCalls.map { call in
                    ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })
        }
        if let id = message.toolCallID { object["tool_call_id"] = .string(id) }
        return .object(object)
    }

    /// The events of one `chat.completion.chunk`.
    static func events(of chunk: JSONValue) throws -> [ChatEvent] {
        var events: [ChatEvent] = []
        if case .array(let choices)? = chunk["choices"] {
            for choice in choices where (choice["index"]?.integerValue ?? 0) == 0 {
                if let text = choice[path: ["delta", "content"]]?.stringValue, !text.isEmpty { events.append(.text(text)) }
                if case .array(let calls)? = choice[path: ["delta", "tool_calls"]] {
                    for call in calls {
                        guard let index = call["index"]?.integerValue else { throw ProviderError(.malformed, "a tool call chunk has no index") }
                        events.append(
                            .toolCall(
                                index: Int(index), id: call["id"]?.stringValue, name: call[path: ["function", "name"]]?.stringValue,
                                arguments: call[path: ["function", "arguments"]]?.stringValue ?? ""))
                    }
                }
                if let reason = choice["finish_reason"]?.stringValue { events.append(.finished(reason: reason)) }
            }
        }
        if let usage = chunk["usage"], let prompt = usage["prompt_tokens"]?.integerValue, let completion = usage["completion_tokens"]?.integerValue {
            events.append(
                .usage(
                    TokenUsage(
                        prompt: Int(prompt), completion: Int(completion),
                        cachedPrompt: usage[path: ["prompt_tokens_details", "cached_tokens"]]?.integerValue.map { Int($0) })))
        }
        return events
    }
}

extension String {
    func addingPercentEncodingForPath() -> String {
        var out = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
