import CinderModel
import Foundation
import PostgresNIO

/// What an annotation is about. Each has its own table, the entity it refers to by OpenTelemetry or
/// user-facing id, and its own uniqueness rule.
public enum AnnotationTarget: Sendable, CaseIterable {
    case span, document, trace, session

    var table: String {
        switch self {
        case .span: "span_annotations"
        case .document: "document_annotations"
        case .trace: "trace_annotations"
        case .session: "project_session_annotations"
        }
    }

    /// The annotation table's reference to its entity's row.
    var entityReference: String {
        switch self {
        case .span, .document: "span_rowid"
        case .trace: "trace_rowid"
        case .session: "project_session_id"
        }
    }

    var entityTable: String {
        switch self {
        case .span, .document: "spans"
        case .trace: "traces"
        case .session: "project_sessions"
        }
    }

    /// The entity's id as callers name it (`span_id`, `trace_id`, `session_id`): the API's field and
    /// the entity table's column alike.
    public var entityKey: String {
        switch self {
        case .span, .document: "span_id"
        case .trace: "trace_id"
        case .session: "session_id"
        }
    }

    var conflictColumns: String {
        self == .document ? "org_id, \(entityReference), document_position, name, identifier" : "org_id, \(entityReference), name, identifier"
    }

    /// The GraphQL type name in annotation global ids.
    public var nodeType: String {
        switch self {
        case .span: "SpanAnnotation"
        case .document: "DocumentAnnotation"
        case .trace: "TraceAnnotation"
        case .session: "ProjectSessionAnnotation"
        }
    }
}

public enum AnnotatorKind: String, Sendable, CaseIterable {
    case llm = "LLM", code = "CODE", human = "HUMAN"
}

/// One annotation to upsert, naming its entity by the caller's id.
public struct AnnotationInput: Sendable {
    public var entityID: String
    public var documentPosition: Int?
    public var name: String
    public var annotatorKind: AnnotatorKind
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var metadata: JSONValue
    public var identifier: String

    public init(
        entityID: String, documentPosition: Int? = nil, name: String, annotatorKind: AnnotatorKind, label: String?, score: Double?,
        explanation: String?, metadata: JSONValue, identifier: String
    ) {
        self.entityID = entityID
        self.documentPosition = documentPosition
        self.name = name
        self.annotatorKind = annotatorKind
        self.label = label
        self.score = score
        self.explanation = explanation
        self.metadata = metadata
        self.identifier = identifier
    }
}

public struct AnnotationRow: Sendable {
    public var id: Int64
    public var entityID: String
    /// The annotated span's, trace's or session's row.
    public var entityRowID: Int64 = 0
    public var documentPosition: Int?
    public var name: String
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var metadata: JSONValue
    public var annotatorKind: String
    public var identifier: String
    public var source: String
    public var userID: Int64?
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

public enum AnnotationWriteResult: Sendable {
    /// Row ids in the order of the inputs.
    case written([Int64])
    /// Entities that do not exist; nothing was written.
    case missingEntities([String])
    /// A document annotation past the end of its span's retrieved documents; nothing was written.
    case documentOutOfBounds(spanID: String, position: Int, documentCount: Int)
}

/// Narrowing filters for a bulk annotation delete; all combine with AND.
public struct AnnotationDeleteFilter: Sendable {
    public var name: String?
    public var identifier: String?
    public var annotatorKind: AnnotatorKind?
    public var createdFromMicros: Int64?
    public var createdBeforeMicros: Int64?

