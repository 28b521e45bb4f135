import CinderModel
import PostgresNIO

public struct DatasetSplitRow: Sendable {
    public static let defaultColor = "#33c5e8"

    public var id: Int64
    public var name: String
    public var description: String?
    public var color: String
    public var metadata: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
    /// Examples of the dataset the split was read through.
    public var exampleCount: Int64
}

public struct DatasetLabelRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var color: String
}

/// A change to a split; nil fields stay as they are.
public struct DatasetSplitChange: Sendable {
    public var name: String?
    public var description: String??
    public var color: String?
    public var metadata: JSONValue?
    public var addExampleIDs: [Int64]
    public var removeExampleIDs: [Int64]

    public init(
        name: String?, description: String??, color: String?, metadata: JSONValue?, addExampleIDs: [Int64], removeExampleIDs: [Int64]
    ) {
        self.name = name
        self.description = description
        self.color = color
        self.metadata = metadata
        self.addExampleIDs = addExampleIDs
        self.removeExampleIDs = removeExampleIDs
    }
}

extension DatasetRepository {
    static func splitColumns(datasetID: Int64) -> String {
        """
        sp.id, sp.name, sp.description, sp.color, sp.metadata::text, \(micros("sp.created_at")), \(micros("sp.updated_at")),
        (SELECT count(*) FROM dataset_splits_dataset_examples se
            JOIN dataset_examples e ON e.org_id = se.org_id AND e.id = se.dataset_example_id
            WHERE se.org_id = sp.org_id AND se.dataset_split_id = sp.id AND e.dataset_id = \(datasetID))
        """
    }

    @Sendable static func splitRows(_ rows: PostgresRowSequence) async throws -> [DatasetSplitRow] {
        var out: [DatasetSplitRow] = []
        for try await c in rows.decode((Int64, String, String?, String, String, Int64, Int64, Int64).self) {
            out.append(
                DatasetSplitRow(
                    id: c.0, name: c.1, description: c.2, color: c.3, metadata: JSONValue(storedJSON: c.4), createdMicros: c.5,
                    updatedMicros: c.6, exampleCount: c.7))
        }
        return out
    }

