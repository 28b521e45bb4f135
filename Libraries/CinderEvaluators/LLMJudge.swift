import CinderModel
import CinderProviders

/// LLM-as-judge classification: the judge's prompt is asked to answer through one tool whose arguments
/// are a label from the output config (and an explanation); the label's score comes from the config.
/// Tool calls are how every supported provider returns structured output; an answer without the tool
/// is still read when it is the JSON object or one of the labels, and anything else is an error that is
/// recorded, never a guess.
public struct LLMJudge: Sendable {
    public static let toolName = "record_judgement"

    public let outputConfig: OutputConfig

    public init(outputConfig: OutputConfig) throws(EvaluatorFailure) {
        guard !outputConfig.labels.isEmpty else { throw EvaluatorFailure("An LLM judge needs a categorical output config with at least one label") }
        self.outputConfig = outputConfig
    }

    public var tool: ToolDefinition {
        ToolDefinition(
            name: Self.toolName, description: "Record the judgement: the label that applies and a short explanation of why.",
            parameters: [
                "type": "object",
                "properties": [
                    "explanation": ["type": "string", "description": "Why this label applies, in one or two sentences"],
                    "label": ["type": "string", "enum": .array(outputConfig.labels.map { .string($0) })],
                ],
                "required": ["explanation", "label"],
            ])
    }

    /// The judge's request: the rendered prompt with the judgement tool, which the model is told to call.
    public func prepare(_ request: inout ChatRequest, family: ProviderFamily) {
        request.tools = [tool]
        request.responseFormat = nil
        switch family.wireFormat {
        case .anthropic: request.parameters["tool_choice"] = ["type": "tool", "name": .string(Self.toolName)]
        case .openAI, .azureOpenAI: request.parameters["tool_choice"] = ["type": "function", "function": ["name": .string(Self.toolName)]]
        }
    }

    public func verdict(from completion: ChatCompletion) throws(EvaluatorFailure) -> Verdict {
        let arguments: JSONValue
        if let call = completion.toolCalls.first(where: { $0.name == Self.toolName }) ?? completion.toolCalls.first {
            guard let parsed = try? JSONValue(parsing: call.arguments), case .object = parsed else {
                throw EvaluatorFailure("The judge's tool call arguments are not a JSON object: \(Self.excerpt(call.arguments))")
            }
            arguments = parsed
        } else if let parsed = try? JSONValue(parsing: completion.text), case .object = parsed {
            arguments = parsed
        } else {
            let text = completion.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let label = outputConfig.labels.first(where: { $0.caseInsensitiveCompare(text) == .orderedSame }) else {
                throw EvaluatorFailure("The judge answered without a label: \(Self.excerpt(completion.text))")
            }
            arguments = ["label": .string(label)]
        }
        guard let given = arguments["label"]?.stringValue else { throw EvaluatorFailure("The judge's answer has no label") }
        guard let label = outputConfig.labels.first(where: { $0 == given })
            ?? outputConfig.labels.first(where: { $0.caseInsensitiveCompare(given) == .orderedSame })
        else {
            throw EvaluatorFailure("The judge answered '\(Self.excerpt(given))', which is not one of \(outputConfig.labels)")
        }
        return Verdict(label: label, score: outputConfig.score(of: label), explanation: arguments["explanation"]?.stringValue)
    }

    static func excerpt(_ text: String) -> String {
        text.isEmpty ? "(empty)" : text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

/// The variables a prompt template uses, in order of first use.
public enum TemplateVariables {
    public static func names(in text: String, format: String) -> [String] {
        let (open, close) = format == "F_STRING" ? ("{", "}") : format == "MUSTACHE" ? ("{{", "}}") : ("", "")
        guard !open.isEmpty else { return [] }
        var names: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: open) {
            if format == "F_STRING", rest[start.upperBound...].hasPrefix("{") {
                rest = rest[rest.index(after: start.upperBound)...]
                continue
            }
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            let name = rest[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces)
            if !name.isEmpty, !names.contains(name) { names.append(name) }
            rest = rest[end.upperBound...]
        }
        return names
    }

    /// The top-level names a template reads from (`input` for `{{input.question}}`): the parameters a
    /// mapping fills.
    public static func parameters(in texts: [String], format: String) -> [String] {
        var out: [String] = []
        for text in texts {
            for name in names(in: text, format: format) {
                let root = String(name.split(separator: ".").first ?? Substring(name))
                if !out.contains(root) { out.append(root) }
            }
        }
        return out
    }
}
