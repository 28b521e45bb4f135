import CinderModel
import PostgresNIO

public struct ExperimentRow: Sendable {
    public var id: Int64
    public var datasetID: Int64
    public var datasetVersionID: Int64
    public var name: String
    public var description: String?
    public var repetitions: Int
    public var metadata: JSONValue
    public var projectName: String?
    public var createdMicros: Int64
    public var updatedMicros: Int64
    public var splitIDs: [Int64]
    public var successfulRuns: Int64
    public var failedRuns: Int64
}

public struct ExperimentRunRow: Sendable {
    public var id: Int64
    public var experimentID: Int64
    public var exampleID: Int64
    public var repetition: Int
    public var output: JSONValue
    public var startMicros: Int64
    public var endMicros: Int64
    public var traceID: String?
    public var error: String?
    public var promptTokens: Int64?
    public var completionTokens: Int64?
}

public struct ExperimentRunInput: Sendable {
    public var exampleID: Int64
    public var repetition: Int
    public var output: JSONValue
    public var startMicros: Int64
    public var endMicros: Int64
    public var traceID: String?
    public var error: String?

    public init(exampleID: Int64, repetition: Int, output: JSONValue, startMicros: Int64, endMicros: Int64, traceID: String?, error: String?) {
        self.exampleID = exampleID
        self.repetition = repetition
        self.output = output
        self.startMicros = startMicros
        self.endMicros = endMicros
        self.traceID = traceID
        self.error = error
    }
}

public struct ExperimentEvaluationRow: Sendable {
    public var id: Int64
    public var runID: Int64
    public var name: String
    public var annotatorKind: String
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var traceID: String?
    public var error: String?
    public var metadata: JSONValue
    public var startMicros: Int64
    public var endMicros: Int64
}

extension ExperimentEvaluationRow {
    /// An evaluation that was computed but not stored (a preview): it has no id and no run.
    public init(unsaved e: RunEvaluation) {
        self.init(
            id: 0, runID: 0, name: e.name, annotatorKind: e.annotatorKind, label: e.label, score: e.score, explanation: e.explanation, traceID: nil,
            error: e.error, metadata: e.metadata, startMicros: e.startMicros, endMicros: e.endMicros)
    }
}

public struct ExperimentEvaluationInput: Sendable {
    public var runID: Int64
    public var name: String
    public var annotatorKind: AnnotatorKind
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var traceID: String?
    public var error: String?
    public var metadata: JSONValue
    public var startMicros: Int64
    public var endMicros: Int64

    public init(
        runID: Int64, name: String, annotatorKind: AnnotatorKind, label: String?, score: Double?, explanation: String?, traceID: String?,
        error: String?, metadata: JSONValue, startMicros: Int64, endMicros: Int64
    ) {
        self.runID = runID
        self.name = name
        self.annotatorKind = annotatorKind
        self.label = label
        self.score = score
        self.explanation = explanation
        self.traceID = traceID
        self.error = error
        self.metadata = metadata
        self.startMicros = startMicros
        self.endMicros = endMicros
    }
}

public struct ExperimentTagRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
}

extension ExperimentRepository {
    /// The project a new experiment's runs are traced into, under a name no person would pick.
    public static func newProjectName() -> String { "Experiment-" + RandomHex.string(bytes: 12) }

    static let experimentColumns = """
        x.id, x.dataset_id, x.dataset_version_id, x.name, x.description, x.repetitions::int8, x.metadata::text, x.project_name,
        \(micros("x.created_at")), \(micros("x.updated_at")),
        coalesce((SELECT array_agg(dataset_split_id ORDER BY dataset_split_id) FROM experiments_dataset_splits
            WHERE org_id = x.org_id AND experiment_id = x.id), '{}'),
        (SELECT count(*) FROM experiment_runs r WHERE r.org_id = x.org_id AND r.experiment_id = x.id AND r.error IS NULL),
        (SELECT count(*) FROM experiment_runs r WHERE r.org_id = x.org_id AND r.experiment_id = x.id AND r.error IS NOT NULL)
        """

