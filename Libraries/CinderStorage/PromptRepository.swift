import CinderModel
import PostgresNIO

public struct PromptRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var sourcePromptID: Int64?
    public var metadata: JSONValue
    public var createdMicros: Int64 = 0
}

/// A prompt version's content, validated by the API.
public struct PromptVersionContent: Sendable {
    public var description: String?
    public var metadata: JSONValue
    public var modelProvider: String
    public var modelName: String
    public var templateType: String
    public var templateFormat: String
    public var template: JSONValue
    public var invocationParameters: JSONValue
    public var tools: JSONValue?
    public var responseFormat: JSONValue?

    public init(
        description: String?, metadata: JSONValue, modelProvider: String, modelName: String, templateType: String, templateFormat: String,
        template: JSONValue, invocationParameters: JSONValue, tools: JSONValue?, responseFormat: JSONValue?
    ) {
        self.description = description
        self.metadata = metadata
        self.modelProvider = modelProvider
        self.modelName = modelName
        self.templateType = templateType
        self.templateFormat = templateFormat
        self.template = template
        self.invocationParameters = invocationParameters
        self.tools = tools
        self.responseFormat = responseFormat
    }
}

public struct PromptVersionRow: Sendable {
    public var id: Int64
    public var promptID: Int64
    public var content: PromptVersionContent
    public var createdMicros: Int64 = 0
}

public struct PromptTagRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
}

extension PromptRepository {
    static let promptColumns = "p.id, p.name, p.description, p.source_prompt_id, p.metadata::text, \(micros("p.created_at"))"

    @Sendable static func promptRows(_ rows: PostgresRowSequence) async throws -> [PromptRow] {
        var out: [PromptRow] = []
        for try await c in rows.decode((Int64, String, String?, Int64?, String, Int64).self) {
            out.append(
                PromptRow(id: c.0, name: c.1, description: c.2, sourcePromptID: c.3, metadata: JSONValue(storedJSON: c.4), createdMicros: c.5))
        }
        return out
    }

    static let versionColumns = """
        v.id, v.prompt_id, v.description, v.metadata::text, v.model_provider, v.model_name, v.template_type, v.template_format,
        v.template::text, v.invocation_parameters::text, v.tools::text, v.response_format::text, \(micros("v.created_at"))
        """

    @Sendable static func versionRows(_ rows: PostgresRowSequence) async throws -> [PromptVersionRow] {
        var out: [PromptVersionRow] = []
        for try await c in rows.decode(
            (Int64, Int64, String?, String, String, String, String, String, String, String, String?, String?, Int64).self)
        {
            out.append(
                PromptVersionRow(
                    id: c.0, promptID: c.1,
                    content: PromptVersionContent(
                        description: c.2, metadata: JSONValue(storedJSON: c.3), modelProvider: c.4, modelName: c.5, templateType: c.6,
                        templateFormat: c.7, template: JSONValue(storedJSON: c.8), invocationParameters: JSONValue(storedJSON: c.9),
                        tools: c.10.map(JSONValue.init(storedJSON:)), responseFormat: c.11.map(JSONValue.init(storedJSON:))),
                    createdMicros: c.12))
        }
        return out
    }

