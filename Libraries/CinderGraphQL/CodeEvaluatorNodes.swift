import CinderEvaluators
import CinderModel
import CinderRunner
import CinderStorage
import Graphiti

// MARK: - Phoenix's code evaluators: Python a user wrote, versioned, run in the sandbox

enum LanguageValue: String, Codable, Sendable, CaseIterable { case PYTHON, TYPESCRIPT }

struct CodeEvaluatorNode: EvaluatorFields {
    static let typeName = "CodeEvaluator"
    let row: EvaluatorRow

    var id: NodeID { NodeID(Self.typeName, row.id) }
    var name: Identifier { Identifier(row.name) }
    var description: String? { row.description }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var kind: EvaluatorKindValue { .CODE }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
    var isBuiltin: Bool { false }
    var inputSchema: JSONScalar? { nil }
    var outputConfigs: [any OutputConfigValue] {
        guard let config = row.definition["output_config"], config != .null else { return [] }
        return OutputConfig.nodes(.array([config]))
    }
    var sourceCode: String { row.sourceCode ?? "" }
    var language: LanguageValue { LanguageValue(rawValue: row.definition["language"]?.stringValue ?? "") ?? .PYTHON }
    var inputMapping: InputMappingNode { InputMappingNode(mapping: (try? InputMapping(json: row.definition["input_mapping"])) ?? InputMapping()) }

    func versions(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<CodeVersionNode> {
        let all = try await context.scope.evaluators.codeVersions(evaluatorID: row.id)
        let after = try Cursor.decode(arguments.after, parts: 1)?[0]
        let rows = Array(all.drop { after != nil && $0.id >= after! }.prefix(arguments.limit + 1))
        return NodeConnection(
            rows: rows, limit: arguments.limit, hadCursor: after != nil, cursor: { Cursor.encode($0.id) }, node: { version, _ in CodeVersionNode(row: version) })
    }

    func versionCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.evaluators.codeVersions(evaluatorID: row.id).count
    }

    func currentVersion(context: GraphQLContext, arguments: NoArguments) async throws -> CodeVersionNode? {
        try await context.scope.evaluators.codeVersions(evaluatorID: row.id).first.map(CodeVersionNode.init)
    }
}

struct CodeVersionNode: RelayNode {
    static let typeName = "CodeEvaluatorVersion"
    let row: CodeVersionRow
    var id: NodeID { NodeID(Self.typeName, row.id) }
    var sourceCode: String { row.sourceCode }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var sequenceNumber: Int { row.sequenceNumber }
    var inputSchema: JSONScalar { JSONScalar(.object([:])) }
}

extension EvaluatorRow {
    /// The node of the evaluator's kind.
    var node: any EvaluatorFields { kind == "CODE" ? CodeEvaluatorNode(row: self) : LLMEvaluatorNode(row: self) }
}

struct CreateCodeEvaluatorInput: Codable, Sendable {
    var name: Identifier
    var sourceCode: String
    var language: LanguageValue
    /// Phoenix names a sandbox configuration; this server has one sandbox, so the id is not needed.
    var sandboxConfigId: NodeID?
    var description: String?
    var outputConfigs: [AnnotationConfigInput]?
    var inputMapping: EvaluatorInputMappingInput?
}
struct PatchCodeEvaluatorInput: Codable, Sendable {
    var id: NodeID
    var name: Identifier?
    var description: String?
    var sandboxConfigId: NodeID?
    var inputMapping: EvaluatorInputMappingInput?
    var outputConfigs: [AnnotationConfigInput]?
}
struct CreateCodeEvaluatorVersionInput: Codable, Sendable {
    var codeEvaluatorId: NodeID
    var sourceCode: String
}
struct CreateDatasetCodeEvaluatorInput: Codable, Sendable {
    var datasetId: NodeID
    var evaluatorId: NodeID
    var name: Identifier
    var inputMapping: EvaluatorInputMappingInput?
    var outputConfigs: [AnnotationConfigInput]?
    var description: String?
}
struct UpdateDatasetCodeEvaluatorInput: Codable, Sendable {
    var datasetEvaluatorId: NodeID
    var name: Identifier
    var inputMapping: EvaluatorInputMappingInput?
    var outputConfigs: [AnnotationConfigInput]?
    var description: String?
}
struct InlineCodeEvaluatorInput: Codable, Sendable {
    var name: String
    var language: LanguageValue
    var sourceCode: String
    var outputConfigs: [AnnotationConfigInput]
    var sandboxConfigId: NodeID?
    var description: String?
}

struct CodeEvaluatorMutationPayload: Sendable { let evaluator: CodeEvaluatorNode }
struct CreateCodeEvaluatorVersionPayload: Sendable {
    let evaluator: CodeEvaluatorNode
    let wasCreated: Bool
}

extension QueryRoot {
    struct CreateCodeEvaluatorArguments: Codable, Sendable { var input: CreateCodeEvaluatorInput }
    struct PatchCodeEvaluatorArguments: Codable, Sendable { var input: PatchCodeEvaluatorInput }
    struct CreateCodeEvaluatorVersionArguments: Codable, Sendable { var input: CreateCodeEvaluatorVersionInput }
    struct CreateDatasetCodeEvaluatorArguments: Codable, Sendable { var input: CreateDatasetCodeEvaluatorInput }
    struct UpdateDatasetCodeEvaluatorArguments: Codable, Sendable { var input: UpdateDatasetCodeEvaluatorInput }

