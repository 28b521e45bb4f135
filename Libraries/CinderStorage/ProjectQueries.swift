import CinderModel
import PostgresNIO

public struct ProjectRow: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var createdMicros: Int64 = 0
    public var updatedMicros: Int64 = 0
}

extension TenantStore {
    static let projectColumns = "id, name, description, \(micros("created_at")), \(micros("updated_at"))"

    static func projectRows(_ rows: PostgresRowSequence) async throws -> [ProjectRow] {
        try await rows.decode((Int64, String, String?, Int64, Int64).self).all().map {
            ProjectRow(id: $0.0, name: $0.1, description: $0.2, createdMicros: $0.3, updatedMicros: $0.4)
        }
    }

    /// Projects that runs of experiments create; hidden from project lists unless asked for.
    static let experimentProjectPattern = "Experiment-%"

    public func listProjects(
        atOrBeforeID cursor: Int64?, limit: Int, nameContains: String?, includeExperimentProjects: Bool
    ) async throws -> [ProjectRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.projectColumns) FROM projects WHERE org_id = \(q.bind(org))")
        if let cursor { q.append(" AND id <= \(q.bind(cursor))") }
        if let nameContains, !nameContains.isEmpty {
            q.append(" AND strpos(lower(name), lower(\(q.bind(nameContains)))) > 0")
        }
        if !includeExperimentProjects { q.append(" AND name NOT LIKE \(q.bind(Self.experimentProjectPattern))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await Self.projectRows(database.reader.query(q.query, logger: logger))
    }

    public func project(id: Int64) async throws -> ProjectRow? {
        try await Self.projectRows(
            database.reader.query(
                "SELECT \(unescaped: Self.projectColumns) FROM projects WHERE org_id = \(org) AND id = \(id)", logger: logger)
        ).first
    }

    public func project(named name: String) async throws -> ProjectRow? {
        try await Self.projectRows(
            database.reader.query(
                "SELECT \(unescaped: Self.projectColumns) FROM projects WHERE org_id = \(org) AND name = \(name)", logger: logger)
        ).first
    }

    /// Returns nil when a project of that name exists already.
    public func createProject(name: String, description: String?) async throws -> ProjectRow? {
        try await Self.projectRows(
            database.primary.query(
                """
            INSERT INTO projects (org_id, name, description)
            VALUES (\(org), \(SQLText.clean(name)), \(description.map(SQLText.clean)))
            ON CONFLICT (org_id, name) DO NOTHING
            RETURNING \(unescaped: Self.projectColumns)
            """, logger: logger)
        ).first
    }

    public func updateProject(id: Int64, description: String?) async throws -> ProjectRow? {
        try await Self.projectRows(
            database.primary.query(
                """
            UPDATE projects SET description = \(description.map(SQLText.clean)), updated_at = now()
            WHERE org_id = \(org) AND id = \(id)
            RETURNING \(unescaped: Self.projectColumns)
            """, logger: logger)
        ).first
    }

    /// Deletes the project and, by cascade, its traces, spans and sessions. Returns false if absent.
    public func deleteProject(id: Int64) async throws -> Bool {
        try await database.primary.withTransaction(logger: logger) { connection in
            // Locking the project first waits out writers already adding traces to it and makes new
            // ones wait for this delete (their foreign-key check then fails and they retry), so no span
            // is left behind without its trace.
            let locked = try await connection.query(
                "SELECT id FROM projects WHERE org_id = \(org) AND id = \(id) FOR UPDATE", logger: logger
            ).decode(Int64.self).all()
            guard !locked.isEmpty else { return false }
            // Spans have no foreign key to cascade through: one range scan over the project index.
            try await connection.query("DELETE FROM spans WHERE org_id = \(org) AND project_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM projects WHERE org_id = \(org) AND id = \(id)", logger: logger)
            return true
        }
    }
}
