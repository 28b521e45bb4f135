import CinderModel
import PostgresNIO

/// An account of the installation.
public struct UserRow: Sendable, Hashable {
    public var id: UserID
    public var email: String
    public var username: String
    /// The scrypt record; nil when the account cannot sign in with a password.
    public var passwordHash: String?
    public var passwordNeedsReset: Bool
    public var installationAdmin: Bool
    public var profilePictureURL: String?
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

/// A person's place in the scope's organization.
public struct MemberRow: Sendable, Hashable {
    public var user: UserRow
    public var role: OrganizationRole
}

/// An API key as listed (its token is never stored).
public struct APIKeyRow: Sendable, Hashable {
    public var id: Int64
    /// nil for a system key.
    public var userID: UserID?
    public var name: String
    public var description: String?
    public var createdMicros: Int64
    public var expiresMicros: Int64?
    public var lastUsedMicros: Int64?
}

/// What verifying a credential needs from its row: whether it still exists (deletion revokes), the
/// hash it must match, and the role it carries now.
public struct CredentialRecord: Sendable, Hashable {
    public var userID: UserID?
    public var tokenHash: [UInt8]?
    public var expiresMicros: Int64?
    /// The member's current role, or nil when the person is no longer a member. A system key acts as
    /// a member: like Phoenix's, it ingests and writes data but administers nothing.
    public var role: OrganizationRole?
    public var installationAdmin: Bool
}

/// The three kinds of credential rows.
public enum CredentialKind: String, Sendable, CaseIterable {
    case apiKey = "ApiKey"
    case accessToken = "AccessToken"
    case refreshToken = "RefreshToken"

    var table: String {
        switch self {
        case .apiKey: "api_keys"
        case .accessToken: "access_tokens"
        case .refreshToken: "refresh_tokens"
        }
    }
}

/// A browser session's two rows.
public struct SessionTokens: Sendable, Hashable {
    public var accessID: Int64
    public var refreshID: Int64
}

extension UserRow {
    static let columns = """
        u.id, u.email, u.username, u.password_hash, u.password_needs_reset, u.installation_admin, u.profile_picture_url,
        \(micros("u.created_at")), \(micros("u.updated_at"))
        """

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [UserRow] {
        try await rows.decode((Int64, String, String, String?, Bool, Bool, String?, Int64, Int64).self).all().map {
            UserRow(
                id: UserID($0.0), email: $0.1, username: $0.2, passwordHash: $0.3, passwordNeedsReset: $0.4, installationAdmin: $0.5,
                profilePictureURL: $0.6, createdMicros: $0.7, updatedMicros: $0.8)
        }
    }
}

extension MemberRepository {
    @Sendable static func memberRows(_ rows: PostgresRowSequence) async throws -> [MemberRow] {
        var out: [MemberRow] = []
        for try await c in rows.decode((Int64, String, String, String?, Bool, Bool, String?, Int64, Int64, String).self) {
            let user = UserRow(
                id: UserID(c.0), email: c.1, username: c.2, passwordHash: c.3, passwordNeedsReset: c.4, installationAdmin: c.5,
                profilePictureURL: c.6, createdMicros: c.7, updatedMicros: c.8)
            out.append(MemberRow(user: user, role: OrganizationRole(rawValue: c.9) ?? .viewer))
        }
        return out
    }

    static let memberSelect = "SELECT \(UserRow.columns), m.role FROM memberships m JOIN users u ON u.id = m.user_id"

