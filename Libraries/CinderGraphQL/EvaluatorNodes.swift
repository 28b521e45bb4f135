import CinderEvaluators
import CinderModel
import CinderRunner
import CinderStorage
import Graphiti

// MARK: - Phoenix's evaluators: built-in ones, the organization's LLM judges, and those attached to datasets

enum EvaluatorKindValue: String, Codable, Sendable, CaseIterable { case LLM, CODE, BUILTIN }
enum OptimizationDirectionValue: String, Codable, Sendable, CaseIterable { case MAXIMIZE, MINIMIZE, NONE }
enum AnnotationTypeValue: String, Codable, Sendable, CaseIterable { case CATEGORICAL, CONTINUOUS, FREEFORM }

/// A member of Phoenix's `BuiltInEvaluatorOutputConfig` union.
protocol OutputConfigValue: Sendable {}

struct CategoricalValueNode: Sendable {
    let label: String
    let score: Double?
}

struct CategoricalConfigNode: OutputConfigValue {
    let name: String
    let description: String?
    let annotationType = AnnotationTypeValue.CATEGORICAL
    let optimizationDirection: OptimizationDirectionValue
    let values: [CategoricalValueNode]
}

struct ContinuousConfigNode: OutputConfigValue {
    let name: String
    let description: String?
    let annotationType = AnnotationTypeValue.CONTINUOUS
    let optimizationDirection: OptimizationDirectionValue
    let lowerBound: Double?
    let upperBound: Double?
}

struct FreeformConfigNode: OutputConfigValue {
    let name: String
    let description: String?
    let annotationType = AnnotationTypeValue.FREEFORM
    let optimizationDirection: OptimizationDirectionValue
}

extension OutputConfig {
    var node: any OutputConfigValue {
        let direction = OptimizationDirectionValue(rawValue: self.direction.rawValue) ?? .NONE
        switch shape {
        case .categorical(let values):
            return CategoricalConfigNode(
                name: name, description: description, optimizationDirection: direction, values: values.map { CategoricalValueNode(label: $0.label, score: $0.score) })
        case .continuous(let lower, let upper):
            return ContinuousConfigNode(name: name, description: description, optimizationDirection: direction, lowerBound: lower, upperBound: upper)
        case .freeform:
            return FreeformConfigNode(name: name, description: description, optimizationDirection: direction)
        }
    }

    static func nodes(_ stored: JSONValue) -> [any OutputConfigValue] {
        guard case .array(let items) = stored else { return [] }
        return items.compactMap { try? OutputConfig(json: $0).node }
    }
}

struct InputMappingNode: Sendable {
    let mapping: InputMapping
    var literalMapping: JSONScalar { JSONScalar(.object(mapping.literalMapping)) }
    var pathMapping: JSONScalar { JSONScalar(.object(mapping.pathMapping.mapValues { .string($0) })) }
}

/// Phoenix's `Evaluator` interface.
protocol EvaluatorFields: RelayNode {
    var name: Identifier { get }
    var description: String? { get }
    var metadata: JSONScalar { get }
    var kind: EvaluatorKindValue { get }
    var createdAt: DateTime { get }
    var updatedAt: DateTime { get }
    var isBuiltin: Bool { get }
    var inputSchema: JSONScalar? { get }
    var outputConfigs: [any OutputConfigValue] { get }
}

struct BuiltInEvaluatorNode: EvaluatorFields {
    static let typeName = "BuiltInEvaluator"
    let evaluator: BuiltInEvaluator

    var id: NodeID { NodeID(Self.typeName, evaluator.id) }
    var name: Identifier { Identifier(evaluator.key) }
    var description: String? { evaluator.description }
    var metadata: JSONScalar { JSONScalar(.object([:])) }
    var kind: EvaluatorKindValue { .BUILTIN }
    var createdAt: DateTime { DateTime(micros: 0) }
    var updatedAt: DateTime { DateTime(micros: 0) }
    var isBuiltin: Bool { true }
    var inputSchema: JSONScalar? { JSONScalar(evaluator.inputSchema) }
    var outputConfigs: [any OutputConfigValue] { [evaluator.outputConfig.node] }
}

struct LLMEvaluatorNode: EvaluatorFields {
    static let typeName = "LLMEvaluator"
    let row: EvaluatorRow

    var id: NodeID { NodeID(Self.typeName, row.id) }
    var name: Identifier { Identifier(row.name) }
    var description: String? { row.description }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var kind: EvaluatorKindValue { .LLM }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
    var isBuiltin: Bool { false }
    var inputSchema: JSONScalar? {
        let prompt = row.definition["prompt"] ?? .null
        guard case .array(let messages)? = prompt[path: ["template", "messages"]] else { return nil }
        let texts = messages.flatMap { message -> [String] in
            if case .array(let parts)? = message["content"] { return parts.compactMap { $0["text"]?.stringValue } }
            return message["content"]?.stringValue.map { [$0] } ?? []
        }
        let names = TemplateVariables.parameters(in: texts, format: prompt["template_format"]?.stringValue ?? "MUSTACHE")
        return JSONScalar([
            "type": "object", "properties": .object(Dictionary(uniqueKeysWithValues: names.map { ($0, ["type": "string"] as JSONValue) })),
            "required": .array(names.map { .string($0) }),
        ])
    }
    var outputConfigs: [any OutputConfigValue] { OutputConfig.nodes(.array([row.definition["output_config"] ?? .null])) }

