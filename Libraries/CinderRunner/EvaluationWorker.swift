import CinderCosts
import CinderEvaluators
import CinderModel
import CinderStorage
import Logging
import Metrics
import ServiceLifecycle

/// Makes the evaluations that are queued: live spans for the online evaluation rules of their project
/// (queued by ingestion; each rule's evaluator runs on the spans that match its filter, into span
/// annotations named after the rule), and runs of existing experiments evaluated again (into run
/// annotations). Ingestion never waits for it: a stopped runner leaves a backlog
/// (`cinder_online_evaluation_backlog`), which drains when one runs again.
public final class EvaluationWorker: Service, Sendable {
    public struct Configuration: Sendable {
        /// Queue entries claimed at a time (one organization's).
        public var batch: Int
        /// Evaluations in flight at once.
        public var concurrency: Int
        public var lease: Duration
        public var pollInterval: Duration
        /// How often the backlog gauge is read.
        public var backlogInterval: Duration
        /// Where the evaluations' own traces go, in each organization.
        public var projectName: String

        public init(
            batch: Int = 64, concurrency: Int = 16, lease: Duration = .seconds(120), pollInterval: Duration = .seconds(1),
            backlogInterval: Duration = .seconds(5), projectName: String = "online-evaluations"
        ) {
            self.batch = batch
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
            self.backlogInterval = backlogInterval
            self.projectName = projectName
        }
    }

    /// Claims an entry may take before it is given up.
    static let maxAttempts = 5

    let configuration: Configuration
    let queue: EvaluationQueue
    let rerunQueue: EvaluationQueue
    let executor: EvaluatorExecutor
    let spans: SpanIngestStore
    let prices: OrganizationPrices?
    let logger: Logger
    let backlog: Gauge
    let rerunBacklog: Gauge
    let scored: Counter
    let failed: Counter
    let skipped: Counter

