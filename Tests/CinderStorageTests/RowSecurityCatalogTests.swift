import CinderModel
@testable import CinderStorage
import Foundation
import CinderTestSupport
import PostgresNIO
import Testing

/// The second wall of tenancy, read from PostgreSQL's catalog: whatever a statement forgets, the
/// database itself admits only the organization the transaction set.
@Suite struct RowSecurityCatalogTests {
    static let installationTables: Set<String> = [
        "organizations", "users", "cinder_schema_migrations", "ingestion_receivers", "job_leases", "online_evaluation_queue",
        "experiment_evaluation_queue",
    ]

    @Test func everyTenantTableHasForcedRowSecurityAndOrgFirstUniqueness() async throws {
        let db = try await TestDatabase.create()
        let tables = try await TestDatabase.withConnection(db.ownerURL) { connection in
            try await connection.query(
                """
                SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                    EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped),
                    (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation' AND p.polcmd = '*'
                        AND pg_get_expr(p.polqual, p.polrelid) = '(org_id = cinder_org())'
                        AND pg_get_expr(p.polwithcheck, p.polrelid) = '(org_id = cinder_org())')
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' ORDER BY 1
                """, logger: TestDatabase.logger
            ).decode((String, Bool, Bool, Bool, Int64).self).collected()
        }
        #expect(tables.count > 25)
        for (table, enabled, forced, hasOrg, policies) in tables where !Self.installationTables.contains(table) {
            #expect(hasOrg, "\(table) has no org_id")
            #expect(enabled && forced, "\(table): row-level security enabled \(enabled), forced \(forced)")
            #expect(policies == 1, "\(table) has no tenant_isolation policy on org_id for every command")
        }
        for table in Self.installationTables {
            #expect(tables.contains { $0.0 == table && !$0.3 }, "\(table) is an installation table without org_id")
        }

        // Every uniqueness rule of a tenant table (identity keys aside) begins with org_id.
        let rules = try await TestDatabase.withConnection(db.ownerURL) { connection in
            try await connection.query(
                """
                SELECT t.relname::text, i.relname::text, a.attname::text
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
                WHERE x.indisunique AND n.nspname = 'public'
                AND NOT (x.indisprimary AND x.indnatts = 1 AND a.attname = 'id')
                """, logger: TestDatabase.logger
            ).decode((String, String, String?).self).collected()
        }
        for (table, index, first) in rules where !Self.installationTables.contains(table) {
            #expect(first == "org_id", "\(table).\(index) starts with \(first ?? "an expression"), not org_id")
        }
    }

    /// Beyond the organization's own rows, the only rows a policy admits are a person's own memberships,
    /// and only to read them.
    @Test func theOnlyOtherPolicyLetsAPersonReadTheirMemberships() async throws {
        let db = try await TestDatabase.create()
        let others = try await TestDatabase.withConnection(db.ownerURL) { connection in
            try await connection.query(
                """
                SELECT c.relname::text, p.polname::text, p.polcmd::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                WHERE p.polname <> 'tenant_isolation'
                """, logger: TestDatabase.logger
            ).decode((String, String, String).self).collected()
        }
        #expect(others.count == 1)
        #expect(others.first?.0 == "memberships" && others.first?.2 == "r")
    }

