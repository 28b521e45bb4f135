import CinderModel
import Logging
import NIOCore
import PostgresNIO

public enum ExperimentJobStatus: String, Sendable, CaseIterable {
    case running = "RUNNING", completed = "COMPLETED", stopped = "STOPPED", error = "ERROR"
}

/// A server-side experiment's job: the experiment's id, its state and the prompt it runs.
public struct ExperimentJobRow: Sendable {
    public var id: Int64
    public var status: ExperimentJobStatus
    public var maxConcurrency: Int
    public var task: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
    /// Keys given with the job, as the services sealed them (see `createServerExperiment`).
    public var sealedCredentials: [UInt8]?
}

public struct ExperimentLogRow: Sendable {
    public var id: Int64
    public var experimentID: Int64
    public var occurredMicros: Int64
    public var category: String
    public var level: String
    public var message: String
    public var detail: JSONValue?
}

/// An (example, repetition) of an experiment: what a run is unique on.
public struct RunKey: Sendable, Hashable, Comparable {
    public var exampleID: Int64
    public var repetition: Int

    public init(exampleID: Int64, repetition: Int) {
        self.exampleID = exampleID
        self.repetition = repetition
    }

    public static func < (a: RunKey, b: RunKey) -> Bool { (a.exampleID, a.repetition) < (b.exampleID, b.repetition) }
}

/// One (example, repetition) of an experiment that has no run yet, with what the task reads.
public struct PendingRun: Sendable, Hashable {
    public var exampleID: Int64
    public var repetition: Int
    public var key: RunKey { RunKey(exampleID: exampleID, repetition: repetition) }
    public var input: JSONValue
    public var reference: JSONValue
    public var metadata: JSONValue
}

/// A run the runner produced, with its token counts and what its evaluators concluded.
public struct RunnerRun: Sendable {
    public var run: ExperimentRunInput
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var evaluations: [RunEvaluation]

    public init(run: ExperimentRunInput, promptTokens: Int?, completionTokens: Int?, evaluations: [RunEvaluation] = []) {
        self.run = run
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.evaluations = evaluations
    }
}

/// An evaluator's result on a run, recorded as the run's annotation named `name`.
public struct RunEvaluation: Sendable {
    public var name: String
    /// `LLM` or `CODE`.
    public var annotatorKind: String
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var error: String?
    public var metadata: JSONValue
    /// The evaluator's own trace.
    public var traceID: String?
    public var startMicros: Int64
    public var endMicros: Int64

    public init(
        name: String, annotatorKind: String, label: String?, score: Double?, explanation: String?, error: String?, metadata: JSONValue,
        traceID: String?, startMicros: Int64, endMicros: Int64
    ) {
        self.name = name
        self.annotatorKind = annotatorKind
        self.label = label
        self.score = score
        self.explanation = explanation
        self.error = error
        self.metadata = metadata
        self.traceID = traceID
        self.startMicros = startMicros
        self.endMicros = endMicros
    }
}

/// Server-side experiments: their jobs, logs and the work left.
public struct ExperimentJobRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var experimentJobs: ExperimentJobRepository { ExperimentJobRepository(scope: self) }
}

extension ExperimentJobRepository {
    static let jobColumns =
        "j.id, j.status, j.max_concurrency::int8, j.task::text, \(micros("j.created_at")), \(micros("j.updated_at")), j.credentials"

    @Sendable static func jobRows(_ rows: PostgresRowSequence) async throws -> [ExperimentJobRow] {
        var out: [ExperimentJobRow] = []
        for try await c in rows.decode((Int64, String, Int64, String, Int64, Int64, ByteBuffer?).self) {
            out.append(
                ExperimentJobRow(
                    id: c.0, status: ExperimentJobStatus(rawValue: c.1) ?? .error, maxConcurrency: Int(c.2), task: JSONValue(storedJSON: c.3),
                    createdMicros: c.4, updatedMicros: c.5, sealedCredentials: c.6.map { Array($0.readableBytesView) }))
        }
        return out
    }

