import CinderModel
import CinderProviders
import CinderRunner
import CinderStorage
import Foundation
import Graphiti
import Synchronization

// MARK: - Payloads of Phoenix's `chatCompletion` and `chatCompletionOverDataset` subscriptions

protocol ChatCompletionPayload: Sendable {
    var datasetExampleId: NodeID? { get }
    var repetitionNumber: Int? { get }
}

struct TextChunkPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var content: String
}

struct FunctionCallChunkPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var name: String
    var arguments: String
}

struct ToolCallChunkPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var id: String
    var function: FunctionCallChunkPayload
}

struct ChatCompletionResultPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var span: SpanNode?
    var experimentRun: ExperimentRunNode?
}

struct ChatCompletionErrorPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var message: String
    var span: SpanNode?
    var experimentRun: ExperimentRunNode?
}

/// An evaluator's result on a run of a playground experiment (Phoenix's `EvaluationChunk`).
struct EvaluationChunkPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID?
    var repetitionNumber: Int?
    var evaluatorName: String
    var experimentRunEvaluation: ExperimentRunAnnotationNode?
    var error: String?
}

struct ChatCompletionExperimentPayload: ChatCompletionPayload {
    var datasetExampleId: NodeID? { nil }
    var repetitionNumber: Int? { nil }
    var experiment: ExperimentNode
}

// MARK: - Inputs (Phoenix's names and shapes)

enum GenerativeProviderKeyValue: String, Codable, Sendable, CaseIterable {
    case OPENAI, ANTHROPIC, AZURE_OPENAI, GOOGLE, DEEPSEEK, XAI, OLLAMA, AWS, CEREBRAS, FIREWORKS, GROQ, MOONSHOT, MINIMAX, PERPLEXITY, TOGETHER, ZAI, META
}

enum PromptMessageRoleValue: String, Codable, Sendable, CaseIterable { case USER, SYSTEM, AI, TOOL }

enum OpenAIReasoningEffortValue: String, Codable, Sendable, CaseIterable { case NONE, MINIMAL, LOW, MEDIUM, HIGH, XHIGH }

/// Phoenix's `SecretString`: a key given with a call. It is an input only; Graphiti coerces inputs by
/// encoding them again, so `encode` must keep the value, while anything written out is masked.
struct SecretString: Codable, Sendable, JSONLeaf {
    var value: String

    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(String.self) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    func writeJSON(to out: inout [UInt8]) { JSONValue.writeString("********", to: &out) }
}

struct TextContentValueInput: Codable, Sendable { var text: String }
struct ToolCallFunctionInput: Codable, Sendable {
    var type: String?
    var name: String
    var arguments: String
}
struct ToolCallContentValueInput: Codable, Sendable {
    var toolCallId: String
    var toolCall: ToolCallFunctionInput
}
struct ToolResultContentValueInput: Codable, Sendable {
    var toolCallId: String
    var result: JSONScalar
}
struct ContentPartInput: Codable, Sendable {
    var text: TextContentValueInput?
    var toolCall: ToolCallContentValueInput?
    var toolResult: ToolResultContentValueInput?
}
struct PromptMessageInput: Codable, Sendable {
    var role: PromptMessageRoleValue
    var content: [ContentPartInput]
}
struct PromptChatTemplateInput: Codable, Sendable { var messages: [PromptMessageInput] }

