import CinderModel
import PostgresNIO

/// An evaluator an organization defined (an LLM judge): what runs it is in `definition`.
public struct EvaluatorRow: Sendable {
    public var id: Int64
    public var kind: String
    public var name: String
    public var description: String?
    public var metadata: JSONValue
    public var definition: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
    /// A code evaluator's current source (its newest version).
    public var sourceCode: String?
}

/// A version of a code evaluator's source; versions are never changed, only added.
public struct CodeVersionRow: Sendable {
    public var id: Int64
    public var evaluatorID: Int64
    public var sourceCode: String
    public var createdMicros: Int64
    /// 1 for the first version.
    public var sequenceNumber: Int
}

/// An evaluator attached to a dataset: a built-in one (`builtinKey`) or the organization's (`evaluator`).
public struct DatasetEvaluatorRow: Sendable {
    public var id: Int64
    public var datasetID: Int64
    public var builtinKey: String?
    public var evaluator: EvaluatorRow?
    public var name: String
    public var description: String?
    public var inputMapping: JSONValue
    public var outputConfigs: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

/// What a dataset evaluator runs: a built-in evaluator, or a new evaluator of the organization's.
public enum EvaluatorChoice: Sendable {
    case builtIn(key: String)
    case defined(kind: String, definition: JSONValue, metadata: JSONValue)
    /// One of the organization's evaluators, already there.
    case existing(id: Int64)
}

public struct EvaluatorRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var evaluators: EvaluatorRepository { EvaluatorRepository(scope: self) }
}

extension EvaluatorRepository {
    static let columns = """
        d.id, d.dataset_id, d.builtin_key, d.name, d.description, d.input_mapping::text, d.output_configs::text, \(micros("d.created_at")), \
        \(micros("d.updated_at")), e.id, e.kind, e.name, e.description, e.metadata::text, e.definition::text, \(micros("e.created_at")), \
        \(micros("e.updated_at")), \(Self.currentSource)
        """
    /// A code evaluator's newest source.
    static let currentSource =
        "(SELECT v.source_code FROM code_evaluator_versions v WHERE v.org_id = e.org_id AND v.evaluator_id = e.id ORDER BY v.id DESC LIMIT 1)"
    static let evaluatorColumns = """
        e.id, e.kind, e.name, e.description, e.metadata::text, e.definition::text, \(micros("e.created_at")), \(micros("e.updated_at")), \(currentSource)
        """

    @Sendable static func evaluatorRows(_ rows: PostgresRowSequence) async throws -> [EvaluatorRow] {
        try await rows.decode((Int64, String, String, String?, String, String, Int64, Int64, String?).self).all().map {
            EvaluatorRow(
                id: $0.0, kind: $0.1, name: $0.2, description: $0.3, metadata: JSONValue(storedJSON: $0.4), definition: JSONValue(storedJSON: $0.5),
                createdMicros: $0.6, updatedMicros: $0.7, sourceCode: $0.8)
        }
    }
    static let from = "dataset_evaluators d LEFT JOIN evaluators e ON e.org_id = d.org_id AND e.id = d.evaluator_id"

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [DatasetEvaluatorRow] {
        var out: [DatasetEvaluatorRow] = []
        typealias Columns = (
            Int64, Int64, String?, String, String?, String, String, Int64, Int64, Int64?, String?, String?, String?, String?, String?, Int64?, Int64?, String?
        )
        for try await c in rows.decode(Columns.self) {
            var evaluator: EvaluatorRow?
            if let id = c.9, let kind = c.10, let name = c.11 {
                evaluator = EvaluatorRow(
                    id: id, kind: kind, name: name, description: c.12, metadata: JSONValue(storedJSON: c.13 ?? "{}"),
                    definition: JSONValue(storedJSON: c.14 ?? "{}"), createdMicros: c.15 ?? 0, updatedMicros: c.16 ?? 0, sourceCode: c.17)
            }
            out.append(
                DatasetEvaluatorRow(
                    id: c.0, datasetID: c.1, builtinKey: c.2, evaluator: evaluator, name: c.3, description: c.4, inputMapping: JSONValue(storedJSON: c.5),
                    outputConfigs: JSONValue(storedJSON: c.6), createdMicros: c.7, updatedMicros: c.8))
        }
        return out
    }