    /// An experiment and its job in one transaction, the job runnable at once. `sealedCredentials` are
    /// keys the caller gave for this job, sealed with the experiment's id (so the job's own id is
    /// reserved first and handed to `seal`).
    public func createServerExperiment(
        datasetID: Int64, versionID: Int64, name: String, description: String?, repetitions: Int, metadata: JSONValue,
        projectName: String, splitIDs: [Int64], task: JSONValue, maxConcurrency: Int,
        sealCredentials: @Sendable (_ experimentID: Int64) throws -> [UInt8]? = { _ in nil }
    ) async throws -> (ExperimentRow, ExperimentJobRow) {
        let org = org
        return try await scope.write { tx in
            let experiment = try await ExperimentRepository.insertExperiment(
                tx, datasetID: datasetID, versionID: versionID, name: name, description: description, repetitions: repetitions,
                metadata: metadata, projectName: projectName, splitIDs: splitIDs)
            let credentials = try sealCredentials(experiment.id).map { ByteBuffer(bytes: $0) }
            try await tx.query(
                """
                INSERT INTO experiment_jobs (id, org_id, status, max_concurrency, task, credentials)
                VALUES (\(experiment.id), \(org), 'RUNNING', \(Int64(maxConcurrency)), \(task.jsonString)::jsonb, \(credentials))
                """)
            try await tx.query("INSERT INTO job_leases (job_id, organization_id) VALUES (\(experiment.id), \(org))")
            let job = try await Self.jobRows(
                tx.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT \(Self.jobColumns) FROM experiment_jobs j WHERE j.org_id = $1 AND j.id = $2",
                        binds: SQLBuilder.binds(org, experiment.id))))[0]
            return (experiment, job)
        }
    }

    public func job(id: Int64, onPrimary: Bool = false) async throws -> ExperimentJobRow? {
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.jobColumns) FROM experiment_jobs j WHERE j.org_id = $1 AND j.id = $2", binds: SQLBuilder.binds(org, id))
        if onPrimary { return try await scope.readPrimary { try await Self.jobRows($0.query(query)) }.first }
        return try await scope.read(query, Self.jobRows).first
    }

    /// The jobs of the given experiments (those that have one).
    public func jobs(ids: [Int64]) async throws -> [Int64: ExperimentJobRow] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await scope.read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.jobColumns) FROM experiment_jobs j WHERE j.org_id = $1 AND j.id = ANY($2::int8[])",
                binds: SQLBuilder.binds(org, ids)), Self.jobRows)
        return Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Stops a running job: runners see their lease gone and let go of it. Nil when there is no such job.
    public func stop(id: Int64) async throws -> ExperimentJobRow? {
        let org = org
        return try await scope.write { tx in
            try await tx.query("UPDATE experiment_jobs SET status = 'STOPPED', updated_at = now() WHERE org_id = \(org) AND id = \(id) AND status = 'RUNNING'")
            try await tx.query("DELETE FROM job_leases WHERE organization_id = \(org) AND job_id = \(id)")
            return try await Self.jobRows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.jobColumns) FROM experiment_jobs j WHERE j.org_id = $1 AND j.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    /// Makes a stopped, failed or finished job runnable again; runners pick up the runs still missing.
    /// `sealedCredentials`, when given, replace the keys the job was started with.
    public func resume(id: Int64, sealedCredentials: [UInt8]? = nil) async throws -> ExperimentJobRow? {
        let org = org
        let credentials = sealedCredentials.map { ByteBuffer(bytes: $0) }
        return try await scope.write { tx in
            let resumed = try await tx.query(
                """
                UPDATE experiment_jobs SET status = 'RUNNING', updated_at = now(), credentials = coalesce(\(credentials), credentials)
                WHERE org_id = \(org) AND id = \(id) AND status <> 'RUNNING' RETURNING id
                """
            ).decode(Int64.self).all()
            if !resumed.isEmpty {
                try await tx.query("INSERT INTO job_leases (job_id, organization_id) VALUES (\(id), \(org)) ON CONFLICT (job_id) DO NOTHING")
                try await Self.insertLog(tx, experimentID: id, category: "EXPERIMENT", level: "INFO", message: "Resumed", detail: nil)
            }
            return try await Self.jobRows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.jobColumns) FROM experiment_jobs j WHERE j.org_id = $1 AND j.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    /// Ends a job the runner `runner` holds, with `status` and a log line; false when the lease was no
    /// longer the runner's (stopped, or taken over), in which case nothing changes.
    public func finish(id: Int64, runner: String, status: ExperimentJobStatus, message: String, level: String) async throws -> Bool {
        let org = org
        return try await scope.write { tx in
            let held = try await tx.query(
                "DELETE FROM job_leases WHERE organization_id = \(org) AND job_id = \(id) AND claimed_by = \(runner) RETURNING job_id"
            ).decode(Int64.self).all()
            guard !held.isEmpty else { return false }
            try await tx.query(
                "UPDATE experiment_jobs SET status = \(status.rawValue), updated_at = now() WHERE org_id = \(org) AND id = \(id) AND status = 'RUNNING'")
            try await Self.insertLog(tx, experimentID: id, category: "EXPERIMENT", level: level, message: message, detail: nil)
            return true
        }
    }

    static func insertLog(
        _ tx: TenantTransaction, experimentID: Int64, category: String, level: String, message: String, detail: JSONValue?
    ) async throws {
        try await tx.query(
            """
            INSERT INTO experiment_logs (org_id, experiment_id, category, level, message, detail)
            VALUES (\(tx.org), \(experimentID), \(category), \(level), \(SQLText.clean(String(message.prefix(4000)))), \(detail?.jsonString)::jsonb)
            """)
    }

    public func log(experimentID: Int64, category: String, level: String, message: String, detail: JSONValue? = nil) async throws {
        try await scope.write { tx in
            try await Self.insertLog(tx, experimentID: experimentID, category: category, level: level, message: message, detail: detail)
        }
    }

    /// Log lines newest first; only errors with `errorsOnly`.
    public func logs(experimentID: Int64, errorsOnly: Bool, beforeID: Int64?, limit: Int) async throws -> [ExperimentLogRow] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT id, experiment_id, \(micros("occurred_at")), category, level, message, detail::text FROM experiment_logs
            WHERE org_id = \(q.bind(org)) AND experiment_id = \(q.bind(experimentID))
            """)
        if errorsOnly { q.append(" AND level = 'ERROR'") }
        if let beforeID { q.append(" AND id < \(q.bind(beforeID))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query) { rows in
            try await rows.decode((Int64, Int64, Int64, String, String, String, String?).self).all().map {
                ExperimentLogRow(
                    id: $0.0, experimentID: $0.1, occurredMicros: $0.2, category: $0.3, level: $0.4, message: $0.5,
                    detail: $0.6.map { JSONValue(storedJSON: $0) })
            }
        }
    }

    /// Up to `limit` (example, repetition) pairs of the experiment without a run, in order from after
    /// `after`, computed in the database (a large dataset never travels whole).
    public func pendingRuns(of experiment: ExperimentRow, after: RunKey? = nil, limit: Int) async throws -> [PendingRun] {
        var q = SQLBuilder()
        q.append("SELECT p.id, p.rep::int8, r.input::text, r.output::text, r.metadata::text FROM (SELECT x.id, x.revision_id, rep")
        scope.experiments.appendMissingRuns(&q, of: experiment, failedAreMissing: false, fromExampleID: nil, after: after)
        q.append(
            """
             ORDER BY x.id, rep LIMIT \(q.bind(Int64(limit)))) p
            JOIN dataset_example_revisions r ON r.org_id = \(q.bind(org)) AND r.id = p.revision_id ORDER BY p.id, p.rep
            """)
        // On the primary: what was just written must not come back as pending.
        let query = q.query
        return try await scope.readPrimary { tx in
            try await tx.query(query).decode((Int64, Int64, String, String, String).self).all().map {
                PendingRun(
                    exampleID: $0.0, repetition: Int($0.1), input: JSONValue(storedJSON: $0.2), reference: JSONValue(storedJSON: $0.3),
                    metadata: JSONValue(storedJSON: $0.4))
            }
        }
    }

    /// Records runs once each, with their evaluations, in one statement: a run already there for its
    /// example and repetition stays, and so do its annotations (a runner that lost its lease and the one
    /// that took over may both finish the same call). Returns the keys of the runs this call wrote.
    public func recordRuns(experimentID: Int64, _ runs: [RunnerRun]) async throws -> Set<RunKey> {
        guard !runs.isEmpty else { return [] }
        let org = org
        let examples = runs.map(\.run.exampleID)
        let repetitions = runs.map { Int64($0.run.repetition) }
        let traces = runs.map { $0.run.traceID ?? "" }
        let outputs = runs.map { $0.run.output.jsonString }
        let starts = runs.map(\.run.startMicros)
        let ends = runs.map(\.run.endMicros)
        let prompts = runs.map { Int64($0.promptTokens ?? -1) }
        let completions = runs.map { Int64($0.completionTokens ?? -1) }
        let failed = runs.map { $0.run.error != nil }
        let errors = runs.map { $0.run.error.map(SQLText.clean) ?? "" }
        let evaluated = runs.flatMap { run in run.evaluations.map { (run.run, $0) } }
        let evaluatedExamples = evaluated.map(\.0.exampleID), evaluatedRepetitions = evaluated.map { Int64($0.0.repetition) }
        let evaluation = EvaluationColumns(evaluated.map(\.1))
        let rows = try await scope.write { tx in
            try await tx.query(
                """
                WITH written AS (
                    INSERT INTO experiment_runs (org_id, experiment_id, dataset_example_id, repetition_number, trace_id, output, start_time, end_time,
                        prompt_token_count, completion_token_count, error)
                    SELECT \(org), \(experimentID), u.e, u.r, nullif(u.t, ''), u.o::jsonb, to_timestamp(0) + u.s * interval '1 microsecond',
                        to_timestamp(0) + u.f * interval '1 microsecond', nullif(u.p, -1), nullif(u.c, -1), CASE WHEN u.x THEN u.m END
                    FROM unnest(\(examples)::int8[], \(repetitions)::int8[], \(traces)::text[], \(outputs)::text[], \(starts)::int8[], \(ends)::int8[],
                        \(prompts)::int8[], \(completions)::int8[], \(failed)::bool[], \(errors)::text[]) AS u(e, r, t, o, s, f, p, c, x, m)
                    ON CONFLICT (org_id, experiment_id, dataset_example_id, repetition_number) DO NOTHING
                    RETURNING id, dataset_example_id, repetition_number
                ), annotated AS (
                    INSERT INTO experiment_run_annotations (org_id, experiment_run_id, \(unescaped: EvaluationColumns.columns))
                    SELECT \(org), w.id, \(unescaped: EvaluationColumns.values)
                    FROM unnest(\(evaluatedExamples)::int8[], \(evaluatedRepetitions)::int8[], \(evaluation.names)::text[], \(evaluation.kinds)::text[],
                        \(evaluation.labels)::text[], \(evaluation.scores)::float8[], \(evaluation.explanations)::text[], \(evaluation.traces)::text[],
                        \(evaluation.errors)::text[], \(evaluation.metadata)::text[], \(evaluation.starts)::int8[], \(evaluation.ends)::int8[])
                        AS a(e, r, \(unescaped: EvaluationColumns.aliases))
                    JOIN written w ON w.dataset_example_id = a.e AND w.repetition_number = a.r
                    ON CONFLICT (org_id, experiment_run_id, name) DO NOTHING
                )
                SELECT dataset_example_id, repetition_number::int8 FROM written
                """
            ).decode((Int64, Int64).self).all()
        }
        return Set(rows.map { RunKey(exampleID: $0.0, repetition: Int($0.1)) })
    }
}

/// A job a runner holds, and the scope of its organization.
public struct ClaimedJob: Sendable {
    public let jobID: Int64
    public let organization: OrganizationID
    public let scope: TenantScope
}

/// The installation's runnable jobs, claimed with leases: a runner that stops renewing (killed,
/// partitioned) loses its jobs to the others once the lease runs out.
public struct JobQueue: Sendable {
    let database: Database
    let logger: Logger
    /// This runner's name in `claimed_by`.
    public let runner: String

    public init(database: Database, runner: String, logger: Logger) {
        self.database = database
        self.runner = runner
        self.logger = logger
    }

    /// Takes the oldest job nobody holds (or whose holder's lease ran out), not one in `excluding`.
    public func claim(lease: Duration, excluding: Set<Int64>) async throws -> ClaimedJob? {
        let seconds = Self.seconds(lease)
        let runner = runner
        let rows = try await database.installation(logger: logger).write { tx in
            try await tx.query(
                """
                UPDATE job_leases SET claimed_by = \(runner), lease_until = now() + \(seconds) * interval '1 second'
                WHERE job_id = (
                    SELECT job_id FROM job_leases
                    WHERE (lease_until IS NULL OR lease_until < now()) AND NOT (job_id = ANY(\(Array(excluding))::int8[]))
                    ORDER BY job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING job_id, organization_id
                """
            ).decode((Int64, Int64).self).all()
        }
        guard let (job, org) = rows.first else { return nil }
        let organization = OrganizationID(org)
        return ClaimedJob(jobID: job, organization: organization, scope: database.installation(logger: logger).tenant(organization))
    }

    /// Extends the lease; false when the job is no longer this runner's (stopped, or taken over).
    public func renew(_ job: ClaimedJob, lease: Duration) async throws -> Bool {
        let seconds = Self.seconds(lease)
        let runner = runner
        return try await database.installation(logger: logger).write { tx in
            try await tx.query(
                """
                UPDATE job_leases SET lease_until = now() + \(seconds) * interval '1 second'
                WHERE job_id = \(job.jobID) AND claimed_by = \(runner) RETURNING job_id
                """
            ).decode(Int64.self).all().isEmpty == false
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Lets go of a job at once (a runner shutting down), so another runner need not wait for the lease.
    public func release(_ job: ClaimedJob) async throws {
        let runner = runner
        try await database.installation(logger: logger).write { tx -> Void in
            try await tx.query("UPDATE job_leases SET claimed_by = NULL, lease_until = NULL WHERE job_id = \(job.jobID) AND claimed_by = \(runner)")
        }
    }
}
