import CinderModel
import PostgresNIO

public struct DatasetRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var metadata: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
    /// Examples in the latest version.
    public var exampleCount: Int64
}

public struct DatasetVersionRow: Sendable {
    public var id: Int64
    public var datasetID: Int64
    public var description: String?
    public var metadata: JSONValue
    public var createdMicros: Int64
}

/// An example as of one version.
public struct DatasetExampleRow: Sendable {
    public var id: Int64
    public var externalID: String?
    public var input: JSONValue
    public var output: JSONValue
    public var metadata: JSONValue
    public var updatedMicros: Int64
    public var spanID: String?
    public var spanRowID: Int64?
    public var splits: [String]
    /// How the example's latest revision (as of the version read) changed it: CREATE or PATCH.
    public var revisionKind: String = "CREATE"
}

/// An example as uploaded.
public struct NewDatasetExample: Sendable {
    public var input: JSONValue
    public var output: JSONValue
    public var metadata: JSONValue
    public var splits: [String]
    public var spanID: String?
    public var externalID: String?

    public init(input: JSONValue, output: JSONValue, metadata: JSONValue, splits: [String], spanID: String?, externalID: String?) {
        self.input = input
        self.output = output
        self.metadata = metadata
        self.splits = splits
        self.spanID = spanID
        self.externalID = externalID
    }

    var content: [JSONValue] { [input, output, metadata] }
}

public enum DatasetUploadAction: String, Sendable, CaseIterable {
    /// A new dataset; its name must be free.
    case create
    /// New examples on top of the current ones (an example id already present revises that example).
    case append
    /// The dataset becomes exactly the uploaded examples, created if missing.
    case update
}

public enum DatasetUploadResult: Sendable {
    case nameTaken
    case written(datasetID: Int64, versionID: Int64, created: Int, updated: Int, deleted: Int)
}

extension DatasetRepository {
    static let datasetColumns = """
        d.id, d.name, d.description, d.metadata::text, \(micros("d.created_at")), \(micros("d.updated_at")),
        (SELECT count(*) FROM (
            SELECT DISTINCT ON (r.dataset_example_id) r.revision_kind FROM dataset_example_revisions r
            JOIN dataset_examples e ON e.org_id = r.org_id AND e.id = r.dataset_example_id WHERE e.org_id = d.org_id AND e.dataset_id = d.id
            ORDER BY r.dataset_example_id, r.dataset_version_id DESC) latest WHERE latest.revision_kind <> 'DELETE')
        """

    @Sendable static func datasetRows(_ rows: PostgresRowSequence) async throws -> [DatasetRow] {
        var out: [DatasetRow] = []
        for try await c in rows.decode((Int64, String, String?, String, Int64, Int64, Int64).self) {
            out.append(
                DatasetRow(
                    id: c.0, name: c.1, description: c.2, metadata: JSONValue(storedJSON: c.3), createdMicros: c.4, updatedMicros: c.5,
                    exampleCount: c.6))
        }
        return out
    }

