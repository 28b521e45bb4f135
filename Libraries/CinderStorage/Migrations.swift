import Logging
import PostgresNIO

/// Versioned schema changes, applied in order at start-up. Each is a plain `.sql` file in
/// `Migrations/`, compiled into the binary; a migration is never edited once released, changes come as
/// a new file at the end (and a line in `all`).
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        /// The file's first line, a `-- name` comment.
        public let name: String
        public let sql: String

        init(_ version: Int, _ bytes: [UInt8]) {
            self.version = version
            self.sql = String(decoding: bytes, as: UTF8.self)
            let firstLine = sql.prefix { $0 != "\n" }
            self.name = firstLine.hasPrefix("--") ? firstLine.dropFirst(2).trimmingCharacters(in: .whitespaces) : "migration \(version)"
        }

        /// The extended protocol takes one statement at a time.
        var statements: [String] { SQLStatements.split(sql) }
    }

    /// Arbitrary constant for `pg_advisory_lock`, so that concurrently starting services migrate once.
    static let advisoryLockKey: Int64 = 0x63_696E_6465_72

    public static let all: [Migration] = [
        Migration(1, PackageResources._001_organizations_projects_sessions_traces_spans_sql),
        Migration(2, PackageResources._002_annotations_notes_annotation_configs_sql),
        Migration(3, PackageResources._003_datasets_versions_examples_splits_labels_sql),
        Migration(4, PackageResources._004_experiments_runs_evaluations_tags_sql),
        Migration(5, PackageResources._005_prompts_versions_tags_sql),
        Migration(6, PackageResources._006_tenant_isolation_sql),
        Migration(7, PackageResources._007_users_memberships_credentials_quotas_sql),
        Migration(8, PackageResources._008_ingestion_receivers_sql),
        Migration(9, PackageResources._009_span_statistics_indexes_sql),
        Migration(10, PackageResources._010_secrets_experiment_jobs_leases_sql),
        Migration(11, PackageResources._011_custom_providers_job_credentials_sql),
        Migration(12, PackageResources._012_generative_models_sql),
        Migration(13, PackageResources._013_evaluators_sql),
        Migration(14, PackageResources._014_online_evaluation_sql),
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Applies pending migrations under an advisory lock, each in its own transaction, on a connection
    /// of the role that owns the schema. Refuses a schema newer than this build knows, so an old binary
    /// cannot write into a new schema. When the services connect as another role (`serviceRole`), that
    /// role is granted what it needs to read and write rows, and nothing more: it owns nothing, so it
    /// can neither change the schema nor lift row-level security.
    public static func migrate(_ connection: PostgresConnection, serviceRole: String? = nil, logger: Logger) async throws {
        _ = try await connection.query("SELECT pg_advisory_lock(\(advisoryLockKey))", logger: logger).collect()
        do {
            try await applyPending(connection, logger: logger)
            if let serviceRole { try await grant(to: serviceRole, on: connection, logger: logger) }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(advisoryLockKey))", logger: logger).collect()
            throw error
        }
        _ = try await connection.query("SELECT pg_advisory_unlock(\(advisoryLockKey))", logger: logger).collect()
    }

    /// The schema version a database is at (0 before the first migration), read by services that do not
    /// migrate themselves.
    public static func currentVersion(_ connection: PostgresConnection, logger: Logger) async throws -> Int {
        let exists = try await connection.query(
            "SELECT to_regclass('cinder_schema_migrations') IS NOT NULL", logger: logger
        ).decode(Bool.self).all().first ?? false
        guard exists else { return 0 }
        let version = try await connection.query(
            "SELECT coalesce(max(version), 0)::int8 FROM cinder_schema_migrations", logger: logger
        ).decode(Int64.self).all().first ?? 0
        return Int(version)
    }

    private static func applyPending(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS cinder_schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        let current = try await currentVersion(connection, logger: logger)
        if current > latestVersion {
            throw CinderStorageError(
                code: .schemaTooNew,
                message: "database schema is at version \(current) but this build knows only up to \(latestVersion): upgrade Cinder")
        }
        for migration in all where migration.version > current {
            logger.info(
                "applying migration",
                metadata: ["cinder.migration.version": "\(migration.version)", "cinder.migration.name": "\(migration.name)"])
            do {
                try await connection.withTransaction(logger: logger) { tx in
                    for statement in migration.statements {
                        try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await tx.query(
                        "INSERT INTO cinder_schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                        logger: logger)
                }
            } catch {
                throw CinderStorageError(
                    code: .migrationFailed,
                    message: "migration \(migration.version) (\(migration.name)) failed: \(String(reflecting: error))")
            }
        }
    }

    /// Row access for the service role on every table and sequence of the schema (repeated on each
    /// start, so tables of new migrations are covered); the migrations table is read-only to it.
    static func grant(to role: String, on connection: PostgresConnection, logger: Logger) async throws {
        let quoted = SQLStatements.quotedIdentifier(role)
        let schemaName = try await connection.query("SELECT current_schema()::text", logger: logger).decode(String.self).all().first
        let schema = SQLStatements.quotedIdentifier(schemaName ?? "public")
        for statement in [
            "GRANT USAGE ON SCHEMA \(schema) TO \(quoted)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(schema) TO \(quoted)",
            "REVOKE INSERT, UPDATE, DELETE ON cinder_schema_migrations FROM \(quoted)",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \(schema) TO \(quoted)",
        ] {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }
}

/// Splits a script of SQL statements on the semicolons that end them: not those inside quotes,
/// dollar-quoted bodies (`$$ … $$`, `$tag$ … $tag$`) or comments.
enum SQLStatements {
    static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func split(_ script: String) -> [String] {
        let bytes = Array(script.utf8)
        var statements: [String] = []
        var start = 0
        var i = 0
        func at(_ offset: Int) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }
        func finish(_ end: Int) {
            let text = String(decoding: bytes[start..<end], as: UTF8.self)
            if !isBlank(text) { statements.append(text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                // Quotes end at the next unpaired quote; a doubled quote is one quote character.
                let quote = bytes[i]
                i += 1
                while i < bytes.count {
                    if bytes[i] == quote {
                        if at(1) == quote { i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
            case UInt8(ascii: "-") where at(1) == UInt8(ascii: "-"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where at(1) == UInt8(ascii: "*"):
                // PostgreSQL's block comments nest.
                var depth = 0
                repeat {
                    if bytes[i] == UInt8(ascii: "/"), at(1) == UInt8(ascii: "*") { depth += 1; i += 2 }
                    else if bytes[i] == UInt8(ascii: "*"), at(1) == UInt8(ascii: "/") { depth -= 1; i += 2 }
                    else { i += 1 }
                } while depth > 0 && i < bytes.count
            case UInt8(ascii: "$"):
                guard let tagEnd = dollarTagEnd(bytes, from: i) else { i += 1; continue }
                let tag = bytes[i...tagEnd]
                i = tagEnd + 1
                while i < bytes.count, !bytes[i...].starts(with: tag) { i += 1 }
                i += tag.count
            case UInt8(ascii: ";"):
                finish(i)
                i += 1
                start = i
            default:
                i += 1
            }
        }
        if start < bytes.count { finish(bytes.count) }
        return statements
    }

    /// The index of the `$` that closes a dollar-quote tag opening at `start` (`$$` or `$name$`), or nil
    /// when the `$` is not a tag (a positional parameter such as `$1`).
    private static func dollarTagEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var j = start + 1
        while j < bytes.count {
            let c = bytes[j]
            if c == UInt8(ascii: "$") { return j }
            let isLetter = (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") || c == UInt8(ascii: "_") || c >= 0x80
            let isDigit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
            guard isLetter || (isDigit && j > start + 1) else { return nil }
            j += 1
        }
        return nil
    }

    /// Whitespace and comments only.
    private static func isBlank(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.hasPrefix("--")
        }
    }
}
