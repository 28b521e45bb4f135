import Foundation
import CinderModel
import CinderProviders

/// A prompt as a job runs it (Phoenix's prompt version shape: provider, model, chat template, template
/// format, invocation parameters, tools, response format), rendered once per dataset example.
public struct PromptTask: Sendable {
    /// The provider family named by the prompt (for a custom provider: the one whose SDK it uses).
    public let family: ProviderFamily
    public let model: String
    /// Set when the prompt runs on an organization's custom provider.
    public let customProviderID: Int64?
    let templateFormat: String
    /// Where an example's template variables are found: `input` (the default) makes `{{query}}` the
    /// input's `query`; the empty path means full paths (`{{input.query}}`, `{{reference.answer}}`).
    let variablesPath: String
    /// A path in the example (`input.messages`) to a list of chat messages appended to the prompt's.
    let appendedMessagesPath: String?
    let messages: [JSONValue]
    let parameters: [String: JSONValue]
    let tools: [ToolDefinition]
    let responseFormat: JSONValue?

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// From a stored task (a prompt version's JSON).
    public init(_ task: JSONValue) throws(Invalid) {
        guard let provider = task["model_provider"]?.stringValue, let model = task["model_name"]?.stringValue else {
            throw Invalid(description: "the task names no model_provider and model_name")
        }
        guard let family = ProviderFamily.named(provider) else { throw Invalid(description: "provider \(provider) is not supported") }
        guard case .array(let messages)? = task[path: ["template", "messages"]] else {
            throw Invalid(description: "the task's template has no messages")
        }
        self.family = family
        self.model = model
        self.customProviderID = task["custom_provider_id"]?.integerValue
        self.templateFormat = task["template_format"]?.stringValue ?? "MUSTACHE"
        self.variablesPath = task["template_variables_path"]?.stringValue ?? "input"
        self.appendedMessagesPath = task["appended_messages_path"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        self.messages = messages
        var parameters: [String: JSONValue] = [:]
        if let kind = task[path: ["invocation_parameters", "type"]]?.stringValue,
            case .object(let values)? = task[path: ["invocation_parameters", kind]]
        {
            parameters = values
        }
        // `extra_body` is merged into the request as the providers' SDKs do.
        if case .object(let extra)? = parameters.removeValue(forKey: "extra_body") {
            parameters.merge(extra) { own, _ in own }
        }
        self.parameters = parameters
        var tools: [ToolDefinition] = []
        if case .array(let definitions)? = task[path: ["tools", "tools"]] {
            for definition in definitions {
                guard let function = definition["function"], let name = function["name"]?.stringValue else { continue }
                tools.append(
                    ToolDefinition(name: name, description: function["description"]?.stringValue, parameters: function["parameters"] ?? ["type": "object"]))
            }
        }
        self.tools = tools
        self.responseFormat = task["response_format"]
    }

    public var modelChoice: ModelChoice { customProviderID.map { .custom(id: $0) } ?? .builtIn(family) }

    /// The request for one dataset example; throws `Invalid` when the template needs a variable the
    /// example lacks, or the appended messages are not there.
    public func request(input: JSONValue, reference: JSONValue, metadata: JSONValue) throws(Invalid) -> ChatRequest {
        let example: JSONValue = ["input": input, "reference": reference, "output": reference, "metadata": metadata]
        let variables = variablesPath.isEmpty ? example : (Self.follow(variablesPath, in: example) ?? .object([:]))
        var appended: [ChatMessage] = []
        if let path = appendedMessagesPath {
            guard case .array(let items)? = Self.follow(path, in: example) ?? Self.follow(path, in: input) else {
                throw Invalid(description: "The example has no list of messages at '\(path)'")
            }
            appended = items.map { item in
                ChatMessage(role: Self.role(item["role"]?.stringValue ?? "user"), content: Self.text(item["content"]))
            }
        }
        var chat = try request(variables: variables)
        chat.messages += appended
        return chat
    }

    static func follow(_ dotted: String, in value: JSONValue) -> JSONValue? {
        value[path: dotted.split(separator: ".").map(String.init)]
    }

    static func role(_ name: String) -> ChatMessage.Role {
        switch name.lowercased() {
        case "system": .system
        case "developer": .developer
        case "assistant", "ai", "model": .assistant
        case "tool": .tool
        default: .user
        }
    }

    static func text(_ content: JSONValue?) -> String {
        switch content {
        case .string(let s)?: s
        case .array(let parts)?: parts.compactMap { $0["text"]?.stringValue ?? $0[path: ["text", "text"]]?.stringValue }.joined()
        default: ""
        }
    }

    /// The request with the template filled from `variables` (nothing is filled for format `NONE`).
    public func request(variables: JSONValue) throws(Invalid) -> ChatRequest {
        var rendered: [ChatMessage] = []
        for message in messages {
            let text = Self.text(message["content"])
            rendered.append(
                ChatMessage(role: Self.role(message["role"]?.stringValue ?? "user"), content: try TemplateRenderer.render(text, format: templateFormat, variables: variables)))
        }
        return ChatRequest(model: model, messages: rendered, tools: tools, responseFormat: responseFormat, parameters: parameters)
    }
}

/// Fills `{{variable}}` (MUSTACHE) or `{variable}` (F_STRING) from an example's input; dotted names
/// follow nested objects. A variable the input lacks is an error, not an empty string: a prompt sent
/// without its question wastes a call and scores as a wrong answer.
enum TemplateRenderer {
    static func render(_ template: String, format: String, variables: JSONValue) throws(PromptTask.Invalid) -> String {
        switch format {
        case "MUSTACHE": return try substitute(template, open: "{{", close: "}}", escapedOpen: nil, variables: variables)
        case "F_STRING": return try substitute(template, open: "{", close: "}", escapedOpen: "{{", variables: variables)
        default: return template
        }
    }

    static func substitute(
        _ template: String, open: String, close: String, escapedOpen: String?, variables: JSONValue
    ) throws(PromptTask.Invalid) -> String {
        var out = ""
        var rest = Substring(template)
        while let start = rest.range(of: open) {
            if let escapedOpen, rest[start.lowerBound...].hasPrefix(escapedOpen) {
                // `{{` in an f-string is a literal brace, and so is `}}`.
                out += rest[..<start.lowerBound] + "{"
                rest = rest[rest.index(start.lowerBound, offsetBy: 2)...]
                continue
            }
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            out += rest[..<start.lowerBound]
            let name = rest[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let value = lookup(name, in: variables) else {
                throw PromptTask.Invalid(description: "Missing template variable '\(name)' in the example's input")
            }
            out += value
            rest = rest[end.upperBound...]
        }
        out += rest
        return escapedOpen == nil ? out : out.replacingOccurrences(of: "}}", with: "}")
    }

    static func lookup(_ name: String, in variables: JSONValue) -> String? {
        guard !name.isEmpty else { return nil }
        guard let value = variables[path: name.split(separator: ".").map(String.init)] ?? variables[name] else { return nil }
        if case .string(let s) = value { return s }
        return value.jsonString
    }
}