    public func datasets(named name: String?, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [DatasetRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.datasetColumns) FROM datasets d WHERE d.org_id = \(q.bind(org))")
        if let name { q.append(" AND d.name = \(q.bind(name))") }
        if let cursor { q.append(" AND d.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY d.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.datasetRows)
    }

    public func dataset(id: Int64?, name: String? = nil) async throws -> DatasetRow? {
        try await scope.read(
                """
                SELECT \(unescaped: Self.datasetColumns) FROM datasets d
                WHERE d.org_id = \(org) AND (d.id = \(id ?? -1) OR d.name = \(name ?? ""))
                ORDER BY d.id = \(id ?? -1) DESC LIMIT 1
                """, Self.datasetRows).first
    }

    public func deleteDataset(id: Int64) async throws -> Bool {
        try await !scope.write(
            "DELETE FROM datasets WHERE org_id = \(org) AND id = \(id) RETURNING id") { try await $0.decode(Int64.self).all() }.isEmpty
    }

    /// The dataset's versions, newest first.
    public func datasetVersions(datasetID: Int64, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [DatasetVersionRow] {
        try await versions(datasetID: datasetID, id: nil, atOrBeforeID: cursor, limit: limit)
    }

    /// The version, if it belongs to the dataset; the latest version when `id` is nil.
    public func datasetVersion(datasetID: Int64, id: Int64?) async throws -> DatasetVersionRow? {
        try await versions(datasetID: datasetID, id: id, atOrBeforeID: nil, limit: 1).first
    }

    private func versions(datasetID: Int64, id: Int64?, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [DatasetVersionRow] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT id, dataset_id, description, metadata::text, \(micros("created_at")) FROM dataset_versions
            WHERE org_id = \(q.bind(org)) AND dataset_id = \(q.bind(datasetID))
            """)
        if let id { q.append(" AND id = \(q.bind(id))") }
        if let cursor { q.append(" AND id <= \(q.bind(cursor))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        var out: [DatasetVersionRow] = []
        for c in try await scope.read(q.query) { try await $0.decode((Int64, Int64, String?, String, Int64).self).all() } {
            out.append(DatasetVersionRow(id: c.0, datasetID: c.1, description: c.2, metadata: JSONValue(storedJSON: c.3), createdMicros: c.4))
        }
        return out
    }

    /// Appends a subquery `x` of the dataset's examples as of a version (their latest revision up to it,
    /// deleted ones included, with `x.revision_kind`), only those in one of `splitIDs` when given.
    /// `fromID` bounds the examples inside the subquery, where PostgreSQL can use it; a bound outside
    /// (on the subquery's result, as a keyset over (example, repetition) is) is applied only after every
    /// example of the dataset was resolved to its revision.
    ///
    /// `narrow` resolves only which revision each example is at (`id`, `revision_id`, `revision_kind`):
    /// for a caller that keeps few of the examples, turning every revision's documents into text to sort
    /// them cost far more than the rest of the statement.
    func appendExamplesAsOf(
        _ q: inout SQLBuilder, datasetID: Int64, versionID: Int64, splitIDs: [Int64]?, ids: [Int64]? = nil, fromID: Int64? = nil, narrow: Bool = false
    ) {
        q.append(
            narrow
                ? "(SELECT DISTINCT ON (e.id) e.id, r.id AS revision_id, r.revision_kind"
                : """
                (SELECT DISTINCT ON (e.id) e.id, e.external_id, e.span_rowid, r.input::text AS input, r.output::text AS output,
                    r.metadata::text AS metadata, r.revision_kind, \(micros("r.created_at")) AS updated
                """)
        q.append(
            """
             FROM dataset_examples e JOIN dataset_example_revisions r ON r.org_id = e.org_id AND r.dataset_example_id = e.id
            WHERE e.org_id = \(q.bind(org)) AND e.dataset_id = \(q.bind(datasetID)) AND r.dataset_version_id <= \(q.bind(versionID))
            """)
        if let ids { q.append(" AND e.id = ANY(\(q.bind(ids)))") }
        if let fromID { q.append(" AND e.id >= \(q.bind(fromID))") }
        if let splitIDs {
            q.append(
                """
                 AND e.id IN (SELECT dataset_example_id FROM dataset_splits_dataset_examples
                    WHERE org_id = \(q.bind(org)) AND dataset_split_id = ANY(\(q.bind(splitIDs))))
                """)
        }
        q.append(" ORDER BY e.id, r.dataset_version_id DESC) x")
    }

    /// How many examples the dataset has as of a version (in one of `splitIDs` when given).
    public func datasetExampleCount(datasetID: Int64, versionID: Int64, splitIDs: [Int64]? = nil) async throws -> Int64 {
        var q = SQLBuilder()
        q.append("SELECT count(*) FROM ")
        appendExamplesAsOf(&q, datasetID: datasetID, versionID: versionID, splitIDs: splitIDs, narrow: true)
        q.append(" WHERE x.revision_kind <> 'DELETE'")
        return try await scope.read(q.query) { try await $0.decode(Int64.self).all() }.first ?? 0
    }

    /// The dataset's examples as of a version, in id order; only those in one of `splitIDs` when given.
    public func datasetExamples(datasetID: Int64, versionID: Int64, splitIDs: [Int64]? = nil, ids: [Int64]? = nil) async throws -> [DatasetExampleRow] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT x.id, x.external_id, x.input, x.output, x.metadata, x.updated, s.span_id, x.span_rowid, x.revision_kind,
                coalesce((SELECT array_agg(sp.name ORDER BY sp.name) FROM dataset_splits_dataset_examples se
                    JOIN dataset_splits sp ON sp.org_id = se.org_id AND sp.id = se.dataset_split_id
                    WHERE se.org_id = \(q.bind(org)) AND se.dataset_example_id = x.id), '{}')
            """)
        q.append(" FROM ")
        appendExamplesAsOf(&q, datasetID: datasetID, versionID: versionID, splitIDs: splitIDs, ids: ids)
        q.append(" LEFT JOIN spans s ON s.org_id = \(q.bind(org)) AND s.id = x.span_rowid WHERE x.revision_kind <> 'DELETE' ORDER BY x.id")
        var out: [DatasetExampleRow] = []
        for c in try await scope.read(q.query) { try await $0.decode(
            (Int64, String?, String, String, String, Int64, String?, Int64?, String, [String]).self).all() }
        {
            out.append(
                DatasetExampleRow(
                    id: c.0, externalID: c.1, input: JSONValue(storedJSON: c.2), output: JSONValue(storedJSON: c.3),
                    metadata: JSONValue(storedJSON: c.4), updatedMicros: c.5, spanID: c.6, spanRowID: c.7, splits: c.9,
                    revisionKind: c.8))
        }
        return out
    }

    /// Writes an upload as one new version in one transaction. A version that would change nothing
    /// (an `update` with the current content) is not created; the latest version is returned instead.
    public func uploadDataset(
        name: String, description: String?, action: DatasetUploadAction, examples: [NewDatasetExample]
    ) async throws -> DatasetUploadResult {
        try await scope.write { connection in
            // The upsert also locks the dataset row, so concurrent uploads to one dataset run one at a time.
            let conflict = action == .create ? "DO NOTHING" : "DO UPDATE SET updated_at = now()"
            let datasetRows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO datasets (org_id, name, description) VALUES ($1, $2, $3)
                        ON CONFLICT (org_id, name) \(conflict) RETURNING id
                        """,
                    binds: SQLBuilder.binds(org, SQLText.clean(name), description.map(SQLText.clean)))).decode(Int64.self).all()
            guard let datasetID = datasetRows.first else { return .nameTaken }

            // The current examples, with their latest content.
            var current: [(id: Int64, externalID: String?, content: [JSONValue], deleted: Bool)] = []
            if action != .create {
                for try await c in try await connection.query(
                    """
                    SELECT DISTINCT ON (e.id) e.id, e.external_id, r.input::text, r.output::text, r.metadata::text, r.revision_kind
                    FROM dataset_examples e JOIN dataset_example_revisions r ON r.org_id = e.org_id AND r.dataset_example_id = e.id
                    WHERE e.org_id = \(org) AND e.dataset_id = \(datasetID)
                    ORDER BY e.id, r.dataset_version_id DESC
                    """).decode((Int64, String?, String, String, String, String).self) {
                    current.append(
                        (c.0, c.1, [JSONValue(storedJSON: c.2), JSONValue(storedJSON: c.3), JSONValue(storedJSON: c.4)], c.5 == "DELETE"))
                }
            }

            // Decide each example's revision.
            var creates: [NewDatasetExample] = []
            var patches: [(exampleID: Int64, example: NewDatasetExample)] = []
            var deletes: [Int64] = []
            let byExternalID = Dictionary(current.compactMap { c in c.externalID.map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
            var unmatched = Dictionary(uniqueKeysWithValues: current.filter { !$0.deleted }.map { ($0.id, $0) })
            var byContent: [[JSONValue]: [Int64]] = [:]
            if action == .update {
                for c in current where !c.deleted && c.externalID == nil { byContent[c.content, default: []].append(c.id) }
            }
            for example in examples {
                if let externalID = example.externalID, let existing = byExternalID[externalID] {
                    unmatched[existing.id] = nil
                    if existing.deleted || existing.content != example.content { patches.append((existing.id, example)) }
                } else if action == .update, example.externalID == nil, var ids = byContent[example.content], !ids.isEmpty {
                    unmatched[ids.removeFirst()] = nil
                    byContent[example.content] = ids
                } else {
                    creates.append(example)
                }
            }
            if action == .update { deletes = unmatched.keys.sorted() }

            let changed = !creates.isEmpty || !patches.isEmpty || !deletes.isEmpty
            if !changed, action != .create {
                let latest = try await connection.query(
                    "SELECT max(id) FROM dataset_versions WHERE org_id = \(org) AND dataset_id = \(datasetID)").decode(Int64?.self).all().first ?? nil
                if let latest { return .written(datasetID: datasetID, versionID: latest, created: 0, updated: 0, deleted: 0) }
            }
            let versionID = try await connection.query(
                """
                INSERT INTO dataset_versions (org_id, dataset_id, description) VALUES (\(org), \(datasetID), \(description.map(SQLText.clean)))
                RETURNING id
                """).decode(Int64.self).all()[0]

            // New examples get ids drawn first, so that each stays paired with its content. Arrays cannot hold
            // NULL through the driver: empty strings stand for none (neither id may be empty).
            var newIDs: [Int64] = []
            if !creates.isEmpty {
                newIDs = try await connection.query(
                    """
                    SELECT nextval(pg_get_serial_sequence('dataset_examples', 'id')) FROM generate_series(1, \(creates.count))
                    """).decode(Int64.self).all()
                try await connection.query(
                    """
                    INSERT INTO dataset_examples (id, org_id, dataset_id, external_id, span_rowid)
                    SELECT u.id, \(org), \(datasetID), nullif(u.external_id, ''), s.id
                    FROM unnest(\(newIDs)::int8[], \(creates.map { $0.externalID ?? "" })::text[], \(creates.map { $0.spanID ?? "" })::text[])
                        AS u(id, external_id, span_id)
                    LEFT JOIN spans s ON s.org_id = \(org) AND s.span_id = u.span_id
                    """)
            }
            var revisionIDs: [Int64] = newIDs
            var revisionContent: [NewDatasetExample] = creates
            var kinds = Array(repeating: "CREATE", count: creates.count)
            for patch in patches {
                revisionIDs.append(patch.exampleID)
                revisionContent.append(patch.example)
                kinds.append("PATCH")
            }
            let empty = NewDatasetExample(input: [:], output: [:], metadata: [:], splits: [], spanID: nil, externalID: nil)
            for id in deletes {
                revisionIDs.append(id)
                revisionContent.append(empty)
                kinds.append("DELETE")
            }
            if !revisionIDs.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO dataset_example_revisions
                        (org_id, dataset_example_id, dataset_version_id, input, output, metadata, revision_kind)
                    SELECT \(org), u.id, \(versionID), u.input::jsonb, u.output::jsonb, u.metadata::jsonb, u.kind
                    FROM unnest(\(revisionIDs)::int8[], \(revisionContent.map(\.input.jsonString))::text[],
                        \(revisionContent.map(\.output.jsonString))::text[], \(revisionContent.map(\.metadata.jsonString))::text[],
                        \(kinds)::text[]) AS u(id, input, output, metadata, kind)
                    """)
            }

            // Splits named in the upload, created on first use.
            var splitPairs: [(exampleID: Int64, split: String)] = []
            for (id, example) in zip(newIDs, creates) { splitPairs += example.splits.map { (id, $0) } }
            for patch in patches { splitPairs += patch.example.splits.map { (patch.exampleID, $0) } }
            if !splitPairs.isEmpty {
                let names = Array(Set(splitPairs.map(\.split)))
                try await connection.query(
                    """
                    INSERT INTO dataset_splits (org_id, name, color) SELECT \(org), unnest(\(names)::text[]), \(DatasetSplitRow.defaultColor)
                    ON CONFLICT (org_id, name) DO NOTHING
                    """)
                try await connection.query(
                    """
                    INSERT INTO dataset_splits_dataset_examples (org_id, dataset_split_id, dataset_example_id)
                    SELECT sp.org_id, sp.id, u.example_id FROM unnest(\(splitPairs.map(\.exampleID))::int8[], \(splitPairs.map(\.split))::text[])
                        AS u(example_id, name)
                    JOIN dataset_splits sp ON sp.org_id = \(org) AND sp.name = u.name
                    ON CONFLICT DO NOTHING
                    """)
            }
            return .written(datasetID: datasetID, versionID: versionID, created: creates.count, updated: patches.count, deleted: deletes.count)
        }
    }
}

extension DatasetRepository {
    /// The dataset an example belongs to.
    public func datasetID(ofExample exampleID: Int64) async throws -> Int64? {
        try await scope.read("SELECT dataset_id FROM dataset_examples WHERE org_id = \(org) AND id = \(exampleID)") {
            try await $0.decode(Int64.self).all()
        }.first
    }

    /// The dataset a version belongs to.
    public func datasetID(ofVersion versionID: Int64) async throws -> Int64? {
        try await scope.read("SELECT dataset_id FROM dataset_versions WHERE org_id = \(org) AND id = \(versionID)") {
            try await $0.decode(Int64.self).all()
        }.first
    }

    public func count() async throws -> Int {
        try await scope.read("SELECT count(*) FROM datasets WHERE org_id = \(org)", ProjectRepository.count)
    }
}

extension JSONValue {
    /// A document read back from a `json`/`jsonb` column; the database only holds valid JSON.
    init(storedJSON text: String) {
        self = (try? JSONValue(parsing: text)) ?? .null
    }
}