struct PromptOpenAIInvocationParametersInput: Codable, Sendable {
    var temperature: Double?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var frequencyPenalty: Double?
    var presencePenalty: Double?
    var topP: Double?
    var seed: Int?
    var stop: [String]?
    var reasoningEffort: OpenAIReasoningEffortValue?
    var extraBody: JSONScalar?
}
struct PromptAnthropicInvocationParametersInput: Codable, Sendable {
    var maxTokens: Int
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
    var outputConfig: JSONScalar?
    var thinking: JSONScalar?
    var extraBody: JSONScalar?
}
struct PromptGoogleInvocationParametersInput: Codable, Sendable {
    var temperature: Double?
    var maxOutputTokens: Int?
    var stopSequences: [String]?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var topP: Double?
    var topK: Int?
    var thinkingConfig: JSONScalar?
}
struct PromptAwsInvocationParametersInput: Codable, Sendable {
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
}
struct PromptInvocationParametersInput: Codable, Sendable {
    var openai: PromptOpenAIInvocationParametersInput?
    var anthropic: PromptAnthropicInvocationParametersInput?
    var google: PromptGoogleInvocationParametersInput?
    var aws: PromptAwsInvocationParametersInput?
}
struct PromptToolFunctionDefinitionInput: Codable, Sendable {
    var name: String
    var description: String?
    var parameters: JSONScalar?
    var strict: Bool?
}
struct PromptToolInput: Codable, Sendable {
    var function: PromptToolFunctionDefinitionInput?
    var raw: JSONScalar?
}
struct PromptToolChoiceInput: Codable, Sendable {
    var none: Bool?
    var zeroOrMore: Bool?
    var oneOrMore: Bool?
    var functionName: String?
}
struct PromptToolsInput: Codable, Sendable {
    var tools: [PromptToolInput]
    var toolChoice: PromptToolChoiceInput?
    var disableParallelToolCalls: Bool?
}
struct PromptResponseFormatJSONSchemaDefinitionInput: Codable, Sendable {
    var name: String
    var description: String?
    var schema: JSONScalar?
    var strict: Bool?
}
struct PromptResponseFormatJSONSchemaInput: Codable, Sendable {
    var type: String
    var jsonSchema: PromptResponseFormatJSONSchemaDefinitionInput
}

struct ChatPromptVersionInput: Codable, Sendable {
    var description: String?
    var metadata: JSONScalar?
    var templateFormat: PromptTemplateFormatValue
    var template: PromptChatTemplateInput
    var invocationParameters: PromptInvocationParametersInput
    var tools: PromptToolsInput?
    var responseFormat: PromptResponseFormatJSONSchemaInput?
    var modelProvider: GenerativeProviderKeyValue
    var modelName: String
    var customProviderId: NodeID?
}

struct ConnectionConfigInput: Codable, Sendable {
    var baseUrl: String?
    var azureEndpoint: String?
    var regionName: String?
    var endpointUrl: String?
    var openaiApiType: String?
    var organization: String?
    var project: String?
}

struct GenerativeCredentialInput: Codable, Sendable {
    var envVarName: String
    var value: SecretString
}

struct PromptTemplateOptions: Codable, Sendable {
    var variables: JSONScalar
    var format: PromptTemplateFormatValue
}

/// An evaluator chosen for a playground run over a dataset: one of the dataset's (`DatasetEvaluator`
/// id) or a built-in one, under this name and mapping.
struct PlaygroundEvaluatorInput: Codable, Sendable {
    var id: NodeID
    var name: Identifier
    var description: String?
    var inputMapping: EvaluatorInputMappingInput
    var outputConfigs: [AnnotationConfigInput]?
}

struct ChatCompletionInput: Codable, Sendable {
    var promptVersion: ChatPromptVersionInput
    var connectionConfig: ConnectionConfigInput?
    var headers: JSONScalar?
    var credentials: [GenerativeCredentialInput]?
    var template: PromptTemplateOptions?
    var promptName: Identifier?
    var repetitions: Int
    var evaluators: [PlaygroundEvaluatorInput]?
    var streamModelOutput: Bool?
}

struct ChatCompletionOverDatasetInput: Codable, Sendable {
    var promptVersionId: NodeID?
    var promptVersion: ChatPromptVersionInput
    var connectionConfig: ConnectionConfigInput?
    var headers: JSONScalar?
    var credentials: [GenerativeCredentialInput]?
    var repetitions: Int
    var datasetId: NodeID
    var datasetVersionId: NodeID?
    var splitIds: [NodeID]?
    var experimentName: String?
    var experimentDescription: String?
    var experimentMetadata: JSONScalar?
    var promptName: Identifier?
    var evaluators: [PlaygroundEvaluatorInput]?
    var appendedMessagesPath: String?
    var templateVariablesPath: String?
    var tracingEnabled: Bool?
    var streamModelOutput: Bool?
    var createEphemeralExperiment: Bool?
    var maxConcurrency: Int?
}

// MARK: - From the inputs to a task