    /// The organization's prompt that keeps the judge's versions (one per save).
    func prompt(context: GraphQLContext, arguments: NoArguments) async throws -> PromptNode {
        guard let id = row.definition["prompt_id"]?.integerValue, let prompt = try await context.scope.prompts.prompt(id: id, name: nil) else {
            throw GraphQLFailure("The prompt of evaluator \(row.name) is gone")
        }
        return PromptNode(row: prompt, siblings: Siblings([prompt]))
    }

    /// The version the judge runs: its prompt's newest.
    func promptVersion(context: GraphQLContext, arguments: NoArguments) async throws -> PromptVersionNode {
        guard let id = row.definition["prompt_id"]?.integerValue,
            let version = try await context.scope.prompts.promptVersions(promptID: id, atOrBeforeID: nil, limit: 1).first
        else { throw GraphQLFailure("The prompt of evaluator \(row.name) is gone") }
        return PromptVersionNode(row: version, siblings: Siblings([version]))
    }
}

/// An LLM judge's history: its prompt is one of the organization's prompts (as Phoenix keeps it), with a
/// version for each save, so the judge's past prompts are its prompt's versions.
enum JudgePrompts {
    /// Adds the judge's prompt as a version of its prompt (made on the first save) and returns the
    /// definition with the prompt's id.
    static func record(_ definition: JSONValue, evaluator: EvaluatorRow, description: String?, _ context: GraphQLContext) async throws -> JSONValue {
        let task = definition["prompt"] ?? .null
        func present(_ key: String) -> JSONValue? {
            guard let value = task[key], value != .null else { return nil }
            return value
        }
        let content = PromptVersionContent(
            description: description, metadata: .object([:]), modelProvider: task["model_provider"]?.stringValue ?? "",
            modelName: task["model_name"]?.stringValue ?? "", templateType: "CHAT", templateFormat: task["template_format"]?.stringValue ?? "MUSTACHE",
            template: task["template"] ?? .null, invocationParameters: task["invocation_parameters"] ?? .object([:]),
            tools: present("tools"), responseFormat: present("response_format"))
        let prompts = context.scope.prompts
        if let id = evaluator.definition["prompt_id"]?.integerValue, try await prompts.prompt(id: id, name: nil) != nil {
            _ = try await prompts.addPromptVersion(promptID: id, newPrompt: nil, content)
            return definition.adding("prompt_id", .int(id))
        }
        // A name of its own: a prompt of the same name would otherwise take the judge as a version.
        var name = "evaluator-\(evaluator.id)-\(evaluator.name)"
        while try await prompts.prompt(id: nil, name: name) != nil { name += "-\(RandomHex.string(bytes: 2))" }
        guard let version = try await prompts.addPromptVersion(
            promptID: nil, newPrompt: (name: name, description: "The prompt of LLM evaluator \(evaluator.name)", metadata: .object([:]), sourcePromptID: nil),
            content)
        else { throw GraphQLFailure("The judge's prompt could not be saved") }
        return definition.adding("prompt_id", .int(version.promptID))
    }
}

struct DatasetEvaluatorNode: RelayNode {
    static let typeName = "DatasetEvaluator"
    let row: DatasetEvaluatorRow

    var id: NodeID { NodeID(Self.typeName, row.id) }
    var name: Identifier { Identifier(row.name) }
    var description: String? { row.description }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
    var inputMapping: InputMappingNode { InputMappingNode(mapping: (try? InputMapping(json: row.inputMapping)) ?? InputMapping()) }
    var outputConfigs: [any OutputConfigValue] {
        let own = OutputConfig.nodes(row.outputConfigs)
        return own.isEmpty ? evaluatorNode?.outputConfigs ?? [] : own
    }
    var evaluatorNode: (any EvaluatorFields)? {
        if let key = row.builtinKey { return BuiltInEvaluator.named(key).map(BuiltInEvaluatorNode.init) }
        return row.evaluator?.node
    }

    func evaluator(context: GraphQLContext, arguments: NoArguments) throws -> any EvaluatorFields {
        guard let node = evaluatorNode else { throw GraphQLFailure("The evaluator of \(row.name) is not known to this server") }
        return node
    }

    func dataset(context: GraphQLContext, arguments: NoArguments) async throws -> DatasetNode {
        guard let dataset = try await context.scope.datasets.dataset(id: row.datasetID) else { throw GraphQLFailure("Dataset not found") }
        return DatasetNode(row: dataset)
    }
}

/// Phoenix's `ClassificationEvaluatorConfig`: one of the judge prompts Cinder ships.
struct ClassificationConfigNode: Sendable {
    let template: JudgeTemplate
    var name: String { template.name }
    var description: String? { template.description }
    var optimizationDirection: OptimizationDirectionValue { OptimizationDirectionValue(rawValue: template.direction.rawValue) ?? .NONE }
    var messages: [JudgeMessageNode] { template.messages.map { JudgeMessageNode(role: $0.role, text: $0.text) } }
    var choices: JSONScalar { JSONScalar(.object(Dictionary(uniqueKeysWithValues: template.choices.map { ($0.label, .double($0.score)) }))) }
}