    /// The organization's members, newest first, from `atOrBeforeID` on.
    public func members(atOrBeforeID cursor: Int64?, limit: Int) async throws -> [MemberRow] {
        var q = SQLBuilder()
        q.append("\(Self.memberSelect) WHERE m.org_id = \(q.bind(org))")
        if let cursor { q.append(" AND u.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY u.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query, Self.memberRows)
    }

    public func member(_ user: UserID) async throws -> MemberRow? {
        try await scope.readPrimary {
            try await Self.memberRows(
                $0.query(
                    PostgresQuery(
                        unsafeSQL: "\(Self.memberSelect) WHERE m.org_id = $1 AND m.user_id = $2",
                        binds: SQLBuilder.binds(org, user.rawValue))))
        }.first
    }

    /// Makes the person a member with `role`, or changes their role; false when they are no account.
    @discardableResult
    public func setRole(_ user: UserID, _ role: OrganizationRole) async throws -> Bool {
        try await !scope.write(
            """
            INSERT INTO memberships (org_id, user_id, role) SELECT \(org), u.id, \(role.rawValue) FROM users u WHERE u.id = \(user.rawValue)
            ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role
            RETURNING 1
            """
        ) { try await $0.decode(Int.self).all() }.isEmpty
    }

    /// Adds a person who is not a member yet; false when they already are (or are no account).
    public func add(_ user: UserID, role: OrganizationRole) async throws -> Bool {
        try await !scope.write(
            """
            INSERT INTO memberships (org_id, user_id, role) SELECT \(org), u.id, \(role.rawValue) FROM users u WHERE u.id = \(user.rawValue)
            ON CONFLICT (org_id, user_id) DO NOTHING
            RETURNING 1
            """
        ) { try await $0.decode(Int.self).all() }.isEmpty
    }

    public enum MembershipChange: Sendable, Equatable {
        case done
        case notMember
        /// Refused: the organization would have no admin left.
        case lastAdmin
    }

    /// Changes a member's role, keeping at least one admin: the admins are locked while the change is
    /// checked, so two concurrent changes cannot both remove the last one.
    public func changeRole(_ user: UserID, to role: OrganizationRole) async throws -> MembershipChange {
        let org = org
        return try await scope.write { tx in
            guard let current = try await Self.lockedRole(user, in: tx) else { return .notMember }
            if current == .admin, role != .admin, try await Self.lockedAdminCount(in: tx) <= 1 { return .lastAdmin }
            try await tx.query("UPDATE memberships SET role = \(role.rawValue) WHERE org_id = \(org) AND user_id = \(user.rawValue)")
            return .done
        }
    }

    /// Ends the person's membership and revokes their keys and sessions in this organization, keeping
    /// at least one admin.
    public func remove(_ user: UserID) async throws -> MembershipChange {
        let org = org
        return try await scope.write { tx in
            guard let current = try await Self.lockedRole(user, in: tx) else { return .notMember }
            if current == .admin, try await Self.lockedAdminCount(in: tx) <= 1 { return .lastAdmin }
            try await tx.query("DELETE FROM memberships WHERE org_id = \(org) AND user_id = \(user.rawValue)")
            try await tx.query("DELETE FROM api_keys WHERE org_id = \(org) AND user_id = \(user.rawValue)")
            try await tx.query("DELETE FROM refresh_tokens WHERE org_id = \(org) AND user_id = \(user.rawValue)")
            return .done
        }
    }

    static func lockedRole(_ user: UserID, in tx: TenantTransaction) async throws -> OrganizationRole? {
        try await tx.query("SELECT role FROM memberships WHERE org_id = \(tx.org) AND user_id = \(user.rawValue) FOR UPDATE")
            .decode(String.self).all().first.flatMap(OrganizationRole.init)
    }

    static func lockedAdminCount(in tx: TenantTransaction) async throws -> Int {
        try await tx.query("SELECT user_id FROM memberships WHERE org_id = \(tx.org) AND role = 'ADMIN' FOR UPDATE")
            .decode(Int64.self).all().count
    }
}

// MARK: API keys

extension MemberRepository {
    static let keyColumns = "k.id, k.user_id, k.name, k.description, \(micros("k.created_at")), \(micros("k.expires_at")), \(micros("k.last_used_at"))"

    @Sendable static func keyRows(_ rows: PostgresRowSequence) async throws -> [APIKeyRow] {
        try await rows.decode((Int64, Int64?, String, String?, Int64, Int64?, Int64?).self).all().map {
            APIKeyRow(
                id: $0.0, userID: $0.1.map(UserID.init), name: $0.2, description: $0.3, createdMicros: $0.4, expiresMicros: $0.5,
                lastUsedMicros: $0.6)
        }
    }

    public enum KeyOwner: Sendable, Hashable {
        /// The organization's system keys.
        case system
        /// One person's keys.
        case user(UserID)
        /// Every person's keys (not the system keys).
        case anyUser

        /// ` AND <column> …`: the keys of this owner.
        func appendCondition(_ q: inout SQLBuilder, column: String) {
            switch self {
            case .system: q.append(" AND \(column) IS NULL")
            case .user(let user): q.append(" AND \(column) = \(q.bind(user.rawValue))")
            case .anyUser: q.append(" AND \(column) IS NOT NULL")
            }
        }
    }

    public func apiKeys(_ owner: KeyOwner) async throws -> [APIKeyRow] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.keyColumns) FROM api_keys k WHERE k.org_id = \(q.bind(org))")
        owner.appendCondition(&q, column: "k.user_id")
        q.append(" ORDER BY k.id DESC")
        return try await scope.read(q.query, Self.keyRows)
    }