    /// A dataset's evaluators in the order they were attached (or those of `ids` among them).
    public func datasetEvaluators(datasetID: Int64, ids: [Int64]? = nil, onPrimary: Bool = false) async throws -> [DatasetEvaluatorRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.columns) FROM \(Self.from) WHERE d.org_id = \(q.bind(org)) AND d.dataset_id = \(q.bind(datasetID))")
        if let ids { q.append(" AND d.id = ANY(\(q.bind(ids))::int8[])") }
        q.append(" ORDER BY d.id")
        let query = q.query
        if onPrimary { return try await scope.readPrimary { try await Self.rows($0.query(query)) } }
        return try await scope.read(query, Self.rows)
    }

    public func datasetEvaluator(id: Int64) async throws -> DatasetEvaluatorRow? {
        var q = SQLBuilder()
        q.append("SELECT \(Self.columns) FROM \(Self.from) WHERE d.org_id = \(q.bind(org)) AND d.id = \(q.bind(id))")
        return try await scope.read(q.query, Self.rows).first
    }

    /// How many evaluators each dataset has.
    public func counts(datasetIDs: [Int64]) async throws -> [Int64: Int] {
        var q = SQLBuilder()
        q.append(
            "SELECT dataset_id, count(*) FROM dataset_evaluators WHERE org_id = \(q.bind(org)) AND dataset_id = ANY(\(q.bind(datasetIDs))::int8[]) GROUP BY dataset_id")
        let pairs = try await scope.read(q.query) { try await $0.decode((Int64, Int64).self).all() }
        return Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, Int($0.1)) })
    }

    /// The organization's evaluators (its LLM judges and code evaluators), newest first, from before `cursor`.
    public func evaluators(beforeID cursor: Int64?, limit: Int) async throws -> [EvaluatorRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.evaluatorColumns) FROM evaluators e WHERE e.org_id = \(q.bind(org))")
        if let cursor { q.append(" AND e.id < \(q.bind(cursor))") }
        q.append(" ORDER BY e.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.evaluatorRows)
    }

    public func evaluator(id: Int64) async throws -> EvaluatorRow? {
        var q = SQLBuilder()
        q.append("SELECT \(Self.evaluatorColumns) FROM evaluators e WHERE e.org_id = \(q.bind(org)) AND e.id = \(q.bind(id))")
        return try await scope.read(q.query, Self.evaluatorRows).first
    }

    /// A code evaluator, with its source as version 1.
    public func createCodeEvaluator(name: String, description: String?, definition: JSONValue, sourceCode: String, userID: Int64?) async throws -> EvaluatorRow {
        let org = org
        return try await scope.write { tx in
            let id = try await tx.query(
                """
                INSERT INTO evaluators (org_id, kind, name, description, metadata, definition, user_id)
                VALUES (\(org), 'CODE', \(name), \(description), '{}'::jsonb, \(definition.jsonString)::jsonb, \(userID)) RETURNING id
                """
            ).decode(Int64.self).all()[0]
            try await tx.query(
                "INSERT INTO code_evaluator_versions (org_id, evaluator_id, source_code, user_id) VALUES (\(org), \(id), \(sourceCode), \(userID))")
            return try await Self.evaluatorRows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.evaluatorColumns) FROM evaluators e WHERE e.org_id = $1 AND e.id = $2", binds: SQLBuilder.binds(org, id)))
            )[0]
        }
    }

    /// Renames an evaluator or replaces its description or definition (what is nil stays).
    public func patchEvaluator(id: Int64, name: String?, description: String?, definition: JSONValue?) async throws -> EvaluatorRow? {
        let org = org
        return try await scope.write { tx in
            let updated = try await tx.query(
                """
                UPDATE evaluators SET name = coalesce(\(name), name), description = coalesce(\(description), description),
                    definition = coalesce(\(definition?.jsonString)::jsonb, definition), updated_at = now()
                WHERE org_id = \(org) AND id = \(id) RETURNING id
                """
            ).decode(Int64.self).all()
            guard !updated.isEmpty else { return nil }
            return try await Self.evaluatorRows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.evaluatorColumns) FROM evaluators e WHERE e.org_id = $1 AND e.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    /// Adds a version of a code evaluator's source, unless it is the current one's; nil when there is
    /// no such code evaluator. Returns whether a version was added.
    public func addCodeVersion(evaluatorID: Int64, sourceCode: String, userID: Int64?) async throws -> Bool? {
        let org = org
        return try await scope.write { tx in
            let current = try await tx.query(
                """
                SELECT \(unescaped: Self.currentSource) FROM evaluators e WHERE e.org_id = \(org) AND e.id = \(evaluatorID) AND e.kind = 'CODE' FOR UPDATE
                """
            ).decode(String?.self).all()
            guard let tip = current.first else { return nil }
            guard tip != sourceCode else { return false }
            try await tx.query(
                "INSERT INTO code_evaluator_versions (org_id, evaluator_id, source_code, user_id) VALUES (\(org), \(evaluatorID), \(sourceCode), \(userID))")
            try await tx.query("UPDATE evaluators SET updated_at = now() WHERE org_id = \(org) AND id = \(evaluatorID)")
            return true
        }
    }

    /// A code evaluator's versions, newest first.
    public func codeVersions(evaluatorID: Int64) async throws -> [CodeVersionRow] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT v.id, v.evaluator_id, v.source_code, \(micros("v.created_at")), (row_number() OVER (ORDER BY v.id))::int8
            FROM code_evaluator_versions v WHERE v.org_id = \(q.bind(org)) AND v.evaluator_id = \(q.bind(evaluatorID)) ORDER BY v.id DESC
            """)
        return try await scope.read(q.query) { rows in
            try await rows.decode((Int64, Int64, String, Int64, Int64).self).all().map {
                CodeVersionRow(id: $0.0, evaluatorID: $0.1, sourceCode: $0.2, createdMicros: $0.3, sequenceNumber: Int($0.4))
            }
        }
    }

    /// Attaches an evaluator to a dataset under `name` (creating the organization's evaluator first when
    /// it is a new one); a name the dataset already uses is a conflict.
    public func attach(
        datasetID: Int64, choice: EvaluatorChoice, name: String, description: String?, inputMapping: JSONValue, outputConfigs: JSONValue, userID: Int64?
    ) async throws -> DatasetEvaluatorRow {
        let org = org
        return try await scope.write { tx in
            try await tx.requireRows("datasets", ids: [datasetID], "Dataset not found")
            var evaluatorID: Int64?
            var builtinKey: String?
            switch choice {
            case .builtIn(let key):
                builtinKey = key
            case .existing(let id):
                try await tx.requireRows("evaluators", ids: [id], "Evaluator not found")
                evaluatorID = id
            case .defined(let kind, let definition, let metadata):
                evaluatorID = try await tx.query(
                    """
                    INSERT INTO evaluators (org_id, kind, name, description, metadata, definition, user_id)
                    VALUES (\(org), \(kind), \(name), \(description), \(metadata.jsonString)::jsonb, \(definition.jsonString)::jsonb, \(userID)) RETURNING id
                    """
                ).decode(Int64.self).all().first
            }
            let id: Int64
            do {
                id = try await tx.query(
                    """
                    INSERT INTO dataset_evaluators (org_id, dataset_id, evaluator_id, builtin_key, name, description, input_mapping, output_configs, user_id)
                    VALUES (\(org), \(datasetID), \(evaluatorID), \(builtinKey), \(name), \(description), \(inputMapping.jsonString)::jsonb,
                        \(outputConfigs.jsonString)::jsonb, \(userID))
                    RETURNING id
                    """
                ).decode(Int64.self).all()[0]
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "The dataset already has an evaluator named \(name)")
            }
            return try await Self.rows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM \(Self.from) WHERE d.org_id = $1 AND d.id = $2", binds: SQLBuilder.binds(org, id)))
            )[0]
        }
    }

    /// Renames a dataset evaluator and replaces its mapping and output configs, and (for the
    /// organization's own evaluator) its definition; nil when there is no such dataset evaluator.
    public func update(
        id: Int64, name: String, description: String?, inputMapping: JSONValue, outputConfigs: JSONValue, definition: JSONValue?
    ) async throws -> DatasetEvaluatorRow? {
        let org = org
        return try await scope.write { tx in
            let updated: [Int64?]
            do {
                updated = try await tx.query(
                    """
                    UPDATE dataset_evaluators SET name = \(name), description = \(description), input_mapping = \(inputMapping.jsonString)::jsonb,
                        output_configs = \(outputConfigs.jsonString)::jsonb, updated_at = now()
                    WHERE org_id = \(org) AND id = \(id) RETURNING evaluator_id
                    """
                ).decode(Int64?.self).all()
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "The dataset already has an evaluator named \(name)")
            }
            guard let evaluatorID = updated.first else { return nil }
            if let definition, let evaluatorID {
                try await tx.query(
                    """
                    UPDATE evaluators SET name = \(name), description = \(description), definition = \(definition.jsonString)::jsonb, updated_at = now()
                    WHERE org_id = \(org) AND id = \(evaluatorID)
                    """)
            }
            return try await Self.rows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM \(Self.from) WHERE d.org_id = $1 AND d.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    /// Detaches dataset evaluators; with `deleteEvaluators`, the LLM judges they ran (made for them) go
    /// too when no dataset uses them any more; code evaluators, made on their own, stay. Returns the ids
    /// that were there, and the definitions of the judges deleted.
    public func delete(ids: [Int64], deleteEvaluators: Bool) async throws -> (removed: [Int64], deletedJudges: [JSONValue]) {
        let org = org
        return try await scope.write { tx in
            let removed = try await tx.query(
                "DELETE FROM dataset_evaluators WHERE org_id = \(org) AND id = ANY(\(ids)::int8[]) RETURNING id, evaluator_id"
            ).decode((Int64, Int64?).self).all()
            let evaluatorIDs = removed.compactMap(\.1)
            var judges: [JSONValue] = []
            if deleteEvaluators, !evaluatorIDs.isEmpty {
                judges = try await tx.query(
                    """
                    DELETE FROM evaluators e WHERE e.org_id = \(org) AND e.id = ANY(\(evaluatorIDs)::int8[]) AND e.kind = 'LLM'
                        AND NOT EXISTS (SELECT 1 FROM dataset_evaluators d WHERE d.org_id = e.org_id AND d.evaluator_id = e.id)
                    RETURNING e.definition::text
                    """
                ).decode(String.self).all().map { JSONValue(storedJSON: $0) }
            }
            return (removed.map(\.0), judges)
        }
    }
}