/// A message of a shipped judge prompt, as Phoenix's `PromptMessage` (text parts only).
struct JudgeMessageNode: Sendable {
    let role: String
    let text: String
    var roleValue: PromptMessageRoleValue { role == "system" ? .SYSTEM : role == "assistant" ? .AI : .USER }
    var content: [TextContentPartNode] { [TextContentPartNode(text: TextContentValueNode(text: text))] }
}

struct TextContentValueNode: Sendable { let text: String }
struct TextContentPartNode: Sendable { let text: TextContentValueNode }

// MARK: - Inputs

struct CategoricalValueInput: Codable, Sendable {
    var label: String
    var score: Double?
}
struct CategoricalConfigInput: Codable, Sendable {
    var name: String
    var description: String?
    var optimizationDirection: OptimizationDirectionValue
    var values: [CategoricalValueInput]
}
struct ContinuousConfigInput: Codable, Sendable {
    var name: String
    var description: String?
    var optimizationDirection: OptimizationDirectionValue
    var lowerBound: Double?
    var upperBound: Double?
}
struct FreeformConfigInput: Codable, Sendable {
    var name: String
    var description: String?
    var optimizationDirection: OptimizationDirectionValue?
    var threshold: Double?
    var lowerBound: Double?
    var upperBound: Double?
}
struct AnnotationConfigInput: Codable, Sendable {
    var categorical: CategoricalConfigInput?
    var continuous: ContinuousConfigInput?
    var freeform: FreeformConfigInput?

    /// Exactly one member, checked.
    func config() throws -> OutputConfig {
        let given = [categorical != nil, continuous != nil, freeform != nil].filter { $0 }.count
        guard given == 1 else { throw GraphQLFailure("An annotation config gives exactly one of categorical, continuous and freeform") }
        let json: JSONValue
        if let c = categorical {
            json = [
                "type": "CATEGORICAL", "name": .string(c.name), "description": c.description.map { .string($0) } ?? .null,
                "optimization_direction": .string(c.optimizationDirection.rawValue),
                "values": .array(c.values.map { ["label": .string($0.label), "score": $0.score.map { .double($0) } ?? .null] }),
            ]
        } else if let c = continuous {
            json = [
                "type": "CONTINUOUS", "name": .string(c.name), "description": c.description.map { .string($0) } ?? .null,
                "optimization_direction": .string(c.optimizationDirection.rawValue), "lower_bound": c.lowerBound.map { .double($0) } ?? .null,
                "upper_bound": c.upperBound.map { .double($0) } ?? .null,
            ]
        } else {
            let c = freeform!
            json = [
                "type": "FREEFORM", "name": .string(c.name), "description": c.description.map { .string($0) } ?? .null,
                "optimization_direction": .string((c.optimizationDirection ?? .NONE).rawValue),
            ]
        }
        do {
            return try OutputConfig(json: json)
        } catch {
            throw GraphQLFailure(error.description)
        }
    }
}
struct EvaluatorInputMappingInput: Codable, Sendable {
    var literalMapping: JSONScalar
    var pathMapping: JSONScalar

    func mapping() throws -> InputMapping {
        do {
            return try InputMapping(json: ["literal_mapping": literalMapping.value, "path_mapping": pathMapping.value])
        } catch {
            throw GraphQLFailure(error.description)
        }
    }
}

struct CreateDatasetBuiltinEvaluatorInput: Codable, Sendable {
    var datasetId: NodeID
    var evaluatorId: NodeID
    var name: Identifier
    var inputMapping: EvaluatorInputMappingInput?
    var outputConfigs: [AnnotationConfigInput]?
    var description: String?
}
struct UpdateDatasetBuiltinEvaluatorInput: Codable, Sendable {
    var datasetEvaluatorId: NodeID
    var name: Identifier
    var inputMapping: EvaluatorInputMappingInput?
    var outputConfigs: [AnnotationConfigInput]?
    var description: String?
}
struct CreateDatasetLLMEvaluatorInput: Codable, Sendable {
    var datasetId: NodeID
    var name: Identifier
    var description: String?
    var promptVersionId: NodeID?
    var promptVersion: ChatPromptVersionInput
    var outputConfigs: [AnnotationConfigInput]
    var inputMapping: EvaluatorInputMappingInput?
}
struct UpdateDatasetLLMEvaluatorInput: Codable, Sendable {
    var datasetEvaluatorId: NodeID
    var datasetId: NodeID
    var name: Identifier
    var description: String?
    var promptVersionId: NodeID?
    var promptVersion: ChatPromptVersionInput
    var outputConfigs: [AnnotationConfigInput]
    var inputMapping: EvaluatorInputMappingInput?
}
struct DeleteDatasetEvaluatorsInput: Codable, Sendable {
    var datasetEvaluatorIds: [NodeID]
    var deleteAssociatedPrompt: Bool?
}
struct InlineLLMEvaluatorInput: Codable, Sendable {
    var name: String
    var promptVersion: ChatPromptVersionInput
    var outputConfigs: [AnnotationConfigInput]
    var description: String?
}
struct EvaluatorPreviewInput: Codable, Sendable {
    var builtInEvaluatorId: NodeID?
    var inlineLlmEvaluator: InlineLLMEvaluatorInput?
    var codeEvaluatorId: NodeID?
    var inlineCodeEvaluator: InlineCodeEvaluatorInput?
}
struct EvaluatorPreviewItemInput: Codable, Sendable {
    var evaluator: EvaluatorPreviewInput
    var context: JSONScalar
    var inputMapping: EvaluatorInputMappingInput
}
struct EvaluatorPreviewsInput: Codable, Sendable {
    var previews: [EvaluatorPreviewItemInput]
    var credentials: [GenerativeCredentialInput]?
}