    /// A code evaluator's language, source and output config, checked.
    static func codeEvaluator(language: LanguageValue, source: String, configs: [AnnotationConfigInput]?) throws -> CodeEvaluator {
        let config = try configs.map { configs -> OutputConfig? in
            guard configs.count <= 1 else { throw GraphQLFailure("A code evaluator has at most one output config") }
            return try configs.first?.config()
        } ?? nil
        do {
            return try CodeEvaluator(language: language.rawValue, source: source, outputConfig: config)
        } catch {
            throw GraphQLFailure(error.description)
        }
    }

    /// One of the organization's code evaluators, as it runs now (its current version).
    static func storedCodeEvaluator(_ id: NodeID, _ context: GraphQLContext) async throws -> (row: EvaluatorRow, code: CodeEvaluator) {
        guard let row = try await context.scope.evaluators.evaluator(id: try id.rowID(of: CodeEvaluatorNode.typeName)), row.kind == "CODE" else {
            throw GraphQLFailure("Code evaluator not found: \(id.value)")
        }
        do {
            return (row, try row.codeEvaluator())
        } catch {
            throw GraphQLFailure(error.description)
        }
    }

    static func definition(_ code: CodeEvaluator, mapping: InputMapping?) -> JSONValue {
        ["language": .string(code.language), "output_config": code.outputConfig?.json ?? .null, "input_mapping": (mapping ?? InputMapping()).json]
    }

    func createCodeEvaluator(context: GraphQLContext, arguments: CreateCodeEvaluatorArguments) async throws -> CodeEvaluatorMutationPayload {
        let input = arguments.input
        let code = try Self.codeEvaluator(language: input.language, source: input.sourceCode, configs: input.outputConfigs)
        let row = try await context.scope.evaluators.createCodeEvaluator(
            name: try Self.checkName(input.name), description: input.description, definition: Self.definition(code, mapping: try input.inputMapping?.mapping()),
            sourceCode: code.source, userID: context.access.user?.rawValue)
        return CodeEvaluatorMutationPayload(evaluator: CodeEvaluatorNode(row: row))
    }

    func patchCodeEvaluator(context: GraphQLContext, arguments: PatchCodeEvaluatorArguments) async throws -> CodeEvaluatorMutationPayload {
        let input = arguments.input
        let id = try input.id.rowID(of: CodeEvaluatorNode.typeName)
        guard let existing = try await context.scope.evaluators.evaluator(id: id), existing.kind == "CODE" else {
            throw GraphQLFailure("Code evaluator not found: \(input.id.value)")
        }
        var definition: JSONValue?
        if input.outputConfigs != nil || input.inputMapping != nil {
            let language = LanguageValue(rawValue: existing.definition["language"]?.stringValue ?? "") ?? .PYTHON
            let code = try Self.codeEvaluator(language: language, source: existing.sourceCode ?? "", configs: input.outputConfigs)
            var updated = existing.definition
            if input.outputConfigs != nil { updated = updated.adding("output_config", code.outputConfig?.json ?? .null) }
            if let mapping = try input.inputMapping?.mapping() { updated = updated.adding("input_mapping", mapping.json) }
            definition = updated
        }
        guard let row = try await context.scope.evaluators.patchEvaluator(
            id: id, name: try input.name.map(Self.checkName), description: input.description, definition: definition)
        else { throw GraphQLFailure("Code evaluator not found: \(input.id.value)") }
        return CodeEvaluatorMutationPayload(evaluator: CodeEvaluatorNode(row: row))
    }

    func createCodeEvaluatorVersion(context: GraphQLContext, arguments: CreateCodeEvaluatorVersionArguments) async throws -> CreateCodeEvaluatorVersionPayload {
        let input = arguments.input
        let id = try input.codeEvaluatorId.rowID(of: CodeEvaluatorNode.typeName)
        _ = try Self.codeEvaluator(language: .PYTHON, source: input.sourceCode, configs: nil)
        guard let created = try await context.scope.evaluators.addCodeVersion(evaluatorID: id, sourceCode: input.sourceCode, userID: context.access.user?.rawValue),
            let row = try await context.scope.evaluators.evaluator(id: id)
        else { throw GraphQLFailure("Code evaluator not found: \(input.codeEvaluatorId.value)") }
        return CreateCodeEvaluatorVersionPayload(evaluator: CodeEvaluatorNode(row: row), wasCreated: created)
    }

