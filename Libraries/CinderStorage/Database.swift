import CinderModel
import Logging
import PostgresNIO

/// The database handles a service holds: the primary for writes, and the pool reads go to.
public struct Database: Sendable {
    let primary: PostgresClient
    /// Reads that may lag the primary slightly; a request that must see its own write reads it in the
    /// writing transaction.
    let reader: DatabaseReader

    public init(primary: PostgresClient, replicas: ReadReplicas? = nil) {
        self.primary = primary
        self.reader = DatabaseReader(primary: primary, replicas: replicas.flatMap { $0.replicas.isEmpty ? nil : $0 })
    }

    /// The only way to tenant data: a scope for one organization, taken from the caller's resolved
    /// access (or, for ingestion, from the organization stamped on a span batch by the receiver that
    /// authenticated it).
    public func tenant(_ access: Access, logger: Logger) -> TenantScope {
        TenantScope(database: self, organization: access.organization, user: access.user, mayWrite: access.role.canWrite, logger: logger)
    }

    /// Installation-wide records (organizations, accounts, sign-in), which belong to no organization.
    public func installation(logger: Logger) -> InstallationScope {
        InstallationScope(database: self, logger: logger)
    }

    /// Whether the database answers now (readiness).
    public func ping(logger: Logger) async -> Bool {
        (try? await primary.query("SELECT 1", logger: logger).collect()) != nil
    }
}

/// One organization's data. Every statement runs in a transaction that first sets `cinder.org_id`
/// (and `cinder.user_id` for a person), so PostgreSQL's row-level security admits only that
/// organization's rows whatever the statement says; the statements name the organization as well, for
/// their indexes. Repositories (`projects`, `spans`, `sessions`, …) hold the statements.
public struct TenantScope: Sendable {
    let database: Database
    public let organization: OrganizationID
    let user: UserID?
    /// False for a viewer: the scope refuses to open a writing transaction, whatever the route did.
    let mayWrite: Bool
    let logger: Logger

    var org: Int64 { organization.rawValue }

    /// A read-only transaction, on a healthy replica when there is one. `body` may run twice (on the
    /// primary after a replica failed), so it returns what it read rather than changing outer state.
    func read<T: Sendable>(_ body: @escaping @Sendable (TenantTransaction) async throws -> T) async throws -> T {
        let organization = organization, logger = logger
        do {
            return try await database.reader.read(settings: settings, logger: logger) { connection in
                try await body(TenantTransaction(connection: connection, organization: organization, logger: logger, counted: true))
            }
        } catch {
            throw DatabaseErrors.classify(error, logger: logger)
        }
    }

    /// One statement read and decoded.
    func read<T: Sendable>(
        _ query: PostgresQuery, _ decode: @escaping @Sendable (PostgresRowSequence) async throws -> T
    ) async throws -> T {
        try await read { try await decode($0.query(query)) }
    }

    /// A transaction on the primary.
    func write<T: Sendable>(_ body: (TenantTransaction) async throws -> T) async throws -> T {
        guard mayWrite else { throw CinderError.viewerCannotWrite }
        return try await primary(body)
    }

    /// A person's own credentials (their API keys, their sessions), which viewers manage too.
    func writeOwnCredentials<T: Sendable>(_ body: (TenantTransaction) async throws -> T) async throws -> T {
        guard user != nil else { throw CinderError.forbidden("Only a person has credentials of their own") }
        return try await primary(body)
    }

    /// A read on the primary, for what the request has just written (replicas may lag).
    func readPrimary<T: Sendable>(_ body: (TenantTransaction) async throws -> T) async throws -> T {
        try await primary(body)
    }

    private func primary<T: Sendable>(_ body: (TenantTransaction) async throws -> T) async throws -> T {
        do {
            return try await database.primary.withTransaction(logger: logger) { connection in
                try await TransactionSettings.apply(settings, on: connection, logger: logger)
                return try await body(TenantTransaction(connection: connection, organization: organization, logger: logger, counted: false))
            }
        } catch {
            throw DatabaseErrors.classify(error, logger: logger)
        }
    }

    /// One statement written, its rows (if any) decoded.
    func write<T: Sendable>(_ query: PostgresQuery, _ decode: (PostgresRowSequence) async throws -> T) async throws -> T {
        try await write { try await decode($0.query(query)) }
    }

    func write(_ query: PostgresQuery) async throws {
        try await write { tx -> Void in try await tx.query(query) }
    }

    private var settings: TransactionSettings { TransactionSettings(organization: organization, user: user) }
}

/// A transaction of one organization's scope.
struct TenantTransaction: Sendable {
    let connection: PostgresConnection
    let organization: OrganizationID
    let logger: Logger
    /// Reads are counted for the tests that hold batched loading to a statement budget.
    let counted: Bool

    var org: Int64 { organization.rawValue }

    @discardableResult
    func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        if counted { ReadStatementCounter.current?.increment() }
        return try await connection.query(query, logger: logger, file: file, line: line)
    }
}

/// What a transaction sets before its first statement. Both settings are local to the transaction, so
/// a pooled connection never carries one organization's setting into another's work.
struct TransactionSettings: Sendable {
    var organization: OrganizationID?
    var user: UserID?

    static func apply(_ settings: TransactionSettings, on connection: PostgresConnection, logger: Logger) async throws {
        let org = settings.organization.map { String($0.rawValue) } ?? ""
        let user = settings.user.map { String($0.rawValue) } ?? ""
        try await connection.query(
            "SELECT set_config('cinder.org_id', \(org), true), set_config('cinder.user_id', \(user), true)", logger: logger)
    }
}

/// Records of the installation rather than of one organization: organizations themselves, accounts,
/// and the look-ups that happen before an organization is known (sign-in). Work that must touch one
/// organization's rows (its first admin's membership, its deletion) enters that organization's scope
/// explicitly with `tenant(_:)`.
public struct InstallationScope: Sendable {
    let database: Database
    let logger: Logger

    /// An organization's scope for installation-level work on it (creating, deleting, inviting).
    func tenant(_ organization: OrganizationID, user: UserID? = nil) -> TenantScope {
        TenantScope(database: database, organization: organization, user: user, mayWrite: true, logger: logger)
    }

    /// A read of installation records; `onPrimary` for what must be current (credentials, sign-in).
    func read<T: Sendable>(
        user: UserID? = nil, onPrimary: Bool = false, _ body: @escaping @Sendable (TenantTransaction) async throws -> T
    ) async throws -> T {
        let logger = logger
        let settings = TransactionSettings(user: user)
        let run: @Sendable (PostgresConnection) async throws -> T = { connection in
            try await body(TenantTransaction(connection: connection, organization: OrganizationID(0), logger: logger, counted: true))
        }
        do {
            if onPrimary {
                return try await database.primary.withTransaction(logger: logger) { connection in
                    try await TransactionSettings.apply(settings, on: connection, logger: logger)
                    return try await run(connection)
                }
            }
            return try await database.reader.read(settings: settings, logger: logger, run)
        } catch {
            throw DatabaseErrors.classify(error, logger: logger)
        }
    }

    func write<T: Sendable>(user: UserID? = nil, _ body: (TenantTransaction) async throws -> T) async throws -> T {
        do {
            return try await database.primary.withTransaction(logger: logger) { connection in
                try await TransactionSettings.apply(TransactionSettings(user: user), on: connection, logger: logger)
                return try await body(TenantTransaction(connection: connection, organization: OrganizationID(0), logger: logger, counted: false))
            }
        } catch {
            throw DatabaseErrors.classify(error, logger: logger)
        }
    }
}
