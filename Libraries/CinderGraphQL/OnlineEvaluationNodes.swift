import CinderEvaluators
import CinderModel
import CinderRunner
import CinderStorage
import Graphiti

// MARK: - Online evaluation rules (Cinder's addition: Phoenix has none)

struct OnlineRuleNode: RelayNode {
    static let typeName = "OnlineEvaluationRule"
    let row: OnlineRuleRow

    var id: NodeID { NodeID(Self.typeName, row.id) }
    var name: String { row.name }
    var projectId: NodeID { NodeID(NodeType.project, row.projectID) }
    var evaluatorKind: EvaluatorKindValue { EvaluatorKindValue(rawValue: row.evaluator["kind"]?.stringValue ?? "") ?? .BUILTIN }
    /// The evaluator as the rule runs it (a copy made when the rule was saved).
    var evaluator: JSONScalar { JSONScalar(row.evaluator) }
    var filterCondition: String { row.filterCondition }
    var samplingRate: Double { row.samplingRate }
    var enabled: Bool { row.enabled }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }

    /// Spans queued for the rule and not yet scored.
    func backlog(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.onlineEvaluation.backlog(ruleIDs: [row.id])[row.id] ?? 0
    }
}

/// The evaluator a rule runs: a built-in one, one of the organization's code evaluators (its current
/// version, copied), or an LLM judge given inline.
struct OnlineRuleEvaluatorInput: Codable, Sendable {
    var builtInEvaluatorId: NodeID?
    var codeEvaluatorId: NodeID?
    var inlineLlmEvaluator: InlineLLMEvaluatorInput?
}

struct OnlineRuleInput: Codable, Sendable {
    var projectId: NodeID?
    var id: NodeID?
    var name: Identifier
    var evaluator: OnlineRuleEvaluatorInput
    var inputMapping: EvaluatorInputMappingInput?
    var filterCondition: String?
    var samplingRate: Double?
    var enabled: Bool?
}

struct DeleteOnlineRuleInput: Codable, Sendable { var id: NodeID }
struct BackfillOnlineRuleInput: Codable, Sendable {
    var id: NodeID
    var startTime: DateTime
    var endTime: DateTime
}

struct OnlineRulePayload: Sendable { let rule: OnlineRuleNode }
struct BackfillOnlineRulePayload: Sendable {
    let rule: OnlineRuleNode
    let queued: Int
}

extension ProjectNode {
    func onlineEvaluationRules(context: GraphQLContext, arguments: NoArguments) async throws -> [OnlineRuleNode] {
        try await context.scope.onlineEvaluation.rules(projectID: row.id).map(OnlineRuleNode.init)
    }
}

extension QueryRoot {
    struct OnlineRuleArguments: Codable, Sendable { var input: OnlineRuleInput }
    struct DeleteOnlineRuleArguments: Codable, Sendable { var input: DeleteOnlineRuleInput }
    struct BackfillOnlineRuleArguments: Codable, Sendable { var input: BackfillOnlineRuleInput }

    /// The rule's stored form, checked: its evaluator resolved and copied, its filter compiled.
    static func onlineRuleChange(_ input: OnlineRuleInput, _ context: GraphQLContext) async throws -> OnlineRuleChange {
        let name = try checkName(input.name)
        let mapping = try input.inputMapping?.mapping() ?? InputMapping()
        let choice = input.evaluator
        guard [choice.builtInEvaluatorId != nil, choice.codeEvaluatorId != nil, choice.inlineLlmEvaluator != nil].filter({ $0 }).count == 1 else {
            throw GraphQLFailure("A rule's evaluator is exactly one of builtInEvaluatorId, codeEvaluatorId and inlineLlmEvaluator")
        }
        let spec: EvaluatorSpec
        if let id = choice.builtInEvaluatorId {
            spec = EvaluatorSpec(name: name, runs: .builtIn(try builtInEvaluator(id)), mapping: mapping)
        } else if let id = choice.codeEvaluatorId {
            spec = EvaluatorSpec(name: name, runs: .code(try await storedCodeEvaluator(id, context).code), mapping: mapping)
        } else {
            let inline = choice.inlineLlmEvaluator!
            spec = try judge(name: name, prompt: inline.promptVersion, configs: inline.outputConfigs, mapping: mapping).spec
        }
        let filter = input.filterCondition?.trimmingCharacters(in: .whitespaces) ?? ""
        _ = try ProjectNode.condition(filter)
        let rate = input.samplingRate ?? 1
        guard rate > 0, rate <= 1 else { throw GraphQLFailure("samplingRate must be more than 0 and at most 1") }
        return OnlineRuleChange(name: name, evaluator: spec.json, filterCondition: filter, samplingRate: rate, enabled: input.enabled ?? true)
    }