    public init(name: String?, identifier: String?, annotatorKind: AnnotatorKind?, createdFromMicros: Int64?, createdBeforeMicros: Int64?) {
        self.name = name
        self.identifier = identifier
        self.annotatorKind = annotatorKind
        self.createdFromMicros = createdFromMicros
        self.createdBeforeMicros = createdBeforeMicros
    }
}

extension AnnotationRepository {
    /// Upserts annotations on (entity, name, identifier[, document position]) in one transaction: either
    /// every input is written or, when an entity is missing, none.
    public func upsert(_ target: AnnotationTarget, _ inputs: [AnnotationInput]) async throws -> AnnotationWriteResult {
        guard !inputs.isEmpty else { return .written([]) }
        let org = org
        return try await scope.write { tx in
            let wanted = Array(Set(inputs.map(\.entityID)))
            // Retrieved documents bound document positions; other targets need only the row id.
            let documentCount =
                target == .document
                ? "CASE WHEN json_typeof(attributes #> '{retrieval,documents}') = 'array' THEN json_array_length(attributes #> '{retrieval,documents}') ELSE 0 END"
                : "0"
            var lookup = SQLBuilder()
            lookup.append(
                """
                SELECT \(target.entityKey), id, (\(documentCount))::int8 FROM \(target.entityTable)
                WHERE org_id = \(lookup.bind(org)) AND \(target.entityKey) = ANY(\(lookup.bind(wanted)))
                """)
            var entities: [String: (rowID: Int64, documents: Int64)] = [:]
            for try await (entityID, rowID, documents) in try await tx.query(lookup.query).decode(
                (String, Int64, Int64).self)
            {
                entities[entityID] = (rowID, documents)
            }
            let missing = wanted.filter { entities[$0] == nil }.sorted()
            if !missing.isEmpty { return .missingEntities(missing) }
            if target == .document {
                for input in inputs {
                    let count = entities[input.entityID]!.documents
                    if let position = input.documentPosition, position < 0 || Int64(position) >= count {
                        return .documentOutOfBounds(spanID: input.entityID, position: position, documentCount: Int(count))
                    }
                }
            }
            var ids: [Int64] = []
            ids.reserveCapacity(inputs.count)
            // Row by row: a request may name the same annotation twice, which one multi-row upsert refuses.
            for input in inputs {
                var q = SQLBuilder()
                let position = target == .document ? ", document_position" : ""
                q.append(
                    """
                    INSERT INTO \(target.table) (org_id, \(target.entityReference)\(position), name, label, score, explanation, metadata,
                        annotator_kind, identifier, source)
                    VALUES (\(q.bind(org)), \(q.bind(entities[input.entityID]!.rowID))
                    """)
                if target == .document { q.append(", \(q.bind(Int64(input.documentPosition ?? 0)))") }
                q.append(
                    """
                    , \(q.bind(SQLText.clean(input.name))), \(q.bind(input.label.map(SQLText.clean))), \(q.bind(input.score)),
                        \(q.bind(input.explanation.map(SQLText.clean))), \(q.bind(input.metadata.jsonString))::jsonb,
                        \(q.bind(input.annotatorKind.rawValue)), \(q.bind(SQLText.clean(input.identifier))), 'API')
                    ON CONFLICT (\(target.conflictColumns)) DO UPDATE SET
                        label = excluded.label, score = excluded.score, explanation = excluded.explanation,
                        metadata = excluded.metadata, annotator_kind = excluded.annotator_kind, source = excluded.source,
                        user_id = excluded.user_id, updated_at = now()
                    RETURNING id
                    """)
                for try await id in try await tx.query(q.query).decode(Int64.self) { ids.append(id) }
            }
            return .written(ids)
        }
    }

