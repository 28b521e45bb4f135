import CinderHTTPSupport
import CinderModel
import CinderRunner
import CinderProviders
import CinderStorage
import Foundation
import Hummingbird

/// Experiments the server runs (Cinder's addition to Phoenix's REST API): `POST /v1/experiment_jobs`
/// starts one from a prompt version (or an inline prompt) over a dataset; `GET
/// /v1/experiment_jobs/{experiment_id}` shows its status, progress and errors; `…/stop` and `…/resume`.
/// Its runs are ordinary experiment runs, read with `/v1/experiments/…` and the official client.
struct ExperimentJobsAPI {
    static let maxConcurrency = 1000
    let api: PhoenixAPI

    var experiments: ExperimentsAPI { ExperimentsAPI(api: api) }

    func add(to router: Router<CinderRequestContext>) {
        router.post("/v1/experiment_jobs") { request, context in try await start(request, context) }
        router.get("/v1/experiment_jobs/:experiment") { _, context in
            let scope = try api.scope(context)
            let (experiment, job) = try await find(context, scope)
            return jsonResponse(["data": try await json(job, experiment, scope)])
        }
        router.post("/v1/experiment_jobs/:experiment/stop") { _, context in
            let scope = try api.scope(context)
            let (experiment, _) = try await find(context, scope)
            guard let job = try await scope.experimentJobs.stop(id: experiment.id) else { throw Self.notFound }
            return jsonResponse(["data": try await json(job, experiment, scope)])
        }
        router.post("/v1/experiment_jobs/:experiment/resume") { _, context in
            let scope = try api.scope(context)
            let (experiment, _) = try await find(context, scope)
            guard let job = try await scope.experimentJobs.resume(id: experiment.id) else { throw Self.notFound }
            return jsonResponse(["data": try await json(job, experiment, scope)])
        }
    }

    static let notFound = CinderError.notFound("Experiment job not found")

    func find(_ context: CinderRequestContext, _ scope: TenantScope) async throws -> (ExperimentRow, ExperimentJobRow) {
        // On the primary: a job's progress, just written by a runner, must not look older than it is.
        let experiment = try await experiments.experiment(context, scope, onPrimary: true)
        guard let job = try await scope.experimentJobs.job(id: experiment.id, onPrimary: true) else {
            throw CinderError.notFound("Experiment \(GlobalID(NodeType.experiment, experiment.id).encoded) is not run by the server")
        }
        return (experiment, job)
    }

    func start(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.fields(request, context)
        let scope = try api.scope(context)
        let task = try await promptTask(body, scope)
        let maxConcurrency = try body.optionalInt("max_concurrency") ?? 10
        guard (1...Self.maxConcurrency).contains(maxConcurrency) else {
            throw CinderError.invalid(
                ["body", "max_concurrency"], "Input should be between 1 and \(Self.maxConcurrency)", type: "value_error", input: String(maxConcurrency))
        }
        let spec = try await experiments.experimentSpec(body, datasetText: try body.string("dataset_id"), scope)
        var metadata = spec.metadata
        if let versionID = task.promptVersionID {
            metadata = metadata.adding("prompt_version_id", .string(GlobalID(NodeType.promptVersion, versionID).encoded))
        }
        // The dataset's evaluators score every run (Cinder's addition: attach them with GraphQL).
        let evaluators = try await EvaluatorSpec.forJob(scope: scope, datasetID: spec.datasetID)
        let (experiment, job) = try await scope.experimentJobs.createServerExperiment(
            datasetID: spec.datasetID, versionID: spec.versionID, name: spec.name, description: spec.description,
            repetitions: spec.repetitions, metadata: metadata, projectName: spec.projectName, splitIDs: spec.splitIDs,
            task: task.content.adding("evaluators", evaluators), maxConcurrency: maxConcurrency)
        return jsonResponse(["data": try await json(job, experiment, scope)])
    }

    /// The prompt to run: a stored version (`prompt_version_id`) or one given inline (`prompt`, in the
    /// shape of a prompt version), checked the way the prompts API checks versions.
    func promptTask(_ body: BodyFields, _ scope: TenantScope) async throws -> (content: JSONValue, promptVersionID: Int64?) {
        let content: PromptVersionContent
        var versionID: Int64?
        if let text = try body.optionalString("prompt_version_id") {
            guard let id = GlobalID(encoded: text, type: NodeType.promptVersion)?.rowID, let version = try await scope.prompts.promptVersion(id: id) else {
                throw CinderError.notFound("Prompt version with ID \(text) not found")
            }
            content = version.content
            versionID = id
        } else if let prompt = try body.object("prompt") {
            content = try PromptVersionSchema.parse(prompt)
        } else {
            throw CinderError.invalid(["body", "prompt_version_id"], "Either prompt_version_id or prompt is required", type: "missing", input: nil)
        }
        guard ProviderFamily.named(content.modelProvider) != nil else {
            throw CinderError.unprocessable("Provider \(content.modelProvider) is not supported by this server's runner")
        }
        let json: JSONValue = [
            "model_provider": .string(content.modelProvider), "model_name": .string(content.modelName),
            "template_type": .string(content.templateType), "template_format": .string(content.templateFormat), "template": content.template,
            "invocation_parameters": content.invocationParameters, "tools": content.tools ?? .null, "response_format": content.responseFormat ?? .null,
        ]
        return (json, versionID)
    }

    /// The job with its experiment's progress; `experiment` as read on the primary (or just written).
    func json(_ job: ExperimentJobRow, _ current: ExperimentRow, _ scope: TenantScope) async throws -> JSONValue {
        let examples = try await experiments.exampleCount(of: current, scope)
        let expected = examples * Int64(current.repetitions)
        let errors = try await scope.experimentJobs.logs(experimentID: current.id, errorsOnly: true, beforeID: nil, limit: 20)
        return [
            "experiment_id": .string(GlobalID(NodeType.experiment, current.id).encoded),
            "status": .string(job.status.rawValue), "max_concurrency": .int(Int64(job.maxConcurrency)),
            "created_at": iso(job.createdMicros), "updated_at": iso(job.updatedMicros),
            "experiment": ExperimentsAPI.json(current, exampleCount: examples),
            "progress": [
                "expected_runs": .int(expected), "successful_runs": .int(current.successfulRuns), "failed_runs": .int(current.failedRuns),
                "missing_runs": .int(max(0, expected - current.successfulRuns - current.failedRuns)),
            ],
            "last_error": errors.first.map(Self.json) ?? .null,
            "errors": .array(errors.map(Self.json)),
            "task": job.task,
        ]
    }

    static func json(_ log: ExperimentLogRow) -> JSONValue {
        [
            "occurred_at": iso(log.occurredMicros), "category": .string(log.category), "level": .string(log.level), "message": .string(log.message),
            "detail": log.detail ?? .null,
        ]
    }
}