    func createOnlineEvaluationRule(context: GraphQLContext, arguments: OnlineRuleArguments) async throws -> OnlineRulePayload {
        guard let project = arguments.input.projectId, let projectID = GlobalID(encoded: project.value, type: NodeType.project)?.rowID else {
            throw GraphQLFailure("Project not found: \(arguments.input.projectId?.value ?? "")")
        }
        let change = try await Self.onlineRuleChange(arguments.input, context)
        let row = try await context.scope.onlineEvaluation.create(projectID: projectID, change, userID: context.access.user?.rawValue)
        return OnlineRulePayload(rule: OnlineRuleNode(row: row))
    }

    func updateOnlineEvaluationRule(context: GraphQLContext, arguments: OnlineRuleArguments) async throws -> OnlineRulePayload {
        guard let given = arguments.input.id else { throw GraphQLFailure("An update names the rule's id") }
        let id = try given.rowID(of: OnlineRuleNode.typeName)
        let change = try await Self.onlineRuleChange(arguments.input, context)
        guard let row = try await context.scope.onlineEvaluation.update(id: id, change) else {
            throw GraphQLFailure("Online evaluation rule not found: \(arguments.input.id?.value ?? "")")
        }
        return OnlineRulePayload(rule: OnlineRuleNode(row: row))
    }

    func deleteOnlineEvaluationRule(context: GraphQLContext, arguments: DeleteOnlineRuleArguments) async throws -> OnlineRulePayload {
        guard let row = try await context.scope.onlineEvaluation.delete(id: try arguments.input.id.rowID(of: OnlineRuleNode.typeName)) else {
            throw GraphQLFailure("Online evaluation rule not found: \(arguments.input.id.value)")
        }
        return OnlineRulePayload(rule: OnlineRuleNode(row: row))
    }

    /// Scores the spans that arrived in a time range (before the rule existed, or while it was off).
    func backfillOnlineEvaluationRule(context: GraphQLContext, arguments: BackfillOnlineRuleArguments) async throws -> BackfillOnlineRulePayload {
        let input = arguments.input
        guard input.startTime.micros < input.endTime.micros else { throw GraphQLFailure("startTime must be before endTime") }
        let id = try input.id.rowID(of: OnlineRuleNode.typeName)
        guard let queued = try await context.scope.onlineEvaluation.backfill(ruleID: id, startMicros: input.startTime.micros, endMicros: input.endTime.micros),
            let row = try await context.scope.onlineEvaluation.rules(ids: [id], onPrimary: true).first
        else { throw GraphQLFailure("Online evaluation rule not found: \(input.id.value)") }
        return BackfillOnlineRulePayload(rule: OnlineRuleNode(row: row), queued: queued)
    }
}

extension CinderSchema {
    static func addOnlineEvaluation(_ builder: Builder) {
        builder.add {
            Type(OnlineRuleNode.self, as: OnlineRuleNode.typeName, interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("name", at: \.name)
                Field("projectId", at: \.projectId)
                Field("evaluatorKind", at: \.evaluatorKind)
                Field("evaluator", at: \.evaluator)
                Field("filterCondition", at: \.filterCondition)
                Field("samplingRate", at: \.samplingRate)
                Field("enabled", at: \.enabled)
                Field("createdAt", at: \.createdAt)
                Field("updatedAt", at: \.updatedAt)
                Field("backlog", at: OnlineRuleNode.backlog)
            }
            Input(OnlineRuleEvaluatorInput.self, as: "OnlineEvaluationRuleEvaluatorInput") {
                InputField("builtInEvaluatorId", at: \.builtInEvaluatorId)
                InputField("codeEvaluatorId", at: \.codeEvaluatorId)
                InputField("inlineLlmEvaluator", at: \.inlineLlmEvaluator)
            }
            Input(OnlineRuleInput.self, as: "OnlineEvaluationRuleInput") {
                InputField("projectId", at: \.projectId)
                InputField("id", at: \.id)
                InputField("name", at: \.name)
                InputField("evaluator", at: \.evaluator)
                InputField("inputMapping", at: \.inputMapping)
                InputField("filterCondition", at: \.filterCondition)
                InputField("samplingRate", at: \.samplingRate)
                InputField("enabled", at: \.enabled)
            }
            Input(DeleteOnlineRuleInput.self, as: "DeleteOnlineEvaluationRuleInput") { InputField("id", at: \.id) }
            Input(BackfillOnlineRuleInput.self, as: "BackfillOnlineEvaluationRuleInput") {
                InputField("id", at: \.id)
                InputField("startTime", at: \.startTime)
                InputField("endTime", at: \.endTime)
            }
            Type(OnlineRulePayload.self, as: "OnlineEvaluationRulePayload") { Field("rule", at: \.rule) }
            Type(BackfillOnlineRulePayload.self, as: "BackfillOnlineEvaluationRulePayload") {
                Field("rule", at: \.rule)
                Field("queued", at: \.queued)
            }
        }
    }
}
