import CinderEvaluators
import CinderModel
import CinderStorage
import Graphiti

/// The `Query` type's fields.
struct QueryRoot: Sendable {
    struct NodeArguments: Codable, Sendable { var id: NodeID }

    func node(context: GraphQLContext, arguments: NodeArguments) async throws -> any RelayNode {
        let raw = arguments.id.value
        guard let id = GlobalID(encoded: raw) else { throw GraphQLFailure("Invalid global id: \(raw)") }
        guard let node = try await Self.lookup(id, context) else { throw GraphQLFailure("Unknown node: \(raw)") }
        return node
    }

    private static func lookup(_ id: GlobalID, _ context: GraphQLContext) async throws -> (any RelayNode)? {
        let scope = context.scope
        let row = id.rowID
        switch id.typeName {
        case NodeType.project:
            return try await scope.projects.project(id: row).map { ProjectNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.trace:
            return try await scope.spans.trace(rowID: row, traceID: nil).map { TraceNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.span:
            return try await scope.spans.spans(rowIDs: [row]).first.map { SpanNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.session:
            return try await scope.sessions.session(rowID: row, sessionID: nil).map { SessionNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.dataset:
            return try await scope.datasets.dataset(id: row).map(DatasetNode.init)
        case NodeType.datasetVersion:
            guard let dataset = try await scope.datasets.datasetID(ofVersion: row) else { return nil }
            return try await scope.datasets.datasetVersion(datasetID: dataset, id: row).map(DatasetVersionNode.init)
        case NodeType.datasetExample:
            return try await DatasetExampleNode.find(row, context)
        case NodeType.experiment:
            return try await scope.experiments.experiment(id: row).map(ExperimentNode.init)
        case GenerativeModelNode.typeName:
            return try await GenerativeModelNode.find(row, context)
        case DatasetEvaluatorNode.typeName:
            return try await scope.evaluators.datasetEvaluator(id: row).map(DatasetEvaluatorNode.init)
        case CodeEvaluatorNode.typeName, LLMEvaluatorNode.typeName:
            guard let row = try await scope.evaluators.evaluator(id: row), row.kind == (id.typeName == LLMEvaluatorNode.typeName ? "LLM" : "CODE") else {
                return nil
            }
            return row.node
        case OnlineRuleNode.typeName:
            return try await scope.onlineEvaluation.rules(ids: [row]).first.map(OnlineRuleNode.init)
        case BuiltInEvaluatorNode.typeName:
            return BuiltInEvaluator.with(id: row).map(BuiltInEvaluatorNode.init)
        case CustomProviderNode.typeName:
            return try await scope.customProviders.provider(id: row).map(CustomProviderNode.init)
        case "ExperimentJob":
            guard let experiment = try await scope.experiments.experiment(id: row) else { return nil }
            return try await ExperimentJobNode.of(experiment, context)
        case NodeType.experimentRun:
            return try await scope.experiments.experimentRun(id: row).map { ExperimentRunNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.prompt:
            return try await scope.prompts.prompt(id: row, name: nil).map { PromptNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.promptVersion:
            return try await scope.prompts.promptVersion(id: row).map { PromptVersionNode(row: $0, siblings: Siblings([$0])) }
        case AnnotationTarget.span.nodeType:
            return try await scope.annotations.annotation(.span, id: row).map(AnnotationNode<AnnotatedSpan>.init)
        case AnnotationTarget.trace.nodeType:
            return try await scope.annotations.annotation(.trace, id: row).map(AnnotationNode<AnnotatedTrace>.init)
        case AnnotationTarget.session.nodeType:
            return try await scope.annotations.annotation(.session, id: row).map(AnnotationNode<AnnotatedSession>.init)
        default:
            return nil
        }
    }

    func projects(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ProjectNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: {
                try await context.scope.projects.list(atOrBeforeID: $0, limit: $1, nameContains: nil, includeExperimentProjects: false)
            }, id: \.id,
            node: ProjectNode.init)
    }

    func datasets(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<DatasetNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.datasets.datasets(named: nil, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: { dataset, _ in DatasetNode(row: dataset) })
    }

    func prompts(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<PromptNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.prompts.prompts(atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: PromptNode.init)
    }

    struct NameArguments: Codable, Sendable { var name: String }

    func getProjectByName(context: GraphQLContext, arguments: NameArguments) async throws -> ProjectNode? {
        try await context.scope.projects.project(named: arguments.name).map { ProjectNode(row: $0, siblings: Siblings([$0])) }
    }

    struct SpanIDArguments: Codable, Sendable { var spanId: String }

    func getSpanByOtelId(context: GraphQLContext, arguments: SpanIDArguments) async throws -> SpanNode? {
        try await context.scope.spans.spans(spanIDs: [arguments.spanId]).first.map { SpanNode(row: $0, siblings: Siblings([$0])) }
    }

    struct TraceIDArguments: Codable, Sendable { var traceId: String }

    func getTraceByOtelId(context: GraphQLContext, arguments: TraceIDArguments) async throws -> TraceNode? {
        try await context.scope.spans.trace(rowID: nil, traceID: arguments.traceId).map { TraceNode(row: $0, siblings: Siblings([$0])) }
    }

    struct SessionIDArguments: Codable, Sendable { var sessionId: String }

    func getProjectSessionById(context: GraphQLContext, arguments: SessionIDArguments) async throws -> SessionNode? {
        try await context.scope.sessions.session(rowID: nil, sessionID: arguments.sessionId).map { SessionNode(row: $0, siblings: Siblings([$0])) }
    }

    func projectCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.projects.count()
    }

    func datasetCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.datasets.count()
    }

    func promptCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.scope.prompts.count()
    }
}
