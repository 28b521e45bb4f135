import CinderModel
import NIOCore
import PostgresNIO

/// An organization's custom model provider; `config` is its client configuration as the services
/// sealed it (endpoint and key), opened only where a call is made.
public struct CustomProviderRow: Sendable {
    public var id: Int64
    public var name: String
    public var description: String?
    public var provider: String
    public var sdk: String
    public var sealedConfig: [UInt8]
    public var userID: Int64?
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

/// What a create or a patch sets; nil leaves a field as it is on a patch.
public struct CustomProviderChange: Sendable {
    public var name: String?
    public var description: String??
    public var provider: String?
    public var sdk: String?
    public var sealedConfig: [UInt8]?

    public init(name: String?, description: String??, provider: String?, sdk: String?, sealedConfig: [UInt8]?) {
        self.name = name
        self.description = description
        self.provider = provider
        self.sdk = sdk
        self.sealedConfig = sealedConfig
    }
}

public struct CustomProviderRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var customProviders: CustomProviderRepository { CustomProviderRepository(scope: self) }
}

extension CustomProviderRepository {
    static let columns =
        "p.id, p.name, p.description, p.provider, p.sdk, p.config, p.user_id, \(micros("p.created_at")), \(micros("p.updated_at"))"

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [CustomProviderRow] {
        var out: [CustomProviderRow] = []
        for try await c in rows.decode((Int64, String, String?, String, String, ByteBuffer, Int64?, Int64, Int64).self) {
            out.append(
                CustomProviderRow(
                    id: c.0, name: c.1, description: c.2, provider: c.3, sdk: c.4, sealedConfig: Array(c.5.readableBytesView), userID: c.6,
                    createdMicros: c.7, updatedMicros: c.8))
        }
        return out
    }

    /// A page, newest first, from `atOrBeforeID` down.
    public func providers(atOrBeforeID cursor: Int64?, limit: Int) async throws -> [CustomProviderRow] {
        try await scope.read(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.columns) FROM generative_model_custom_providers p WHERE p.org_id = $1 AND p.id <= $2 ORDER BY p.id DESC LIMIT $3",
                binds: SQLBuilder.binds(org, cursor ?? Int64.max, Int64(limit))), Self.rows)
    }

    /// One provider, read on the primary: a call right after a change must use the new key.
    public func provider(id: Int64) async throws -> CustomProviderRow? {
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.columns) FROM generative_model_custom_providers p WHERE p.org_id = $1 AND p.id = $2",
            binds: SQLBuilder.binds(org, id))
        return try await scope.readPrimary { try await Self.rows($0.query(query)) }.first
    }

    /// Creates a provider; `sealConfig` is handed the new row's id (the sealed config is bound to it).
    public func create(
        name: String, description: String?, provider: String, sdk: String, sealConfig: @Sendable (_ id: Int64) throws -> [UInt8]
    ) async throws -> CustomProviderRow {
        let org = org, user = scope.user?.rawValue
        return try await scope.write { tx in
            let id = try await tx.query("SELECT nextval(pg_get_serial_sequence('generative_model_custom_providers', 'id'))").decode(Int64.self).all()[0]
            let config = ByteBuffer(bytes: try sealConfig(id))
            do {
                try await tx.query(
                    """
                    INSERT INTO generative_model_custom_providers (id, org_id, name, description, provider, sdk, config, user_id)
                    OVERRIDING SYSTEM VALUE VALUES (\(id), \(org), \(name), \(description), \(provider), \(sdk), \(config), \(user))
                    """)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "A custom provider named \(name) already exists")
            }
            return try await Self.rows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM generative_model_custom_providers p WHERE p.org_id = $1 AND p.id = $2", binds: SQLBuilder.binds(org, id)))
            )[0]
        }
    }

    /// Applies `change`; nil when there is no such provider.
    public func patch(id: Int64, _ change: CustomProviderChange) async throws -> CustomProviderRow? {
        let org = org
        var q = SQLBuilder()
        q.append("UPDATE generative_model_custom_providers SET updated_at = now()")
        if let name = change.name { q.append(", name = \(q.bind(name))") }
        if let description = change.description { q.append(", description = \(q.bind(description))") }
        if let provider = change.provider { q.append(", provider = \(q.bind(provider))") }
        if let sdk = change.sdk { q.append(", sdk = \(q.bind(sdk))") }
        if let config = change.sealedConfig { q.append(", config = \(q.bind(ByteBuffer(bytes: config)))") }
        q.append(" WHERE org_id = \(q.bind(org)) AND id = \(q.bind(id)) RETURNING id")
        let update = q.query
        return try await scope.write { tx in
            do {
                guard try await !tx.query(update).decode(Int64.self).all().isEmpty else { return nil }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "A custom provider named \(change.name ?? "") already exists")
            }
            return try await Self.rows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM generative_model_custom_providers p WHERE p.org_id = $1 AND p.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    /// Deletes a provider; false when there was none.
    public func delete(id: Int64) async throws -> Bool {
        try await scope.write(
            "DELETE FROM generative_model_custom_providers WHERE org_id = \(org) AND id = \(id) RETURNING id"
        ) { try await $0.decode(Int64.self).all() }.isEmpty == false
    }
}
