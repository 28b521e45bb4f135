import CinderModel
import CinderStorage
import Graphiti

extension NodeConnection {
    /// A page of rows listed newest id first, whose cursor is the row id: `after` a cursor means
    /// at or before the id below it.
    static func byID<Row>(
        after: String?, limit: Int, fetch: (_ atOrBeforeID: Int64?, _ limit: Int) async throws -> [Row], id: (Row) -> Int64,
        node: (Row, Siblings<Row>) -> Node
    ) async throws -> NodeConnection<Node> {
        let cursor = try Cursor.decode(after, parts: 1)?[0]
        let rows = try await fetch(cursor.map { $0 - 1 }, limit + 1)
        return NodeConnection(rows: rows, limit: limit, hadCursor: cursor != nil, cursor: { Cursor.encode(id($0)) }, node: node)
    }
}

// MARK: - Datasets

struct DatasetNode: RelayNode {
    let row: DatasetRow

    var id: NodeID { NodeID(NodeType.dataset, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }

    struct VersionArguments: Codable, Sendable {
        var datasetVersionId: NodeID?
        var first: Int?
        var after: String?
    }

    /// The version asked for, or the latest; nil when the dataset has no version yet.
    func version(_ id: NodeID?, _ context: GraphQLContext) async throws -> DatasetVersionRow? {
        let versionID = try id.map { try $0.rowID(of: NodeType.datasetVersion) }
        guard let version = try await context.scope.datasets.datasetVersion(datasetID: row.id, id: versionID) else {
            if versionID != nil { throw GraphQLFailure("Unknown dataset version: \(id!.value)") }
            return nil
        }
        return version
    }

    func exampleCount(context: GraphQLContext, arguments: VersionArguments) async throws -> Int {
        guard arguments.datasetVersionId != nil else { return Int(row.exampleCount) }
        guard let version = try await version(arguments.datasetVersionId, context) else { return 0 }
        return Int(try await context.scope.datasets.datasetExampleCount(datasetID: row.id, versionID: version.id))
    }

    func examples(context: GraphQLContext, arguments: VersionArguments) async throws -> NodeConnection<DatasetExampleNode> {
        let limit = PageArguments(first: arguments.first).limit
        guard let version = try await version(arguments.datasetVersionId, context) else { return .empty }
        // Examples come in id order; the cursor is the last id served.
        let after = try Cursor.decode(arguments.after, parts: 1)?[0]
        let all = try await context.scope.datasets.datasetExamples(datasetID: row.id, versionID: version.id)
        let rows = Array(all.drop(while: { after != nil && $0.id <= after! }).prefix(limit + 1))
        return NodeConnection(
            rows: rows, limit: limit, hadCursor: after != nil, cursor: { Cursor.encode($0.id) },
            node: { example, _ in DatasetExampleNode(row: example, datasetID: row.id, versionID: version.id) })
    }

    func versions(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<DatasetVersionNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.datasets.datasetVersions(datasetID: row.id, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: { version, _ in DatasetVersionNode(row: version) })
    }

    func experimentCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.experiments.count(datasetID: row.id)
    }

    func experiments(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ExperimentNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.experiments.experiments(datasetID: row.id, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: { experiment, _ in ExperimentNode(row: experiment) })
    }

    func splits(context: GraphQLContext, arguments: NoArguments) async throws -> [DatasetSplitNode] {
        try await context.scope.datasets.datasetSplits(datasetID: row.id, atOrBeforeID: nil, limit: 10_000).map(DatasetSplitNode.init)
    }

    func labels(context: GraphQLContext, arguments: NoArguments) async throws -> [DatasetLabelNode] {
        try await context.scope.datasets.datasetLabels(datasetID: row.id).map(DatasetLabelNode.init)
    }
}

struct DatasetVersionNode: RelayNode {
    let row: DatasetVersionRow

    var id: NodeID { NodeID(NodeType.datasetVersion, row.id) }
    var description: String? { row.description }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
}

enum RevisionKindValue: String, Codable, CaseIterable, Sendable {
    case CREATE, PATCH, DELETE
}

struct DatasetExampleRevisionValue: Sendable {
    var input: JSONScalar
    var output: JSONScalar
    var metadata: JSONScalar
    var revisionKind: RevisionKindValue
    var createdAt: DateTime
}

struct DatasetExampleNode: RelayNode {
    let row: DatasetExampleRow
    let datasetID: Int64
    /// The version the example was read at.
    let versionID: Int64