    @Test func theServiceRoleIsHeldByRowSecurity() async throws {
        let db = try await TestDatabase.create()
        let privileges = try await TestDatabase.withConnection(db.url) { try await DatabaseRoles.privileges($0, logger: TestDatabase.logger) }
        #expect(privileges.role == TestDatabase.serviceRole)
        #expect(!privileges.superuser && !privileges.bypassesRowSecurity)
        #expect(privileges.ownedTables == 0)
        #expect(privileges.isHeldByRowSecurity)
        // It can neither lift row security nor change the schema.
        await #expect(throws: PSQLError.self) {
            try await TestDatabase.withConnection(db.url) {
                try await $0.query("ALTER TABLE spans DISABLE ROW LEVEL SECURITY", logger: TestDatabase.logger)
            }
        }
        await #expect(throws: PSQLError.self) {
            try await TestDatabase.withConnection(db.url) {
                try await $0.query("DELETE FROM cinder_schema_migrations", logger: TestDatabase.logger)
            }
        }
    }

    @Test func withoutAnOrganizationEveryTableReadsEmptyAndRefusesWrites() async throws {
        let db = try await TestDatabase.create()
        try await db.withDatabase { database in
            _ = try await SpanIngestStore(database: database, logger: TestDatabase.logger).insert(
                [ProjectSpans(organizationID: .default, projectName: "p", spans: [Spans.make()])])
        }
        #expect(try await db.scalar("SELECT count(*) FROM spans") == 1)
        try await TestDatabase.withConnection(db.url) { connection in
            let logger = TestDatabase.logger
            for table in ["projects", "traces", "spans"] {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: logger)
                    .decode(Int64.self).collected()
                #expect(rows == [0], "\(table) without an organization")
            }
            // An earlier transaction's organization ends with it.
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT set_config('cinder.org_id', '1', true)", logger: logger)
            #expect(try await connection.query("SELECT count(*) FROM spans", logger: logger).decode(Int64.self).collected() == [1])
            try await connection.query("COMMIT", logger: logger)
            #expect(try await connection.query("SELECT count(*) FROM spans", logger: logger).decode(Int64.self).collected() == [0])
            // Another organization's setting neither sees nor writes the first's rows.
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT set_config('cinder.org_id', '2', true)", logger: logger)
            #expect(try await connection.query("SELECT count(*) FROM spans", logger: logger).decode(Int64.self).collected() == [0])
            #expect(try await connection.query("UPDATE projects SET name = 'x' RETURNING id", logger: logger).decode(Int64.self).collected().isEmpty)
            try await connection.query("ROLLBACK", logger: logger)
            await #expect(throws: PSQLError.self) {
                try await connection.query("INSERT INTO projects (org_id, name) VALUES (1, 'sneaky')", logger: logger)
            }
        }
        #expect(try await db.scalar("SELECT count(*) FROM projects WHERE name IN ('x', 'sneaky')") == 0)
    }
}

@Suite struct MigrationScriptTests {
    /// Cinder's pools start every connection with its planner settings (see `DatabaseURL.sessionSettings`).
    @Test func pooledConnectionsStartWithCindersPlannerSettings() async throws {
        let db = try await TestDatabase.create()
        let cost = try await db.withClient { client in
            try await client.withConnection { connection in
                var value = ""
                for try await v in try await connection.query("SHOW random_page_cost", logger: TestDatabase.logger).decode(String.self) { value = v }
                return value
            }
        }
        #expect(cost == "1.1")
    }

    @Test func statementsSplitOutsideQuotesBodiesAndComments() {
        let script = """
            -- a name; with a semicolon
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
            DO $body$ BEGIN PERFORM 'a;b'; END $body$;
            /* a comment; /* nested; */ still */ SELECT "odd;name", 'it''s; fine', $1;
            SELECT 2
            """
        let statements = SQLStatements.split(script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("$$ SELECT 1; $$"))
        #expect(statements[1] == "DO $body$ BEGIN PERFORM 'a;b'; END $body$")
        #expect(statements[2].hasSuffix("$1"))
        #expect(statements[3] == "SELECT 2")
    }

    @Test func everyMigrationFileIsListedInOrder() throws {
        #expect(Migrations.all.map(\.version) == Array(1...Migrations.all.count))
        #expect(Migrations.all.allSatisfy { !$0.name.isEmpty && !$0.name.hasPrefix("migration ") })
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Libraries/CinderStorage/Migrations").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == Migrations.all.count)
        for (file, migration) in zip(files, Migrations.all) {
            #expect(file.hasPrefix(String(format: "%04d_", migration.version)))
        }
    }
}
