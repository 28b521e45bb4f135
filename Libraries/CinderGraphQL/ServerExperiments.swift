import CinderModel
import CinderProviders
import CinderRunner
import CinderStorage
import Foundation

/// A `chatCompletionOverDataset` turned into a server-side experiment: the input checked the way
/// `POST /v1/experiment_jobs` checks it, the keys given with it sealed to the job.
struct ServerExperimentStart {
    static let maxRepetitions = 100
    static let maxConcurrency = 1000

    let scope: TenantScope
    let credentials: ProviderCredentials
    let datasetID: Int64
    let versionID: Int64
    let splitIDs: [Int64]
    let input: ChatCompletionOverDatasetInput
    let task: JSONValue
    let given: [String: String]

    init(_ input: ChatCompletionOverDatasetInput, playground: Playground, scope: TenantScope) async throws {
        self.scope = scope
        self.input = input
        self.credentials = playground.credentials
        guard (1...Self.maxRepetitions).contains(input.repetitions) else {
            throw GraphQLFailure("repetitions must be between 1 and \(Self.maxRepetitions)")
        }
        let concurrency = input.maxConcurrency ?? 10
        guard (1...Self.maxConcurrency).contains(concurrency) else { throw GraphQLFailure("maxConcurrency must be between 1 and \(Self.maxConcurrency)") }
        guard let datasetID = GlobalID(encoded: input.datasetId.value, type: NodeType.dataset)?.rowID,
            let dataset = try await scope.datasets.dataset(id: datasetID)
        else { throw GraphQLFailure("Dataset not found: \(input.datasetId.value)") }
        var versionID: Int64?
        if let text = input.datasetVersionId?.value {
            guard let id = GlobalID(encoded: text, type: NodeType.datasetVersion)?.rowID else { throw GraphQLFailure("Dataset version not found: \(text)") }
            versionID = id
        }
        guard let version = try await scope.datasets.datasetVersion(datasetID: dataset.id, id: versionID) else {
            throw GraphQLFailure("Dataset version not found for dataset \(input.datasetId.value)")
        }
        self.datasetID = dataset.id
        self.versionID = version.id
        var splitIDs: [Int64] = []
        if let given = input.splitIds, !given.isEmpty {
            let ids = given.compactMap { GlobalID(encoded: $0.value, type: NodeType.datasetSplit)?.rowID }
            let found = try await scope.datasets.datasetSplits(datasetID: dataset.id, ids: ids, names: [])
            guard ids.count == given.count, found.count == Set(ids).count else { throw GraphQLFailure("One or more dataset splits not found") }
            splitIDs = found.map(\.id)
        }
        self.splitIDs = splitIDs
        var extra: [String: JSONValue] = ["template_variables_path": .string(input.templateVariablesPath ?? "input")]
        if let path = input.appendedMessagesPath, !path.isEmpty { extra["appended_messages_path"] = .string(path) }
        let task = try input.promptVersion.task(templateFormat: input.promptVersion.templateFormat, extra: extra)
        let parsed: PromptTask
        do {
            parsed = try PromptTask(task)
        } catch {
            throw GraphQLFailure(error.description)
        }
        if case .custom(let id) = parsed.modelChoice, try await scope.customProviders.provider(id: id) == nil {
            throw GraphQLFailure("Custom model provider not found")
        }
        var selection: [EvaluatorSpec.Selected] = []
        for evaluator in input.evaluators ?? [] {
            let mapping = try evaluator.inputMapping.mapping()
            let name = try QueryRoot.checkName(evaluator.name)
            if let id = GlobalID(encoded: evaluator.id.value, type: DatasetEvaluatorNode.typeName)?.rowID {
                selection.append(.init(.datasetEvaluator(id: id), name: name, mapping: mapping))
            } else if GlobalID(encoded: evaluator.id.value, type: BuiltInEvaluatorNode.typeName) != nil {
                selection.append(.init(.builtIn(try QueryRoot.builtInEvaluator(evaluator.id)), name: name, mapping: mapping))
            } else {
                throw GraphQLFailure("Evaluator \(evaluator.id.value) is neither one of the dataset's evaluators nor a built-in evaluator")
            }
        }
        self.task = task.adding("evaluators", try await EvaluatorSpec.forJob(scope: scope, datasetID: dataset.id, selection: selection))
        self.given = try CallSettings(credentials: input.credentials, connection: input.connectionConfig, headers: nil, family: parsed.family).given
        if input.headers.map({ $0.value != .null }) ?? false {
            throw GraphQLFailure("Custom headers are not supported for experiments the server runs")
        }
    }