extension ChatPromptVersionInput {
    /// The prompt in the stored task's shape (a prompt version's JSON, as the runner reads it).
    func task(templateFormat: PromptTemplateFormatValue, extra: [String: JSONValue] = [:]) throws -> JSONValue {
        var messages: [JSONValue] = []
        for message in template.messages {
            let role: String =
                switch message.role {
                case .USER: "user"
                case .SYSTEM: "system"
                case .AI: "assistant"
                case .TOOL: "tool"
                }
            let parts: [JSONValue] = message.content.compactMap { part in
                if let text = part.text { return ["type": "text", "text": .string(text.text)] }
                return nil
            }
            if parts.count != message.content.count {
                throw GraphQLFailure("Tool calls and tool results in template messages are not supported by this server's playground")
            }
            messages.append(["role": .string(role), "content": .array(parts)])
        }
        var parameters: (kind: String, values: JSONValue) = ("openai", .object([:]))
        if let openai = invocationParameters.openai {
            parameters = ("openai", Self.snakeCased(openai))
        } else if let anthropic = invocationParameters.anthropic {
            parameters = ("anthropic", Self.snakeCased(anthropic))
        } else if invocationParameters.google != nil || invocationParameters.aws != nil {
            throw GraphQLFailure("Google and AWS models are not supported by this server")
        }
        var tools: JSONValue = .null
        if let given = self.tools {
            let definitions: [JSONValue] = try given.tools.map { tool in
                guard let function = tool.function else { throw GraphQLFailure("Only function tools are supported") }
                return [
                    "type": "function",
                    "function": [
                        "name": .string(function.name), "description": function.description.map { .string($0) } ?? .null,
                        "parameters": function.parameters?.value ?? ["type": "object"],
                    ],
                ]
            }
            tools = ["type": "tools", "tools": .array(definitions)]
        }
        var responseFormat: JSONValue = .null
        if let format = self.responseFormat {
            responseFormat = [
                "type": "json_schema",
                "json_schema": [
                    "name": .string(format.jsonSchema.name), "description": format.jsonSchema.description.map { .string($0) } ?? .null,
                    "schema": format.jsonSchema.schema?.value ?? .null, "strict": format.jsonSchema.strict.map { .bool($0) } ?? .null,
                ],
            ]
        }
        var task: [String: JSONValue] = [
            "model_provider": .string(modelProvider.rawValue), "model_name": .string(modelName), "template_type": "CHAT",
            "template_format": .string(templateFormat.rawValue), "template": ["type": "chat", "messages": .array(messages)],
            "invocation_parameters": .object(["type": .string(parameters.kind), parameters.kind: parameters.values]),
            "tools": tools, "response_format": responseFormat,
        ]
        if let custom = customProviderId {
            guard let id = GlobalID(encoded: custom.value, type: "GenerativeModelCustomProvider")?.rowID else {
                throw GraphQLFailure("Custom model provider not found: \(custom.value)")
            }
            task["custom_provider_id"] = .int(id)
        }
        task.merge(extra) { _, new in new }
        return .object(task)
    }

    /// Phoenix's camelCase parameter names in the providers' snake_case, nulls left out.
    static func snakeCased(_ value: some Encodable) -> JSONValue {
        guard let data = try? JSONEncoder().encode(value), case .object(let fields) = ((try? JSONValue(parsing: Array(data))) ?? .null) else {
            return .object([:])
        }
        var out: [String: JSONValue] = [:]
        for (key, value) in fields where value != .null {
            if key == "reasoningEffort", let effort = value.stringValue {
                out["reasoning_effort"] = .string(effort.lowercased())
                continue
            }
            var snake = ""
            for character in key {
                if character.isUppercase { snake += "_" + character.lowercased() } else { snake.append(character) }
            }
            out[snake] = value
        }
        return .object(out)
    }
}

/// What a call takes from Phoenix's `credentials`, `connectionConfig` and `headers`.
struct CallSettings {
    var given: [String: String] = [:]
    var headers: [(String, String)] = []

    init(credentials: [GenerativeCredentialInput]?, connection: ConnectionConfigInput?, headers: JSONScalar?, family: ProviderFamily?) throws {
        for credential in credentials ?? [] where !credential.value.value.isEmpty {
            given[credential.envVarName] = credential.value.value
        }
        if let connection {
            if let baseURL = connection.baseUrl, !baseURL.isEmpty, let family { given[family.baseURLVariable] = baseURL }
            if let endpoint = connection.azureEndpoint, !endpoint.isEmpty { given["AZURE_OPENAI_ENDPOINT"] = endpoint }
            if let organization = connection.organization, !organization.isEmpty { self.headers.append(("OpenAI-Organization", organization)) }
            if let project = connection.project, !project.isEmpty { self.headers.append(("OpenAI-Project", project)) }
        }
        switch headers?.value {
        case nil, .null?: break
        case .object(let values)?:
            for name in values.keys.sorted() {
                guard let value = values[name]?.stringValue else { throw GraphQLFailure("headers must be an object of strings") }
                self.headers.append((name, value))
            }
        default: throw GraphQLFailure("headers must be an object of strings")
        }
    }
}