    @Sendable static func experimentRows(_ rows: PostgresRowSequence) async throws -> [ExperimentRow] {
        var out: [ExperimentRow] = []
        for try await c in rows.decode(
            (Int64, Int64, Int64, String, String?, Int64, String, String?, Int64, Int64, [Int64], Int64, Int64).self)
        {
            out.append(
                ExperimentRow(
                    id: c.0, datasetID: c.1, datasetVersionID: c.2, name: c.3, description: c.4, repetitions: Int(c.5),
                    metadata: JSONValue(storedJSON: c.6), projectName: c.7, createdMicros: c.8, updatedMicros: c.9, splitIDs: c.10,
                    successfulRuns: c.11, failedRuns: c.12))
        }
        return out
    }

    /// An experiment; `onPrimary` to read what this request has just written.
    public func experiment(id: Int64, onPrimary: Bool = false) async throws -> ExperimentRow? {
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.experimentColumns) FROM experiments x WHERE x.org_id = $1 AND x.id = $2", binds: SQLBuilder.binds(org, id))
        if onPrimary { return try await scope.readPrimary { try await Self.experimentRows($0.query(query)) }.first }
        return try await scope.read(query, Self.experimentRows).first
    }

    public func experiments(datasetID: Int64, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [ExperimentRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.experimentColumns) FROM experiments x WHERE x.org_id = \(q.bind(org)) AND x.dataset_id = \(q.bind(datasetID))")
        if let cursor { q.append(" AND x.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY x.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.experimentRows)
    }

    public func createExperiment(
        datasetID: Int64, versionID: Int64, name: String, description: String?, repetitions: Int, metadata: JSONValue,
        projectName: String, splitIDs: [Int64]
    ) async throws -> ExperimentRow {
        try await scope.write { tx in
            try await Self.insertExperiment(
                tx, datasetID: datasetID, versionID: versionID, name: name, description: description, repetitions: repetitions,
                metadata: metadata, projectName: projectName, splitIDs: splitIDs)
        }
    }

    static func insertExperiment(
        _ connection: TenantTransaction, datasetID: Int64, versionID: Int64, name: String, description: String?, repetitions: Int,
        metadata: JSONValue, projectName: String, splitIDs: [Int64]
    ) async throws -> ExperimentRow {
        let org = connection.org
        try await connection.requireRows("datasets", ids: [datasetID], "Dataset not found")
        try await connection.requireRows("dataset_versions", ids: [versionID], "Dataset version not found")
        try await connection.requireRows("dataset_splits", ids: splitIDs, "Dataset split not found")
        let id = try await connection.query(
            """
            INSERT INTO experiments (org_id, dataset_id, dataset_version_id, name, description, repetitions, metadata, project_name)
            VALUES (\(org), \(datasetID), \(versionID), \(SQLText.clean(name)), \(description.map(SQLText.clean)), \(Int64(repetitions)),
                \(metadata.jsonString)::jsonb, \(projectName))
            RETURNING id
            """).decode(Int64.self).all()[0]
        if !splitIDs.isEmpty {
            try await connection.query(
                """
                INSERT INTO experiments_dataset_splits (org_id, experiment_id, dataset_split_id)
                SELECT \(org), \(id), unnest(\(splitIDs)::int8[])
                """)
        }
        return try await Self.experimentRows(
            connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT \(Self.experimentColumns) FROM experiments x WHERE x.org_id = $1 AND x.id = $2",
                    binds: SQLBuilder.binds(org, id)))
        )[0]
    }

    public func updateExperiment(id: Int64, name: String?, description: String??, metadata: JSONValue?) async throws -> ExperimentRow? {
        var q = SQLBuilder()
        q.append("UPDATE experiments SET updated_at = now()")
        if let name { q.append(", name = \(q.bind(SQLText.clean(name)))") }
        if let description { q.append(", description = \(q.bind(description.map(SQLText.clean)))") }
        if let metadata { q.append(", metadata = \(q.bind(metadata.jsonString))::jsonb") }
        q.append(" WHERE org_id = \(q.bind(org)) AND id = \(q.bind(id)) RETURNING id")
        guard try await !scope.write(q.query) { try await $0.decode(Int64.self).all() }.isEmpty else { return nil }
        return try await experiment(id: id, onPrimary: true)
    }

    /// Deletes the experiment; returns its project name when it existed.
    public func deleteExperiment(id: Int64) async throws -> String?? {
        let rows = try await scope.write(
            "DELETE FROM experiments WHERE org_id = \(org) AND id = \(id) RETURNING project_name") { try await $0.decode(String?.self).all() }
        return rows.first
    }

    // MARK: Runs

    static let runColumns = """
        r.id, r.experiment_id, r.dataset_example_id, r.repetition_number::int8, r.output::text, \(micros("r.start_time")), \(micros("r.end_time")),
        r.trace_id, r.error, r.prompt_token_count::int8, r.completion_token_count::int8
        """

    @Sendable static func runRows(_ rows: PostgresRowSequence) async throws -> [ExperimentRunRow] {
        var out: [ExperimentRunRow] = []
        for try await c in rows.decode((Int64, Int64, Int64, Int64, String, Int64, Int64, String?, String?, Int64?, Int64?).self) {
            out.append(
                ExperimentRunRow(
                    id: c.0, experimentID: c.1, exampleID: c.2, repetition: Int(c.3), output: JSONValue(storedJSON: c.4), startMicros: c.5,
                    endMicros: c.6, traceID: c.7, error: c.8, promptTokens: c.9, completionTokens: c.10))
        }
        return out
    }

    /// Runs newest first; `limit` nil for all.
    public func experimentRuns(experimentID: Int64, atOrBeforeID cursor: Int64?, limit: Int?) async throws -> [ExperimentRunRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.runColumns) FROM experiment_runs r WHERE r.org_id = \(q.bind(org)) AND r.experiment_id = \(q.bind(experimentID))")
        if let cursor { q.append(" AND r.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY r.id DESC")
        if let limit { q.append(" LIMIT \(q.bind(Int64(limit)))") }
        return try await scope.read(q.query, Self.runRows)
    }

    /// Runs written after run `afterID`, oldest first, read on the primary: a watcher of a running
    /// experiment must not miss a run a lagging replica has not seen yet.
    public func experimentRuns(experimentID: Int64, afterID: Int64, limit: Int) async throws -> [ExperimentRunRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.runColumns) FROM experiment_runs r WHERE r.org_id = \(q.bind(org)) AND r.experiment_id = \(q.bind(experimentID))")
        q.append(" AND r.id > \(q.bind(afterID)) ORDER BY r.id LIMIT \(q.bind(Int64(limit)))")
        let query = q.query
        return try await scope.readPrimary { try await Self.runRows($0.query(query)) }
    }

    public func experimentRun(id: Int64) async throws -> ExperimentRunRow? {
        try await scope.read(
                PostgresQuery(unsafeSQL: "SELECT \(Self.runColumns) FROM experiment_runs r WHERE r.org_id = $1 AND r.id = $2", binds: SQLBuilder.binds(org, id)), Self.runRows).first
    }

    public enum RunWrite: Sendable { case written(Int64), alreadySucceeded }

    /// Records a run; a run already recorded for the example and repetition is replaced only if it failed.
    public func recordExperimentRun(experimentID: Int64, _ run: ExperimentRunInput) async throws -> RunWrite {
        // The upsert is the check: a successful run is never replaced, even by a concurrent first post.
        let org = org
        let ids = try await scope.write { tx in
            try await tx.requireRows("experiments", ids: [experimentID], "Experiment not found")
            try await tx.requireRows("dataset_examples", ids: [run.exampleID], "Dataset example not found")
            return try await tx.query(
            """
            INSERT INTO experiment_runs (org_id, experiment_id, dataset_example_id, repetition_number, trace_id, output, start_time, end_time, error)
            VALUES (\(org), \(experimentID), \(run.exampleID), \(Int64(run.repetition)), \(run.traceID), \(run.output.jsonString)::jsonb,
                to_timestamp(0) + \(run.startMicros) * interval '1 microsecond', to_timestamp(0) + \(run.endMicros) * interval '1 microsecond',
                \(run.error.map(SQLText.clean)))
            ON CONFLICT (org_id, experiment_id, dataset_example_id, repetition_number) DO UPDATE SET
                trace_id = excluded.trace_id, output = excluded.output, start_time = excluded.start_time,
                end_time = excluded.end_time, error = excluded.error
            WHERE experiment_runs.error IS NOT NULL
            RETURNING id
            """).decode(Int64.self).all()
        }
        return ids.first.map { .written($0) } ?? .alreadySucceeded
    }

    // MARK: Evaluations

    public func upsertExperimentEvaluation(_ e: ExperimentEvaluationInput) async throws -> Int64 {
        let org = org
        return try await scope.write { tx in
            try await tx.requireRows("experiment_runs", ids: [e.runID], "Experiment run not found")
            return try await tx.query(
            """
            INSERT INTO experiment_run_annotations (org_id, experiment_run_id, name, annotator_kind, label, score, explanation, trace_id,
                error, metadata, start_time, end_time)
            VALUES (\(org), \(e.runID), \(SQLText.clean(e.name)), \(e.annotatorKind.rawValue), \(e.label.map(SQLText.clean)), \(e.score),
                \(e.explanation.map(SQLText.clean)), \(e.traceID), \(e.error.map(SQLText.clean)), \(e.metadata.jsonString)::jsonb,
                to_timestamp(0) + \(e.startMicros) * interval '1 microsecond', to_timestamp(0) + \(e.endMicros) * interval '1 microsecond')
            ON CONFLICT (org_id, experiment_run_id, name) DO UPDATE SET
                annotator_kind = excluded.annotator_kind, label = excluded.label, score = excluded.score,
                explanation = excluded.explanation, trace_id = excluded.trace_id, error = excluded.error,
                metadata = excluded.metadata, start_time = excluded.start_time, end_time = excluded.end_time
            RETURNING id
            """).decode(Int64.self).all()[0]
        }
    }

    /// Evaluations of an experiment's runs, by run id.
    public func experimentEvaluations(experimentID: Int64) async throws -> [Int64: [ExperimentEvaluationRow]] {
        var q = SQLBuilder()
        q.append("r.experiment_id = \(q.bind(experimentID))")
        return try await evaluations(q)
    }

    /// Evaluations of the runs of `runIDs`, by run id.
    public func experimentEvaluations(runIDs: [Int64]) async throws -> [Int64: [ExperimentEvaluationRow]] {
        guard !runIDs.isEmpty else { return [:] }
        var q = SQLBuilder()
        q.append("r.id = ANY(\(q.bind(runIDs))::int8[])")
        return try await evaluations(q)
    }

    /// The evaluations of the runs `condition` (over `r`, binds already in `q`) selects.
    private func evaluations(_ condition: SQLBuilder) async throws -> [Int64: [ExperimentEvaluationRow]] {
        var q = condition
        let selected = q.sql
        q.sql = """
            SELECT a.id, a.experiment_run_id, a.name, a.annotator_kind, a.label, a.score, a.explanation, a.trace_id, a.error,
                a.metadata::text, \(micros("a.start_time")), \(micros("a.end_time"))
            FROM experiment_run_annotations a JOIN experiment_runs r ON r.org_id = a.org_id AND r.id = a.experiment_run_id
            WHERE r.org_id = \(q.bind(org)) AND \(selected)
            ORDER BY a.id
            """
        var out: [Int64: [ExperimentEvaluationRow]] = [:]
        for c in try await scope.read(q.query, { try await $0.decode((Int64, Int64, String, String, String?, Double?, String?, String?, String?, String, Int64, Int64).self).all() }) {
            out[c.1, default: []].append(
                ExperimentEvaluationRow(
                    id: c.0, runID: c.1, name: c.2, annotatorKind: c.3, label: c.4, score: c.5, explanation: c.6, traceID: c.7, error: c.8,
                    metadata: JSONValue(storedJSON: c.9), startMicros: c.10, endMicros: c.11))
        }
        return out
    }

    // MARK: Tags

    public func experimentTags(experimentID: Int64) async throws -> [ExperimentTagRow] {
        try await scope.read(
            "SELECT id, name, description FROM experiment_tags WHERE org_id = \(org) AND experiment_id = \(experimentID) ORDER BY name") { try await $0.decode((Int64, String, String?).self).all() }.map { ExperimentTagRow(id: $0.0, name: $0.1, description: $0.2) }
    }

    /// Points the dataset's tag `name` at the experiment (moving it from another experiment).
    public func setExperimentTag(experimentID: Int64, datasetID: Int64, name: String, description: String?) async throws -> ExperimentTagRow {
        let org = org
        return try await scope.write { tx in
            try await tx.requireRows("experiments", ids: [experimentID], "Experiment not found")
            try await tx.requireRows("datasets", ids: [datasetID], "Dataset not found")
            return try await tx.query(
            """
            INSERT INTO experiment_tags (org_id, experiment_id, dataset_id, name, description)
            VALUES (\(org), \(experimentID), \(datasetID), \(SQLText.clean(name)), \(description.map(SQLText.clean)))
            ON CONFLICT (org_id, dataset_id, name) DO UPDATE SET experiment_id = excluded.experiment_id, description = excluded.description
            RETURNING id, name, description
            """).decode((Int64, String, String?).self).all().map { ExperimentTagRow(id: $0.0, name: $0.1, description: $0.2) }[0]
        }
    }

    public func removeExperimentTag(experimentID: Int64, tagID: Int64?, name: String?) async throws {
        try await scope.write(
            """
            DELETE FROM experiment_tags WHERE org_id = \(org) AND experiment_id = \(experimentID)
            AND (id = \(tagID ?? -1) OR name = \(name ?? ""))
            """)
    }

    /// `FROM … WHERE …` of the (example, repetition) pairs of an experiment that have no run (no
    /// successful one with `failedAreMissing`), as `x` (the example as of the experiment's version) and
    /// `rep`; examples from `fromExampleID` on.
    func appendMissingRuns(
        _ q: inout SQLBuilder, of experiment: ExperimentRow, failedAreMissing: Bool, fromExampleID: Int64?, after: RunKey? = nil
    ) {
        q.append(" FROM ")
        let bounds = [fromExampleID, after?.exampleID].compactMap { $0 }
        // Narrow: `x` has the example's id and its revision's (`revision_id`); callers that need the
        // documents join the revisions after their LIMIT.
        scope.datasets.appendExamplesAsOf(
            &q, datasetID: experiment.datasetID, versionID: experiment.datasetVersionID, splitIDs: experiment.splitIDs.isEmpty ? nil : experiment.splitIDs,
            fromID: bounds.max(), narrow: true)
        // A lateral lookup rather than NOT EXISTS: PostgreSQL turns NOT EXISTS into an anti-join, and on
        // a job's fresh tables (statistics that say "one row") it chose to scan all the experiment's runs
        // for every example, quadratic in the dataset; a lateral subquery with LIMIT is one probe of the
        // unique index per (example, repetition) whatever the estimates.
        q.append(
            """
             CROSS JOIN generate_series(1, \(q.bind(Int64(experiment.repetitions)))) rep
            LEFT JOIN LATERAL (SELECT 1 AS done FROM experiment_runs r WHERE r.org_id = \(q.bind(org))
                AND r.experiment_id = \(q.bind(experiment.id)) AND r.dataset_example_id = x.id AND r.repetition_number = rep
            """)
        q.append(failedAreMissing ? " AND r.error IS NULL LIMIT 1) d ON true" : " LIMIT 1) d ON true")
        q.append(" WHERE x.revision_kind <> 'DELETE' AND d.done IS NULL")
        if let fromExampleID { q.append(" AND x.id >= \(q.bind(fromExampleID))") }
        if let after { q.append(" AND (x.id, rep) > (\(q.bind(after.exampleID)), \(q.bind(Int64(after.repetition))))") }
    }

    /// Examples (from `fromExampleID` on, at most `limit`) with the repetitions that have no successful
    /// run, computed in the database.
    public func incompleteRuns(of experiment: ExperimentRow, fromExampleID: Int64?, limit: Int) async throws -> [(example: DatasetExampleRow, repetitions: [Int])] {
        var q = SQLBuilder()
        q.append("SELECT x.id, array_agg(rep::int8 ORDER BY rep)")
        appendMissingRuns(&q, of: experiment, failedAreMissing: true, fromExampleID: fromExampleID)
        q.append(" GROUP BY x.id ORDER BY x.id LIMIT \(q.bind(Int64(limit)))")
        let missing = try await scope.read(q.query) { try await $0.decode((Int64, [Int64]).self).all() }
        guard !missing.isEmpty else { return [] }
        let examples = Dictionary(
            uniqueKeysWithValues: try await scope.datasets.datasetExamples(
                datasetID: experiment.datasetID, versionID: experiment.datasetVersionID, ids: missing.map(\.0)
            ).map { ($0.id, $0) })
        return missing.compactMap { id, repetitions in examples[id].map { ($0, repetitions.map { Int($0) }) } }
    }

    public func count(datasetID: Int64) async throws -> Int {
        try await scope.read(
            "SELECT count(*) FROM experiments WHERE org_id = \(org) AND dataset_id = \(datasetID)", ProjectRepository.count)
    }
}

