import CinderModel
import CinderStorage
import Graphiti
import Synchronization

/// GraphQL's `Node`: anything `node(id:)` can return.
protocol RelayNode: Sendable {
    var id: NodeID { get }
}

enum SpanKindValue: String, Codable, CaseIterable, Sendable {
    case chain, tool, llm, prompt, retriever, embedding, agent, reranker, evaluator, guardrail, decision, unknown

    init(stored: String) { self = SpanKindValue(rawValue: stored.lowercased()) ?? .unknown }
}

enum SpanStatusCodeValue: String, Codable, CaseIterable, Sendable {
    case OK, ERROR, UNSET
}

enum MimeTypeValue: String, Codable, CaseIterable, Sendable {
    case text, json
}

enum AnnotatorKindValue: String, Codable, CaseIterable, Sendable {
    case LLM, HUMAN, CODE
}

enum AnnotationSourceValue: String, Codable, CaseIterable, Sendable {
    case API, APP
}

enum SortDirValue: String, Codable, CaseIterable, Sendable {
    case asc, desc
}

enum SpanColumnValue: String, Codable, CaseIterable, Sendable {
    case startTime, endTime, latencyMs, tokenCountTotal, tokenCountPrompt, tokenCountCompletion
    case cumulativeTokenCountTotal, cumulativeTokenCountPrompt, cumulativeTokenCountCompletion
    case cumulativeTokenCostTotal, tokenCostTotal
}

enum ProjectSessionColumnValue: String, Codable, CaseIterable, Sendable {
    case startTime, endTime, tokenCountTotal, numTraces, costTotal
}

enum ProjectSessionAnnoAttrValue: String, Codable, CaseIterable, Sendable {
    case score, label
}

struct ProjectSessionAnnoResultKeyInput: Codable, Sendable {
    var name: String
    var attr: ProjectSessionAnnoAttrValue
}

struct ProjectSessionSortInput: Codable, Sendable {
    var col: ProjectSessionColumnValue?
    var annoResultKey: ProjectSessionAnnoResultKeyInput?
    var dir: SortDirValue
}

struct SpanSortInput: Codable, Sendable {
    var col: SpanColumnValue?
    var dir: SortDirValue
}

struct LabelFractionValue: Sendable {
    var label: String
    var fraction: Double
}

struct AnnotationSummaryValue: Sendable {
    var name: String
    var count: Int
    var labels: [String]
    var labelFractions: [LabelFractionValue]
    var meanScore: Double?
    var scoreCount: Int
    var labelCount: Int

    init(_ summary: AnnotationSummary) {
        name = summary.name
        count = summary.count
        labels = summary.labelCounts.map(\.label)
        labelCount = summary.labelCount
        let labelled = Double(max(summary.labelCount, 1))
        labelFractions = summary.labelCounts.map { LabelFractionValue(label: $0.label, fraction: Double($0.count) / labelled) }
        meanScore = summary.meanScore
        scoreCount = summary.scoreCount
    }
}

struct SpanFilterConditionAnalysisValue: Sendable { var selectsRootSpansOnly: Bool }

struct FilterVocabularyTermValue: Sendable {
    var name: String
    var type: String
    var description: String
    var category: String
    var iterableName: String? = nil
    /// Cinder's addition: the values a term takes, when there are few.
    var values: [String]

    init(_ term: SpanFilterTerm) {
        (name, type, description, category, values) = (term.name, term.type, term.description, term.category, term.values)
    }
}

struct SpanContextValue: Sendable {
    var traceId: NodeID
    var spanId: NodeID
}

struct SpanIOValue: Sendable {
    var mimeType: MimeTypeValue
    var value: String
    var truncatedValue: String { value.count > 100 ? String(value.prefix(100)) + "..." : value }
}

struct SpanEventValue: Sendable {
    var name: String
    var message: String
    var timestamp: DateTime
    var attributes: JSONScalar
}

struct TokenUsageValue: Sendable {
    var prompt: Double
    var completion: Double
    var total: Double { prompt + completion }
}

struct CostBreakdownValue: Sendable {
    var tokens: Double?
    var cost: Double?
}

struct SpanCostSummaryValue: Sendable {
    var prompt: CostBreakdownValue
    var completion: CostBreakdownValue
    var total: CostBreakdownValue
}

extension SpanCostSummaryValue {
    /// Tokens and recorded costs summed over spans (of a trace, a run's trace, an experiment's runs).
    init(_ t: SpanRepository.TraceTotals) {
        self.init(
            prompt: CostBreakdownValue(tokens: Double(t.promptTokens), cost: t.promptCost),
            completion: CostBreakdownValue(tokens: Double(t.completionTokens), cost: t.completionCost),
            total: CostBreakdownValue(tokens: Double(t.promptTokens + t.completionTokens), cost: t.totalCost))
    }
}

// MARK: - Project

struct ProjectNode: RelayNode {
    let row: ProjectRow
    let siblings: Siblings<ProjectRow>