    var id: NodeID { NodeID(NodeType.datasetExample, row.id) }
    var externalId: String? { row.externalID }
    var createdAt: DateTime { DateTime(micros: row.updatedMicros) }

    func dataset(context: GraphQLContext, arguments: NoArguments) async throws -> DatasetNode {
        guard let dataset = try await context.scope.datasets.dataset(id: datasetID) else { throw GraphQLFailure("The dataset was deleted") }
        return DatasetNode(row: dataset)
    }

    struct RevisionArguments: Codable, Sendable { var datasetVersionId: NodeID? }

    func revision(context: GraphQLContext, arguments: RevisionArguments) async throws -> DatasetExampleRevisionValue {
        var example = row
        if let asked = arguments.datasetVersionId {
            let versionID = try asked.rowID(of: NodeType.datasetVersion)
            guard try await context.scope.datasets.datasetVersion(datasetID: datasetID, id: versionID) != nil else {
                throw GraphQLFailure("Unknown dataset version: \(asked.value)")
            }
            guard let found = try await context.scope.datasets.datasetExamples(datasetID: datasetID, versionID: versionID).first(where: { $0.id == row.id })
            else { throw GraphQLFailure("The example does not exist in version \(asked.value)") }
            example = found
        }
        return DatasetExampleRevisionValue(
            input: JSONScalar(example.input), output: JSONScalar(example.output), metadata: JSONScalar(example.metadata),
            revisionKind: RevisionKindValue(rawValue: example.revisionKind) ?? .CREATE, createdAt: DateTime(micros: example.updatedMicros))
    }

    func datasetSplits(context: GraphQLContext, arguments: NoArguments) async throws -> [DatasetSplitNode] {
        guard !row.splits.isEmpty else { return [] }
        return try await context.scope.datasets.datasetSplits(datasetID: datasetID, ids: [], names: row.splits).map(DatasetSplitNode.init)
    }

    static func find(_ id: Int64, _ context: GraphQLContext) async throws -> DatasetExampleNode? {
        guard let datasetID = try await context.scope.datasets.datasetID(ofExample: id),
            let version = try await context.scope.datasets.datasetVersion(datasetID: datasetID, id: nil),
            let example = try await context.scope.datasets.datasetExamples(datasetID: datasetID, versionID: version.id).first(where: { $0.id == id })
        else { return nil }
        return DatasetExampleNode(row: example, datasetID: datasetID, versionID: version.id)
    }
}

struct DatasetSplitNode: Sendable {
    let row: DatasetSplitRow