    /// Every person's keys with their owner, newest first, from `atOrBeforeID` on.
    public func userKeys(atOrBeforeID cursor: Int64?, limit: Int) async throws -> [(key: APIKeyRow, owner: UserRow)] {
        var q = SQLBuilder()
        q.append("SELECT \(Self.keyColumns), \(UserRow.columns) FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.org_id = \(q.bind(org))")
        if let cursor { q.append(" AND k.id <= \(q.bind(cursor))") }
        q.append(" ORDER BY k.id DESC LIMIT \(q.bind(Int64(limit)))")
        return try await scope.read(q.query) { rows in
            var out: [(key: APIKeyRow, owner: UserRow)] = []
            for try await row in rows {
                let c = row.makeRandomAccess()
                let key = APIKeyRow(
                    id: try c[0].decode(Int64.self), userID: try c[1].decode(Int64?.self).map(UserID.init), name: try c[2].decode(String.self),
                    description: try c[3].decode(String?.self), createdMicros: try c[4].decode(Int64.self),
                    expiresMicros: try c[5].decode(Int64?.self), lastUsedMicros: try c[6].decode(Int64?.self))
                let owner = UserRow(
                    id: UserID(try c[7].decode(Int64.self)), email: try c[8].decode(String.self), username: try c[9].decode(String.self),
                    passwordHash: nil, passwordNeedsReset: try c[11].decode(Bool.self), installationAdmin: try c[12].decode(Bool.self),
                    profilePictureURL: try c[13].decode(String?.self), createdMicros: try c[14].decode(Int64.self),
                    updatedMicros: try c[15].decode(Int64.self))
                out.append((key, owner))
            }
            return out
        }
    }

    /// Creates a key and returns it with its token. `mint` signs the token for the new row's id and
    /// digests it; only the digest is stored.
    public func createAPIKey(
        _ owner: KeyOwner, name: String, description: String?, expiresMicros: Int64?,
        mint: @Sendable (Int64) async throws -> (token: String, digest: [UInt8])
    ) async throws -> (key: APIKeyRow, token: String) {
        let user: Int64?
        switch owner {
        case .system: user = nil
        case .user(let id): user = id.rawValue
        case .anyUser: preconditionFailure("a key belongs to one person or to the organization")
        }
        let org = org
        return try await ownOrWrite(owner) { tx in
            let expires = expiresMicros.map { timestamp(String($0)) } ?? "NULL"
            let key = try await Self.keyRows(
                tx.query(
                    PostgresQuery(
                        unsafeSQL: """
                            INSERT INTO api_keys AS k (org_id, user_id, name, description, token_hash, expires_at)
                            VALUES ($1, $2, $3, $4, '\\x'::bytea, \(expires))
                            RETURNING \(Self.keyColumns)
                            """,
                        binds: SQLBuilder.binds(org, user, SQLText.clean(name), description.map(SQLText.clean))))
            )[0]
            let minted = try await mint(key.id)
            try await tx.query(
                "UPDATE api_keys SET token_hash = \(ByteBuffer(bytes: minted.digest)) WHERE org_id = \(org) AND id = \(key.id)")
            return (key, minted.token)
        }
    }

    /// Deletes (revokes) a key of the owner; false when there is none.
    public func deleteAPIKey(_ id: Int64, owner: KeyOwner) async throws -> Bool {
        var q = SQLBuilder()
        q.append("DELETE FROM api_keys WHERE org_id = \(q.bind(org)) AND id = \(q.bind(id))")
        owner.appendCondition(&q, column: "user_id")
        q.append(" RETURNING id")
        let query = q.query
        return try await !ownOrWrite(owner) { try await $0.query(query).decode(Int64.self).all() }.isEmpty
    }