    var id: NodeID { NodeID(NodeType.project, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var gradientStartColor: String { "#5bdbff" }
    var gradientEndColor: String { "#1c76fc" }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }

    struct RangeArguments: Codable, Sendable { var timeRange: TimeRange? }
    struct QuantileArguments: Codable, Sendable {
        var probability: Double
        var timeRange: TimeRange?
    }

    /// Statistics of this project (of one table: traces or spans), computed for all sibling projects
    /// in one statement.
    private func statistics(
        _ statistics: [ProjectStatistic], _ range: TimeRange?, _ context: GraphQLContext
    ) async throws -> [ProjectStatistic: Double] {
        let key = "Project.\(statistics):\(range.startMicros as Any):\(range.endMicros as Any)"
        let scope = context.scope
        let values = try await context.loads.load(key, for: siblings) { rows in
            try await scope.projects.statistics(
                statistics, projectIDs: rows.map(\.id), startMicros: range.startMicros, endMicros: range.endMicros)
        }
        return values[row.id] ?? [:]
    }

    private func statistic(_ statistic: ProjectStatistic, _ range: TimeRange?, _ context: GraphQLContext) async throws -> Double? {
        try await statistics(Self.group(of: statistic), range, context)[statistic]
    }

    /// Statistics one scan computes as cheaply as any one of them: asking for one computes its group,
    /// so a page asking for span counts and token totals (or trace counts and activity) reads once.
    private static func group(of statistic: ProjectStatistic) -> [ProjectStatistic] {
        switch statistic {
        case .spanCount, .promptTokens, .completionTokens, .totalTokens: [.spanCount, .promptTokens, .completionTokens, .totalTokens]
        case .traceCount, .firstStart, .lastEnd: [.traceCount, .firstStart, .lastEnd]
        default: [statistic]
        }
    }

    func startTime(context: GraphQLContext, arguments: NoArguments) async throws -> DateTime? {
        try await statistic(.firstStart, nil, context).map { DateTime(micros: Int64($0)) }
    }

    func endTime(context: GraphQLContext, arguments: NoArguments) async throws -> DateTime? {
        try await statistic(.lastEnd, nil, context).map { DateTime(micros: Int64($0)) }
    }

    func hasTraces(context: GraphQLContext, arguments: NoArguments) async throws -> Bool {
        try await statistic(.traceCount, nil, context) ?? 0 > 0
    }

    func recordCount(context: GraphQLContext, arguments: RangeArguments) async throws -> Int {
        Int(try await statistic(.spanCount, arguments.timeRange, context) ?? 0)
    }

    func traceCount(context: GraphQLContext, arguments: RangeArguments) async throws -> Int {
        Int(try await statistic(.traceCount, arguments.timeRange, context) ?? 0)
    }

    func tokenCountTotal(context: GraphQLContext, arguments: RangeArguments) async throws -> Double {
        try await statistic(.totalTokens, arguments.timeRange, context) ?? 0
    }

    func tokenCountPrompt(context: GraphQLContext, arguments: RangeArguments) async throws -> Double {
        try await statistic(.promptTokens, arguments.timeRange, context) ?? 0
    }

    func tokenCountCompletion(context: GraphQLContext, arguments: RangeArguments) async throws -> Double {
        try await statistic(.completionTokens, arguments.timeRange, context) ?? 0
    }

    func costSummary(context: GraphQLContext, arguments: RangeArguments) async throws -> SpanCostSummaryValue {
        let values = try await statistics(
            [.promptTokens, .completionTokens, .totalTokens, .promptCost, .completionCost, .totalCost], arguments.timeRange, context)
        return SpanCostSummaryValue(
            prompt: CostBreakdownValue(tokens: values[.promptTokens] ?? 0, cost: values[.promptCost]),
            completion: CostBreakdownValue(tokens: values[.completionTokens] ?? 0, cost: values[.completionCost]),
            total: CostBreakdownValue(tokens: values[.totalTokens] ?? 0, cost: values[.totalCost]))
    }

    func latencyMsQuantile(context: GraphQLContext, arguments: QuantileArguments) async throws -> Double? {
        try await statistic(.traceLatencyQuantile(try Self.probability(arguments.probability)), arguments.timeRange, context)
    }

    func spanLatencyMsQuantile(context: GraphQLContext, arguments: QuantileArguments) async throws -> Double? {
        try await statistic(.spanLatencyQuantile(try Self.probability(arguments.probability)), arguments.timeRange, context)
    }

    private static func probability(_ p: Double) throws(GraphQLFailure) -> Double {
        guard (0...1).contains(p) else { throw GraphQLFailure("probability must be between 0 and 1, got \(p)") }
        return p
    }

    struct TraceArguments: Codable, Sendable { var traceId: NodeID }

    func trace(context: GraphQLContext, arguments: TraceArguments) async throws -> TraceNode? {
        guard let trace = try await context.scope.spans.trace(rowID: nil, traceID: arguments.traceId.value), trace.projectID == row.id
        else { return nil }
        return TraceNode(row: trace, siblings: Siblings([trace]))
    }

    struct SpanArguments: Codable, Sendable {
        var first: Int
        var after: String?
        var timeRange: TimeRange?
        var sort: SpanSortInput?
        var filterCondition: String?
    }

    /// A filter condition as the API takes it: blank is none, a bad one is an error naming the problem.
    static func condition(_ text: String?) throws(GraphQLFailure) -> SpanFilterCondition? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        do {
            let condition = try SpanFilterCondition.parse(text)
            try condition.validate()
            return condition
        } catch {
            throw GraphQLFailure(error.message)
        }
    }