    /// The splits a dataset uses, and those no dataset uses yet (just created, or emptied).
    public func datasetSplits(datasetID: Int64, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [DatasetSplitRow] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT \(Self.splitColumns(datasetID: datasetID)) FROM dataset_splits sp WHERE sp.org_id = \(q.bind(org))
            AND (EXISTS (SELECT 1 FROM dataset_splits_dataset_examples se
                    JOIN dataset_examples e ON e.org_id = se.org_id AND e.id = se.dataset_example_id
                    WHERE se.org_id = sp.org_id AND se.dataset_split_id = sp.id AND e.dataset_id = \(q.bind(datasetID)))
                OR NOT EXISTS (SELECT 1 FROM dataset_splits_dataset_examples se WHERE se.org_id = sp.org_id AND se.dataset_split_id = sp.id))
            """)
        if let cursor { q.append(" AND sp.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY sp.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.splitRows)
    }

    /// Splits by id or name (for filtering examples).
    public func datasetSplits(datasetID: Int64, ids: [Int64], names: [String]) async throws -> [DatasetSplitRow] {
        try await scope.read(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT \(Self.splitColumns(datasetID: datasetID)) FROM dataset_splits sp
                        WHERE sp.org_id = $1 AND (sp.id = ANY($2) OR sp.name = ANY($3)) ORDER BY sp.id
                        """, binds: SQLBuilder.binds(org, ids, names)), Self.splitRows)
    }

    /// Examples of the dataset among `ids` (row ids or caller-given example ids); returns the row ids found.
    public func datasetExampleIDs(datasetID: Int64, rowIDs: [Int64], externalIDs: [String]) async throws -> [Int64] {
        try await scope.read(
            """
            SELECT id FROM dataset_examples WHERE org_id = \(org) AND dataset_id = \(datasetID)
            AND (id = ANY(\(rowIDs)) OR external_id = ANY(\(externalIDs)))
            """) { try await $0.decode(Int64.self).all() }
    }

    /// Returns nil when the name is taken.
    public func createDatasetSplit(
        datasetID: Int64, name: String, description: String?, color: String?, metadata: JSONValue, exampleIDs: [Int64]
    ) async throws -> DatasetSplitRow? {
        try await scope.write { connection in
            let ids = try await connection.query(
                """
                INSERT INTO dataset_splits (org_id, name, description, color, metadata)
                VALUES (\(org), \(SQLText.clean(name)), \(description.map(SQLText.clean)), \(color ?? DatasetSplitRow.defaultColor),
                    \(metadata.jsonString)::jsonb)
                ON CONFLICT (org_id, name) DO NOTHING RETURNING id
                """).decode(Int64.self).all()
            guard let id = ids.first else { return nil }
            try await Self.linkSplit(id, examples: exampleIDs, in: connection)
            return try await Self.split(id, datasetID: datasetID, in: connection)
        }
    }

    static func split(_ splitID: Int64, datasetID: Int64, in connection: TenantTransaction) async throws -> DatasetSplitRow? {
        try await Self.splitRows(
            connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT \(Self.splitColumns(datasetID: datasetID)) FROM dataset_splits sp WHERE sp.org_id = $1 AND sp.id = $2",
                    binds: SQLBuilder.binds(connection.org, splitID)))
        ).first
    }

    /// Links this organization's examples (others are ignored) to a split.
    static func linkSplit(_ splitID: Int64, examples: [Int64], in connection: TenantTransaction) async throws {
        guard !examples.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO dataset_splits_dataset_examples (org_id, dataset_split_id, dataset_example_id)
            SELECT e.org_id, \(splitID), e.id FROM dataset_examples e WHERE e.org_id = \(connection.org) AND e.id = ANY(\(examples)::int8[])
            ON CONFLICT DO NOTHING
            """)
    }

    public func updateDatasetSplit(datasetID: Int64, splitID: Int64, change: DatasetSplitChange) async throws -> RenameResult<DatasetSplitRow> {
        try await renaming {
            try await scope.write { connection in
                try await Self.update(splitID, datasetID: datasetID, change: change, in: connection)
            }
        }
    }

    static func update(
        _ splitID: Int64, datasetID: Int64, change: DatasetSplitChange, in connection: TenantTransaction
    ) async throws -> DatasetSplitRow? {
        let found = try await connection.query(
            "SELECT id FROM dataset_splits WHERE org_id = \(connection.org) AND id = \(splitID) FOR UPDATE").decode(Int64.self).all()
        guard !found.isEmpty else { return nil }
        var q = SQLBuilder()
        q.append("UPDATE dataset_splits SET updated_at = now()")
        if let name = change.name { q.append(", name = \(q.bind(SQLText.clean(name)))") }
        if let description = change.description { q.append(", description = \(q.bind(description.map(SQLText.clean)))") }
        if let color = change.color { q.append(", color = \(q.bind(color))") }
        if let metadata = change.metadata { q.append(", metadata = \(q.bind(metadata.jsonString))::jsonb") }
        q.append(" WHERE org_id = \(q.bind(connection.org)) AND id = \(q.bind(splitID))")
        try await connection.query(q.query)
        try await Self.linkSplit(splitID, examples: change.addExampleIDs, in: connection)
        if !change.removeExampleIDs.isEmpty {
            try await connection.query(
                """
                DELETE FROM dataset_splits_dataset_examples
                WHERE org_id = \(connection.org) AND dataset_split_id = \(splitID) AND dataset_example_id = ANY(\(change.removeExampleIDs))
                """)
        }
        return try await Self.split(splitID, datasetID: datasetID, in: connection)
    }

    public enum SplitDeletion: Sendable { case deleted, notFound, usedByExperiments }

    /// A split an experiment was run on stays: deleting it would widen that experiment to all examples.
    public func deleteDatasetSplit(id: Int64) async throws -> SplitDeletion {
        do {
            let deleted = try await scope.write(
                "DELETE FROM dataset_splits WHERE org_id = \(org) AND id = \(id) RETURNING id") { try await $0.decode(Int64.self).all() }
            return deleted.isEmpty ? .notFound : .deleted
        } catch let error as CinderError where error.code == .conflict {
            return .usedByExperiments
        }
    }

    // MARK: Labels

    @Sendable static func labelRows(_ rows: PostgresRowSequence) async throws -> [DatasetLabelRow] {
        var out: [DatasetLabelRow] = []
        for try await c in rows.decode((Int64, String, String?, String).self) {
            out.append(DatasetLabelRow(id: c.0, name: c.1, description: c.2, color: c.3))
        }
        return out
    }

    public func datasetLabels(atOrBeforeID cursor: Int64?, limit: Int) async throws -> [DatasetLabelRow] {
        var q = SQLBuilder()
        q.append("SELECT id, name, description, color FROM dataset_labels WHERE org_id = \(q.bind(org))")
        if let cursor { q.append(" AND id <= \(q.bind(cursor))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.labelRows)
    }

    public func datasetLabels(ids: [Int64]) async throws -> [DatasetLabelRow] {
        try await scope.read(
                "SELECT id, name, description, color FROM dataset_labels WHERE org_id = \(org) AND id = ANY(\(ids)) ORDER BY id", Self.labelRows)
    }

    public func datasetLabels(datasetID: Int64) async throws -> [DatasetLabelRow] {
        try await scope.read(
                """
                SELECT l.id, l.name, l.description, l.color FROM dataset_labels l
                JOIN datasets_dataset_labels dl ON dl.org_id = l.org_id AND dl.dataset_label_id = l.id
                WHERE l.org_id = \(org) AND dl.dataset_id = \(datasetID) ORDER BY l.id
                """, Self.labelRows)
    }

    /// Returns nil when the name is taken.
    public func createDatasetLabel(name: String, description: String?, color: String) async throws -> DatasetLabelRow? {
        try await scope.write(
                """
                INSERT INTO dataset_labels (org_id, name, description, color)
                VALUES (\(org), \(SQLText.clean(name)), \(description.map(SQLText.clean)), \(color))
                ON CONFLICT (org_id, name) DO NOTHING RETURNING id, name, description, color
                """, Self.labelRows).first
    }

    public func updateDatasetLabel(id: Int64, name: String?, description: String??, color: String?) async throws -> RenameResult<DatasetLabelRow> {
        var q = SQLBuilder()
        q.append("UPDATE dataset_labels SET name = \(name.map { q.bind(SQLText.clean($0)) } ?? "name")")
        if let description { q.append(", description = \(q.bind(description.map(SQLText.clean)))") }
        if let color { q.append(", color = \(q.bind(color))") }
        q.append(" WHERE org_id = \(q.bind(org)) AND id = \(q.bind(id)) RETURNING id, name, description, color")
        let update = q.query
        return try await renaming { try await scope.write(update, Self.labelRows).first }
    }

    public func deleteDatasetLabel(id: Int64) async throws -> Bool {
        try await !scope.write(
            "DELETE FROM dataset_labels WHERE org_id = \(org) AND id = \(id) RETURNING id") { try await $0.decode(Int64.self).all() }.isEmpty
    }

    /// Labels a dataset with this organization's labels (other ids are ignored).
    public func addDatasetLabels(_ labelIDs: [Int64], to datasetID: Int64) async throws {
        try await scope.write { try await Self.link(labelIDs, to: datasetID, in: $0) }
    }

    static func link(_ labelIDs: [Int64], to datasetID: Int64, in connection: TenantTransaction) async throws {
        try await connection.query(
            """
            INSERT INTO datasets_dataset_labels (org_id, dataset_id, dataset_label_id)
            SELECT d.org_id, d.id, l.id FROM datasets d JOIN dataset_labels l ON l.org_id = d.org_id
            WHERE d.org_id = \(connection.org) AND d.id = \(datasetID) AND l.id = ANY(\(labelIDs)::int8[])
            ON CONFLICT DO NOTHING
            """)
    }

    public func removeDatasetLabel(_ labelID: Int64, from datasetID: Int64) async throws {
        try await scope.write(
            "DELETE FROM datasets_dataset_labels WHERE org_id = \(org) AND dataset_id = \(datasetID) AND dataset_label_id = \(labelID)")
    }

    /// Makes `labelIDs` exactly the dataset's labels.
    public func setDatasetLabels(_ labelIDs: [Int64], on datasetID: Int64) async throws {
        try await scope.write { connection in
            try await connection.query(
                """
                DELETE FROM datasets_dataset_labels
                WHERE org_id = \(connection.org) AND dataset_id = \(datasetID) AND NOT (dataset_label_id = ANY(\(labelIDs)))
                """)
            try await Self.link(labelIDs, to: datasetID, in: connection)
        }
    }
}