    /// A person's own keys are theirs to manage whatever their role; anyone else's need a writer.
    private func ownOrWrite<T: Sendable>(_ owner: KeyOwner, _ body: (TenantTransaction) async throws -> T) async throws -> T {
        if case .user(let user) = owner, user == scope.user { return try await scope.writeOwnCredentials(body) }
        return try await scope.write(body)
    }

    /// Records that keys were used (callers throttle this to about once a minute per key).
    public func touchAPIKeys(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await scope.write("UPDATE api_keys SET last_used_at = now() WHERE org_id = \(org) AND id = ANY(\(ids)::int8[])")
    }
}

// MARK: Verifying credentials

extension MemberRepository {
    /// The row a credential names, as it stands now; nil when it was deleted (revoked) or never existed.
    /// Read on the primary: a revocation must not wait for a replica to catch up.
    public func credential(_ kind: CredentialKind, id: Int64) async throws -> CredentialRecord? {
        let hash = kind == .apiKey ? "c.token_hash" : "NULL::bytea"
        return try await scope.readPrimary { tx in
            try await tx.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT c.user_id, \(hash), \(micros("c.expires_at")),
                            CASE WHEN c.user_id IS NULL THEN 'MEMBER' ELSE m.role END, coalesce(u.installation_admin, false)
                        FROM \(kind.table) c
                        LEFT JOIN memberships m ON m.org_id = c.org_id AND m.user_id = c.user_id
                        LEFT JOIN users u ON u.id = c.user_id
                        WHERE c.org_id = $1 AND c.id = $2
                        """,
                    binds: SQLBuilder.binds(org, id))
            ).decode((Int64?, ByteBuffer?, Int64?, String?, Bool).self).all().first.map {
                CredentialRecord(
                    userID: $0.0.map(UserID.init), tokenHash: $0.1.map { Array($0.readableBytesView) }, expiresMicros: $0.2, role: $0.3.flatMap(OrganizationRole.init),
                    installationAdmin: $0.4)
            }
        }
    }
}

// MARK: Browser sessions

extension MemberRepository {
    /// Creates a session's refresh and access rows; `replacing` (a refresh token being used) is
    /// deleted in the same transaction, with the access tokens minted from it, so a refresh token
    /// works once.
    public func openSession(
        for user: UserID, accessExpiresMicros: Int64, refreshExpiresMicros: Int64, replacing: Int64? = nil
    ) async throws -> SessionTokens? {
        let org = org
        return try await scope.writeOwnCredentials { tx in
            if let replacing {
                let deleted = try await tx.query(
                    "DELETE FROM refresh_tokens WHERE org_id = \(org) AND id = \(replacing) AND user_id = \(user.rawValue) RETURNING id"
                ).decode(Int64.self).all()
                guard !deleted.isEmpty else { return nil }
            }
            let refresh = try await tx.query(
                """
                INSERT INTO refresh_tokens (org_id, user_id, expires_at)
                VALUES (\(org), \(user.rawValue), to_timestamp(0) + \(refreshExpiresMicros) * interval '1 microsecond')
                RETURNING id
                """
            ).decode(Int64.self).all()[0]
            let access = try await tx.query(
                """
                INSERT INTO access_tokens (org_id, user_id, refresh_token_id, expires_at)
                VALUES (\(org), \(user.rawValue), \(refresh), to_timestamp(0) + \(accessExpiresMicros) * interval '1 microsecond')
                RETURNING id
                """
            ).decode(Int64.self).all()[0]
            return SessionTokens(accessID: access, refreshID: refresh)
        }
    }

    /// Ends sessions: the one of `refreshID`, or every session of the person in this organization.
    public func closeSessions(of user: UserID, refreshID: Int64? = nil) async throws {
        var q = SQLBuilder()
        q.append("DELETE FROM refresh_tokens WHERE org_id = \(q.bind(org)) AND user_id = \(q.bind(user.rawValue))")
        if let refreshID { q.append(" AND id = \(q.bind(refreshID))") }
        let query = q.query
        try await scope.writeOwnCredentials { tx -> Void in try await tx.query(query) }
    }
}