    struct ConditionArguments: Codable, Sendable { var condition: String }

    func validateSpanFilterCondition(context: GraphQLContext, arguments: ConditionArguments) -> ValidationResultValue {
        do {
            _ = try Self.condition(arguments.condition)
            return ValidationResultValue(isValid: true, errorMessage: nil)
        } catch {
            return ValidationResultValue(isValid: false, errorMessage: error.description)
        }
    }

    func analyzeSpanFilterCondition(context: GraphQLContext, arguments: ConditionArguments) throws -> SpanFilterConditionAnalysisValue {
        SpanFilterConditionAnalysisValue(selectsRootSpansOnly: try Self.condition(arguments.condition)?.selectsRootSpansOnly ?? false)
    }

    struct VocabularyArguments: Codable, Sendable { var timeRange: TimeRange? }

    /// Cinder's addition, modelled on Phoenix's trace and session vocabularies: what the span filter of
    /// this project can name, for completion.
    func spanFilterVocabulary(context: GraphQLContext, arguments: VocabularyArguments) async throws -> [FilterVocabularyTermValue] {
        var filter = SpanFilter()
        filter.sort = .startTime
        filter.startMicros = arguments.timeRange.startMicros
        filter.endMicros = arguments.timeRange.endMicros
        async let names = context.scope.annotations.names(.span, projectID: row.id)
        async let samples = context.scope.spans.spans(projectID: row.id, filter: filter, limit: SpanFilterField.vocabularySampleSpans)
        return SpanFilterField.vocabulary(annotationNames: try await names, attributeSamples: try await samples.map(\.attributesJSON))
            .map(FilterVocabularyTermValue.init)
    }

    func spans(context: GraphQLContext, arguments: SpanArguments) async throws -> NodeConnection<SpanNode> {
        var filter = SpanFilter()
        filter.condition = try Self.condition(arguments.filterCondition)
        filter.startMicros = arguments.timeRange.startMicros
        filter.endMicros = arguments.timeRange.endMicros
        filter.order = arguments.sort?.dir == .asc ? .asc : .desc
        filter.sort = try Self.sort(arguments.sort?.col)
        let cursor = try Cursor.decode(arguments.after, parts: 2)
        if let cursor { filter.cursor = .init(key: cursor[0], id: cursor[1]) }
        let limit = PageArguments(first: arguments.first).limit
        // The storage cursor is inclusive (REST's next-page row); GraphQL's `after` is exclusive.
        var rows = try await context.scope.spans.spans(projectID: row.id, filter: filter, limit: limit + 2)
        if let cursor, rows.first?.id == cursor[1] { rows.removeFirst() }
        return SpanNode.connection(rows: rows, limit: limit, hadCursor: cursor != nil, sortedBy: filter.sort)
    }

    /// The storage sort of a `SpanColumn`; cumulative counts and costs are not sortable (yet).
    private static func sort(_ column: SpanColumnValue?) throws(GraphQLFailure) -> SpanFilter.Sort {
        switch column {
        case nil, .startTime?: .startTime
        case .endTime?: .endTime
        case .latencyMs?: .latency
        case .tokenCountTotal?: .totalTokens
        case .tokenCountPrompt?: .promptTokens
        case .tokenCountCompletion?: .completionTokens
        case .tokenCostTotal?: .totalCost
        case let column?:
            throw GraphQLFailure(
                "Sorting spans by \(column.rawValue) is not supported; sort by startTime, endTime, latencyMs, a token count or tokenCostTotal")
        }
    }

    struct TraceListArguments: Codable, Sendable {
        var first: Int
        var after: String?
        var timeRange: TimeRange?
    }

    struct TracePageArguments: Codable, Sendable {
        var first: Int
        var after: String?
        var timeRange: TimeRange?
        var sort: SpanSortInput?
        var filterCondition: String?
    }

    /// Cinder's addition: the project's traces, newest first unless sorted by latency (Phoenix lists root
    /// spans instead); `filterCondition` is a span filter their root span must match.
    func traces(context: GraphQLContext, arguments: TracePageArguments) async throws -> NodeConnection<TraceNode> {
        var filter = TraceFilter()
        filter.startMicros = arguments.timeRange.startMicros
        filter.endMicros = arguments.timeRange.endMicros
        filter.rootCondition = try Self.condition(arguments.filterCondition)
        filter.order = arguments.sort?.dir == .asc ? .asc : .desc
        switch arguments.sort?.col {
        case nil, .startTime?: filter.sort = .startTime
        case .latencyMs?: filter.sort = .latency
        case let column?: throw GraphQLFailure("Sorting traces by \(column.rawValue) is not supported; sort by startTime or latencyMs")
        }
        let cursor = try Cursor.decode(arguments.after, parts: 2)
        if let cursor { filter.cursor = .init(value: cursor[0], id: cursor[1]) }
        let limit = PageArguments(first: arguments.first).limit
        let rows = try await context.scope.spans.traces(projectID: row.id, filter: filter, limit: limit + 1, withTokenCounts: false)
        return TraceNode.connection(rows: rows, limit: limit, hadCursor: cursor != nil, sortedByLatency: filter.sort == .latency)
    }

