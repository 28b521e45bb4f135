import CinderModel
import CinderStorage

/// Validates a prompt version body against Phoenix's models (closed objects, typed fields, one
/// invocation-parameter shape per provider family), so that only what Phoenix would store is stored.
enum PromptVersionSchema {
    static let providers = [
        "OPENAI", "AZURE_OPENAI", "ANTHROPIC", "GOOGLE", "DEEPSEEK", "XAI", "OLLAMA", "AWS", "CEREBRAS", "FIREWORKS", "GROQ", "MOONSHOT",
        "MINIMAX", "PERPLEXITY", "TOGETHER", "ZAI", "META",
    ]
    static let roles = ["user", "assistant", "model", "ai", "tool", "system", "developer"]

    enum Kind {
        case number, integer, strings, object, boolean
        case oneOf([String])
    }

    static let openAIFamily: [String: Kind] = [
        "temperature": .number, "max_tokens": .integer, "max_completion_tokens": .integer, "frequency_penalty": .number,
        "presence_penalty": .number, "top_p": .number, "seed": .integer, "stop": .strings,
        "reasoning_effort": .oneOf(["none", "minimal", "low", "medium", "high", "xhigh"]), "extra_body": .object,
    ]

    /// Invocation parameter fields per `type`, and the required ones.
    static let invocationTypes: [String: (fields: [String: Kind], required: [String])] = {
        var types: [String: (fields: [String: Kind], required: [String])] = [:]
        for name in ["openai", "azure_openai", "deepseek", "xai", "ollama", "cerebras", "fireworks", "groq", "moonshot", "perplexity", "together",
                     "zai", "meta", "minimax"] {
            types[name] = (openAIFamily, [])
        }
        types["anthropic"] = (
            [
                "max_tokens": .integer, "temperature": .number, "top_p": .number, "stop_sequences": .strings, "output_config": .object,
                "thinking": .object, "extra_body": .object,
            ], ["max_tokens"]
        )
        types["google"] = (
            [
                "temperature": .number, "max_output_tokens": .integer, "stop_sequences": .strings, "presence_penalty": .number,
                "frequency_penalty": .number, "top_p": .number, "top_k": .integer, "thinking_config": .object,
            ], []
        )
        types["aws"] = (["max_tokens": .integer, "temperature": .number, "top_p": .number, "stop_sequences": .strings], [])
        return types
    }()

    static func invalid(_ path: [String], _ message: String, _ type: String = "value_error") -> CinderError {
        .invalid(path, message, type: type, input: nil)
    }

