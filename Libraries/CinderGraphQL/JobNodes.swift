import CinderModel
import CinderRunner
import CinderStorage
import Graphiti

// MARK: - Server-side experiments (Phoenix's ExperimentJob, ExperimentLog and their mutations)

enum ExperimentJobStatusValue: String, Codable, Sendable, CaseIterable { case RUNNING, COMPLETED, STOPPED, ERROR }
enum ExperimentLogCategoryValue: String, Codable, Sendable, CaseIterable { case TASK, EVAL, EXPERIMENT }
enum ExperimentLogLevelValue: String, Codable, Sendable, CaseIterable { case ERROR, WARN, INFO }

struct ExperimentJobNode: RelayNode {
    let row: ExperimentJobRow
    let experiment: ExperimentNode

    var id: NodeID { NodeID("ExperimentJob", row.id) }
    var status: ExperimentJobStatusValue { ExperimentJobStatusValue(rawValue: row.status.rawValue) ?? .ERROR }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var maxConcurrency: Int { row.maxConcurrency }

    func lastError(context: GraphQLContext, arguments: NoArguments) async throws -> ExperimentLogNode? {
        try await context.scope.experimentJobs.logs(experimentID: row.id, errorsOnly: true, beforeID: nil, limit: 1).first.map(ExperimentLogNode.init)
    }

    func errors(context: GraphQLContext, arguments: PageArguments) async throws -> NodeConnection<ExperimentLogNode> {
        try await .byID(
            after: arguments.after, limit: arguments.limit,
            fetch: { try await context.scope.experimentJobs.logs(experimentID: row.id, errorsOnly: true, beforeID: $0.map { $0 + 1 }, limit: $1) },
            id: \.id, node: { log, _ in ExperimentLogNode(row: log) })
    }

    /// The job of an experiment the server runs; nil for a client-side one.
    static func of(_ experiment: ExperimentRow, _ context: GraphQLContext) async throws -> ExperimentJobNode? {
        try await context.scope.experimentJobs.job(id: experiment.id).map { ExperimentJobNode(row: $0, experiment: ExperimentNode(row: experiment)) }
    }
}

struct ExperimentLogNode: RelayNode {
    let row: ExperimentLogRow

    var id: NodeID { NodeID("ExperimentLog", row.id) }
    var occurredAt: DateTime { DateTime(micros: row.occurredMicros) }
    var category: ExperimentLogCategoryValue { ExperimentLogCategoryValue(rawValue: row.category) ?? .EXPERIMENT }
    var level: ExperimentLogLevelValue { ExperimentLogLevelValue(rawValue: row.level) ?? .ERROR }
    var message: String { row.message }
}

struct StopExperimentPayload: Sendable {
    let job: ExperimentJobNode
}

struct ResumeExperimentPayload: Sendable {
    let job: ExperimentJobNode
}

extension ExperimentNode {
    func job(context: GraphQLContext, arguments: NoArguments) async throws -> ExperimentJobNode? {
        try await ExperimentJobNode.of(row, context)
    }
}

extension QueryRoot {
    struct ExperimentIDArguments: Codable, Sendable { var experimentId: NodeID }
    struct ResumeExperimentArguments: Codable, Sendable {
        var experimentId: NodeID
        var credentials: [GenerativeCredentialInput]?
    }

    func stopExperiment(context: GraphQLContext, arguments: ExperimentIDArguments) async throws -> StopExperimentPayload {
        StopExperimentPayload(job: try await changeJob(context, arguments.experimentId) { try await context.scope.experimentJobs.stop(id: $0) })
    }

    /// Resumes a job; keys given here replace those it was started with (a key that expired, say).
    func resumeExperiment(context: GraphQLContext, arguments: ResumeExperimentArguments) async throws -> ResumeExperimentPayload {
        let given = try CallSettings(credentials: arguments.credentials, connection: nil, headers: nil, family: nil).given
        var credentials: ProviderCredentials?
        if !given.isEmpty { credentials = try context.requirePlayground().credentials }
        let organization = context.scope.organization
        return ResumeExperimentPayload(
            job: try await changeJob(context, arguments.experimentId) { id in
                let sealed = try credentials?.sealJobCredentials(given, organization: organization, jobID: id)
                return try await context.scope.experimentJobs.resume(id: id, sealedCredentials: sealed)
            })
    }

    private func changeJob(
        _ context: GraphQLContext, _ experimentID: NodeID, _ change: (Int64) async throws -> ExperimentJobRow?
    ) async throws -> ExperimentJobNode {
        let raw = experimentID.value
        guard let id = GlobalID(encoded: raw, type: NodeType.experiment), let experiment = try await context.scope.experiments.experiment(id: id.rowID)
        else { throw GraphQLFailure("Experiment not found: \(raw)") }
        guard let job = try await change(experiment.id) else { throw GraphQLFailure("Experiment \(raw) is not run by the server") }
        return ExperimentJobNode(row: job, experiment: ExperimentNode(row: experiment))
    }
}

extension CinderSchema {
    static func addExperimentJobs(_ builder: Builder) {
        builder.add {
            Enum(ExperimentJobStatusValue.self, as: "ExperimentJobStatus") {
                Value(.RUNNING)
                Value(.COMPLETED)
                Value(.STOPPED)
                Value(.ERROR)
            }
            Enum(ExperimentLogCategoryValue.self, as: "ExperimentLogCategory") {
                Value(.TASK)
                Value(.EVAL)
                Value(.EXPERIMENT)
            }
            Enum(ExperimentLogLevelValue.self, as: "ExperimentLogLevel") {
                Value(.ERROR)
                Value(.WARN)
                Value(.INFO)
            }
            Type(ExperimentLogNode.self, as: "ExperimentLog", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("occurredAt", at: \.occurredAt)
                Field("category", at: \.category)
                Field("level", at: \.level)
                Field("message", at: \.message)
            }
            Type(ExperimentJobNode.self, as: "ExperimentJob", interfaces: [(any RelayNode).self]) {
                Field("id", at: \.id)
                Field("experiment", at: \.experiment)
                Field("status", at: \.status)
                Field("createdAt", at: \.createdAt)
                Field("maxConcurrency", at: \.maxConcurrency)
                Field("lastError", at: ExperimentJobNode.lastError)
                Field("errors", at: ExperimentJobNode.errors) {
                    Argument("first", at: \.first).defaultValue(50)
                    Argument("after", at: \.after)
                }
            }
            Type(StopExperimentPayload.self, as: "StopExperimentPayload") {
                Field("job", at: \.job)
            }
            Type(ResumeExperimentPayload.self, as: "ResumeExperimentPayload") {
                Field("job", at: \.job)
            }
        }
        addConnection(builder, ExperimentLogNode.self, "ExperimentLog")
    }
}