    struct SessionPageArguments: Codable, Sendable {
        var first: Int
        var after: String?
        var timeRange: TimeRange?
        var sort: ProjectSessionSortInput?
        var sessionFilterCondition: String?
    }

    func sessions(context: GraphQLContext, arguments: SessionPageArguments) async throws -> NodeConnection<SessionNode> {
        var page = SessionPage()
        page.startMicros = arguments.timeRange.startMicros
        page.endMicros = arguments.timeRange.endMicros
        page.condition = try Self.sessionCondition(arguments.sessionFilterCondition)
        page.order = arguments.sort?.dir == .asc ? .asc : .desc
        if arguments.sort?.annoResultKey != nil {
            throw GraphQLFailure("Sorting sessions by an annotation is not supported; sort by a column")
        }
        page.sort = switch arguments.sort?.col {
        case nil: .rowID
        case .startTime?: .startTime
        case .endTime?: .endTime
        case .tokenCountTotal?: .tokenCountTotal
        case .numTraces?: .numTraces
        case .costTotal?: .costTotal
        }
        // Cursors carry the sort key's bits, so a cost compares exactly.
        if let cursor = try Cursor.decode(arguments.after, parts: 2) {
            page.cursor = .init(key: Double(bitPattern: UInt64(bitPattern: cursor[0])), id: cursor[1])
        }
        let limit = PageArguments(first: arguments.first).limit
        let rows = try await context.scope.sessions.sessions(projectID: row.id, page: page, limit: limit + 1)
        return NodeConnection(
            rows: rows, limit: limit, hadCursor: page.cursor != nil,
            cursor: { Cursor.encode(Int64(bitPattern: $0.sortKey.bitPattern), $0.id) }, node: SessionNode.init)
    }

    struct SessionCountArguments: Codable, Sendable {
        var timeRange: TimeRange?
        var sessionFilterCondition: String?
    }

    func sessionCount(context: GraphQLContext, arguments: SessionCountArguments) async throws -> Int {
        try await context.scope.sessions.count(
            projectID: row.id, startMicros: arguments.timeRange.startMicros, endMicros: arguments.timeRange.endMicros,
            condition: try Self.sessionCondition(arguments.sessionFilterCondition))
    }

    /// A session filter condition as the API takes it: blank is none, a bad one is an error naming the problem.
    static func sessionCondition(_ text: String?) throws(GraphQLFailure) -> SessionFilterCondition? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        do {
            return try SessionFilterCondition.parse(text)
        } catch {
            throw GraphQLFailure(error.message)
        }
    }

    func validateSessionFilterCondition(context: GraphQLContext, arguments: ConditionArguments) -> ValidationResultValue {
        do {
            _ = try Self.sessionCondition(arguments.condition)
            return ValidationResultValue(isValid: true, errorMessage: nil)
        } catch {
            return ValidationResultValue(isValid: false, errorMessage: error.description)
        }
    }

    func sessionFilterVocabulary(context: GraphQLContext, arguments: NoArguments) async throws -> [FilterVocabularyTermValue] {
        SessionFilterField.vocabulary(annotationNames: try await context.scope.annotations.names(.session, projectID: row.id))
            .map(FilterVocabularyTermValue.init)
    }

    struct SummaryArguments: Codable, Sendable {
        var annotationName: String
        var timeRange: TimeRange?
        var filterCondition: String?
    }

    func spanAnnotationSummary(context: GraphQLContext, arguments: SummaryArguments) async throws -> AnnotationSummaryValue? {
        try await context.scope.annotations.summary(
            .span, projectID: row.id, name: arguments.annotationName, startMicros: arguments.timeRange.startMicros,
            endMicros: arguments.timeRange.endMicros, condition: try Self.condition(arguments.filterCondition)
        ).map(AnnotationSummaryValue.init)
    }

    func traceAnnotationSummary(context: GraphQLContext, arguments: SummaryArguments) async throws -> AnnotationSummaryValue? {
        guard arguments.filterCondition?.trimmingCharacters(in: .whitespaces).isEmpty ?? true else {
            throw GraphQLFailure("traceAnnotationSummary does not take a filterCondition yet")
        }
        return try await context.scope.annotations.summary(
            .trace, projectID: row.id, name: arguments.annotationName, startMicros: arguments.timeRange.startMicros,
            endMicros: arguments.timeRange.endMicros
        ).map(AnnotationSummaryValue.init)
    }

    func spanAnnotationNames(context: GraphQLContext, arguments: NoArguments) async throws -> [String] {
        try await context.scope.annotations.names(.span, projectID: row.id)
    }

    func traceAnnotationNames(context: GraphQLContext, arguments: NoArguments) async throws -> [String] {
        try await context.scope.annotations.names(.trace, projectID: row.id)
    }

    func sessionAnnotationNames(context: GraphQLContext, arguments: NoArguments) async throws -> [String] {
        try await context.scope.annotations.names(.session, projectID: row.id)
    }

    /// The project of a row, loaded for all sibling rows at once.
    static func load<Row: Sendable>(
        _ field: String, projectOf row: Row, in siblings: Siblings<Row>, projectID: @escaping @Sendable (Row) -> Int64,
        _ context: GraphQLContext
    ) async throws -> ProjectNode {
        let scope = context.scope
        let projects = try await context.loads.load(field, for: siblings) { rows in
            let found = try await scope.projects.projects(ids: Array(Set(rows.map(projectID))))
            let group = Siblings(found)
            return Dictionary(uniqueKeysWithValues: found.map { ($0.id, ProjectNode(row: $0, siblings: group)) })
        }
        guard let project = projects[projectID(row)] else { throw GraphQLFailure("The project was deleted") }
        return project
    }
}

