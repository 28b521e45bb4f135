import Foundation
import CinderModel
import CinderProviders

/// A prompt as a job runs it (Phoenix's prompt version shape: provider, model, chat template, template
/// format, invocation parameters, tools, response format), rendered once per dataset example.
public struct PromptTask: Sendable {
    public let family: ProviderFamily
    public let model: String
    let templateFormat: String
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
        self.templateFormat = task["template_format"]?.stringValue ?? "MUSTACHE"
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

    /// The request for one example; throws `Invalid` when the template needs a variable the input lacks.
    public func request(input: JSONValue) throws(Invalid) -> ChatRequest {
        var rendered: [ChatMessage] = []
        for message in messages {
            let roleName = message["role"]?.stringValue ?? "user"
            let role: ChatMessage.Role =
                switch roleName {
                case "system": .system
                case "developer": .developer
                case "assistant", "ai", "model": .assistant
                case "tool": .tool
                default: .user
                }
            let text: String
            switch message["content"] {
            case .string(let s)?: text = s
            case .array(let parts)?: text = parts.compactMap { $0["text"]?.stringValue }.joined()
            default: text = ""
            }
            rendered.append(ChatMessage(role: role, content: try TemplateRenderer.render(text, format: templateFormat, variables: input)))
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