    /// Rejects keys outside `allowed` (Phoenix's models forbid extra fields).
    static func closed(_ object: [String: JSONValue], _ allowed: Set<String>, _ path: [String]) throws(CinderError) {
        if let extra = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw invalid(path + [extra], "Extra inputs are not permitted", "extra_forbidden")
        }
    }

    static func parse(_ body: BodyFields) throws(CinderError) -> PromptVersionContent {
        try body.requirePresent(["model_provider", "model_name", "template", "template_type", "template_format", "invocation_parameters"])
        let provider = try body.literal("model_provider", providers)
        let modelName = try body.string("model_name")
        let templateType = try body.literal("template_type", ["STR", "CHAT"])
        let templateFormat = try body.literal("template_format", ["MUSTACHE", "F_STRING", "NONE"])
        guard let template = try body.object("template") else { throw invalid(body.path + ["template"], "Field required", "missing") }
        try chatTemplate(template, templateType: templateType)
        guard case .object(let invocation)? = body.value("invocation_parameters") else {
            throw invalid(body.path + ["invocation_parameters"], "Input should be a valid dictionary or object", "model_attributes_type")
        }
        try invocationParameters(invocation, body.path + ["invocation_parameters"])
        var tools: JSONValue?
        if let toolsObject = try body.object("tools") {
            try validateTools(toolsObject)
            tools = .object(toolsObject.fields)
        }
        var responseFormat: JSONValue?
        if let format = try body.object("response_format") {
            try closed(format.fields, ["type", "json_schema"], format.path)
            _ = try format.literal("type", ["json_schema"])
            try namedDefinition(try format.requiredObject("json_schema"), schemaKey: "schema")
            responseFormat = .object(format.fields)
        }
        return PromptVersionContent(
            description: try body.optionalString("description"), metadata: .object(try body.dictionary("metadata") ?? [:]),
            modelProvider: provider, modelName: modelName, templateType: templateType, templateFormat: templateFormat,
            template: .object(template.fields), invocationParameters: .object(invocation), tools: tools, responseFormat: responseFormat)
    }

    /// Only chat templates are accepted, as in Phoenix's REST API.
    static func chatTemplate(_ template: BodyFields, templateType: String) throws(CinderError) {
        let type = try template.literal("type", ["chat", "string"])
        guard type == "chat" else { throw CinderError.unprocessable("Only chat templates are supported") }
        guard templateType == "CHAT" else { throw CinderError.unprocessable("Template type does not match template") }
        try closed(template.fields, ["type", "messages"], template.path)
        for message in try template.objects("messages") {
            try closed(message.fields, ["role", "content"], message.path)
            _ = try message.literal("role", roles)
            switch try message.required("content") {
            case .string: break
            case .array(let parts):
                guard !parts.isEmpty else {
                    throw invalid(message.path + ["content"], "List should have at least 1 item after validation, not 0", "too_short")
                }
                for part in try message.objects("content") { try contentPart(part) }
            default: throw invalid(message.path + ["content"], "Input should be a valid string or list", "string_type")
            }
        }
    }

    static func contentPart(_ part: BodyFields) throws(CinderError) {
        switch try part.literal("type", ["text", "tool_call", "tool_result"]) {
        case "text":
            try closed(part.fields, ["type", "text"], part.path)
            _ = try part.string("text")
        case "tool_call":
            try closed(part.fields, ["type", "tool_call_id", "tool_call"], part.path)
            _ = try part.string("tool_call_id")
            let call = try part.requiredObject("tool_call")
            try closed(call.fields, ["type", "name", "arguments"], call.path)
            _ = try call.literal("type", ["function"])
            _ = try call.string("name")
            _ = try call.string("arguments")
        default:
            try closed(part.fields, ["type", "tool_call_id", "tool_result"], part.path)
            _ = try part.string("tool_call_id")
            guard part.fields.keys.contains("tool_result") else { throw invalid(part.path + ["tool_result"], "Field required", "missing") }
        }
    }

    static func invocationParameters(_ object: [String: JSONValue], _ path: [String]) throws(CinderError) {
        let fields = BodyFields(object, path: path)
        let type = try fields.literal("type", invocationTypes.keys.sorted())
        try closed(object, ["type", type], path)
        guard let spec = invocationTypes[type], case .object(let content)? = fields.value(type) else {
            throw invalid(path + [type], "Field required", "missing")
        }
        let contentPath = path + [type]
        try closed(content, Set(spec.fields.keys), contentPath)
        for key in spec.required where content[key] == nil { throw invalid(contentPath + [key], "Field required", "missing") }
        let values = BodyFields(content, path: contentPath)
        for (key, kind) in spec.fields where values.value(key) != nil {
            switch kind {
            case .number:
                switch values.value(key) {
                case .int?, .double?: break
                default: throw invalid(contentPath + [key], "Input should be a valid number", "float_type")
                }
            case .integer:
                guard case .int = values.value(key) else { throw invalid(contentPath + [key], "Input should be a valid integer", "int_type") }
            case .strings: _ = try values.stringList(key)
            case .object: _ = try values.dictionary(key)
            case .boolean: _ = try values.bool(key)
            case .oneOf(let allowed): _ = try values.literal(key, allowed)
            }
        }
    }

    /// A function tool or a JSON-schema response format: a name, an optional description, a JSON
    /// schema under `schemaKey`, and `strict`.
    static func namedDefinition(_ definition: BodyFields, schemaKey: String) throws(CinderError) {
        try closed(definition.fields, ["name", "description", schemaKey, "strict"], definition.path)
        _ = try definition.string("name")
        _ = try definition.optionalString("description")
        _ = try definition.dictionary(schemaKey)
        _ = try definition.bool("strict")
    }

    static func validateTools(_ tools: BodyFields) throws(CinderError) {
        try closed(tools.fields, ["type", "tools", "tool_choice", "disable_parallel_tool_calls"], tools.path)
        _ = try tools.literal("type", ["tools"])
        let list = try tools.objects("tools")
        guard !list.isEmpty else { throw invalid(tools.path + ["tools"], "List should have at least 1 item after validation, not 0", "too_short") }
        for tool in list {
            switch try tool.literal("type", ["function", "raw"]) {
            case "function":
                try closed(tool.fields, ["type", "function"], tool.path)
                try namedDefinition(try tool.requiredObject("function"), schemaKey: "parameters")
            default:
                try closed(tool.fields, ["type", "raw"], tool.path)
                guard try tool.dictionary("raw") != nil else { throw invalid(tool.path + ["raw"], "Field required", "missing") }
            }
        }
        if let choice = try tools.object("tool_choice") {
            if try choice.literal("type", ["none", "zero_or_more", "one_or_more", "specific_function"]) == "specific_function" {
                try closed(choice.fields, ["type", "function_name"], choice.path)
                _ = try choice.string("function_name")
            } else {
                try closed(choice.fields, ["type"], choice.path)
            }
        }
        _ = try tools.bool("disable_parallel_tool_calls")
    }
}