// MARK: - Trace

/// A class rather than a struct, like `SpanNode`: a page holds hundreds, each boxed and passed to every
/// field's resolver, and a reference is one retain where the row's strings are one each.
final class TraceNode: RelayNode {
    let row: TraceRow
    let siblings: Siblings<TraceRow>

    init(row: TraceRow, siblings: Siblings<TraceRow>) {
        self.row = row
        self.siblings = siblings
    }

    var id: NodeID { NodeID(NodeType.trace, row.id) }
    var traceId: NodeID { NodeID(raw: row.traceID) }
    var startTime: DateTime { DateTime(micros: row.startMicros) }
    var endTime: DateTime { DateTime(micros: row.endMicros) }
    var latencyMs: Double? { Double(row.latencyMicros) / 1000 }
    var projectId: NodeID { NodeID(NodeType.project, row.projectID) }
    var projectSessionId: NodeID? { row.sessionRowID.map { NodeID(NodeType.session, $0) } }

    static func connection(rows: [TraceRow], limit: Int, hadCursor: Bool, sortedByLatency: Bool = false) -> NodeConnection<TraceNode> {
        NodeConnection(
            rows: rows, limit: limit, hadCursor: hadCursor,
            cursor: { Cursor.encode(sortedByLatency ? $0.latencyMicros : $0.startMicros, $0.id) }, node: TraceNode.init)
    }

    func project(context: GraphQLContext, arguments: NoArguments) async throws -> ProjectNode {
        try await ProjectNode.load("Trace.project", projectOf: row, in: siblings, projectID: { $0.projectID }, context)
    }

    func session(context: GraphQLContext, arguments: NoArguments) async throws -> SessionNode? {
        guard let sessionRowID = row.sessionRowID else { return nil }
        let scope = context.scope
        let sessions = try await context.loads.load("Trace.session", for: siblings) { rows in
            let found = try await scope.sessions.sessions(rowIDs: Array(Set(rows.compactMap(\.sessionRowID))))
            let group = Siblings(found)
            return Dictionary(uniqueKeysWithValues: found.map { ($0.id, SessionNode(row: $0, siblings: group)) })
        }
        return sessions[sessionRowID]
    }

    func rootSpan(context: GraphQLContext, arguments: NoArguments) async throws -> SpanNode? {
        let scope = context.scope
        let roots = try await context.loads.load("Trace.rootSpan", for: siblings) { rows in
            SpanNode.byKey(try await scope.spans.rootSpans(traceRowIDs: rows.map(\.id)), key: \.traceRowID)
        }
        return roots[row.id]?.first
    }

    /// Span count, tokens and costs of this trace, loaded for all sibling traces at once.
    private func totals(_ context: GraphQLContext) async throws -> SpanRepository.TraceTotals {
        let scope = context.scope
        let totals = try await context.loads.load("Trace.totals", for: siblings) { rows in
            try await scope.spans.traceTotals(traceRowIDs: rows.map(\.id))
        }
        return totals[row.id] ?? .init()
    }

    func numSpans(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await totals(context).spans
    }

    /// Phoenix's `Trace.costSummary`: tokens and recorded costs over all of the trace's spans.
    func costSummary(context: GraphQLContext, arguments: NoArguments) async throws -> SpanCostSummaryValue {
        SpanCostSummaryValue(try await totals(context))
    }

    func spans(context: GraphQLContext, arguments required: RequiredPageArguments) async throws -> NodeConnection<SpanNode> {
        let arguments = required.page
        let limit = arguments.limit
        let scope = context.scope
        if let cursor = try Cursor.decode(arguments.after, parts: 2) {
            let rows = try await scope.spans.spans(traceRowIDs: [row.id], perTrace: limit + 1, after: (cursor[0], cursor[1]))
            return SpanNode.connection(rows: rows, limit: limit, hadCursor: true)
        }
        // First pages of every sibling trace in one statement; the spans of all those pages are
        // siblings too, so their own fields load in one statement each as well.
        let pages = try await context.loads.load("Trace.spans(first:\(limit))", for: siblings) { rows in
            let byTrace = Dictionary(grouping: try await scope.spans.spans(traceRowIDs: rows.map(\.id), perTrace: limit + 1), by: \.traceRowID)
            let allSpans = Siblings(byTrace.values.flatMap { $0.prefix(limit) })
            return byTrace.mapValues { SpanNode.connection(rows: $0, limit: limit, hadCursor: false, siblings: allSpans) }
        }
        return pages[row.id] ?? SpanNode.connection(rows: [], limit: limit, hadCursor: false)
    }

    func traceAnnotations(context: GraphQLContext, arguments: NoArguments) async throws -> [AnnotationNode<AnnotatedTrace>] {
        try await AnnotationNode.load("Trace.traceAnnotations", of: row, in: siblings, rowID: \.id, context)
    }
}

// MARK: - Span

