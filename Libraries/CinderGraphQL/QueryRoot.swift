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
        let store = context.store
        let row = id.rowID
        switch id.typeName {
        case NodeType.project:
            return try await store.project(id: row).map { ProjectNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.trace:
            return try await store.trace(rowID: row, traceID: nil).map { TraceNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.span:
            return try await store.spans(rowIDs: [row]).first.map { SpanNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.session:
            return try await store.session(rowID: row, sessionID: nil).map { SessionNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.dataset:
            return try await store.dataset(id: row).map(DatasetNode.init)
        case NodeType.datasetVersion:
            guard let dataset = try await store.datasetID(ofVersion: row) else { return nil }
            return try await store.datasetVersion(datasetID: dataset, id: row).map(DatasetVersionNode.init)
        case NodeType.datasetExample:
            return try await DatasetExampleNode.find(row, context)
        case NodeType.experiment:
            return try await store.experiment(id: row).map(ExperimentNode.init)
        case NodeType.experimentRun:
            return try await store.experimentRun(id: row).map { ExperimentRunNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.prompt:
            return try await store.prompt(id: row, name: nil).map { PromptNode(row: $0, siblings: Siblings([$0])) }
        case NodeType.promptVersion:
            return try await store.promptVersion(id: row).map { PromptVersionNode(row: $0, siblings: Siblings([$0])) }
        case AnnotationTarget.span.nodeType:
            return try await store.annotation(.span, id: row).map(AnnotationNode<AnnotatedSpan>.init)
        case AnnotationTarget.trace.nodeType:
            return try await store.annotation(.trace, id: row).map(AnnotationNode<AnnotatedTrace>.init)
        case AnnotationTarget.session.nodeType:
            return try await store.annotation(.session, id: row).map(AnnotationNode<AnnotatedSession>.init)
        default:
            return nil
        }
    }

    func projects(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ProjectNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: {
                try await context.store.listProjects(atOrBeforeID: $0, limit: $1, nameContains: nil, includeExperimentProjects: false)
            }, id: \.id,
            node: ProjectNode.init)
    }

    func datasets(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<DatasetNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.store.datasets(named: nil, atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: { dataset, _ in DatasetNode(row: dataset) })
    }

    func prompts(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<PromptNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.store.prompts(atOrBeforeID: $0, limit: $1) }, id: \.id,
            node: PromptNode.init)
    }

    struct NameArguments: Codable, Sendable { var name: String }

    func getProjectByName(context: GraphQLContext, arguments: NameArguments) async throws -> ProjectNode? {
        try await context.store.project(named: arguments.name).map { ProjectNode(row: $0, siblings: Siblings([$0])) }
    }

    struct SpanIDArguments: Codable, Sendable { var spanId: String }

    func getSpanByOtelId(context: GraphQLContext, arguments: SpanIDArguments) async throws -> SpanNode? {
        try await context.store.spans(spanIDs: [arguments.spanId]).first.map { SpanNode(row: $0, siblings: Siblings([$0])) }
    }

    struct TraceIDArguments: Codable, Sendable { var traceId: String }

    func getTraceByOtelId(context: GraphQLContext, arguments: TraceIDArguments) async throws -> TraceNode? {
        try await context.store.trace(rowID: nil, traceID: arguments.traceId).map { TraceNode(row: $0, siblings: Siblings([$0])) }
    }

    struct SessionIDArguments: Codable, Sendable { var sessionId: String }

    func getProjectSessionById(context: GraphQLContext, arguments: SessionIDArguments) async throws -> SessionNode? {
        try await context.store.session(rowID: nil, sessionID: arguments.sessionId).map { SessionNode(row: $0, siblings: Siblings([$0])) }
    }

    func projectCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.store.count(.projects)
    }

    func datasetCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.store.count(.datasets)
    }

    func promptCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await context.store.count(.prompts)
    }
}