    func createDatasetCodeEvaluator(context: GraphQLContext, arguments: CreateDatasetCodeEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let id = try input.evaluatorId.rowID(of: CodeEvaluatorNode.typeName)
        guard let evaluator = try await context.scope.evaluators.evaluator(id: id), evaluator.kind == "CODE" else {
            throw GraphQLFailure("Code evaluator not found: \(input.evaluatorId.value)")
        }
        let mapping = try input.inputMapping?.mapping() ?? (try? InputMapping(json: evaluator.definition["input_mapping"])) ?? InputMapping()
        let row = try await context.scope.evaluators.attach(
            datasetID: try input.datasetId.rowID(of: NodeType.dataset), choice: .existing(id: id), name: try Self.checkName(input.name), description: input.description,
            inputMapping: mapping.json, outputConfigs: try Self.configsJSON(input.outputConfigs), userID: context.access.user?.rawValue)
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }

    func updateDatasetCodeEvaluator(context: GraphQLContext, arguments: UpdateDatasetCodeEvaluatorArguments) async throws -> DatasetEvaluatorMutationPayload {
        let input = arguments.input
        let id = try input.datasetEvaluatorId.rowID(of: DatasetEvaluatorNode.typeName)
        guard let existing = try await context.scope.evaluators.datasetEvaluator(id: id), existing.evaluator?.kind == "CODE" else {
            throw GraphQLFailure("Code dataset evaluator not found: \(input.datasetEvaluatorId.value)")
        }
        guard let row = try await context.scope.evaluators.update(
            id: id, name: try Self.checkName(input.name), description: input.description,
            inputMapping: try input.inputMapping?.mapping().json ?? existing.inputMapping, outputConfigs: try Self.configsJSON(input.outputConfigs),
            definition: nil)
        else { throw GraphQLFailure("Dataset evaluator not found: \(input.datasetEvaluatorId.value)") }
        return DatasetEvaluatorMutationPayload(evaluator: DatasetEvaluatorNode(row: row))
    }
}

extension CinderSchema {
    static func addCodeEvaluators(_ builder: Builder) {
        builder.add {
            Enum(LanguageValue.self, as: "Language") {
                Value(.PYTHON)
                Value(.TYPESCRIPT)
            }
            Type(CodeVersionNode.self, as: CodeVersionNode.typeName, interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("sourceCode", at: \.sourceCode)
                Field("createdAt", at: \.createdAt)
                Field("inputSchema", at: \.inputSchema)
                Field("sequenceNumber", at: \.sequenceNumber)
            }
            Type(CodeEvaluatorNode.self, as: CodeEvaluatorNode.typeName, interfaces: [(any EvaluatorFields).self, (any RelayNode).self]) {
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
                Field("inputMapping", at: \.inputMapping)
                Field("sourceCode", at: \.sourceCode)
                Field("language", at: \.language)
                Field("currentVersion", at: CodeEvaluatorNode.currentVersion)
                Field("versionCount", at: CodeEvaluatorNode.versionCount)
                Field("versions", at: CodeEvaluatorNode.versions) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            }
            Input(CreateCodeEvaluatorInput.self, as: "CreateCodeEvaluatorInput") {
                InputField("name", at: \.name)
                InputField("sourceCode", at: \.sourceCode)
                InputField("language", at: \.language)
                InputField("sandboxConfigId", at: \.sandboxConfigId)
                InputField("description", at: \.description)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("inputMapping", at: \.inputMapping)
            }
            Input(PatchCodeEvaluatorInput.self, as: "PatchCodeEvaluatorInput") {
                InputField("id", at: \.id)
                InputField("name", at: \.name)
                InputField("description", at: \.description)
                InputField("sandboxConfigId", at: \.sandboxConfigId)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
            }
            Input(CreateCodeEvaluatorVersionInput.self, as: "CreateCodeEvaluatorVersionInput") {
                InputField("codeEvaluatorId", at: \.codeEvaluatorId)
                InputField("sourceCode", at: \.sourceCode)
            }
            Input(CreateDatasetCodeEvaluatorInput.self, as: "CreateDatasetCodeEvaluatorInput") {
                InputField("datasetId", at: \.datasetId)
                InputField("evaluatorId", at: \.evaluatorId)
                InputField("name", at: \.name)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("description", at: \.description)
            }
            Input(UpdateDatasetCodeEvaluatorInput.self, as: "UpdateDatasetCodeEvaluatorInput") {
                InputField("datasetEvaluatorId", at: \.datasetEvaluatorId)
                InputField("name", at: \.name)
                InputField("inputMapping", at: \.inputMapping)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("description", at: \.description)
            }
            Input(InlineCodeEvaluatorInput.self, as: "InlineCodeEvaluatorInput") {
                InputField("name", at: \.name)
                InputField("language", at: \.language)
                InputField("sourceCode", at: \.sourceCode)
                InputField("outputConfigs", at: \.outputConfigs)
                InputField("sandboxConfigId", at: \.sandboxConfigId)
                InputField("description", at: \.description)
            }
            Type(CodeEvaluatorMutationPayload.self, as: "CodeEvaluatorMutationPayload") { Field("evaluator", at: \.evaluator) }
            Type(CreateCodeEvaluatorVersionPayload.self, as: "CreateCodeEvaluatorVersionPayload") {
                Field("evaluator", at: \.evaluator)
                Field("wasCreated", at: \.wasCreated)
            }
        }
        addConnection(builder, CodeVersionNode.self, "CodeEvaluatorVersion")
    }
}