/// A class: see `TraceNode`.
final class SpanNode: RelayNode {
    let row: SpanRow
    let siblings: Siblings<SpanRow>
    /// Attributes are parsed once, by the first field that needs them.
    private let parsed = ParsedAttributes()

    init(row: SpanRow, siblings: Siblings<SpanRow>) {
        self.row = row
        self.siblings = siblings
    }

    var id: NodeID { NodeID(NodeType.span, row.id) }
    var spanId: NodeID { NodeID(raw: row.spanID) }
    var name: String { row.name }
    var statusCode: SpanStatusCodeValue { SpanStatusCodeValue(rawValue: row.statusCode) ?? .UNSET }
    var statusMessage: String { row.statusMessage }
    var startTime: DateTime { DateTime(micros: row.startMicros) }
    var endTime: DateTime? { DateTime(micros: row.endMicros) }
    var latencyMs: Double? { Double(row.endMicros - row.startMicros) / 1000 }
    var parentId: NodeID? { row.parentID.map { NodeID(raw: $0) } }
    var spanKind: SpanKindValue { SpanKindValue(stored: row.spanKind) }
    var context: SpanContextValue { SpanContextValue(traceId: NodeID(raw: row.traceID), spanId: NodeID(raw: row.spanID)) }
    /// Phoenix serves the attributes as a JSON document in a string.
    var attributes: String { row.attributesJSON }

    private var attributeTree: JSONValue { parsed.value(row.attributesJSON) }

    var metadata: String? {
        switch attributeTree["metadata"] {
        case nil, .null?: nil
        case .string(let text)?: text
        case let value?: value.jsonString
        }
    }

    var numDocuments: Int? {
        if case .array(let documents)? = attributeTree[path: ["retrieval", "documents"]] { return documents.count }
        return nil
    }

    private func tokens(_ kind: String) -> Int? {
        attributeTree[path: ["llm", "token_count", kind]]?.integerValue.map(Int.init)
    }

    var tokenCountPrompt: Int? { tokens("prompt") }
    var tokenCountCompletion: Int? { tokens("completion") }
    /// The costs an instrumentation recorded (`llm.cost.*`); null when it recorded none.
    var costSummary: SpanCostSummaryValue? {
        guard row.promptCost != nil || row.completionCost != nil || row.totalCost != nil else { return nil }
        return SpanCostSummaryValue(
            prompt: CostBreakdownValue(tokens: tokenCountPrompt.map(Double.init), cost: row.promptCost),
            completion: CostBreakdownValue(tokens: tokenCountCompletion.map(Double.init), cost: row.completionCost),
            total: CostBreakdownValue(tokens: tokenCountTotal.map(Double.init), cost: row.totalCost))
    }
    var tokenCountTotal: Int? {
        tokens("total") ?? ((tokenCountPrompt == nil && tokenCountCompletion == nil) ? nil : (tokenCountPrompt ?? 0) + (tokenCountCompletion ?? 0))
    }

    private func io(_ key: String) -> SpanIOValue? {
        guard let value = attributeTree[path: [key, "value"]], value != .null else { return nil }
        let mime: MimeTypeValue = attributeTree[path: [key, "mime_type"]]?.stringValue == "application/json" ? .json : .text
        return SpanIOValue(mimeType: mime, value: value.stringValue ?? value.jsonString)
    }

    var input: SpanIOValue? { io("input") }
    var output: SpanIOValue? { io("output") }

    var events: [SpanEventValue] {
        guard case .array(let events) = (try? JSONValue(parsing: row.eventsJSON)) ?? .null else { return [] }
        return events.map { event in
            let attributes = event["attributes"] ?? .object([:])
            let message = attributes["exception.message"]?.stringValue ?? attributes[path: ["exception", "message"]]?.stringValue
            return SpanEventValue(
                name: event["name"]?.stringValue ?? "", message: message ?? "",
                timestamp: DateTime(micros: event["timestamp"]?.stringValue.flatMap { Timestamp.parseMicros($0) } ?? row.startMicros),
                attributes: JSONScalar(attributes))
        }
    }

    static func connection(
        rows: [SpanRow], limit: Int, hadCursor: Bool, sortedBy sort: SpanFilter.Sort = .startTime, siblings: Siblings<SpanRow>? = nil
    ) -> NodeConnection<SpanNode> {
        NodeConnection(
            rows: rows, limit: limit, hadCursor: hadCursor, siblings: siblings,
            cursor: { Cursor.encode($0.sortKey(sort), $0.id) }, node: SpanNode.init)
    }

    static func byKey<Key: Hashable>(_ rows: [SpanRow], key: KeyPath<SpanRow, Key>) -> [Key: [SpanNode]] {
        let siblings = Siblings(rows)
        return Dictionary(grouping: rows.map { SpanNode(row: $0, siblings: siblings) }, by: { $0.row[keyPath: key] })
    }

    func trace(context: GraphQLContext, arguments: NoArguments) async throws -> TraceNode {
        let scope = context.scope
        let traces = try await context.loads.load("Span.trace", for: siblings) { rows in
            let found = try await scope.spans.traces(rowIDs: Array(Set(rows.map(\.traceRowID))))
            let group = Siblings(found)
            return Dictionary(uniqueKeysWithValues: found.map { ($0.id, TraceNode(row: $0, siblings: group)) })
        }
        guard let trace = traces[row.traceRowID] else { throw GraphQLFailure("The span's trace was deleted") }
        return trace
    }