struct DatasetEvaluatorMutationPayload: Sendable { let evaluator: DatasetEvaluatorNode }
struct DeleteDatasetEvaluatorsPayload: Sendable { let datasetEvaluatorIds: [NodeID] }
struct EvaluatorPreviewsPayload: Sendable { let results: [EvaluationResultNode] }
struct EvaluationResultNode: Sendable {
    let evaluatorName: String
    let annotation: ExperimentRunAnnotationNode?
    let error: String?
}

// MARK: - Resolvers

extension DatasetNode {
    func evaluatorCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.evaluators.counts(datasetIDs: [row.id])[row.id] ?? 0
    }

    func datasetEvaluators(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<DatasetEvaluatorNode> {
        try NodeConnection(offsetPageOf: try await context.scope.evaluators.datasetEvaluators(datasetID: row.id), arguments, node: DatasetEvaluatorNode.init)
    }

    struct DatasetEvaluatorArguments: Codable, Sendable { var datasetEvaluatorId: NodeID }

    func datasetEvaluator(context: GraphQLContext, arguments: DatasetEvaluatorArguments) async throws -> DatasetEvaluatorNode {
        let id = try arguments.datasetEvaluatorId.rowID(of: DatasetEvaluatorNode.typeName)
        guard let row = try await context.scope.evaluators.datasetEvaluator(id: id), row.datasetID == self.row.id else {
            throw GraphQLFailure("Dataset evaluator not found: \(arguments.datasetEvaluatorId.value)")
        }
        return DatasetEvaluatorNode(row: row)
    }
}

extension QueryRoot {
    func builtInEvaluators(context: GraphQLContext, arguments: NoArguments) -> [BuiltInEvaluatorNode] {
        BuiltInEvaluator.all.map(BuiltInEvaluatorNode.init)
    }

    struct ClassificationConfigArguments: Codable, Sendable { var labels: [String]? }

    func classificationEvaluatorConfigs(context: GraphQLContext, arguments: ClassificationConfigArguments) -> [ClassificationConfigNode] {
        JudgeTemplate.all.filter { template in
            guard let labels = arguments.labels, !labels.isEmpty else { return true }
            return template.choices.contains { labels.contains($0.label) }
        }.map(ClassificationConfigNode.init)
    }