    func create() async throws -> (ExperimentRow, ExperimentJobRow) {
        let now = Timestamp.iso8601(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))
        var metadata: [String: JSONValue] = [:]
        if case .object(let given)? = input.experimentMetadata?.value { metadata = given }
        if let versionID = input.promptVersionId { metadata["prompt_version_id"] = .string(versionID.value) }
        if let name = input.promptName { metadata["prompt_name"] = .string(name.value) }
        let credentials = credentials, given = given, organization = scope.organization
        return try await scope.experimentJobs.createServerExperiment(
            datasetID: datasetID, versionID: versionID, name: input.experimentName ?? "playground-\(now)", description: input.experimentDescription,
            repetitions: input.repetitions, metadata: .object(metadata), projectName: ExperimentRepository.newProjectName(), splitIDs: splitIDs,
            task: task, maxConcurrency: input.maxConcurrency ?? 10,
            sealCredentials: { try credentials.sealJobCredentials(given, organization: organization, jobID: $0) })
    }
}

/// Follows a server-side experiment as the runner records its runs, until its job ends.
struct ExperimentWatch {
    static let page = 500
    static let interval = Duration.milliseconds(250)

    let scope: TenantScope
    let experiment: ExperimentRow
    let job: ExperimentJobRow
    let streamOutput: Bool

    /// How long a run whose span has not been written yet is held back (the runner writes a batch's
    /// spans just after its runs), before it is sent without it.
    static let spanGrace = Duration.seconds(3)

    func run(_ emit: (any ChatCompletionPayload) -> Void) async throws {
        var after: Int64 = 0
        var heldSince: (run: Int64, at: ContinuousClock.Instant)?
        while true {
            // The job's state is read before the runs: a job seen finished has all its runs in the read that follows.
            guard let job = try await scope.experimentJobs.job(id: experiment.id, onPrimary: true) else { return }
            let runs = try await scope.experiments.experimentRuns(experimentID: experiment.id, afterID: after, limit: Self.page)
            let spans = try await scope.spans.rootSpans(traceIDs: runs.compactMap(\.traceID))
            let spansByTrace = Dictionary(spans.map { ($0.traceID, $0) }, uniquingKeysWith: { first, _ in first })
            // Recorded with their runs, so read after them: a run seen has its evaluations.
            let evaluations = try await scope.experiments.experimentEvaluations(runIDs: runs.map(\.id))
            var held = false
            for run in runs {
                if let trace = run.traceID, spansByTrace[trace] == nil {
                    if heldSince?.run != run.id { heldSince = (run.id, .now) }
                    if let since = heldSince?.at, ContinuousClock.now - since < Self.spanGrace {
                        held = true
                        break
                    }
                }
                let example = NodeID(NodeType.datasetExample, run.exampleID)
                let span = run.traceID.flatMap { spansByTrace[$0] }.map { SpanNode(row: $0, siblings: Siblings([$0])) }
                let runNode = ExperimentRunNode(row: run, siblings: Siblings([run]))
                if let error = run.error {
                    emit(ChatCompletionErrorPayload(datasetExampleId: example, repetitionNumber: run.repetition, message: error, span: span, experimentRun: runNode))
                } else {
                    if streamOutput, let text = Self.text(of: run.output) {
                        emit(TextChunkPayload(datasetExampleId: example, repetitionNumber: run.repetition, content: text))
                    }
                    emit(ChatCompletionResultPayload(datasetExampleId: example, repetitionNumber: run.repetition, span: span, experimentRun: runNode))
                    for evaluation in evaluations[run.id] ?? [] {
                        emit(
                            EvaluationChunkPayload(
                                datasetExampleId: example, repetitionNumber: run.repetition, evaluatorName: evaluation.name,
                                experimentRunEvaluation: ExperimentRunAnnotationNode(row: evaluation), error: evaluation.error))
                    }
                }
                after = run.id
            }
            if held {
                try await Task.sleep(for: Self.interval)
                continue
            }
            if runs.count == Self.page { continue }
            if job.status != .running {
                if job.status == .error, let last = try await scope.experimentJobs.logs(experimentID: experiment.id, errorsOnly: true, beforeID: nil, limit: 1).first {
                    emit(ChatCompletionErrorPayload(message: last.message))
                }
                return
            }
            try await Task.sleep(for: Self.interval)
        }
    }

    /// The assistant's text in a run's output (`{"messages": [{"role": "assistant", "content": …}]}`).
    static func text(of output: JSONValue) -> String? {
        guard case .array(let messages)? = output["messages"] else { return output.stringValue }
        let texts = messages.compactMap { $0["content"]?.stringValue }
        return texts.isEmpty ? nil : texts.joined()
    }
}