extension GraphQLContext {
    func requirePlayground() throws -> Playground {
        guard let playground else { throw GraphQLFailure("Model calls are not enabled on this server") }
        if !access.role.canWrite { throw AccessFailure.viewers }
        return playground
    }
}

// MARK: - The subscriptions

extension QueryRoot {
    static let maxPlaygroundRepetitions = 100

    struct ChatCompletionArguments: Codable, Sendable { var input: ChatCompletionInput }
    struct ChatCompletionOverDatasetArguments: Codable, Sendable { var input: ChatCompletionOverDatasetInput }

    typealias PayloadStream = AsyncThrowingStream<any ChatCompletionPayload, any Error>

    /// One prompt, `repetitions` times at once, each answer streamed as it arrives and ending with its
    /// span (written into the organization's `playground` project) or its error.
    func chatCompletion(context: GraphQLContext, arguments: ChatCompletionArguments) async throws -> PayloadStream {
        let playground = try context.requirePlayground()
        let input = arguments.input
        guard input.evaluators?.isEmpty ?? true else {
            throw GraphQLFailure("Evaluators run on playground runs over a dataset (chatCompletionOverDataset); single calls are not evaluated by this server yet")
        }
        guard (1...Self.maxPlaygroundRepetitions).contains(input.repetitions) else {
            throw GraphQLFailure("repetitions must be between 1 and \(Self.maxPlaygroundRepetitions)")
        }
        let task: PromptTask
        let request: ChatRequest
        do {
            task = try PromptTask(try input.promptVersion.task(templateFormat: input.template?.format ?? .NONE))
            request = try task.request(variables: input.template?.variables.value ?? .object([:]))
        } catch let error as PromptTask.Invalid {
            throw GraphQLFailure(error.description)
        }
        let settings = try CallSettings(credentials: input.credentials, connection: input.connectionConfig, headers: input.headers, family: task.family)
        let (family, provider) = try await Self.resolve(task, playground, context, settings)
        let stream = input.streamModelOutput ?? true
        let organization = context.scope.organization
        let scope = context.scope
        return PayloadStream { continuation in
            let producer = Task {
                await withTaskGroup(of: Void.self) { group in
                    for repetition in 1...input.repetitions {
                        group.addTask {
                            let chunks = ChunkRelay(repetition: repetition, continuation: continuation)
                            let outcome = await playground.call(
                                request, family: family, provider: provider, stream: stream, organization: organization, emit: chunks.relay)
                            var spanNode: SpanNode?
                            if let spanID = outcome.spanID, let row = try? await scope.spans.spans(spanIDs: [spanID], onPrimary: true).first {
                                spanNode = SpanNode(row: row, siblings: Siblings([row]))
                            }
                            if let failure = outcome.failure {
                                continuation.yield(ChatCompletionErrorPayload(repetitionNumber: repetition, message: failure.message, span: spanNode))
                            } else {
                                continuation.yield(ChatCompletionResultPayload(repetitionNumber: repetition, span: spanNode))
                            }
                        }
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in producer.cancel() }
        }
    }

    static func resolve(
        _ task: PromptTask, _ playground: Playground, _ context: GraphQLContext, _ settings: CallSettings
    ) async throws -> (ProviderFamily, any ChatProvider) {
        do {
            return try await playground.credentials.provider(for: task.modelChoice, scope: context.scope, given: settings.given, extraHeaders: settings.headers)
        } catch let error as ProviderError {
            throw GraphQLFailure(error.message)
        }
    }

    /// A prompt over a dataset, run by the runner as a server-side experiment (it goes on if the
    /// subscriber leaves). The stream announces the experiment, then each run as it is recorded: its
    /// output as a text chunk and its run and span, or its error; it ends when the job does.
    func chatCompletionOverDataset(context: GraphQLContext, arguments: ChatCompletionOverDatasetArguments) async throws -> PayloadStream {
        let playground = try context.requirePlayground()
        let input = arguments.input
        let scope = context.scope
        let start = try await ServerExperimentStart(input, playground: playground, scope: scope)
        let (experiment, job) = try await start.create()
        let watch = ExperimentWatch(scope: scope, experiment: experiment, job: job, streamOutput: input.streamModelOutput ?? true)
        return PayloadStream { continuation in
            let producer = Task {
                continuation.yield(ChatCompletionExperimentPayload(experiment: ExperimentNode(row: experiment)))
                do {
                    try await watch.run { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in producer.cancel() }
        }
    }
}

/// Relays one repetition's stream events as Phoenix's chunk payloads.
final class ChunkRelay: Sendable {
    let repetition: Int
    let continuation: QueryRoot.PayloadStream.Continuation
    private let toolCallIDs = Mutex<[Int: String]>([:])

    init(repetition: Int, continuation: QueryRoot.PayloadStream.Continuation) {
        self.repetition = repetition
        self.continuation = continuation
    }

    @Sendable func relay(_ event: ChatEvent) async {
        switch event {
        case .text(let text):
            continuation.yield(TextChunkPayload(repetitionNumber: repetition, content: text))
        case .toolCall(let index, let id, let name, let arguments):
            let callID = toolCallIDs.withLock { ids in
                if let id { ids[index] = id }
                return ids[index] ?? "call_\(index)"
            }
            continuation.yield(
                ToolCallChunkPayload(
                    repetitionNumber: repetition, id: callID,
                    function: FunctionCallChunkPayload(repetitionNumber: repetition, name: name ?? "", arguments: arguments)))
        case .usage, .finished:
            break
        }
    }
}

// MARK: - Schema

extension CinderSchema {
    static func addPlayground(_ builder: Builder) {
        builder.add {
            Scalar(SecretString.self, as: "SecretString")
            Enum(GenerativeProviderKeyValue.self, as: "GenerativeProviderKey") {
                Value(.OPENAI)
                Value(.ANTHROPIC)
                Value(.AZURE_OPENAI)
                Value(.GOOGLE)
                Value(.DEEPSEEK)
                Value(.XAI)
                Value(.OLLAMA)
                Value(.AWS)
                Value(.CEREBRAS)
                Value(.FIREWORKS)
                Value(.GROQ)
                Value(.MOONSHOT)
                Value(.MINIMAX)
                Value(.PERPLEXITY)
                Value(.TOGETHER)
                Value(.ZAI)
                Value(.META)
            }
            Enum(PromptMessageRoleValue.self, as: "PromptMessageRole") {
                Value(.USER)
                Value(.SYSTEM)
                Value(.AI)
                Value(.TOOL)
            }
            Enum(OpenAIReasoningEffortValue.self, as: "OpenAIReasoningEffort") {
                Value(.NONE)
                Value(.MINIMAL)
                Value(.LOW)
                Value(.MEDIUM)
                Value(.HIGH)
                Value(.XHIGH)
            }
            Interface((any ChatCompletionPayload).self, as: "ChatCompletionSubscriptionPayload") {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
            }
            Type(TextChunkPayload.self, as: "TextChunk", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("content", at: \.content)
            }
            Type(FunctionCallChunkPayload.self, as: "FunctionCallChunk", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("name", at: \.name)
                Field("arguments", at: \.arguments)
            }
            Type(ToolCallChunkPayload.self, as: "ToolCallChunk", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("id", at: \.id)
                Field("function", at: \.function)
            }
            Type(ChatCompletionResultPayload.self, as: "ChatCompletionSubscriptionResult", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("span", at: \.span)
                Field("experimentRun", at: \.experimentRun)
            }
            Type(ChatCompletionErrorPayload.self, as: "ChatCompletionSubscriptionError", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("message", at: \.message)
                Field("span", at: \.span)
                Field("experimentRun", at: \.experimentRun)
            }
            Type(EvaluationChunkPayload.self, as: "EvaluationChunk", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("evaluatorName", at: \.evaluatorName)
                Field("experimentRunEvaluation", at: \.experimentRunEvaluation)
                Field("error", at: \.error)
            }
            Type(ChatCompletionExperimentPayload.self, as: "ChatCompletionSubscriptionExperiment", interfaces: [(any ChatCompletionPayload).self]) {
                Field("datasetExampleId", at: \.datasetExampleId)
                Field("repetitionNumber", at: \.repetitionNumber)
                Field("experiment", at: \.experiment)
            }
            Input(TextContentValueInput.self, as: "TextContentValueInput") { InputField("text", at: \.text) }
            Input(ToolCallFunctionInput.self, as: "ToolCallFunctionInput") {
                InputField("type", at: \.type).defaultValue("function")
                InputField("name", at: \.name)
                InputField("arguments", at: \.arguments)
            }
            Input(ToolCallContentValueInput.self, as: "ToolCallContentValueInput") {
                InputField("toolCallId", at: \.toolCallId)
                InputField("toolCall", at: \.toolCall)
            }
            Input(ToolResultContentValueInput.self, as: "ToolResultContentValueInput") {
                InputField("toolCallId", at: \.toolCallId)
                InputField("result", at: \.result)
            }
            Input(ContentPartInput.self, as: "ContentPartInput") {
                InputField("text", at: \.text)
                InputField("toolCall", at: \.toolCall)
                InputField("toolResult", at: \.toolResult)
            }
            Input(PromptMessageInput.self, as: "PromptMessageInput") {
                InputField("role", at: \.role)
                InputField("content", at: \.content)
            }
            Input(PromptChatTemplateInput.self, as: "PromptChatTemplateInput") { InputField("messages", at: \.messages) }
            Input(PromptOpenAIInvocationParametersInput.self, as: "PromptOpenAIInvocationParametersInput") {
                InputField("temperature", at: \.temperature)
                InputField("maxTokens", at: \.maxTokens)
                InputField("maxCompletionTokens", at: \.maxCompletionTokens)
                InputField("frequencyPenalty", at: \.frequencyPenalty)
                InputField("presencePenalty", at: \.presencePenalty)
                InputField("topP", at: \.topP)
                InputField("seed", at: \.seed)
                InputField("stop", at: \.stop)
                InputField("reasoningEffort", at: \.reasoningEffort)
                InputField("extraBody", at: \.extraBody)
            }
            Input(PromptAnthropicInvocationParametersInput.self, as: "PromptAnthropicInvocationParametersInput") {
                InputField("maxTokens", at: \.maxTokens)
                InputField("temperature", at: \.temperature)
                InputField("topP", at: \.topP)
                InputField("stopSequences", at: \.stopSequences)
                InputField("outputConfig", at: \.outputConfig)
                InputField("thinking", at: \.thinking)
                InputField("extraBody", at: \.extraBody)
            }
            Input(PromptGoogleInvocationParametersInput.self, as: "PromptGoogleInvocationParametersInput") {
                InputField("temperature", at: \.temperature)
                InputField("maxOutputTokens", at: \.maxOutputTokens)
                InputField("stopSequences", at: \.stopSequences)
                InputField("presencePenalty", at: \.presencePenalty)
                InputField("frequencyPenalty", at: \.frequencyPenalty)
                InputField("topP", at: \.topP)
                InputField("topK", at: \.topK)
                InputField("thinkingConfig", at: \.thinkingConfig)
            }
            Input(PromptAwsInvocationParametersInput.self, as: "PromptAwsInvocationParametersInput") {
                InputField("maxTokens", at: \.maxTokens)
                InputField("temperature", at: \.temperature)
                InputField("topP", at: \.topP)
                InputField("stopSequences", at: \.stopSequences)
            }
            Input(PromptInvocationParametersInput.self, as: "PromptInvocationParametersInput") {
                InputField("openai", at: \.openai)
                InputField("anthropic", at: \.anthropic)
                InputField("google", at: \.google)
                InputField("aws", at: \.aws)
            }
            Input(PromptToolFunctionDefinitionInput.self, as: "PromptToolFunctionDefinitionInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("parameters", at: \.parameters)
                InputField("strict", at: \.strict)
            }
            Input(PromptToolInput.self, as: "PromptToolInput") {
                InputField("function", at: \.function)
                InputField("raw", at: \.raw)
            }
            Input(PromptToolChoiceInput.self, as: "PromptToolChoiceInput") {
                InputField("none", at: \.none)
                InputField("zeroOrMore", at: \.zeroOrMore)
                InputField("oneOrMore", at: \.oneOrMore)
                InputField("functionName", at: \.functionName)
            }
            Input(PromptToolsInput.self, as: "PromptToolsInput") {
                InputField("tools", at: \.tools)
                InputField("toolChoice", at: \.toolChoice)
                InputField("disableParallelToolCalls", at: \.disableParallelToolCalls)
            }
            Input(PromptResponseFormatJSONSchemaDefinitionInput.self, as: "PromptResponseFormatJSONSchemaDefinitionInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("schema", at: \.schema)
                InputField("strict", at: \.strict)
            }
            Input(PromptResponseFormatJSONSchemaInput.self, as: "PromptResponseFormatJSONSchemaInput") {
                InputField("type", at: \.type)
                InputField("jsonSchema", at: \.jsonSchema)
            }
            Input(ChatPromptVersionInput.self, as: "ChatPromptVersionInput") {
                InputField("description", at: \.description)
                InputField("metadata", at: \.metadata)
                InputField("templateFormat", at: \.templateFormat)
                InputField("template", at: \.template)
                InputField("invocationParameters", at: \.invocationParameters)
                InputField("tools", at: \.tools)
                InputField("responseFormat", at: \.responseFormat)
                InputField("modelProvider", at: \.modelProvider)
                InputField("modelName", at: \.modelName)
                InputField("customProviderId", at: \.customProviderId)
            }
            Input(ConnectionConfigInput.self, as: "ConnectionConfigInput") {
                InputField("baseUrl", at: \.baseUrl)
                InputField("azureEndpoint", at: \.azureEndpoint)
                InputField("regionName", at: \.regionName)
                InputField("endpointUrl", at: \.endpointUrl)
                InputField("openaiApiType", at: \.openaiApiType)
                InputField("organization", at: \.organization)
                InputField("project", at: \.project)
            }
            Input(GenerativeCredentialInput.self, as: "GenerativeCredentialInput") {
                InputField("envVarName", at: \.envVarName)
                InputField("value", at: \.value)
            }
            Input(PromptTemplateOptions.self, as: "PromptTemplateOptions") {
                InputField("variables", at: \.variables)
                InputField("format", at: \.format)
            }
            Input(PlaygroundEvaluatorInput.self, as: "PlaygroundEvaluatorInput") {
                InputField("id", at: \.id)
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
            }
            Input(ChatCompletionInput.self, as: "ChatCompletionInput") {
                InputField("promptVersion", at: \.promptVersion)
                InputField("connectionConfig", at: \.connectionConfig)
                InputField("headers", at: \.headers)
                InputField("credentials", at: \.credentials)
                InputField("template", at: \.template)
                InputField("promptName", at: \.promptName)
                InputField("repetitions", at: \.repetitions)
                InputField("evaluators", at: \.evaluators)
                InputField("streamModelOutput", at: \.streamModelOutput)
            }
            Input(ChatCompletionOverDatasetInput.self, as: "ChatCompletionOverDatasetInput") {
                InputField("promptVersionId", at: \.promptVersionId)
                InputField("promptVersion", at: \.promptVersion)
                InputField("connectionConfig", at: \.connectionConfig)
                InputField("headers", at: \.headers)
                InputField("credentials", at: \.credentials)
                InputField("repetitions", at: \.repetitions)
                InputField("datasetId", at: \.datasetId)
                InputField("datasetVersionId", at: \.datasetVersionId)
                InputField("splitIds", at: \.splitIds)
                InputField("experimentName", at: \.experimentName)
                InputField("experimentDescription", at: \.experimentDescription)
                InputField("experimentMetadata", at: \.experimentMetadata)
                InputField("promptName", at: \.promptName)
                InputField("evaluators", at: \.evaluators)
                InputField("appendedMessagesPath", at: \.appendedMessagesPath)
                InputField("templateVariablesPath", at: \.templateVariablesPath).defaultValue("input")
                InputField("tracingEnabled", at: \.tracingEnabled).defaultValue(true)
                InputField("streamModelOutput", at: \.streamModelOutput).defaultValue(true)
                InputField("createEphemeralExperiment", at: \.createEphemeralExperiment).defaultValue(false)
                InputField("maxConcurrency", at: \.maxConcurrency).defaultValue(10)
            }
        }
        builder.addSubscription {
            SubscriptionField("chatCompletion", as: (any ChatCompletionPayload).self, atSub: QueryRoot.chatCompletion) {
                Argument("input", at: \.input)
            }
            SubscriptionField("chatCompletionOverDataset", as: (any ChatCompletionPayload).self, atSub: QueryRoot.chatCompletionOverDataset) {
                Argument("input", at: \.input)
            }
        }
    }
}