    func evaluators(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<any EvaluatorFields> {
        let cursor = try Cursor.decode(arguments.after, parts: 1).map { $0[0] }
        let rows = try await context.scope.evaluators.evaluators(beforeID: cursor, limit: arguments.limit + 1)
        return NodeConnection(
            rows: rows, limit: arguments.limit, hadCursor: arguments.after != nil, cursor: { Cursor.encode($0.id) },
            node: { row, _ in row.node })
    }

    static func builtInEvaluator(_ id: NodeID) throws -> BuiltInEvaluator {
        guard let evaluator = BuiltInEvaluator.with(id: try id.rowID(of: BuiltInEvaluatorNode.typeName)) else {
            throw GraphQLFailure("Built-in evaluator not found: \(id.value)")
        }
        return evaluator
    }

    /// Phoenix's names are identifiers: lowercase letters, digits, `_` and `-`, starting and ending
    /// with a letter or digit. They name annotations, so they are checked here, once.
    static func checkName(_ name: Identifier) throws -> String {
        let text = name.value
        let allowed = text.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" || $0 == "-" }
        guard !text.isEmpty, text.count <= 256, allowed, text.first!.isLetter || text.first!.isNumber, text.last!.isLetter || text.last!.isNumber else {
            throw GraphQLFailure("Invalid name '\(text)': use lowercase letters, digits, '_' and '-', starting and ending with a letter or digit")
        }
        return text
    }

    static func configsJSON(_ inputs: [AnnotationConfigInput]?) throws -> JSONValue {
        .array(try (inputs ?? []).map { try $0.config().json })
    }

    struct CreateDatasetBuiltinEvaluatorArguments: Codable, Sendable { var input: CreateDatasetBuiltinEvaluatorInput }
    struct UpdateDatasetBuiltinEvaluatorArguments: Codable, Sendable { var input: UpdateDatasetBuiltinEvaluatorInput }
    struct CreateDatasetLLMEvaluatorArguments: Codable, Sendable { var input: CreateDatasetLLMEvaluatorInput }
    struct UpdateDatasetLLMEvaluatorArguments: Codable, Sendable { var input: UpdateDatasetLLMEvaluatorInput }
    struct DeleteDatasetEvaluatorsArguments: Codable, Sendable { var input: DeleteDatasetEvaluatorsInput }
    struct EvaluatorPreviewsArguments: Codable, Sendable { var input: EvaluatorPreviewsInput }

    func createDatasetBuiltinEvaluator(context: GraphQLContext, arguments: CreateDatasetBuiltinEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let builtIn = try Self.builtInEvaluator(input.evaluatorId)
        let row = try await context.scope.evaluators.attach(
            datasetID: try input.datasetId.rowID(of: NodeType.dataset), choice: .builtIn(key: builtIn.key), name: try Self.checkName(input.name),
            description: input.description, inputMapping: try input.inputMapping?.mapping().json ?? builtIn.defaultMapping.json,
            outputConfigs: try Self.configsJSON(input.outputConfigs), userID: context.access.user?.rawValue)
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }

    func updateDatasetBuiltinEvaluator(context: GraphQLContext, arguments: UpdateDatasetBuiltinEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let id = try input.datasetEvaluatorId.rowID(of: DatasetEvaluatorNode.typeName)
        guard let existing = try await context.scope.evaluators.datasetEvaluator(id: id), let key = existing.builtinKey,
            let builtIn = BuiltInEvaluator.named(key)
        else { throw GraphQLFailure("Built-in dataset evaluator not found: \(input.datasetEvaluatorId.value)") }
        guard let row = try await context.scope.evaluators.update(
            id: id, name: try Self.checkName(input.name), description: input.description,
            inputMapping: try input.inputMapping?.mapping().json ?? builtIn.defaultMapping.json, outputConfigs: try Self.configsJSON(input.outputConfigs),
            definition: nil)
        else { throw GraphQLFailure("Dataset evaluator not found: \(input.datasetEvaluatorId.value)") }
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }

    /// A judge's stored definition from Phoenix's inputs: its prompt (checked to run) and its one
    /// categorical output config.
    static func judge(
        name: String, prompt: ChatPromptVersionInput, configs: [AnnotationConfigInput], mapping: InputMapping = InputMapping()
    ) throws -> (definition: JSONValue, config: OutputConfig, spec: EvaluatorSpec) {
        guard configs.count == 1 else { throw GraphQLFailure("An LLM evaluator has exactly one output config") }
        let config = try configs[0].config()
        let task = try prompt.task(templateFormat: prompt.templateFormat)
        do {
            let spec = try EvaluatorSpec(name: name, judgePrompt: task, config: config, mapping: mapping)
            return (["prompt": task, "output_config": config.json], config, spec)
        } catch {
            throw GraphQLFailure(error.description)
        }
    }

    func createDatasetLlmEvaluator(context: GraphQLContext, arguments: CreateDatasetLLMEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let name = try Self.checkName(input.name)
        let (definition, config, _) = try Self.judge(name: name, prompt: input.promptVersion, configs: input.outputConfigs)
        var row = try await context.scope.evaluators.attach(
            datasetID: try input.datasetId.rowID(of: NodeType.dataset), choice: .defined(kind: "LLM", definition: definition, metadata: .object([:])), name: name,
            description: input.description, inputMapping: try input.inputMapping?.mapping().json ?? InputMapping().json,
            outputConfigs: .array([config.json]), userID: context.access.user?.rawValue)
        if let evaluator = row.evaluator {
            let recorded = try await JudgePrompts.record(definition, evaluator: evaluator, description: input.description, context)
            row.evaluator = try await context.scope.evaluators.patchEvaluator(id: evaluator.id, name: nil, description: nil, definition: recorded)
        }
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }

    func updateDatasetLlmEvaluator(context: GraphQLContext, arguments: UpdateDatasetLLMEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let id = try input.datasetEvaluatorId.rowID(of: DatasetEvaluatorNode.typeName)
        let name = try Self.checkName(input.name)
        let (judge, config, _) = try Self.judge(name: name, prompt: input.promptVersion, configs: input.outputConfigs)
        guard let existing = try await context.scope.evaluators.datasetEvaluator(id: id), let evaluator = existing.evaluator, evaluator.kind == "LLM",
            existing.datasetID == (try input.datasetId.rowID(of: NodeType.dataset))
        else { throw GraphQLFailure("LLM dataset evaluator not found: \(input.datasetEvaluatorId.value)") }
        let definition = try await JudgePrompts.record(judge, evaluator: evaluator, description: input.description, context)
        guard let row = try await context.scope.evaluators.update(
            id: id, name: name, description: input.description, inputMapping: try input.inputMapping?.mapping().json ?? InputMapping().json,
            outputConfigs: .array([config.json]), definition: definition)
        else { throw GraphQLFailure("Dataset evaluator not found: \(input.datasetEvaluatorId.value)") }
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }

    func deleteDatasetEvaluators(context: GraphQLContext, arguments: DeleteDatasetEvaluatorsArguments) async throws -> DeleteDatasetEvaluatorsPayload {
        let ids = try arguments.input.datasetEvaluatorIds.map { id throws(GraphQLFailure) in try id.rowID(of: DatasetEvaluatorNode.typeName) }
        let (removed, judges) = try await context.scope.evaluators.delete(ids: ids, deleteEvaluators: arguments.input.deleteAssociatedPrompt ?? true)
        for judge in judges {
            if let prompt = judge["prompt_id"]?.integerValue { _ = try await context.scope.prompts.deletePrompt(id: prompt) }
        }
        guard removed.count == Set(ids).count else {
            throw GraphQLFailure("Dataset evaluators not found: \(Set(ids).subtracting(removed).sorted().map { NodeID(DatasetEvaluatorNode.typeName, $0).value })")
        }
        return DeleteDatasetEvaluatorsPayload(datasetEvaluatorIds: removed.map { NodeID(DatasetEvaluatorNode.typeName, $0) })
    }

    static let maxPreviews = 20

    /// Runs evaluators on a context given by hand (an example and an output) without saving anything:
    /// what a dataset evaluator would record, before it is attached.
    func evaluatorPreviews(context: GraphQLContext, arguments: EvaluatorPreviewsArguments) async throws -> EvaluatorPreviewsPayload {
        let input = arguments.input
        guard input.previews.count <= Self.maxPreviews else { throw GraphQLFailure("At most \(Self.maxPreviews) previews at a time") }
        var specs: [EvaluatorSpec] = []
        var needsExecutor = false
        for preview in input.previews {
            let mapping = try preview.inputMapping.mapping()
            if let id = preview.evaluator.builtInEvaluatorId {
                let builtIn = try Self.builtInEvaluator(id)
                specs.append(EvaluatorSpec(name: builtIn.key, runs: .builtIn(builtIn), mapping: mapping))
                if builtIn.sandboxedSource != nil { needsExecutor = true }
            } else if let inline = preview.evaluator.inlineLlmEvaluator {
                specs.append(try Self.judge(name: inline.name, prompt: inline.promptVersion, configs: inline.outputConfigs, mapping: mapping).spec)
                needsExecutor = true
            } else if let inline = preview.evaluator.inlineCodeEvaluator {
                let code = try Self.codeEvaluator(language: inline.language, source: inline.sourceCode, configs: inline.outputConfigs)
                specs.append(EvaluatorSpec(name: inline.name, runs: .code(code), mapping: mapping))
                needsExecutor = true
            } else if let id = preview.evaluator.codeEvaluatorId {
                let (row, code) = try await Self.storedCodeEvaluator(id, context)
                specs.append(EvaluatorSpec(name: row.name, runs: .code(code), mapping: mapping))
                needsExecutor = true
            } else {
                throw GraphQLFailure("A preview names a built-in or code evaluator, or gives an inline LLM or code evaluator")
            }
        }
        var outcomes: [EvaluatorExecutor.Outcome] = []
        if needsExecutor {
            let playground = try context.requirePlayground()
            let given = try CallSettings(credentials: input.credentials, connection: nil, headers: nil, family: nil).given
            let prepared = await playground.evaluators.prepare(specs, scope: context.scope, given: given, prices: await playground.prices(for: context.scope.organization))
            for (evaluator, preview) in zip(prepared, input.previews) {
                outcomes += await playground.evaluators.evaluate([evaluator], context: preview.context.value)
            }
        } else {
            for (spec, preview) in zip(specs, input.previews) {
                outcomes.append(EvaluatorExecutor.evaluateBuiltIn(spec, context: preview.context.value))
            }
        }
        return EvaluatorPreviewsPayload(
            results: outcomes.map { outcome in
                let e = outcome.evaluation
                return EvaluationResultNode(
                    evaluatorName: e.name, annotation: e.error == nil ? ExperimentRunAnnotationNode(row: ExperimentEvaluationRow(unsaved: e)) : nil,
                    error: e.error)
            })
    }
}

struct EvaluateExperimentInput: Codable, Sendable {
    var experimentId: NodeID
    /// The dataset's evaluators to run; all of them when none are named.
    var datasetEvaluatorIds: [NodeID]?
}

struct EvaluateExperimentPayload: Sendable {
    let experiment: ExperimentNode
    /// Runs queued to be scored (the runner writes their annotations, replacing those of the same name).
    let queued: Int
}

extension QueryRoot {
    struct EvaluateExperimentArguments: Codable, Sendable { var input: EvaluateExperimentInput }

