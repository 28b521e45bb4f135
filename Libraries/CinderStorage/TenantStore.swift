import CinderModel
import Logging
import PostgresNIO

/// The database handles a service holds: the primary for writes, and the pool reads go to.
public struct Database: Sendable {
    public let primary: PostgresClient
    /// Reads that may lag the primary slightly; a request that must see its own write reads it on
    /// the primary (in the writing transaction or through `primary`).
    public let reader: DatabaseReader

    public init(primary: PostgresClient, replicas: ReadReplicas? = nil) {
        self.primary = primary
        self.reader = DatabaseReader(primary: primary, replicas: replicas.flatMap { $0.replicas.isEmpty ? nil : $0 })
    }

    /// Every read and write of tenant data goes through a store scoped to one organization, so a query
    /// cannot be written without a tenant.
    public func scoped(to organization: OrganizationID, logger: Logger) -> TenantStore {
        TenantStore(database: self, organization: organization, logger: logger)
    }
}

public struct TenantStore: Sendable {
    let database: Database
    public let organization: OrganizationID
    let logger: Logger

    var org: Int64 { organization.rawValue }
}

/// The outcome of changing a named row whose name is unique in its organization.
public enum RenameResult<Row: Sendable>: Sendable {
    case updated(Row)
    case notFound
    case nameTaken
}

extension TenantStore {
    /// Runs an update that may rename a row; the unique constraint on the name decides, so a
    /// concurrent rename to the same name is answered as taken rather than failing.
    /// Bindings for a statement whose SQL text is assembled (a shared column list), in `$n` order.
    static func binds(_ values: (any PostgresDynamicTypeEncodable)?...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values {
            if let value { binds.append(value) } else { binds.appendNull() }
        }
        return binds
    }

    func renaming<Row: Sendable>(_ update: () async throws -> Row?) async throws -> RenameResult<Row> {
        do {
            return try await update().map { .updated($0) } ?? .notFound
        } catch where DatabaseErrors.isUniqueViolation(error) {
            return .nameTaken
        }
    }
}

/// Builds a parameterized statement piece by piece (for optional filters).
struct SQLBuilder {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds a value and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// Binds a value or SQL NULL and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        guard let value else {
            binds.appendNull()
            return "$\(binds.count)"
        }
        return bind(value)
    }

    mutating func append(_ fragment: String) { sql += fragment }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

/// SQL for a timestamptz column as microseconds since the epoch (exact on PostgreSQL 14+, where
/// `extract` returns numeric; Cinder requires 14+ anyway, for lz4 compression).
func micros(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::int8" }

/// SQL for microseconds since the epoch as a timestamptz.
func timestamp(_ placeholder: String) -> String { "(to_timestamp(0) + \(placeholder)::int8 * interval '1 microsecond')" }

extension AsyncSequence {
    /// Gathers a (small, bounded) result set into an array.
    func all() async throws -> [Element] {
        var out: [Element] = []
        for try await element in self { out.append(element) }
        return out
    }
}