extension ExperimentRepository {
    /// Records evaluations of existing runs, replacing an earlier one of the same name.
    /// Of two evaluations of a run with the same name, the last one given is recorded.
    public func recordEvaluations(_ given: [(runID: Int64, evaluation: RunEvaluation)]) async throws {
        var last: [String: Int] = [:]
        for (index, item) in given.enumerated() { last["\(item.runID)\u{0}\(item.evaluation.name)"] = index }
        let evaluations = given.enumerated().filter { last["\($0.element.runID)\u{0}\($0.element.evaluation.name)"] == $0.offset }.map(\.element)
        guard !evaluations.isEmpty else { return }
        let org = org
        let runs = evaluations.map(\.runID), e = EvaluationColumns(evaluations.map(\.evaluation))
        try await scope.write { tx -> Void in
            try await tx.query(
                """
                INSERT INTO experiment_run_annotations (org_id, experiment_run_id, \(unescaped: EvaluationColumns.columns))
                SELECT \(org), r.id, \(unescaped: EvaluationColumns.values)
                FROM unnest(\(runs)::int8[], \(e.names)::text[], \(e.kinds)::text[], \(e.labels)::text[], \(e.scores)::float8[], \(e.explanations)::text[],
                    \(e.traces)::text[], \(e.errors)::text[], \(e.metadata)::text[], \(e.starts)::int8[], \(e.ends)::int8[])
                    AS a(run, \(unescaped: EvaluationColumns.aliases))
                JOIN experiment_runs r ON r.org_id = \(org) AND r.id = a.run
                ON CONFLICT (org_id, experiment_run_id, name) DO UPDATE SET
                    annotator_kind = excluded.annotator_kind, label = excluded.label, score = excluded.score, explanation = excluded.explanation,
                    trace_id = excluded.trace_id, error = excluded.error, metadata = excluded.metadata, start_time = excluded.start_time,
                    end_time = excluded.end_time
                """)
        }
    }
}