    func project(context: GraphQLContext, arguments: NoArguments) async throws -> ProjectNode {
        try await ProjectNode.load("Span.project", projectOf: row, in: siblings, projectID: { $0.projectID }, context)
    }

    func spanAnnotations(context: GraphQLContext, arguments: NoArguments) async throws -> [AnnotationNode<AnnotatedSpan>] {
        try await allAnnotations(context).filter { $0.row.name != "note" }
    }

    func spanNotes(context: GraphQLContext, arguments: NoArguments) async throws -> [AnnotationNode<AnnotatedSpan>] {
        try await allAnnotations(context).filter { $0.row.name == "note" }
    }

    private func allAnnotations(_ context: GraphQLContext) async throws -> [AnnotationNode<AnnotatedSpan>] {
        try await AnnotationNode.load("Span.annotations", of: row, in: siblings, rowID: \.id, context)
    }

    func numChildSpans(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        let scope = context.scope
        let counts = try await context.loads.load("Span.numChildSpans", for: siblings) { rows in
            try await scope.spans.childSpanCounts(spanIDs: rows.map(\.spanID), traceRowIDs: Array(Set(rows.map(\.traceRowID))))
        }
        return counts[row.spanID] ?? 0
    }

    struct DescendantArguments: Codable, Sendable {
        var maxDepth: Int?
        var first: Int?
        var after: String?
    }

    func descendants(context: GraphQLContext, arguments: DescendantArguments) async throws -> NodeConnection<SpanNode> {
        let limit = PageArguments(first: arguments.first).limit
        let after = try Cursor.decode(arguments.after, parts: 1)
        let depth = arguments.maxDepth.flatMap { $0 > 0 ? $0 : nil }
        let rows = try await context.scope.spans.descendantSpans(of: row, maxDepth: depth, afterID: after?[0], limit: limit + 1)
        return NodeConnection(
            rows: rows, limit: limit, hadCursor: after != nil, cursor: { Cursor.encode($0.id) }, node: SpanNode.init)
    }
}

/// A lazily parsed attribute document shared by a span node's copies.
final class ParsedAttributes: Sendable {
    private let parsed = Mutex<JSONValue?>(nil)

    func value(_ text: String) -> JSONValue {
        if let value = parsed.withLock({ $0 }) { return value }
        let value = (try? JSONValue(parsing: text)) ?? .object([:])
        parsed.withLock { $0 = value }
        return value
    }
}

// MARK: - Session

struct SessionNode: RelayNode {
    let row: SessionRow
    let siblings: Siblings<SessionRow>

    var id: NodeID { NodeID(NodeType.session, row.id) }
    var sessionId: String { row.sessionID }
    var startTime: DateTime { DateTime(micros: row.startMicros) }
    var endTime: DateTime { DateTime(micros: row.endMicros) }
    var numTraces: Int { row.traces.count }
    var tokenUsage: TokenUsageValue { TokenUsageValue(prompt: Double(row.promptTokens), completion: Double(row.completionTokens)) }
    var costSummary: SpanCostSummaryValue {
        SpanCostSummaryValue(
            prompt: CostBreakdownValue(tokens: Double(row.promptTokens), cost: row.costs.prompt),
            completion: CostBreakdownValue(tokens: Double(row.completionTokens), cost: row.costs.completion),
            total: CostBreakdownValue(tokens: Double(row.promptTokens + row.completionTokens), cost: row.costs.total))
    }

    func project(context: GraphQLContext, arguments: NoArguments) async throws -> ProjectNode {
        try await ProjectNode.load("ProjectSession.project", projectOf: row, in: siblings, projectID: { $0.projectID }, context)
    }

    func traces(context: GraphQLContext, arguments required: RequiredPageArguments) async throws -> NodeConnection<TraceNode> {
        let arguments = required.page
        var filter = TraceFilter()
        filter.sessionRowIDs = [row.id]
        filter.order = .asc
        let cursor = try Cursor.decode(arguments.after, parts: 2)
        if let cursor { filter.cursor = .init(value: cursor[0], id: cursor[1]) }
        let limit = arguments.limit
        let rows = try await context.scope.spans.traces(projectID: row.projectID, filter: filter, limit: limit + 1, withTokenCounts: false)
        return TraceNode.connection(rows: rows, limit: limit, hadCursor: cursor != nil)
    }

    /// The root span of the session's first or last trace, for its input or output.
    /// The root span of one of the session's traces (the first or the last), for its input or output;
    /// loaded for that trace of every sibling session at once.
    private func rootSpan(
        _ field: String, of trace: @escaping @Sendable (SessionRow) -> SessionRow.Trace?, _ context: GraphQLContext
    ) async throws -> SpanNode? {
        guard let own = trace(row) else { return nil }
        let scope = context.scope
        let roots = try await context.loads.load(field, for: siblings) { rows in
            SpanNode.byKey(try await scope.spans.rootSpans(traceRowIDs: rows.compactMap { trace($0)?.id }), key: \.traceRowID)
        }
        return roots[own.id]?.first
    }

