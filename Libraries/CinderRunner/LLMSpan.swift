import CinderModel
import CinderProviders
import Foundation

/// The OpenInference LLM span of one provider call, as an instrumented client would have sent it, so
/// the call shows up in the project's traces like any other.
public enum LLMSpan {
    public static func now() -> UnixNanos { UnixNanos(Date().timeIntervalSince1970 * 1_000_000_000) }

    public static func newTraceID() -> String { hex(count: 16) }
    public static func newSpanID() -> String { hex(count: 8) }

    /// Hex of `count` random bytes, never all zero (OTLP treats all-zero ids as invalid).
    static func hex(count: Int) -> String {
        while true {
            let id = RandomHex.string(bytes: count)
            if id.contains(where: { $0 != "0" }) { return id }
        }
    }

    public static func make(
        traceID: String, family: ProviderFamily, request: ChatRequest, completion: ChatCompletion?, error: String?,
        start: UnixNanos, end: UnixNanos, extra: [(key: String, value: JSONValue)] = []
    ) -> Span {
        var pairs: [(key: String, value: JSONValue)] = [
            ("openinference.span.kind", "LLM"),
            ("llm.model_name", .string(request.model)),
            ("llm.provider", .string(family.prefix)),
            ("llm.invocation_parameters", .string(JSONValue.object(request.parameters).jsonString)),
            ("input.mime_type", "application/json"),
            ("input.value", .string(JSONValue.object(["messages": .array(request.messages.map(OpenAIChatProvider.message))]).jsonString)),
        ]
        for (index, message) in request.messages.enumerated() {
            pairs.append(("llm.input_messages.\(index).message.role", .string(message.role.rawValue)))
            pairs.append(("llm.input_messages.\(index).message.content", .string(message.content)))
        }
        for (index, tool) in request.tools.enumerated() {
            let schema: JSONValue = [
                "type": "function",
                "function": ["name": .string(tool.name), "description": tool.description.map { .string($0) } ?? .null, "parameters": tool.parameters],
            ]
            pairs.append(("llm.tools.\(index).tool.json_schema", .string(schema.jsonString)))
        }
        if let completion {
            pairs.append(("output.mime_type", "text/plain"))
            pairs.append(("output.value", .string(completion.text)))
            pairs.append(("llm.output_messages.0.message.role", "assistant"))
            pairs.append(("llm.output_messages.0.message.content", .string(completion.text)))
            for (index, call) in completion.toolCalls.enumerated() {
                let prefix = "llm.output_messages.0.message.tool_calls.\(index).tool_call"
                pairs.append(("\(prefix).id", .string(call.id)))
                pairs.append(("\(prefix).function.name", .string(call.name)))
                pairs.append(("\(prefix).function.arguments", .string(call.arguments)))
            }
            if let usage = completion.usage {
                pairs.append(("llm.token_count.prompt", .int(Int64(usage.prompt))))
                pairs.append(("llm.token_count.completion", .int(Int64(usage.completion))))
                pairs.append(("llm.token_count.total", .int(Int64(usage.total))))
                if let cached = usage.cachedPrompt {
                    pairs.append(("llm.token_count.prompt_details.cache_read", .int(Int64(cached))))
                }
            }
        }
        pairs += extra
        var events: [SpanEvent] = []
        if let error {
            events.append(SpanEvent(name: "exception", time: end, attributes: ["exception.message": .string(error)]))
        }
        return Span(
            traceID: traceID, spanID: newSpanID(), parentID: nil, name: "ChatCompletion", kind: .llm, startTime: start, endTime: end,
            statusCode: error == nil ? .ok : .error, statusMessage: error ?? "", attributes: NestedAttributes(pairs), events: events)
    }
}