    /// Runs evaluators again on an experiment's recorded runs (Cinder's addition).
    func evaluateExperiment(context: GraphQLContext, arguments: EvaluateExperimentArguments) async throws -> EvaluateExperimentPayload {
        let input = arguments.input
        guard let id = GlobalID(encoded: input.experimentId.value, type: NodeType.experiment)?.rowID,
            let experiment = try await context.scope.experiments.experiment(id: id)
        else { throw GraphQLFailure("Experiment not found: \(input.experimentId.value)") }
        let selection = try (input.datasetEvaluatorIds ?? []).map { EvaluatorSpec.Selected(.datasetEvaluator(id: try $0.rowID(of: DatasetEvaluatorNode.typeName)), name: nil, mapping: nil) }
        let evaluators = try await EvaluatorSpec.forJob(scope: context.scope, datasetID: experiment.datasetID, selection: selection)
        guard case .array(let list) = evaluators, !list.isEmpty else { throw GraphQLFailure("The experiment's dataset has no evaluators to run") }
        guard let queued = try await context.scope.onlineEvaluation.requestEvaluation(
            experimentID: experiment.id, evaluators: evaluators, userID: context.access.user?.rawValue)
        else { throw GraphQLFailure("Experiment not found: \(input.experimentId.value)") }
        return EvaluateExperimentPayload(experiment: ExperimentNode(row: experiment), queued: queued)
    }
}

extension CinderSchema {
    static func addEvaluators(_ builder: Builder) {
        builder.add {
            Enum(EvaluatorKindValue.self, as: "EvaluatorKind") {
                Value(.LLM)
                Value(.CODE)
                Value(.BUILTIN)
            }
            Enum(OptimizationDirectionValue.self, as: "OptimizationDirection") {
                Value(.MAXIMIZE)
                Value(.MINIMIZE)
                Value(.NONE)
            }
            Enum(AnnotationTypeValue.self, as: "AnnotationType") {
                Value(.CATEGORICAL)
                Value(.CONTINUOUS)
                Value(.FREEFORM)
            }
            Type(CategoricalValueNode.self, as: "CategoricalAnnotationValue") {
                Field("label", at: \.label)
                Field("score", at: \.score)
            }
            Type(CategoricalConfigNode.self, as: "CategoricalAnnotationConfig") {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("annotationType", at: \.annotationType)
                Field("optimizationDirection", at: \.optimizationDirection)
                Field("values", at: \.values)
            }
            Type(ContinuousConfigNode.self, as: "ContinuousAnnotationConfig") {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("annotationType", at: \.annotationType)
                Field("optimizationDirection", at: \.optimizationDirection)
                Field("lowerBound", at: \.lowerBound)
                Field("upperBound", at: \.upperBound)
            }
            Type(FreeformConfigNode.self, as: "FreeformAnnotationConfig") {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("annotationType", at: \.annotationType)
                Field("optimizationDirection", at: \.optimizationDirection)
            }
            Union(
                (any OutputConfigValue).self, as: "BuiltInEvaluatorOutputConfig",
                members: CategoricalConfigNode.self, ContinuousConfigNode.self, FreeformConfigNode.self)
            Type(InputMappingNode.self, as: "EvaluatorInputMapping") {
                Field("literalMapping", at: \.literalMapping)
                Field("pathMapping", at: \.pathMapping)
            }
            Interface((any EvaluatorFields).self, as: "Evaluator") {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("kind", at: \.kind)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("isBuiltin", at: \.isBuiltin)
            }
            Type(BuiltInEvaluatorNode.self, as: BuiltInEvaluatorNode.typeName, interfaces: [(any EvaluatorFields).self, (any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("kind", at: \.kind)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("isBuiltin", at: \.isBuiltin)
                Field("inputSchema", at: \.inputSchema)
                Field("outputConfigs", at: \.outputConfigs)
            }
            Type(LLMEvaluatorNode.self, as: LLMEvaluatorNode.typeName, interfaces: [(any EvaluatorFields).self, (any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("metadata", at: \.metadata)
                Field("kind", at: \.kind)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("isBuiltin", at: \.isBuiltin)
                Field("inputSchema", at: \.inputSchema)
                Field("outputConfigs", at: \.outputConfigs)
                Field("prompt", at: LLMEvaluatorNode.prompt)
                Field("promptVersion", at: LLMEvaluatorNode.promptVersion)
            }
            Type(DatasetEvaluatorNode.self, as: DatasetEvaluatorNode.typeName, interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("updatedAt", at: \.updatedAt)
                Field("dataset", at: DatasetEvaluatorNode.dataset)
                Field("evaluator", at: DatasetEvaluatorNode.evaluator)
                Field("outputConfigs", at: \.outputConfigs)
                Field("inputMapping", at: \.inputMapping)
            }
            Type(TextContentValueNode.self, as: "TextContentValue") { Field("text", at: \.text) }
            Type(TextContentPartNode.self, as: "TextContentPart") { Field("text", at: \.text) }
            Type(JudgeMessageNode.self, as: "PromptMessage") {
                Field("role", at: \.roleValue)
                Field("content", at: \.content)
            }
            Type(ClassificationConfigNode.self, as: "ClassificationEvaluatorConfig") {
                Field("name", at: \.name)
                Field("description", at: \.description)
                Field("optimizationDirection", at: \.optimizationDirection)
                Field("messages", at: \.messages)
                Field("choices", at: \.choices)
            }
            Input(CategoricalValueInput.self, as: "CategoricalAnnotationConfigValueInput") {
                InputField("label", at: \.label)
                InputField("score", at: \.score)
            }
            Input(CategoricalConfigInput.self, as: "CategoricalAnnotationConfigInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("optimizationDirection", at: \.optimizationDirection)
                InputField("values", at: \.values)
            }
            Input(ContinuousConfigInput.self, as: "ContinuousAnnotationConfigInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("optimizationDirection", at: \.optimizationDirection)
                InputField("lowerBound", at: \.lowerBound)
                InputField("upperBound", at: \.upperBound)
            }
            Input(FreeformConfigInput.self, as: "FreeformAnnotationConfigInput") {
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("optimizationDirection", at: \.optimizationDirection)
                InputField("threshold", at: \.threshold)
                InputField("lowerBound", at: \.lowerBound)
                InputField("upperBound", at: \.upperBound)
            }
            Input(AnnotationConfigInput.self, as: "AnnotationConfigInput") {
                InputField("categorical", at: \.categorical)
                InputField("continuous", at: \.continuous)
                InputField("freeform", at: \.freeform)
            }
            Input(EvaluatorInputMappingInput.self, as: "EvaluatorInputMappingInput") {
                InputField("literalMapping", at: \.literalMapping)
                InputField("pathMapping", at: \.pathMapping)
            }
            Input(CreateDatasetBuiltinEvaluatorInput.self, as: "CreateDatasetBuiltinEvaluatorInput") {
                InputField("datasetId", at: \.datasetId)
                InputField("evaluatorId", at: \.evaluatorId)
                InputField("name", at: \.name)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("description", at: \.description)
            }
            Input(UpdateDatasetBuiltinEvaluatorInput.self, as: "UpdateDatasetBuiltinEvaluatorInput") {
                InputField("datasetEvaluatorId", at: \.datasetEvaluatorId)
                InputField("name", at: \.name)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("description", at: \.description)
            }
            Input(CreateDatasetLLMEvaluatorInput.self, as: "CreateDatasetLLMEvaluatorInput") {
                InputField("datasetId", at: \.datasetId)
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("promptVersionId", at: \.promptVersionId)
                InputField("promptVersion", at: \.promptVersion)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("inputMapping", at: \.inputMapping)
            }
            Input(UpdateDatasetLLMEvaluatorInput.self, as: "UpdateDatasetLLMEvaluatorInput") {
                InputField("datasetEvaluatorId", at: \.datasetEvaluatorId)
                InputField("datasetId", at: \.datasetId)
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("promptVersionId", at: \.promptVersionId)
                InputField("promptVersion", at: \.promptVersion)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("inputMapping", at: \.inputMapping)
            }
            Input(DeleteDatasetEvaluatorsInput.self, as: "DeleteDatasetEvaluatorsInput") {
                InputField("datasetEvaluatorIds", at: \.datasetEvaluatorIds)
                InputField("deleteAssociatedPrompt", at: \.deleteAssociatedPrompt).defaultValue(true)
            }
            Input(InlineLLMEvaluatorInput.self, as: "InlineLLMEvaluatorInput") {
                InputField("name", at: \.name)
                InputField("promptVersion", at: \.promptVersion)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("description", at: \.description)
            }
            Input(EvaluatorPreviewInput.self, as: "EvaluatorPreviewInput") {
                InputField("builtInEvaluatorId", at: \.builtInEvaluatorId)
                InputField("inlineLlmEvaluator", at: \.inlineLlmEvaluator)
                InputField("codeEvaluatorId", at: \.codeEvaluatorId)
                InputField("inlineCodeEvaluator", at: \.inlineCodeEvaluator)
            }
            Input(EvaluatorPreviewItemInput.self, as: "EvaluatorPreviewItemInput") {
                InputField("evaluator", at: \.evaluator)
                InputField("context", at: \.context)
                InputField("inputMapping", at: \.inputMapping)
            }
            Input(EvaluatorPreviewsInput.self, as: "EvaluatorPreviewsInput") {
                InputField("previews", at: \.previews)
                InputField("credentials", at: \.credentials)
            }
            Type(DatasetEvaluatorMutationPayload.self, as: "DatasetEvaluatorMutationPayload") { Field("evaluator", at: \.evaluator) }
            Type(DeleteDatasetEvaluatorsPayload.self, as: "DeleteDatasetEvaluatorsPayload") { Field("datasetEvaluatorIds", at: \.datasetEvaluatorIds) }
            Type(EvaluationResultNode.self, as: "EvaluationResult") {
                Field("evaluatorName", at: \.evaluatorName)
                Field("annotation", at: \.annotation)
                Field("error", at: \.error)
            }
            Type(EvaluatorPreviewsPayload.self, as: "EvaluatorPreviewsPayload") { Field("results", at: \.results) }
            Input(EvaluateExperimentInput.self, as: "EvaluateExperimentInput") {
                InputField("experimentId", at: \.experimentId)
                InputField("datasetEvaluatorIds", at: \.datasetEvaluatorIds)
            }
            Type(EvaluateExperimentPayload.self, as: "EvaluateExperimentPayload") {
                Field("experiment", at: \.experiment)
                Field("queued", at: \.queued)
            }
        }
        addConnection(builder, DatasetEvaluatorNode.self, "DatasetEvaluator")
        addConnection(builder, (any EvaluatorFields).self, "Evaluator")
    }
}