    func firstInput(context: GraphQLContext, arguments: NoArguments) async throws -> SpanIOValue? {
        try await rootSpan("ProjectSession.firstTrace.rootSpan", of: { $0.traces.first }, context)?.input
    }

    func lastOutput(context: GraphQLContext, arguments: NoArguments) async throws -> SpanIOValue? {
        try await rootSpan("ProjectSession.lastTrace.rootSpan", of: { $0.traces.last }, context)?.output
    }

    func sessionAnnotations(context: GraphQLContext, arguments: NoArguments) async throws -> [AnnotationNode<AnnotatedSession>] {
        try await AnnotationNode.load("ProjectSession.sessionAnnotations", of: row, in: siblings, rowID: \.id, context)
    }
}

// MARK: - Annotations

/// What an annotation type annotates; one Swift type per GraphQL annotation type.
protocol AnnotatedEntity: Sendable {
    static var target: AnnotationTarget { get }
}

enum AnnotatedSpan: AnnotatedEntity { static var target: AnnotationTarget { .span } }
enum AnnotatedTrace: AnnotatedEntity { static var target: AnnotationTarget { .trace } }
enum AnnotatedSession: AnnotatedEntity { static var target: AnnotationTarget { .session } }

/// A span, trace or session annotation (`SpanAnnotation`, `TraceAnnotation`, `ProjectSessionAnnotation`).
struct AnnotationNode<Entity: AnnotatedEntity>: RelayNode {
    let row: AnnotationRow

    var id: NodeID { NodeID(Entity.target.nodeType, row.id) }
    var name: String { row.name }
    var annotatorKind: AnnotatorKindValue { AnnotatorKindValue(rawValue: row.annotatorKind) ?? .HUMAN }
    var label: String? { row.label }
    var score: Double? { row.score }
    var explanation: String? { row.explanation }
    var metadata: JSONScalar { JSONScalar(row.metadata) }
    var source: AnnotationSourceValue { AnnotationSourceValue(rawValue: row.source) ?? .API }
    var identifier: String { row.identifier }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var updatedAt: DateTime { DateTime(micros: row.updatedMicros) }

    /// Annotations of an entity, loaded for all its siblings at once, grouped by entity row.
    static func load<Row: Sendable>(
        _ field: String, of row: Row, in siblings: Siblings<Row>, rowID: KeyPath<Row, Int64>, _ context: GraphQLContext
    ) async throws -> [AnnotationNode] {
        let scope = context.scope
        let byEntity = try await context.loads.load(field, for: siblings) { rows in
            Dictionary(
                grouping: try await scope.annotations.annotations(Entity.target, entityRowIDs: rows.map { $0[keyPath: rowID] }).map {
                    AnnotationNode(row: $0)
                }, by: \.row.entityRowID)
        }
        return byEntity[row[keyPath: rowID]] ?? []
    }
}

extension AnnotationNode where Entity == AnnotatedSpan {
    var spanId: NodeID { NodeID(NodeType.span, row.entityRowID) }

    func span(context: GraphQLContext, arguments: NoArguments) async throws -> SpanNode {
        guard let span = try await context.scope.spans.spans(rowIDs: [row.entityRowID]).first else {
            throw GraphQLFailure("The annotated span was deleted")
        }
        return SpanNode(row: span, siblings: Siblings([span]))
    }
}

extension AnnotationNode where Entity == AnnotatedTrace {
    var traceId: NodeID { NodeID(NodeType.trace, row.entityRowID) }

    func trace(context: GraphQLContext, arguments: NoArguments) async throws -> TraceNode {
        guard let trace = try await context.scope.spans.trace(rowID: row.entityRowID, traceID: nil) else {
            throw GraphQLFailure("The annotated trace was deleted")
        }
        return TraceNode(row: trace, siblings: Siblings([trace]))
    }
}

extension AnnotationNode where Entity == AnnotatedSession {
    var projectSessionId: NodeID { NodeID(NodeType.session, row.entityRowID) }
}

extension SpanNode: DirectFields {
    static func directField(_ name: String) -> (@Sendable (SpanNode) -> (any Sendable)?)? {
        switch name {
        case "id": { $0.id }
        case "spanId": { $0.spanId }
        case "name": { $0.name }
        case "statusCode": { $0.statusCode }
        case "statusMessage": { $0.statusMessage }
        case "startTime": { $0.startTime }
        case "endTime": { $0.endTime }
        case "latencyMs": { $0.latencyMs }
        case "parentId": { $0.parentId }
        case "spanKind": { $0.spanKind }
        case "attributes": { $0.attributes }
        default: nil
        }
    }
}

extension TraceNode: DirectFields {
    static func directField(_ name: String) -> (@Sendable (TraceNode) -> (any Sendable)?)? {
        switch name {
        case "id": { $0.id }
        case "traceId": { $0.traceId }
        case "startTime": { $0.startTime }
        case "endTime": { $0.endTime }
        case "latencyMs": { $0.latencyMs }
        case "projectId": { $0.projectId }
        case "projectSessionId": { $0.projectSessionId }
        default: nil
        }
    }
}

/// `ValidationResult`: whether a filter condition compiles, and why not.
struct ValidationResultValue: Codable, Sendable {
    var isValid: Bool
    var errorMessage: String?
    var warnings: [String] = []
}