    public init(
        configuration: Configuration, database: Database, runner: String, executor: EvaluatorExecutor, spans: SpanIngestStore,
        prices: OrganizationPrices?, metrics: any MetricsFactory, logger: Logger
    ) {
        self.configuration = configuration
        self.queue = EvaluationQueue(.spans, database: database, runner: runner, logger: logger)
        self.rerunQueue = EvaluationQueue(.experimentRuns, database: database, runner: runner, logger: logger)
        self.executor = executor
        self.spans = spans
        self.prices = prices
        self.logger = logger
        self.backlog = Gauge(label: "cinder_online_evaluation_backlog", factory: metrics)
        self.rerunBacklog = Gauge(label: "cinder_experiment_evaluation_backlog", factory: metrics)
        self.scored = Counter(label: "cinder_online_evaluations_total", dimensions: [("outcome", "scored")], factory: metrics)
        self.failed = Counter(label: "cinder_online_evaluations_total", dimensions: [("outcome", "error")], factory: metrics)
        self.skipped = Counter(label: "cinder_online_evaluations_total", dimensions: [("outcome", "filtered_out")], factory: metrics)
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.watchBacklog() }
                group.addTask { await self.drain(self.queue) { batch, scope in try await self.process(batch, scope: scope) } }
                group.addTask { await self.drain(self.rerunQueue) { batch, scope in try await self.processRuns(batch, scope: scope) } }
            }
        }
    }

    private func watchBacklog() async {
        while !Task.isCancelled {
            if let count = try? await queue.backlog() { backlog.record(count) }
            if let count = try? await rerunQueue.backlog() { rerunBacklog.record(count) }
            try? await Task.sleep(for: configuration.backlogInterval)
        }
    }

    private func drain(
        _ queue: EvaluationQueue, _ process: @escaping @Sendable (_ batch: [QueuedEvaluation], _ scope: TenantScope) async throws -> Void
    ) async {
        var served: OrganizationID?
        while !Task.isCancelled {
            let batch: [QueuedEvaluation]
            do {
                batch = try await queue.claim(limit: configuration.batch, lease: configuration.lease, after: served)
            } catch {
                logger.warning("cannot claim spans to evaluate", metadata: ["cinder.error": "\(error)"])
                try? await Task.sleep(for: configuration.pollInterval)
                continue
            }
            guard let organization = batch.first?.organization else {
                try? await Task.sleep(for: configuration.pollInterval)
                continue
            }
            served = organization
            // An entry that failed its batch every time so far is let go, so that it cannot hold back the
            // others (or spend the organization's calls again and again).
            let spent = batch.filter { $0.attempts > Self.maxAttempts }
            if !spent.isEmpty {
                logger.error("giving up queued evaluations that kept failing", metadata: ["cinder.org": "\(organization.rawValue)", "cinder.entries": "\(spent.count)"])
                failed.increment(by: spent.count)
                try? await queue.complete(spent.map(\.id))
            }
            let work = batch.filter { $0.attempts <= Self.maxAttempts }
            guard !work.isEmpty else { continue }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await process(work, queue.tenant(organization)) }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: self.configuration.lease / 3)
                            try? await queue.renew(work.map(\.id), lease: self.configuration.lease)
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
                try await queue.complete(work.map(\.id))
            } catch {
                if Task.isCancelled { return }
                // The lease runs out and the entries are claimed again.
                logger.error("cannot evaluate queued spans", metadata: ["cinder.org": "\(organization.rawValue)", "cinder.error": "\(error)"])
            }
        }
    }

    /// One organization's entries: each rule's matching spans scored, the rest left out.
    func process(_ batch: [QueuedEvaluation], scope: TenantScope) async throws {
        let rules = try await scope.onlineEvaluation.rules(ids: Array(Set(batch.map(\.ownerID))), onPrimary: true)
        let book = await prices?.book(for: scope.organization)
        var annotations: [AnnotationInput] = []
        var traces: [Span] = []
        // A rule turned off keeps what it queued from being scored; the entries are let go.
        for rule in rules where rule.enabled {
            let rowIDs = batch.filter { $0.ownerID == rule.id }.map(\.targetID)
            let condition: SpanFilterCondition?
            do {
                condition = rule.filterCondition.isEmpty ? nil : try SpanFilterCondition.parse(rule.filterCondition)
            } catch {
                // Checked when the rule was saved; a condition this build cannot read scores nothing.
                logger.error("an online rule's filter cannot be read", metadata: ["cinder.rule": "\(rule.id)", "cinder.error": "\(error)"])
                continue
            }
            let matching = try await scope.spans.spans(rowIDs: rowIDs, matching: condition)
            skipped.increment(by: rowIDs.count - matching.count)
            guard !matching.isEmpty else { continue }
            let prepared: [PreparedEvaluator]
            do {
                prepared = await executor.prepare([try EvaluatorSpec(json: rule.evaluator)], scope: scope, given: [:], prices: book)
            } catch {
                for span in matching { annotations.append(Self.failure(rule, span: span, error.description)) }
                failed.increment(by: matching.count)
                continue
            }
            let outcomes = await evaluateAll(prepared, matching) { EvaluationContext.span($0) }
            for (span, outcome) in outcomes {
                annotations.append(Self.annotation(rule, span: span, outcome.evaluation))
                traces += outcome.spans
                if outcome.evaluation.error == nil { scored.increment() } else { failed.increment() }
            }
        }
        try await record(annotations, scope: scope)
        await recordTraces([configuration.projectName: traces], scope: scope)
    }

    /// The evaluations' own traces, each batch into its project; never queued for online rules themselves
    /// (a rule scoring them would multiply them). Traces that cannot be written are logged and dropped;
    /// the annotations stand.
    private func recordTraces(_ byProject: [String: [Span]], scope: TenantScope) async {
        let batches = byProject.filter { !$0.value.isEmpty }.map { ProjectSpans(organizationID: scope.organization, projectName: $0.key, spans: $0.value) }
        guard !batches.isEmpty else { return }
        do {
            _ = try await spans.insert(batches, evaluated: false)
        } catch {
            logger.warning("cannot record the evaluations' traces", metadata: ["cinder.error": "\(error)"])
        }
    }

    /// Experiment runs evaluated again: each request's evaluators on its runs, into run annotations
    /// (replacing earlier ones of the same name), their traces in the experiment's project.
    func processRuns(_ batch: [QueuedEvaluation], scope: TenantScope) async throws {
        let requests = try await scope.onlineEvaluation.requestedEvaluators(ids: Array(Set(batch.map(\.ownerID))))
        let runs = Dictionary(
            try await scope.onlineEvaluation.runsToEvaluate(runIDs: batch.map(\.targetID)).map { ($0.run.id, $0) }, uniquingKeysWith: { first, _ in first })
        let book = await prices?.book(for: scope.organization)
        var evaluations: [(runID: Int64, evaluation: RunEvaluation)] = []
        var traces: [String: [Span]] = [:]
        // Oldest request first: of two that score a run under one name, the newer is recorded.
        for (requestID, stored) in requests.sorted(by: { $0.key < $1.key }) {
            let targets = batch.filter { $0.ownerID == requestID }.compactMap { runs[$0.targetID] }
            guard !targets.isEmpty else { continue }
            let specs: [EvaluatorSpec]
            do {
                specs = try EvaluatorSpec.ofTask(["evaluators": stored])
            } catch {
                logger.error("an evaluation request's evaluators cannot run", metadata: ["cinder.error": "\(error)"])
                continue
            }
            let prepared = await executor.prepare(specs, scope: scope, given: [:], prices: book)
            let outcomes = await evaluateAll(prepared, targets) { target in
                EvaluationContext.experimentRun(
                    input: target.input, output: EvaluationContext.runOutput(target.run.output), reference: target.reference, metadata: target.metadata)
            }
            for (target, outcome) in outcomes {
                evaluations.append((target.run.id, outcome.evaluation))
                traces[target.projectName ?? configuration.projectName, default: []] += outcome.spans
                if outcome.evaluation.error == nil { scored.increment() } else { failed.increment() }
            }
        }
        try await scope.experiments.recordEvaluations(evaluations)
        await recordTraces(traces, scope: scope)
    }

    /// Every evaluator on each item, at most `concurrency` items at once.
    private func evaluateAll<Item: Sendable>(
        _ prepared: [PreparedEvaluator], _ items: [Item], context: @escaping @Sendable (Item) -> JSONValue
    ) async -> [(Item, EvaluatorExecutor.Outcome)] {
        await withTaskGroup(of: [(Item, EvaluatorExecutor.Outcome)].self) { group in
            var results: [(Item, EvaluatorExecutor.Outcome)] = []
            var next = 0
            func start() {
                guard next < items.count else { return }
                let item = items[next]
                next += 1
                group.addTask { await self.executor.evaluate(prepared, context: context(item)).map { (item, $0) } }
            }
            for _ in 0..<min(configuration.concurrency, items.count) { start() }
            while let result = await group.next() {
                results += result
                start()
            }
            return results
        }
    }

    /// Annotations on spans deleted since they were queued are dropped, the others written.
    private func record(_ annotations: [AnnotationInput], scope: TenantScope) async throws {
        var pending = annotations
        while !pending.isEmpty {
            switch try await scope.annotations.upsert(.span, pending) {
            case .missingEntities(let missing):
                let gone = Set(missing)
                pending.removeAll { gone.contains($0.entityID) }
            default:
                return
            }
        }
    }

    static func annotation(_ rule: OnlineRuleRow, span: SpanRow, _ evaluation: RunEvaluation) -> AnnotationInput {
        var metadata: [String: JSONValue] = ["online_rule": .string(rule.name)]
        if case .object(let given) = evaluation.metadata { metadata.merge(given) { own, _ in own } }
        if let trace = evaluation.traceID { metadata["evaluator_trace_id"] = .string(trace) }
        if let error = evaluation.error {
            metadata["error"] = .string(error)
            return AnnotationInput(
                entityID: span.spanID, name: rule.name, annotatorKind: evaluation.annotatorKind == "LLM" ? .llm : .code, label: nil, score: nil,
                explanation: "The evaluation failed: \(error)", metadata: .object(metadata), identifier: identifier(rule))
        }
        return AnnotationInput(
            entityID: span.spanID, name: rule.name, annotatorKind: evaluation.annotatorKind == "LLM" ? .llm : .code, label: evaluation.label,
            score: evaluation.score, explanation: evaluation.explanation, metadata: .object(metadata), identifier: identifier(rule))
    }

    static func failure(_ rule: OnlineRuleRow, span: SpanRow, _ error: String) -> AnnotationInput {
        AnnotationInput(
            entityID: span.spanID, name: rule.name, annotatorKind: .code, label: nil, score: nil, explanation: "The evaluation failed: \(error)",
            metadata: ["online_rule": .string(rule.name), "error": .string(error)], identifier: identifier(rule))
    }

    /// Each rule's annotations have an identifier of their own, so a person's annotation of the same
    /// name is never overwritten by a rule.
    static func identifier(_ rule: OnlineRuleRow) -> String { "online-rule-\(rule.id)" }
}

extension EvaluationContext {
    /// The context evaluators read for a span: its input and output values (parsed when they are JSON),
    /// its metadata, and the span itself (`name`, `span_kind`, `status_code`, `attributes`).
    public static func span(_ row: SpanRow) -> JSONValue {
        let attributes = (try? JSONValue(parsing: row.attributesJSON)) ?? .object([:])
        func value(_ key: String) -> JSONValue {
            guard let value = attributes[path: [key, "value"]] else { return .null }
            if attributes[path: [key, "mime_type"]]?.stringValue == "application/json", let text = value.stringValue, let parsed = try? JSONValue(parsing: text) {
                return parsed
            }
            return value
        }
        return [
            "input": value("input"), "output": value("output"), "reference": .null, "metadata": attributes["metadata"] ?? .object([:]),
            "name": .string(row.name), "span_kind": .string(row.spanKind), "status_code": .string(row.statusCode), "attributes": attributes,
        ]
    }
}
