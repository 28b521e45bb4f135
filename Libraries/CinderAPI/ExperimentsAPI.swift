import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird
import NIOCore

/// Experiments run by clients: `/v1/datasets/{id}/experiments`, `/v1/experiments/...` (runs, incomplete
/// runs and evaluations, tags, JSON/CSV export) and `POST /v1/experiment_evaluations`.
struct ExperimentsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.post("/v1/datasets/:id/experiments") { request, context in try await create(request, context) }
        router.get("/v1/datasets/:id/experiments") { request, context in
            let query = QueryParameters(request)
            let limit = try query.int("limit", default: 50)
            let cursor = try rowIDCursor(query.string("cursor"))
            guard let datasetID = GlobalID(encoded: try pathParameter(context, "id"), type: NodeType.dataset)?.rowID else {
                throw CinderError.unprocessable("Invalid dataset ID")
            }
            let scope = try api.scope(context)
            let rows = try await scope.experiments.experiments(datasetID: datasetID, atOrBeforeID: cursor, limit: limit + 1)
            // Experiments of one dataset mostly share a version: count each version's examples once.
            var counts: [[Int64]: Int64] = [:]
            for row in rows.prefix(limit) where counts[Self.countKey(row)] == nil {
                counts[Self.countKey(row)] = try await exampleCount(of: row, scope)
            }
            return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.experiment, $0.id).encoded }) {
                Self.json($0, exampleCount: counts[Self.countKey($0)]!)
            }
        }
        router.get("/v1/experiments/:experiment") { _, context in
            let scope = try api.scope(context)
            return jsonResponse(["data": try await json(try await experiment(context, scope), scope)])
        }
        router.patch("/v1/experiments/:experiment") { request, context in
            let body = try await JSONBody.fields(request, context)
            let scope = try api.scope(context)
            let existing = try await experiment(context, scope)
            guard ["name", "description", "metadata"].contains(where: body.fields.keys.contains) else {
                throw CinderError.unprocessable("At least one of name, description or metadata must be given")
            }
            if body.fields["name"] == .null { throw CinderError.unprocessable("name cannot be null") }
            if body.fields["metadata"] == .null { throw CinderError.unprocessable("metadata cannot be null") }
            let description: String?? = body.fields.keys.contains("description") ? .some(try body.optionalString("description")) : .none
            guard
                let updated = try await scope.experiments.updateExperiment(
                    id: existing.id, name: try body.optionalString("name"), description: description,
                    metadata: try body.dictionary("metadata").map { .object($0) })
            else { throw Self.notFound }
            return jsonResponse(["data": try await json(updated, scope)])
        }
        router.delete("/v1/experiments/:experiment") { request, context in
            let scope = try api.scope(context)
            let existing = try await experiment(context, scope)
            guard let projectName = try await scope.experiments.deleteExperiment(id: existing.id) else { throw Self.notFound }
            if try QueryParameters(request).bool("delete_project", default: false), let projectName,
                let project = try await scope.projects.project(named: projectName)
            {
                _ = try await scope.projects.delete(id: project.id)
            }
            return Response(status: .noContent)
        }
        router.post("/v1/experiments/:experiment/runs") { request, context in try await recordRun(request, context) }
        router.get("/v1/experiments/:experiment/runs") { request, context in
            let query = QueryParameters(request)
            let limit: Int? = query.string("limit") == nil ? nil : try query.int("limit", default: 100)
            let cursor = try rowIDCursor(query.string("cursor"))
            let scope = try api.scope(context)
            let experiment = try await experiment(context, scope)
            let rows = try await scope.experiments.experimentRuns(experimentID: experiment.id, atOrBeforeID: cursor, limit: limit.map { $0 + 1 })
            let page = limit.map { Array(rows.prefix($0)) } ?? rows
            let next: JSONValue = limit.map { rows.count > $0 ? .string(GlobalID(NodeType.experimentRun, rows[$0].id).encoded) : .null } ?? .null
            return jsonResponse(["data": .array(page.map(Self.json)), "next_cursor": next])
        }
        router.get("/v1/experiments/:experiment/incomplete-runs") { request, context in try await incompleteRuns(request, context) }
        router.get("/v1/experiments/:experiment/incomplete-evaluations") { request, context in
            try await incompleteEvaluations(request, context)
        }
        router.post("/v1/experiment_evaluations") { request, context in try await upsertEvaluation(request, context) }
        router.get("/v1/experiments/:experiment/tags") { _, context in
            let scope = try api.scope(context)
            let experiment = try await experiment(context, scope)
            return jsonResponse(["data": .array(try await scope.experiments.experimentTags(experimentID: experiment.id).map(Self.json))])
        }
        router.post("/v1/experiments/:experiment/tags") { request, context in
            let body = try await JSONBody.fields(request, context)
            let name = try body.identifier("name")
            let scope = try api.scope(context)
            let experiment = try await experiment(context, scope)
            let tag = try await scope.experiments.setExperimentTag(
                experimentID: experiment.id, datasetID: experiment.datasetID, name: name, description: try body.optionalString("description"))
            return jsonResponse(["data": Self.json(tag)])
        }
        router.delete("/v1/experiments/:experiment/tags/:tag") { _, context in
            let identifier = try pathParameter(context, "tag")
            guard !identifier.isEmpty else { throw CinderError.unprocessable("Invalid tag identifier") }
            let scope = try api.scope(context)
            let experiment = try await experiment(context, scope)
            let tagID = GlobalID(encoded: identifier, type: "ExperimentTag")?.rowID
            try await scope.experiments.removeExperimentTag(experimentID: experiment.id, tagID: tagID, name: tagID == nil ? identifier : nil)
            return Response(status: .noContent)
        }
        router.get("/v1/experiments/:experiment/json") { _, context in try await export(context, csv: false) }
        router.get("/v1/experiments/:experiment/csv") { _, context in try await export(context, csv: true) }
    }

    static let notFound = CinderError.notFound("Experiment not found")
    static let maxRepetitions = 10_000

    /// The experiment the path names; `onPrimary` to see its latest runs.
    func experiment(_ context: CinderRequestContext, _ scope: TenantScope, onPrimary: Bool = false) async throws -> ExperimentRow {
        let text = try pathParameter(context, "experiment")
        guard let id = GlobalID(encoded: text) else { throw CinderError.unprocessable("Invalid experiment ID: \(text)") }
        guard id.typeName == NodeType.experiment, let experiment = try await scope.experiments.experiment(id: id.rowID, onPrimary: onPrimary) else {
            throw CinderError.notFound("Experiment with ID \(text) not found")
        }
        return experiment
    }

    /// The examples an experiment runs over: its version's, narrowed to its splits when it has any.
    func examples(of experiment: ExperimentRow, _ scope: TenantScope) async throws -> [DatasetExampleRow] {
        try await scope.datasets.datasetExamples(
            datasetID: experiment.datasetID, versionID: experiment.datasetVersionID,
            splitIDs: experiment.splitFilter)
    }

    func exampleCount(of experiment: ExperimentRow, _ scope: TenantScope) async throws -> Int64 {
        try await scope.datasets.datasetExampleCount(
            datasetID: experiment.datasetID, versionID: experiment.datasetVersionID,
            splitIDs: experiment.splitFilter)
    }

    static func countKey(_ experiment: ExperimentRow) -> [Int64] { [experiment.datasetVersionID] + experiment.splitIDs }

    func json(_ experiment: ExperimentRow, _ scope: TenantScope) async throws -> JSONValue {
        Self.json(experiment, exampleCount: try await exampleCount(of: experiment, scope))
    }

    static func json(_ experiment: ExperimentRow, exampleCount: Int64) -> JSONValue {
        let expected = exampleCount * Int64(experiment.repetitions)
        return [
            "id": .string(GlobalID(NodeType.experiment, experiment.id).encoded),
            "dataset_id": .string(GlobalID(NodeType.dataset, experiment.datasetID).encoded),
            "dataset_version_id": .string(GlobalID(NodeType.datasetVersion, experiment.datasetVersionID).encoded),
            "name": .string(experiment.name), "description": experiment.description.map { .string($0) } ?? .null,
            "repetitions": .int(Int64(experiment.repetitions)), "metadata": experiment.metadata,
            "project_name": experiment.projectName.map { .string($0) } ?? .null,
            "created_at": iso(experiment.createdMicros), "updated_at": iso(experiment.updatedMicros),
            "example_count": .int(exampleCount), "successful_run_count": .int(experiment.successfulRuns),
            "failed_run_count": .int(experiment.failedRuns),
            "missing_run_count": .int(max(0, expected - experiment.successfulRuns - experiment.failedRuns)),
        ]
    }

    static func json(_ run: ExperimentRunRow) -> JSONValue {
        [
            "id": .string(GlobalID(NodeType.experimentRun, run.id).encoded),
            "experiment_id": .string(GlobalID(NodeType.experiment, run.experimentID).encoded),
            "dataset_example_id": .string(GlobalID(NodeType.datasetExample, run.exampleID).encoded),
            "repetition_number": .int(Int64(run.repetition)), "output": run.output,
            "start_time": iso(run.startMicros), "end_time": iso(run.endMicros),
            "trace_id": run.traceID.map { .string($0) } ?? .null, "error": run.error.map { .string($0) } ?? .null,
        ]
    }

    static func json(_ tag: ExperimentTagRow) -> JSONValue {
        ["id": .string(GlobalID("ExperimentTag", tag.id).encoded), "name": .string(tag.name), "description": tag.description.map { .string($0) } ?? .null]
    }

    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.fields(request, context)
        let scope = try api.scope(context)
        let spec = try await experimentSpec(body, datasetText: try pathParameter(context, "id"), scope)
        let experiment = try await scope.experiments.createExperiment(
            datasetID: spec.datasetID, versionID: spec.versionID, name: spec.name, description: spec.description,
            repetitions: spec.repetitions, metadata: spec.metadata, projectName: spec.projectName, splitIDs: spec.splitIDs)
        return jsonResponse(["data": try await json(experiment, scope)])
    }

    /// What a new experiment is made of, read and checked from a request body.
    struct ExperimentSpec {
        var datasetID: Int64
        var versionID: Int64
        var name: String
        var description: String?
        var repetitions: Int
        var metadata: JSONValue
        var projectName: String
        var splitIDs: [Int64]
    }

    func experimentSpec(_ body: BodyFields, datasetText: String, _ scope: TenantScope) async throws -> ExperimentSpec {
        guard let datasetID = GlobalID(encoded: datasetText, type: NodeType.dataset)?.rowID,
            let dataset = try await scope.datasets.dataset(id: datasetID)
        else { throw CinderError.notFound("Dataset with ID \(datasetText) does not exist") }
        var versionID: Int64?
        if let text = try body.optionalString("version_id") {
            guard let id = GlobalID(encoded: text, type: NodeType.datasetVersion) else {
                throw CinderError.notFound("DatasetVersion with ID \(text) does not exist")
            }
            versionID = id.rowID
        }
        guard let version = try await scope.datasets.datasetVersion(datasetID: dataset.id, id: versionID) else {
            throw CinderError.notFound("DatasetVersion does not exist for dataset \(datasetText)")
        }
        let repetitions = try body.optionalInt("repetitions") ?? 1
        if repetitions < 1 {
            throw CinderError.invalid(["body", "repetitions"], "Input should be greater than 0", type: "greater_than", input: String(repetitions))
        }
        // Incomplete-run lists enumerate repetitions per example; a bound keeps them finite.
        if repetitions > Self.maxRepetitions {
            throw CinderError.invalid(
                ["body", "repetitions"], "Input should be less than or equal to \(Self.maxRepetitions)", type: "less_than_equal",
                input: String(repetitions))
        }
        var splitIDs: [Int64] = []
        if body.value("splits") != nil {
            let names = try body.stringList("splits")
            let ids = names.compactMap { GlobalID(encoded: $0, type: NodeType.datasetSplit)?.rowID }
            let found = try await scope.datasets.datasetSplits(datasetID: dataset.id, ids: ids, names: names)
            guard found.count >= Set(names).count else { throw CinderError.notFound("One or more dataset splits not found") }
            splitIDs = found.map(\.id)
        }
        let projectName = ExperimentRepository.newProjectName()
        let name = try body.optionalString("name") ?? "experiment-\(Timestamp.iso8601(micros: Int64(Date().timeIntervalSince1970 * 1_000_000)))"
        return ExperimentSpec(
            datasetID: dataset.id, versionID: version.id, name: name, description: try body.optionalString("description"),
            repetitions: repetitions, metadata: .object(try body.dictionary("metadata") ?? [:]), projectName: projectName, splitIDs: splitIDs)
    }

    func recordRun(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.fields(request, context)
        try body.requirePresent(["dataset_example_id", "output", "repetition_number", "start_time", "end_time"])
        let exampleText = try body.string("dataset_example_id")
        let repetition = try body.int("repetition_number")
        if repetition < 1 {
            throw CinderError.invalid(
                ["body", "repetition_number"], "Input should be greater than 0", type: "greater_than", input: String(repetition))
        }
        let start = try QueryParameters.parseDatetime(try body.string("start_time"), location: ["body", "start_time"])
        let end = try QueryParameters.parseDatetime(try body.string("end_time"), location: ["body", "end_time"])
        let scope = try api.scope(context)
        let experiment = try await experiment(context, scope)
        guard let exampleID = GlobalID(encoded: exampleText, type: NodeType.datasetExample)?.rowID,
            try await !scope.datasets.datasetExampleIDs(datasetID: experiment.datasetID, rowIDs: [exampleID], externalIDs: []).isEmpty
        else { throw CinderError.notFound("Dataset example with ID \(exampleText) not found in the experiment's dataset") }
        let run = ExperimentRunInput(
            exampleID: exampleID, repetition: repetition, output: body.fields["output"] ?? .null, startMicros: start, endMicros: end,
            traceID: try body.optionalString("trace_id"), error: try body.optionalString("error"))
        switch try await scope.experiments.recordExperimentRun(experimentID: experiment.id, run) {
        case .written(let id): return jsonResponse(["data": ["id": .string(GlobalID(NodeType.experimentRun, id).encoded)]])
        case .alreadySucceeded:
            throw CinderError(.conflict, "Experiment run already exists with a successful result and cannot be updated")
        }
    }

    func upsertEvaluation(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.fields(request, context)
        try body.requirePresent(["experiment_run_id", "name", "annotator_kind", "start_time", "end_time"])
        let runText = try body.string("experiment_run_id")
        let name = try body.string("name")
        let kind = AnnotatorKind(rawValue: try body.literal("annotator_kind", AnnotatorKind.allCases.map(\.rawValue)))!
        let start = try QueryParameters.parseDatetime(try body.string("start_time"), location: ["body", "start_time"])
        let end = try QueryParameters.parseDatetime(try body.string("end_time"), location: ["body", "end_time"])
        let result = try body.object("result")
        let input = ExperimentEvaluationInput(
            runID: 0, name: name, annotatorKind: kind, label: try result?.optionalString("label"), score: try result?.double("score"),
            explanation: try result?.optionalString("explanation"), traceID: try body.optionalString("trace_id"),
            error: try body.optionalString("error"), metadata: .object(try body.dictionary("metadata") ?? [:]), startMicros: start,
            endMicros: end)
        let scope = try api.scope(context)
        guard let runID = GlobalID(encoded: runText, type: NodeType.experimentRun)?.rowID, let run = try await scope.experiments.experimentRun(id: runID) else {
            throw CinderError.notFound("Experiment run with ID \(runText) not found")
        }
        var evaluation = input
        evaluation.runID = run.id
        let id = try await scope.experiments.upsertExperimentEvaluation(evaluation)
        return jsonResponse(["data": ["id": .string(GlobalID(NodeType.experimentEvaluation, id).encoded)]])
    }

    func incompleteRuns(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 50)
        let cursor = try rowIDCursor(query.string("cursor"))
        let scope = try api.scope(context)
        let experiment = try await experiment(context, scope)
        let incomplete = try await scope.experiments.incompleteRuns(of: experiment, fromExampleID: cursor, limit: limit + 1)
        let items: [(id: Int64, json: JSONValue)] = incomplete.map { example, repetitions in
            (example.id, ["dataset_example": DatasetsAPI.json(example), "repetition_numbers": .array(repetitions.map { .int(Int64($0)) })])
        }
        let next: JSONValue = items.count > limit ? .string(GlobalID(NodeType.datasetExample, items[limit].id).encoded) : .null
        return jsonResponse(["data": .array(items.prefix(limit).map(\.json)), "next_cursor": next])
    }

    func incompleteEvaluations(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let query = QueryParameters(request)
        let names = Array(Set(query.strings("evaluation_name").filter { !$0.isEmpty })).sorted()
        let limit = try query.int("limit", default: 50)
        let cursor = try rowIDCursor(query.string("cursor"))
        let scope = try api.scope(context)
        let experiment = try await experiment(context, scope)
        guard !names.isEmpty else { throw CinderError.badRequest("No evaluator names provided") }
        let examples = Dictionary(uniqueKeysWithValues: try await examples(of: experiment, scope).map { ($0.id, $0) })
        let evaluations = try await scope.experiments.experimentEvaluations(experimentID: experiment.id)
        let runs = try await scope.experiments.experimentRuns(experimentID: experiment.id, atOrBeforeID: nil, limit: nil)
            .filter { run in run.error == nil && (cursor.map { run.id >= $0 } ?? true) }
            .sorted { $0.id < $1.id }
        var items: [(id: Int64, json: JSONValue)] = []
        for run in runs {
            guard let example = examples[run.exampleID] else { continue }
            let done = Set((evaluations[run.id] ?? []).filter { $0.error == nil }.map(\.name))
            let missing = names.filter { !done.contains($0) }
            guard !missing.isEmpty else { continue }
            items.append(
                (run.id, [
                    "experiment_run": Self.json(run), "dataset_example": DatasetsAPI.json(example),
                    "evaluation_names": .array(missing.map { .string($0) }),
                ]))
            if items.count > limit { break }
        }
        let next: JSONValue = items.count > limit ? .string(GlobalID(NodeType.experimentRun, items[limit].id).encoded) : .null
        return jsonResponse(["data": .array(items.prefix(limit).map(\.json)), "next_cursor": next])
    }

    /// Every run with its example and evaluations, ordered by example and repetition.
    func export(_ context: CinderRequestContext, csv: Bool) async throws -> Response {
        let scope = try api.scope(context)
        let experiment = try await experiment(context, scope)
        let runs = try await scope.experiments.experimentRuns(experimentID: experiment.id, atOrBeforeID: nil, limit: nil)
            .sorted { ($0.exampleID, $0.repetition) < ($1.exampleID, $1.repetition) }
        guard !runs.isEmpty else { throw CinderError.notFound("Experiment has no runs") }
        let examples = Dictionary(
            uniqueKeysWithValues: try await scope.datasets.datasetExamples(datasetID: experiment.datasetID, versionID: experiment.datasetVersionID)
                .map { ($0.id, $0) })
        let evaluations = try await scope.experiments.experimentEvaluations(experimentID: experiment.id)
        let safeName = experiment.name.replacingOccurrences(of: "\"", with: "'")
        if csv {
            let text = Self.csv(runs, examples, evaluations)
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv", .contentDisposition: "attachment; filename=\"\(safeName).csv\""],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        let records: [JSONValue] = runs.map { run in
            let example = examples[run.exampleID]
            return [
                "example_id": .string(GlobalID(NodeType.datasetExample, run.exampleID).encoded),
                "repetition_number": .int(Int64(run.repetition)), "input": example?.input ?? [:],
                "reference_output": example?.output ?? [:], "output": run.output, "error": run.error.map { .string($0) } ?? .null,
                "latency_ms": .double(Double(run.endMicros - run.startMicros) / 1000), "start_time": iso(run.startMicros),
                "end_time": iso(run.endMicros), "trace_id": run.traceID.map { .string($0) } ?? .null,
                "prompt_token_count": run.promptTokens.map { .int($0) } ?? .null,
                "completion_token_count": run.completionTokens.map { .int($0) } ?? .null,
                "annotations": .array((evaluations[run.id] ?? []).map(Self.json)),
            ]
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .contentDisposition: "attachment; filename=\"\(safeName).json\""],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.array(records).jsonBytes)))
    }

    static func json(_ evaluation: ExperimentEvaluationRow) -> JSONValue {
        [
            "name": .string(evaluation.name), "annotator_kind": .string(evaluation.annotatorKind),
            "label": evaluation.label.map { .string($0) } ?? .null, "score": evaluation.score.map { .double($0) } ?? .null,
            "explanation": evaluation.explanation.map { .string($0) } ?? .null, "trace_id": evaluation.traceID.map { .string($0) } ?? .null,
            "error": evaluation.error.map { .string($0) } ?? .null, "metadata": evaluation.metadata,
            "start_time": iso(evaluation.startMicros), "end_time": iso(evaluation.endMicros),
        ]
    }

    static func csv(
        _ runs: [ExperimentRunRow], _ examples: [Int64: DatasetExampleRow], _ evaluations: [Int64: [ExperimentEvaluationRow]]
    ) -> String {
        func cell(_ value: JSONValue?) -> String {
            switch value {
            case nil, .null?: ""
            case .string(let s)?: s
            case let value?: value.jsonString
            }
        }
        var names: [String] = []
        var known = Set<String>()
        for run in runs {
            for evaluation in evaluations[run.id] ?? [] where known.insert(evaluation.name).inserted { names.append(evaluation.name) }
        }
        let fields = ["label", "score", "explanation", "metadata", "annotator_kind", "trace_id", "error", "start_time", "end_time"]
        var header = [
            "example_id", "repetition_number", "input", "reference_output", "output", "metadata", "error", "latency_ms", "start_time",
            "end_time", "trace_id", "prompt_token_count", "completion_token_count",
        ]
        for name in names { header += fields.map { "annotation_\(name)_\($0)" } }
        var lines = [header.map(CSV.escape).joined(separator: ",")]
        for run in runs {
            let example = examples[run.exampleID]
            var row = [
                GlobalID(NodeType.datasetExample, run.exampleID).encoded, String(run.repetition), cell(example?.input), cell(example?.output),
                cell(run.output), cell(example?.metadata), run.error ?? "", cell(.double(Double(run.endMicros - run.startMicros) / 1000)),
                Timestamp.iso8601(micros: run.startMicros), Timestamp.iso8601(micros: run.endMicros), run.traceID ?? "",
                run.promptTokens.map(String.init) ?? "", run.completionTokens.map(String.init) ?? "",
            ]
            let byName = Dictionary((evaluations[run.id] ?? []).map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
            for name in names {
                guard let evaluation = byName[name] else {
                    row += Array(repeating: "", count: fields.count)
                    continue
                }
                let object = json(evaluation)
                row += fields.map { cell(object[$0]) }
            }
            lines.append(row.map(CSV.escape).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ExperimentRow {
    /// The splits an experiment is limited to, nil when it covers every example.
    var splitFilter: [Int64]? { splitIDs.isEmpty ? nil : splitIDs }
}
