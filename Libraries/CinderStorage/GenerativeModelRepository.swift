import CinderModel
import PostgresNIO

/// A model price an organization set: the models whose names match `namePattern`, at `tokenPrices`.
public struct GenerativeModelRow: Sendable {
    public var id: Int64
    public var name: String
    public var provider: String?
    public var namePattern: String
    /// `[{"token_type", "kind", "cost_per_million_tokens"}]`.
    public var tokenPrices: JSONValue
    public var createdMicros: Int64
    public var updatedMicros: Int64
}

public struct GenerativeModelRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var generativeModels: GenerativeModelRepository { GenerativeModelRepository(scope: self) }
}

extension GenerativeModelRepository {
    static let columns = "m.id, m.name, m.provider, m.name_pattern, m.token_prices::text, \(micros("m.created_at")), \(micros("m.updated_at"))"

    @Sendable static func rows(_ rows: PostgresRowSequence) async throws -> [GenerativeModelRow] {
        var out: [GenerativeModelRow] = []
        for try await c in rows.decode((Int64, String, String?, String, String, Int64, Int64).self) {
            out.append(
                GenerativeModelRow(
                    id: c.0, name: c.1, provider: c.2, namePattern: c.3, tokenPrices: (try? JSONValue(parsing: c.4)) ?? .array([]), createdMicros: c.5,
                    updatedMicros: c.6))
        }
        return out
    }

    /// Every price the organization set, oldest first (the order they are tried in), on the primary.
    public func all(onPrimary: Bool = false) async throws -> [GenerativeModelRow] {
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(Self.columns) FROM generative_models m WHERE m.org_id = $1 ORDER BY m.id", binds: SQLBuilder.binds(org))
        if onPrimary { return try await scope.readPrimary { try await Self.rows($0.query(query)) } }
        return try await scope.read(query, Self.rows)
    }

    public func model(id: Int64) async throws -> GenerativeModelRow? {
        try await scope.read(
            PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM generative_models m WHERE m.org_id = $1 AND m.id = $2", binds: SQLBuilder.binds(org, id)),
            Self.rows
        ).first
    }

    /// Creates (`id` nil) or replaces a price; nil when `id` names none.
    public func save(id: Int64?, name: String, provider: String?, namePattern: String, tokenPrices: JSONValue) async throws -> GenerativeModelRow? {
        let org = org, prices = tokenPrices.jsonString
        return try await scope.write { tx in
            let saved: [Int64]
            do {
                if let id {
                    saved = try await tx.query(
                        """
                        UPDATE generative_models SET name = \(name), provider = \(provider), name_pattern = \(namePattern),
                            token_prices = \(prices)::jsonb, updated_at = now()
                        WHERE org_id = \(org) AND id = \(id) RETURNING id
                        """
                    ).decode(Int64.self).all()
                } else {
                    saved = try await tx.query(
                        """
                        INSERT INTO generative_models (org_id, name, provider, name_pattern, token_prices)
                        VALUES (\(org), \(name), \(provider), \(namePattern), \(prices)::jsonb) RETURNING id
                        """
                    ).decode(Int64.self).all()
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw CinderError(.conflict, "A model named \(name) already exists")
            }
            guard let id = saved.first else { return nil }
            return try await Self.rows(
                tx.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM generative_models m WHERE m.org_id = $1 AND m.id = $2", binds: SQLBuilder.binds(org, id)))
            ).first
        }
    }

    public func delete(id: Int64) async throws -> GenerativeModelRow? {
        try await scope.write(
            PostgresQuery(
                unsafeSQL: "DELETE FROM generative_models m WHERE m.org_id = $1 AND m.id = $2 RETURNING \(Self.columns)", binds: SQLBuilder.binds(org, id)),
            Self.rows
        ).first
    }
}

extension InstallationScope {
    /// An organization's prices, for the services that price its spans (receivers, runner) and know the
    /// organization but act for no one in it.
    public func generativeModels(of organization: OrganizationID) async throws -> [GenerativeModelRow] {
        try await tenant(organization).generativeModels.all()
    }
}