/// Evaluations as the arrays of one `unnest` (after the caller's own key columns, aliased
/// `n, k, l, sc, ex, t, er, md, s, f`): absent values travel as '' and a score as NaN, as arrays of
/// optionals do not bind.
struct EvaluationColumns {
    /// The annotation's columns after `org_id` and `experiment_run_id`, and their values from alias `a`.
    static let columns = "name, annotator_kind, label, score, explanation, trace_id, error, metadata, start_time, end_time"
    static let values = """
        a.n, a.k, nullif(a.l, ''), nullif(a.sc, 'NaN'), nullif(a.ex, ''), nullif(a.t, ''), nullif(a.er, ''), a.md::jsonb,
        to_timestamp(0) + a.s * interval '1 microsecond', to_timestamp(0) + a.f * interval '1 microsecond'
        """
    static let aliases = "n, k, l, sc, ex, t, er, md, s, f"

    let names, kinds, labels, explanations, traces, errors, metadata: [String]
    let scores: [Double]
    let starts, ends: [Int64]

    init(_ evaluations: [RunEvaluation]) {
        names = evaluations.map { SQLText.clean($0.name) }
        kinds = evaluations.map(\.annotatorKind)
        labels = evaluations.map { $0.label.map(SQLText.clean) ?? "" }
        scores = evaluations.map { $0.score.flatMap { $0.isFinite ? $0 : nil } ?? .nan }
        explanations = evaluations.map { $0.explanation.map(SQLText.clean) ?? "" }
        traces = evaluations.map { $0.traceID ?? "" }
        errors = evaluations.map { $0.error.map(SQLText.clean) ?? "" }
        metadata = evaluations.map(\.metadata.jsonString)
        starts = evaluations.map(\.startMicros)
        ends = evaluations.map(\.endMicros)
    }
}