    public func prompts(atOrBeforeID cursor: Int64?, limit: Int) async throws -> [PromptRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.promptColumns) FROM prompts p WHERE p.org_id = \(q.bind(org))")
        if let cursor { q.append(" AND p.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY p.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.promptRows)
    }

    public func prompt(id: Int64?, name: String?) async throws -> PromptRow? {
        try await scope.read(
                PostgresQuery(
                    unsafeSQL: "SELECT \(Self.promptColumns) FROM prompts p WHERE p.org_id = $1 AND (p.id = $2 OR p.name = $3)",
                    binds: SQLBuilder.binds(org, id ?? -1, name ?? "")), Self.promptRows).first
    }

    /// Adds a version, creating the prompt if it does not exist (its description and metadata apply
    /// only then); `tags` point at the new version.
    public func addPromptVersion(
        promptID: Int64?, newPrompt: (name: String, description: String?, metadata: JSONValue, sourcePromptID: Int64?)?,
        _ version: PromptVersionContent, tags: [(name: String, description: String?)] = []
    ) async throws -> PromptVersionRow? {
        try await scope.write { connection in
            var resolved = promptID
            if let source = newPrompt?.sourcePromptID {
                try await connection.requireRows("prompts", ids: [source], "Source prompt not found")
            }
            if let newPrompt {
                resolved = try await connection.query(
                    """
                    INSERT INTO prompts (org_id, name, description, metadata, source_prompt_id)
                    VALUES (\(org), \(newPrompt.name), \(newPrompt.description.map(SQLText.clean)), \(newPrompt.metadata.jsonString)::jsonb,
                        \(newPrompt.sourcePromptID))
                    ON CONFLICT (org_id, name) DO UPDATE SET updated_at = now()
                    RETURNING id
                    """).decode(Int64.self).all().first
            } else if let promptID {
                resolved = try await connection.query(
                    "UPDATE prompts SET updated_at = now() WHERE org_id = \(org) AND id = \(promptID) RETURNING id").decode(Int64.self).all().first
            }
            guard let resolved else { return nil }
            let v = version
            let id = try await connection.query(
                """
                INSERT INTO prompt_versions (org_id, prompt_id, description, template_type, template_format, template, invocation_parameters,
                    tools, response_format, model_provider, model_name, metadata)
                VALUES (\(org), \(resolved), \(v.description.map(SQLText.clean)), \(v.templateType), \(v.templateFormat),
                    \(v.template.jsonString)::jsonb, \(v.invocationParameters.jsonString)::jsonb, \(v.tools?.jsonString)::jsonb,
                    \(v.responseFormat?.jsonString)::jsonb, \(v.modelProvider), \(SQLText.clean(v.modelName)), \(v.metadata.jsonString)::jsonb)
                RETURNING id
                """).decode(Int64.self).all()[0]
            for tag in tags {
                try await Self.tag(promptID: resolved, versionID: id, name: tag.name, description: tag.description, in: connection)
            }
            return PromptVersionRow(id: id, promptID: resolved, content: version)
        }
    }

    static func tag(
        promptID: Int64, versionID: Int64, name: String, description: String?, in connection: TenantTransaction
    ) async throws {
        try await connection.query(
            """
            INSERT INTO prompt_version_tags (org_id, prompt_id, prompt_version_id, name, description)
            SELECT v.org_id, v.prompt_id, v.id, \(name), \(description.map(SQLText.clean)) FROM prompt_versions v
            WHERE v.org_id = \(connection.org) AND v.id = \(versionID) AND v.prompt_id = \(promptID)
            ON CONFLICT (org_id, prompt_id, name) DO UPDATE SET prompt_version_id = excluded.prompt_version_id, description = excluded.description
            """)
    }

    public func promptVersions(promptID: Int64, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [PromptVersionRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.versionColumns) FROM prompt_versions v WHERE v.org_id = \(q.bind(org)) AND v.prompt_id = \(q.bind(promptID))")
        if let cursor { q.append(" AND v.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY v.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.versionRows)
    }

    public func promptVersion(id: Int64) async throws -> PromptVersionRow? {
        try await scope.read(
                PostgresQuery(
                    unsafeSQL: "SELECT \(Self.versionColumns) FROM prompt_versions v WHERE v.org_id = $1 AND v.id = $2", binds: SQLBuilder.binds(org, id)), Self.versionRows).first
    }

    public func promptVersion(promptID: Int64, tag: String) async throws -> PromptVersionRow? {
        try await scope.read(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT \(Self.versionColumns) FROM prompt_versions v JOIN prompt_version_tags t ON t.org_id = v.org_id AND t.prompt_version_id = v.id
                        WHERE v.org_id = $1 AND t.prompt_id = $2 AND t.name = $3
                        """, binds: SQLBuilder.binds(org, promptID, tag)), Self.versionRows).first
    }

    public func promptVersionTags(versionID: Int64, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [PromptTagRow] {
        var q = SQLBuilder()
        q.append("SELECT id, name, description FROM prompt_version_tags WHERE org_id = \(q.bind(org)) AND prompt_version_id = \(q.bind(versionID))")
        if let cursor { q.append(" AND id <= \(q.bind(cursor))") }
        q.append(" ORDER BY id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query) { try await $0.decode((Int64, String, String?).self).all() }.map {
            PromptTagRow(id: $0.0, name: $0.1, description: $0.2)
        }
    }

    public func tagPromptVersion(_ version: PromptVersionRow, name: String, description: String?) async throws {
        try await scope.write { connection in
            try await Self.tag(promptID: version.promptID, versionID: version.id, name: name, description: description, in: connection)
        }
    }

    /// Removes the tag `name` of the version's prompt, whichever version it points at (as Phoenix
    /// resolves it); false if the prompt has no such tag.
    public func untagPromptVersion(_ version: PromptVersionRow, name: String) async throws -> Bool {
        try await !scope.write(
            """
            DELETE FROM prompt_version_tags WHERE org_id = \(org) AND prompt_id = \(version.promptID) AND name = \(name) RETURNING id
            """) { try await $0.decode(Int64.self).all() }.isEmpty
    }

    public func updatePrompt(id: Int64, description: String??, metadata: JSONValue?) async throws -> PromptRow? {
        var q = SQLBuilder()
        q.append("UPDATE prompts p SET updated_at = now()")
        if let description { q.append(", description = \(q.bind(description.map(SQLText.clean)))") }
        if let metadata { q.append(", metadata = \(q.bind(metadata.jsonString))::jsonb") }
        q.append(" WHERE p.org_id = \(q.bind(org)) AND p.id = \(q.bind(id)) RETURNING \(Self.promptColumns)")
        return try await scope.write(q.query, Self.promptRows).first
    }

    public func deletePrompt(id: Int64) async throws -> Bool {
        try await !scope.write(
            "DELETE FROM prompts WHERE org_id = \(org) AND id = \(id) RETURNING id") { try await $0.decode(Int64.self).all() }.isEmpty
    }

    /// Every version id of each prompt, oldest first (a version's position is its sequence number).
    public func versionIDs(promptIDs: [Int64]) async throws -> [Int64: [Int64]] {
        guard !promptIDs.isEmpty else { return [:] }
        let rows = try await scope.read(
            "SELECT prompt_id, id FROM prompt_versions WHERE org_id = \(org) AND prompt_id = ANY(\(promptIDs)::int8[]) ORDER BY id"
        ) { try await $0.decode((Int64, Int64).self).all() }
        var ids: [Int64: [Int64]] = [:]
        for (prompt, version) in rows { ids[prompt, default: []].append(version) }
        return ids
    }

    /// Every tag of a prompt with the version it points at.
    public func tags(promptID: Int64) async throws -> [(tag: PromptTagRow, versionID: Int64)] {
        try await scope.read(
            """
            SELECT id, name, description, prompt_version_id FROM prompt_version_tags
            WHERE org_id = \(org) AND prompt_id = \(promptID) ORDER BY id
            """
        ) { try await $0.decode((Int64, String, String?, Int64).self).all() }.map {
            (PromptTagRow(id: $0.0, name: $0.1, description: $0.2), $0.3)
        }
    }

    public func count() async throws -> Int {
        try await scope.read("SELECT count(*) FROM prompts WHERE org_id = \(org)", ProjectRepository.count)
    }
}