    /// Annotations of entities in a project, newest first, from `atOrBeforeID` on.
    public func list(
        _ target: AnnotationTarget, projectID: Int64, entityIDs: [String], identifiers: [String], includeNames: [String]?,
        excludeNames: [String], atOrBeforeID cursor: Int64?, limit: Int
    ) async throws -> [AnnotationRow] {
        var q = SQLBuilder()
        q.append("\(Self.annotationSelect(target)) WHERE a.org_id = \(q.bind(org)) AND e.project_id = \(q.bind(projectID))")
        if !entityIDs.isEmpty { q.append(" AND e.\(target.entityKey) = ANY(\(q.bind(entityIDs)))") }
        if !identifiers.isEmpty { q.append(" AND a.identifier = ANY(\(q.bind(identifiers)))") }
        if let includeNames { q.append(" AND a.name = ANY(\(q.bind(includeNames)))") }
        if !excludeNames.isEmpty { q.append(" AND NOT (a.name = ANY(\(q.bind(excludeNames))))") }
        if let cursor { q.append(" AND a.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY a.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.annotationRows)
    }

    /// The columns `annotationRows` decodes, from annotations `a` joined to their entities `e`.
    static func annotationSelect(_ target: AnnotationTarget) -> String {
        let position = target == .document ? "a.document_position" : "NULL::int4"
        return """
            SELECT a.id, e.\(target.entityKey), \(position), a.name, a.label, a.score, a.explanation, a.metadata::text,
                a.annotator_kind, a.identifier, a.source, a.user_id, \(micros("a.created_at")), \(micros("a.updated_at")),
                e.id
            FROM \(target.table) a JOIN \(target.entityTable) e ON e.org_id = a.org_id AND e.id = a.\(target.entityReference)
            """
    }

    @Sendable static func annotationRows(_ sequence: PostgresRowSequence) async throws -> [AnnotationRow] {
        var rows: [AnnotationRow] = []
        for try await c in sequence.decode(
            (Int64, String, Int32?, String, String?, Double?, String?, String, String, String, String, Int64?, Int64, Int64, Int64).self)
        {
            rows.append(
                AnnotationRow(
                    id: c.0, entityID: c.1, entityRowID: c.14, documentPosition: c.2.map(Int.init), name: c.3, label: c.4, score: c.5, explanation: c.6,
                    metadata: (try? JSONValue(parsing: c.7)) ?? [:], annotatorKind: c.8, identifier: c.9, source: c.10, userID: c.11,
                    createdMicros: c.12, updatedMicros: c.13))
        }
        return rows
    }

    /// All annotations of the given entities (by row id), oldest first.
    public func annotations(_ target: AnnotationTarget, entityRowIDs: [Int64]) async throws -> [AnnotationRow] {
        guard !entityRowIDs.isEmpty else { return [] }
        var q = SQLBuilder()
        q.append(
            """
            \(Self.annotationSelect(target))
            WHERE a.org_id = \(q.bind(org)) AND a.\(target.entityReference) = ANY(\(q.bind(entityRowIDs))::int8[])
            ORDER BY a.id
            """)
        return try await scope.read(q.query, Self.annotationRows)
    }

    /// One annotation by its own id.
    public func annotation(_ target: AnnotationTarget, id: Int64) async throws -> AnnotationRow? {
        var q = SQLBuilder()
        q.append("\(Self.annotationSelect(target)) WHERE a.org_id = \(q.bind(org)) AND a.id = \(q.bind(id))")
        return try await scope.read(q.query, Self.annotationRows).first
    }

    /// The distinct names of a project's annotations of one kind, notes excluded.
    public func names(_ target: AnnotationTarget, projectID: Int64) async throws -> [String] {
        var q = SQLBuilder()
        q.append(
            """
            SELECT DISTINCT a.name FROM \(target.table) a JOIN \(target.entityTable) e ON e.org_id = a.org_id AND e.id = a.\(target.entityReference)
            WHERE a.org_id = \(q.bind(org)) AND e.project_id = \(q.bind(projectID)) AND a.name <> 'note' ORDER BY a.name
            """)
        return try await scope.read(q.query) { try await $0.decode(String.self).all() }
    }

    /// Whether any of the entities exists in the project.
    public func anyEntityExists(_ target: AnnotationTarget, projectID: Int64, entityIDs: [String]) async throws -> Bool {
        var q = SQLBuilder()
        q.append(
            """
            SELECT EXISTS (SELECT 1 FROM \(target.entityTable) WHERE org_id = \(q.bind(org))
                AND project_id = \(q.bind(projectID)) AND \(target.entityKey) = ANY(\(q.bind(entityIDs))))
            """)
        return try await scope.read(q.query) { try await $0.decode(Bool.self).all().first ?? false }
    }

    /// Deletes a project's annotations that match every given filter; returns how many.
    @discardableResult
    public func delete(_ target: AnnotationTarget, projectID: Int64, filter: AnnotationDeleteFilter) async throws -> Int {
        var q = SQLBuilder()
        q.append(
            """
            DELETE FROM \(target.table) a USING \(target.entityTable) e
            WHERE e.org_id = a.org_id AND e.id = a.\(target.entityReference) AND a.org_id = \(q.bind(org)) AND e.project_id = \(q.bind(projectID))
            """)
        if let name = filter.name { q.append(" AND a.name = \(q.bind(name))") }
        if let identifier = filter.identifier { q.append(" AND a.identifier = \(q.bind(identifier))") }
        if let kind = filter.annotatorKind { q.append(" AND a.annotator_kind = \(q.bind(kind.rawValue))") }
        if let from = filter.createdFromMicros { q.append(" AND a.created_at >= \(timestamp(q.bind(from)))") }
        if let before = filter.createdBeforeMicros { q.append(" AND a.created_at < \(timestamp(q.bind(before)))") }
        q.append(" RETURNING a.id")
        return try await scope.write(q.query) { try await $0.decode(Int64.self).all().count }
    }
}

// MARK: Annotation configs

public struct AnnotationConfigRow: Sendable {
    public var id: Int64
    public var name: String
    /// The type and its settings, as the API describes them (without name and id).
    public var config: JSONValue
}

extension AnnotationRepository {
    static let configColumns = "c.id, c.name, c.config::text"

    @Sendable static func configRows(_ rows: PostgresRowSequence) async throws -> [AnnotationConfigRow] {
        var out: [AnnotationConfigRow] = []
        for try await (id, name, config) in rows.decode((Int64, String, String).self) {
            out.append(AnnotationConfigRow(id: id, name: name, config: (try? JSONValue(parsing: config)) ?? [:]))
        }
        return out
    }

    /// Configs newest first; only those assigned to `projectID` when given.
    public func configs(projectID: Int64? = nil, atOrBeforeID cursor: Int64?, limit: Int) async throws -> [AnnotationConfigRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.configColumns) FROM annotation_configs c")
        if let projectID {
            q.append(
                " JOIN project_annotation_configs p ON p.org_id = c.org_id AND p.annotation_config_id = c.id AND p.project_id = \(q.bind(projectID))")
        }
        q.append(" WHERE c.org_id = \(q.bind(org))")
        if let cursor { q.append(" AND c.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY c.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.configRows)
    }

    public func config(id: Int64?, name: String?) async throws -> AnnotationConfigRow? {
        try await scope.read(
            """
            SELECT \(unescaped: Self.configColumns) FROM annotation_configs c
            WHERE c.org_id = \(org) AND (c.id = \(id ?? -1) OR c.name = \(name ?? ""))
            ORDER BY c.id = \(id ?? -1) DESC LIMIT 1
            """, Self.configRows
        ).first
    }

    public func configs(ids: [Int64]) async throws -> [AnnotationConfigRow] {
        try await scope.read(
            "SELECT \(unescaped: Self.configColumns) FROM annotation_configs c WHERE c.org_id = \(org) AND c.id = ANY(\(ids)) ORDER BY c.id DESC",
            Self.configRows)
    }

    /// Returns nil when the name is taken.
    public func createConfig(name: String, config: JSONValue) async throws -> AnnotationConfigRow? {
        try await scope.write(
            """
            INSERT INTO annotation_configs AS c (org_id, name, config) VALUES (\(org), \(SQLText.clean(name)), \(config.jsonString)::jsonb)
            ON CONFLICT (org_id, name) DO NOTHING
            RETURNING \(unescaped: Self.configColumns)
            """, Self.configRows
        ).first
    }

    public func updateConfig(id: Int64, name: String, config: JSONValue) async throws -> RenameResult<AnnotationConfigRow> {
        try await renaming {
            try await scope.write(
                """
                UPDATE annotation_configs AS c SET name = \(SQLText.clean(name)), config = \(config.jsonString)::jsonb
                WHERE c.org_id = \(org) AND c.id = \(id)
                RETURNING \(unescaped: Self.configColumns)
                """, Self.configRows
            ).first
        }
    }

    public func deleteConfig(id: Int64) async throws -> Bool {
        try await !scope.write("DELETE FROM annotation_configs WHERE org_id = \(org) AND id = \(id) RETURNING id") {
            try await $0.decode(Int64.self).all()
        }.isEmpty
    }

    /// Assigns a config to a project when both are this organization's; false when either is not.
    @discardableResult
    public func assignConfig(_ configID: Int64, toProject projectID: Int64) async throws -> Bool {
        try await !scope.write(
            """
            INSERT INTO project_annotation_configs (org_id, project_id, annotation_config_id)
            SELECT \(org), p.id, c.id FROM projects p, annotation_configs c
            WHERE p.org_id = \(org) AND p.id = \(projectID) AND c.org_id = \(org) AND c.id = \(configID)
            ON CONFLICT DO NOTHING
            RETURNING 1
            """
        ) { try await $0.decode(Int.self).all() }.isEmpty
    }

    public func unassignConfig(_ configID: Int64, fromProject projectID: Int64) async throws {
        try await scope.write(
            """
            DELETE FROM project_annotation_configs
            WHERE org_id = \(org) AND project_id = \(projectID) AND annotation_config_id = \(configID)
            """)
    }

    /// Makes `configIDs` (those of this organization) exactly the project's assigned set.
    public func setProjectConfigs(projectID: Int64, configIDs: [Int64]) async throws {
        let org = org
        try await scope.write { tx in
            try await tx.query(
                """
                DELETE FROM project_annotation_configs
                WHERE org_id = \(org) AND project_id = \(projectID) AND NOT (annotation_config_id = ANY(\(configIDs)))
                """)
            try await tx.query(
                """
                INSERT INTO project_annotation_configs (org_id, project_id, annotation_config_id)
                SELECT \(org), p.id, c.id FROM projects p JOIN annotation_configs c ON c.org_id = p.org_id
                WHERE p.org_id = \(org) AND p.id = \(projectID) AND c.id = ANY(\(configIDs)::int8[])
                ON CONFLICT DO NOTHING
                """)
        }
    }
}

/// What a project's annotations of one name say in aggregate (Phoenix's `AnnotationSummary`).
public struct AnnotationSummary: Sendable {
    public var name: String
    public var count: Int
    public var meanScore: Double?
    public var scoreCount: Int
    /// Annotations per label, most frequent first.
    public var labelCounts: [(label: String, count: Int)]
    public var labelCount: Int { labelCounts.reduce(0) { $0 + $1.count } }
}

extension AnnotationRepository {
    /// The summary of the annotations named `name` on a project's spans or traces starting in
    /// `[startMicros, endMicros)`; for spans, only those matching `condition`. Nil when there are none.
    public func summary(
        _ target: AnnotationTarget, projectID: Int64, name: String, startMicros: Int64?, endMicros: Int64?,
        condition: SpanFilterCondition? = nil
    ) async throws -> AnnotationSummary? {
        precondition(target == .span || target == .trace, "summaries are of span and trace annotations")
        var q = SQLBuilder()
        // The entity is `s` for spans (with its trace `t`, which conditions may read) and `t` for traces.
        let entity = target == .span ? "s" : "t"
        q.append(
            """
            SELECT a.label, count(*), sum(a.score)::float8, count(a.score)
            FROM \(target.table) a JOIN \(target.entityTable) \(entity) ON \(entity).org_id = a.org_id AND \(entity).id = a.\(target.entityReference)
            """)
        if target == .span, condition != nil { q.append(" JOIN traces t ON t.org_id = s.org_id AND t.id = s.trace_rowid") }
        q.append(" WHERE a.org_id = \(q.bind(org)) AND \(entity).project_id = \(q.bind(projectID)) AND a.name = \(q.bind(name))")
        if let startMicros { q.append(" AND \(entity).start_time >= \(timestamp(q.bind(startMicros)))") }
        if let endMicros { q.append(" AND \(entity).start_time < \(timestamp(q.bind(endMicros)))") }
        if let condition {
            q.append(" AND ")
            try condition.appendSQL(&q)
        }
        q.append(" GROUP BY a.label")
        let groups = try await scope.read(q.query) { try await $0.decode((String?, Int64, Double?, Int64).self).all() }
        guard !groups.isEmpty else { return nil }
        let scoreCount = groups.reduce(0) { $0 + Int($1.3) }
        let scoreSum = groups.reduce(0.0) { $0 + ($1.2 ?? 0) }
        return AnnotationSummary(
            name: name, count: groups.reduce(0) { $0 + Int($1.1) },
            meanScore: scoreCount > 0 ? scoreSum / Double(scoreCount) : nil, scoreCount: scoreCount,
            labelCounts: groups.compactMap { group in group.0.map { ($0, Int(group.1)) } }
                .sorted { $0.count != $1.count ? $0.count > $1.count : $0.label < $1.label })
    }
}
