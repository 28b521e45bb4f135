import Logging
import PostgresNIO

/// The two database roles of the tenancy design: an owner that runs the migrations, and the service
/// role every Cinder process connects as, which owns nothing and cannot bypass row-level security.
public enum DatabaseRoles {
    /// What the role a connection logged in as could do beyond reading and writing rows.
    public struct Privileges: Sendable, Equatable {
        public var role: String
        public var superuser: Bool
        public var bypassesRowSecurity: Bool
        /// Tables of Cinder's schema the role owns (an owner could lift row-level security).
        public var ownedTables: Int

        /// Row-level security applies to the role whatever it runs (owners are held by FORCE).
        public var isHeldByRowSecurity: Bool { !superuser && !bypassesRowSecurity }
    }

    public static func privileges(_ connection: PostgresConnection, logger: Logger) async throws -> Privileges {
        let rows = try await connection.query(
            """
            SELECT current_user::text, r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND c.relowner = r.oid)
            FROM pg_roles r WHERE r.rolname = current_user
            """, logger: logger
        ).decode((String, Bool, Bool, Int64).self).all()
        guard let row = rows.first else { throw CinderStorageError.invalidConfiguration("the database role could not be read") }
        return Privileges(role: row.0, superuser: row.1, bypassesRowSecurity: row.2, ownedTables: Int(row.3))
    }

    /// Creates a login role for the services if it does not exist (the private cluster of `cinder
    /// serve`, where Cinder is the operator). The role gets no attribute beyond LOGIN.
    public static func createServiceRole(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        // Roles are cluster-wide: processes starting together would race to create the same one, and
        // PostgreSQL reports the loser as a unique violation on its catalog rather than waiting. One
        // advisory lock (in whatever database the connection is in) makes the check and the creation
        // one step; the error codes still cover a creator connected to another database.
        try await connection.query("BEGIN", logger: logger)
        do {
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.roleCreationLock))", logger: logger)
            let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(name)", logger: logger).decode(Int.self).all()
            if exists.isEmpty {
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "CREATE ROLE \(SQLStatements.quotedIdentifier(name)) LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
                    logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch let error as PSQLError where ["42710", "23505"].contains(error.serverInfo?[.sqlState]) {
            // Another process created it in the meantime.
            try await connection.query("ROLLBACK", logger: logger)
        } catch {
            try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// An arbitrary constant naming the lock taken while a role is created.
    static let roleCreationLock: Int64 = 0x63696e6465725f72
}
