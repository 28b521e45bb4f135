import CinderModel
import Logging
import PostgresNIO

public struct OrganizationRow: Sendable, Hashable {
    public var id: OrganizationID
    public var name: String
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

/// One organization a person belongs to, with their role there.
public struct Membership: Sendable, Hashable {
    public var organization: OrganizationRow
    public var role: OrganizationRole
}

// MARK: Organizations

extension InstallationScope {
    static let organizationColumns = "o.id, o.name, \(micros("o.created_at")), \(micros("o.updated_at"))"

    @Sendable static func organizationRows(_ rows: PostgresRowSequence) async throws -> [OrganizationRow] {
        try await rows.decode((Int64, String, Int64, Int64).self).all().map {
            OrganizationRow(id: OrganizationID($0.0), name: $0.1, createdMicros: $0.2, updatedMicros: $0.3)
        }
    }

    public func organizations() async throws -> [OrganizationRow] {
        try await read { try await Self.organizationRows($0.query("SELECT \(unescaped: Self.organizationColumns) FROM organizations o ORDER BY o.id")) }
    }

    public func organization(_ id: OrganizationID) async throws -> OrganizationRow? {
        try await read {
            try await Self.organizationRows(
                $0.query("SELECT \(unescaped: Self.organizationColumns) FROM organizations o WHERE o.id = \(id.rawValue)"))
        }.first
    }

    public func organization(named name: String) async throws -> OrganizationRow? {
        try await read {
            try await Self.organizationRows($0.query("SELECT \(unescaped: Self.organizationColumns) FROM organizations o WHERE o.name = \(name)"))
        }.first
    }

    /// Creates an organization with its `default` project; nil when the name is taken.
    public func createOrganization(named name: String) async throws -> OrganizationRow? {
        try await write { tx in
            guard
                let row = try await Self.organizationRows(
                    tx.query(
                        """
                        INSERT INTO organizations AS o (name) VALUES (\(SQLText.clean(name))) ON CONFLICT (name) DO NOTHING
                        RETURNING \(unescaped: Self.organizationColumns)
                        """)
                ).first
            else { return nil }
            // Ingestion creates projects on first use; Phoenix's default project exists from the start.
            try await TransactionSettings.apply(TransactionSettings(organization: row.id), on: tx.connection, logger: logger)
            try await tx.query("INSERT INTO projects (org_id, name) VALUES (\(row.id.rawValue), \(ProjectDefaults.name))")
            return row
        }
    }

    public func renameOrganization(_ id: OrganizationID, to name: String) async throws -> RenameResult<OrganizationRow> {
        do {
            let row = try await write {
                try await Self.organizationRows(
                    $0.query(
                        """
                        UPDATE organizations o SET name = \(SQLText.clean(name)), updated_at = now() WHERE o.id = \(id.rawValue)
                        RETURNING \(unescaped: Self.organizationColumns)
                        """))
            }.first
            return row.map { .updated($0) } ?? .notFound
        } catch let error as CinderError where error.code == .conflict {
            return .nameTaken
        }
    }

    /// Deletes an organization with all its data and credentials, and the accounts left in no
    /// organization (installation administrators aside). Spans have no foreign key to cascade
    /// through, so they go first, in the organization's own scope.
    public func deleteOrganization(_ id: OrganizationID) async throws -> Bool {
        try await write { tx in
            let found = try await tx.query("SELECT id FROM organizations WHERE id = \(id.rawValue) FOR UPDATE").decode(Int64.self).all()
            guard !found.isEmpty else { return false }
            try await TransactionSettings.apply(TransactionSettings(organization: id), on: tx.connection, logger: logger)
            let people = try await tx.query("SELECT user_id FROM memberships WHERE org_id = \(id.rawValue)").decode(Int64.self).all()
            try await tx.query("DELETE FROM spans WHERE org_id = \(id.rawValue)")
            try await tx.query("DELETE FROM organizations WHERE id = \(id.rawValue)")
            for person in people { try await Self.deleteIfOrphaned(UserID(person), in: tx, logger: logger) }
            return true
        }
    }