    var id: NodeID { NodeID(NodeType.datasetSplit, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var color: String { row.color }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
}

struct DatasetLabelNode: Sendable {
    let row: DatasetLabelRow

    var id: NodeID { NodeID(NodeType.datasetLabel, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var color: String { row.color }
}

// MARK: - Experiments

struct ExperimentNode: RelayNode {
    let row: ExperimentRow

    /// Phoenix's `Experiment.costSummary`: what all its runs' tasks spent.
    func costSummary(context: GraphQLContext, arguments: NoArguments) async throws -> SpanCostSummaryValue {
        SpanCostSummaryValue(try await context.scope.spans.experimentTotals(experimentIDs: [row.id])[row.id] ?? .init())
    }

    var id: NodeID { NodeID(NodeType.experiment, row.id) }
    var name: String { row.name }
    var projectName: String? { row.projectName }
    var description: String? { row.description }
    var isEphemeral: Bool { false }
    var isBaseline: Bool { false }
    var repetitions: Int { row.repetitions }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }
    var runCount: Int { Int(row.successfulRuns + row.failedRuns) }
    var errorRate: Double? { runCount == 0 ? nil : Double(row.failedRuns) / Double(runCount) }

    func dataset(context: GraphQLContext, arguments: NoArguments) async throws -> DatasetNode {
        guard let dataset = try await context.scope.datasets.dataset(id: row.datasetID) else { throw GraphQLFailure("The dataset was deleted") }
        return DatasetNode(row: dataset)
    }

    func datasetVersion(context: GraphQLContext, arguments: NoArguments) async throws -> DatasetVersionNode {
        guard let version = try await context.scope.datasets.datasetVersion(datasetID: row.datasetID, id: row.datasetVersionID) else {
            throw GraphQLFailure("The dataset version was deleted")
        }
        return DatasetVersionNode(row: version)
    }

    func averageRunLatencyMs(context: GraphQLContext, arguments: NoArguments) async throws -> Double? {
        let runs = try await context.scope.experiments.experimentRuns(experimentID: row.id, atOrBeforeID: nil, limit: nil)
        guard !runs.isEmpty else { return nil }
        return runs.map { Double($0.endMicros - $0.startMicros) / 1000 }.reduce(0, +) / Double(runs.count)
    }

    func runs(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ExperimentRunNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.experiments.experimentRuns(experimentID: row.id, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: ExperimentRunNode.init)
    }

    func project(context: GraphQLContext, arguments: NoArguments) async throws -> ProjectNode? {
        guard let name = row.projectName, let project = try await context.scope.projects.project(named: name) else { return nil }
        return ProjectNode(row: project, siblings: Siblings([project]))
    }
}

struct ExperimentRunNode: RelayNode {
    let row: ExperimentRunRow
    let siblings: Siblings<ExperimentRunRow>

    var id: NodeID { NodeID(NodeType.experimentRun, row.id) }
    var experimentId: NodeID { NodeID(NodeType.experiment, row.experimentID) }
    var repetitionNumber: Int { row.repetition }
    var traceId: String? { row.traceID }
    var output: JSONScalar? { JSONScalar(row.output) }
    var startTime: DateTime { DateTime(micros: row.startMicros) }
    var endTime: DateTime { DateTime(micros: row.endMicros) }
    var error: String? { row.error }
    var latencyMs: Double { Double(row.endMicros - row.startMicros) / 1000 }

    /// Phoenix's `ExperimentRun.costSummary`: what the run's task spent (its trace's LLM spans), for every
    /// sibling run in one statement.
    func costSummary(context: GraphQLContext, arguments: NoArguments) async throws -> SpanCostSummaryValue {
        let scope = context.scope
        let totals = try await context.loads.load("ExperimentRun.costs", for: siblings) { rows in try await scope.spans.runTotals(runIDs: rows.map(\.id)) }
        return SpanCostSummaryValue(totals[row.id] ?? .init())
    }

    func annotations(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ExperimentRunAnnotationNode> {
        let scope = context.scope
        // Evaluations of every sibling run's experiment, one statement per experiment (a page of runs
        // belongs to one experiment).
        let byRun = try await context.loads.load("ExperimentRun.annotations", for: siblings) { rows in
            var all: [Int64: [ExperimentEvaluationRow]] = [:]
            for experiment in Set(rows.map(\.experimentID)) {
                all.merge(try await scope.experiments.experimentEvaluations(experimentID: experiment)) { $1 }
            }
            return all
        }
        let after = try Cursor.decode(arguments.after, parts: 1)?[0]
        let rows = Array((byRun[row.id] ?? []).drop(while: { after != nil && $0.id <= after! }).prefix(arguments.limit + 1))
        return NodeConnection(
            rows: rows, limit: arguments.limit, hadCursor: after != nil, cursor: { Cursor.encode($0.id) },
            node: { evaluation, _ in ExperimentRunAnnotationNode(row: evaluation) })
    }

    func example(context: GraphQLContext, arguments: NoArguments) async throws -> DatasetExampleNode {
        guard let example = try await DatasetExampleNode.find(row.exampleID, context) else {
            throw GraphQLFailure("The dataset example was deleted")
        }
        return example
    }
}

struct ExperimentRunAnnotationNode: RelayNode {
    let row: ExperimentEvaluationRow

    var id: NodeID { NodeID(NodeType.experimentEvaluation, row.id) }
    var name: String { row.name }
    var annotatorKind: String { row.annotatorKind }
    var label: String? { row.label }
    var score: Double? { row.score }
    var explanation: String? { row.explanation }
    var error: String? { row.error }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var startTime: DateTime { DateTime(micros: row.startMicros) }
    var endTime: DateTime { DateTime(micros: row.endMicros) }
    var traceId: NodeID? { row.traceID.map { NodeID(raw: $0) } }
}

// MARK: - Prompts

enum PromptTemplateTypeValue: String, Codable, CaseIterable, Sendable {
    case STRING, CHAT
}

enum PromptTemplateFormatValue: String, Codable, CaseIterable, Sendable {
    case MUSTACHE, F_STRING, NONE
}

struct PromptNode: RelayNode {
    let row: PromptRow
    let siblings: Siblings<PromptRow>

    var id: NodeID { NodeID(NodeType.prompt, row.id) }
    var sourcePromptId: NodeID? { row.sourcePromptID.map { NodeID(NodeType.prompt, $0) } }
    var name: Identifier { Identifier(row.name) }
    var description: String? { row.description }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }

    struct VersionArguments: Codable, Sendable {
        var versionId: NodeID?
        var tagName: Identifier?
    }

    func version(context: GraphQLContext, arguments: VersionArguments) async throws -> PromptVersionNode {
        let scope = context.scope
        let found: PromptVersionRow?
        if let versionId = arguments.versionId {
            found = try await scope.prompts.promptVersion(id: try versionId.rowID(of: NodeType.promptVersion)).flatMap { $0.promptID == row.id ? $0 : nil }
        } else if let tag = arguments.tagName {
            found = try await scope.prompts.promptVersion(promptID: row.id, tag: tag.value)
        } else {
            found = try await scope.prompts.promptVersions(promptID: row.id, atOrBeforeID: nil, limit: 1).first
        }
        guard let found else { throw GraphQLFailure("Prompt version not found") }
        return PromptVersionNode(row: found, siblings: Siblings([found]))
    }

    func versionTags(context: GraphQLContext, arguments: NoArguments) async throws -> [PromptVersionTagNode] {
        try await context.scope.prompts.tags(promptID: row.id).map { PromptVersionTagNode(row: $0.tag, versionID: $0.versionID) }
    }

    func promptVersions(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<PromptVersionNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.prompts.promptVersions(promptID: row.id, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: PromptVersionNode.init)
    }

    func sourcePrompt(context: GraphQLContext, arguments: NoArguments) async throws -> PromptNode? {
        guard let source = row.sourcePromptID, let prompt = try await context.scope.prompts.prompt(id: source, name: nil) else { return nil }
        return PromptNode(row: prompt, siblings: Siblings([prompt]))
    }
}

struct PromptVersionTagNode: RelayNode {
    let row: PromptTagRow
    let versionID: Int64

    var id: NodeID { NodeID(NodeType.promptVersionTag, row.id) }
    var promptVersionId: NodeID { NodeID(NodeType.promptVersion, versionID) }
    var name: Identifier { Identifier(row.name) }
    var description: String? { row.description }
}

struct PromptVersionNode: RelayNode {
    let row: PromptVersionRow
    let siblings: Siblings<PromptVersionRow>

    var id: NodeID { NodeID(NodeType.promptVersion, row.id) }
    var description: String? { row.content.description }
    var templateType: PromptTemplateTypeValue { row.content.templateType == "CHAT" ? .CHAT : .STRING }
    var templateFormat: PromptTemplateFormatValue { PromptTemplateFormatValue(rawValue: row.content.templateFormat) ?? .NONE }
    var template: JSONScalar { JSONScalar(row.content.template) }
    var invocationParameters: JSONScalar { JSONScalar(row.content.invocationParameters) }
    var tools: JSONScalar? { row.content.tools.map(JSONScalar.init) }
    var responseFormat: JSONScalar? { row.content.responseFormat.map(JSONScalar.init) }
    var modelName: String { row.content.modelName }
    var modelProvider: String { row.content.modelProvider }
    var metadata: JSONScalar { JSONScalar(row.content.metadata) }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }

    /// The prompt's version ids in order, loaded for all sibling versions' prompts at once.
    private func versionIDs(_ context: GraphQLContext) async throws -> [Int64] {
        let scope = context.scope
        let byPrompt = try await context.loads.load("PromptVersion.sequence", for: siblings) { rows in
            try await scope.prompts.versionIDs(promptIDs: Array(Set(rows.map(\.promptID))))
        }
        return byPrompt[row.promptID] ?? []
    }

    func sequenceNumber(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        (try await versionIDs(context).firstIndex(of: row.id) ?? 0) + 1
    }

    func isLatest(context: GraphQLContext, arguments: NoArguments) async throws -> Bool {
        try await versionIDs(context).last == row.id
    }

    func previousVersion(context: GraphQLContext, arguments: NoArguments) async throws -> PromptVersionNode? {
        let ids = try await versionIDs(context)
        guard let index = ids.firstIndex(of: row.id), index > 0,
            let previous = try await context.scope.prompts.promptVersion(id: ids[index - 1])
        else { return nil }
        return PromptVersionNode(row: previous, siblings: Siblings([previous]))
    }

    func tags(context: GraphQLContext, arguments: NoArguments) async throws -> [PromptVersionTagNode] {
        try await context.scope.prompts.promptVersionTags(versionID: row.id, atOrBeforeID: nil, limit: 1000).map {
            PromptVersionTagNode(row: $0, versionID: row.id)
        }
    }
}