    /// Deletes an account that belongs to no organization and administers nothing: nobody could
    /// manage it any more, and nobody should be able to adopt it.
    static func deleteIfOrphaned(_ user: UserID, in tx: TenantTransaction, logger: Logger) async throws {
        // The person's own memberships are what their setting admits, in every organization.
        try await TransactionSettings.apply(TransactionSettings(organization: nil, user: user), on: tx.connection, logger: logger)
        try await tx.query(
            """
            DELETE FROM users u WHERE u.id = \(user.rawValue) AND NOT u.installation_admin
            AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id)
            """)
    }

    /// Deletes the account if it is left in no organization (after a person was removed from one).
    public func deleteAccountIfOrphaned(_ user: UserID) async throws {
        let logger = logger
        try await write { tx in try await Self.deleteIfOrphaned(user, in: tx, logger: logger) }
    }
}

// MARK: Accounts

extension InstallationScope {
    /// An account by email (case-insensitive), for sign-in and invitations.
    public func account(email: String) async throws -> UserRow? {
        try await read(onPrimary: true) {
            try await UserRow.rows($0.query("SELECT \(unescaped: UserRow.columns) FROM users u WHERE lower(u.email) = lower(\(email))"))
        }.first
    }

    public func account(_ id: UserID) async throws -> UserRow? {
        try await read(onPrimary: true) {
            try await UserRow.rows($0.query("SELECT \(unescaped: UserRow.columns) FROM users u WHERE u.id = \(id.rawValue)"))
        }.first
    }

    /// Creates an account; nil when the email is taken.
    public func createAccount(
        email: String, username: String, passwordHash: String?, passwordNeedsReset: Bool, installationAdmin: Bool
    ) async throws -> UserRow? {
        do {
            return try await write {
                try await UserRow.rows(
                    $0.query(
                        """
                        INSERT INTO users AS u (email, username, password_hash, password_needs_reset, installation_admin)
                        VALUES (\(SQLText.clean(email)), \(SQLText.clean(username)), \(passwordHash), \(passwordNeedsReset), \(installationAdmin))
                        RETURNING \(unescaped: UserRow.columns)
                        """))
            }.first
        } catch let error as CinderError where error.code == .conflict {
            return nil
        }
    }

    /// Changes an account's username and/or password (nil: unchanged).
    public func updateAccount(
        _ id: UserID, username: String? = nil, passwordHash: String? = nil, passwordNeedsReset: Bool? = nil
    ) async throws -> UserRow? {
        var q = SQLBuilder()
        q.append("UPDATE users u SET updated_at = now()")
        if let username { q.append(", username = \(q.bind(SQLText.clean(username)))") }
        if let passwordHash { q.append(", password_hash = \(q.bind(passwordHash))") }
        if let passwordNeedsReset { q.append(", password_needs_reset = \(q.bind(passwordNeedsReset))") }
        q.append(" WHERE u.id = \(q.bind(id.rawValue)) RETURNING \(UserRow.columns)")
        let query = q.query
        return try await write { try await UserRow.rows($0.query(query)) }.first
    }

    /// The organizations a person belongs to (their own memberships are visible to them).
    public func memberships(of user: UserID) async throws -> [Membership] {
        try await read(user: user, onPrimary: true) { tx in
            var out: [Membership] = []
            for try await c in try await tx.query(
                """
                SELECT \(unescaped: Self.organizationColumns), m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
                WHERE m.user_id = \(user.rawValue) ORDER BY o.id
                """
            ).decode((Int64, String, Int64, Int64, String).self) {
                out.append(
                    Membership(
                        organization: OrganizationRow(id: OrganizationID(c.0), name: c.1, createdMicros: c.2, updatedMicros: c.3),
                        role: OrganizationRole(rawValue: c.4) ?? .viewer))
            }
            return out
        }
    }

    /// An organization's people, for installation-level work on them (an installation administrator
    /// managing an organization they are not signed in to).
    public func members(of organization: OrganizationID) -> MemberRepository {
        tenant(organization).members
    }

    /// Adds a person to an organization with a role (or changes their role there): installation-level
    /// work, such as an organization's first admin.
    public func addMember(_ user: UserID, to organization: OrganizationID, role: OrganizationRole) async throws {
        try await tenant(organization).members.setRole(user, role)
    }

    /// Whether the installation has any account yet (the default admin is created once).
    public func hasAccounts() async throws -> Bool {
        try await read(onPrimary: true) { try await $0.query("SELECT EXISTS (SELECT 1 FROM users)").decode(Bool.self).all().first ?? false }
    }
}
