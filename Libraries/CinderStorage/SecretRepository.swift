import CinderModel
import NIOCore
import PostgresNIO

/// An organization's secrets, stored as the services sealed them (the repository never sees plain text).
public struct SecretRepository: TenantRepository { let scope: TenantScope }

extension TenantScope {
    public var secrets: SecretRepository { SecretRepository(scope: self) }
}

extension SecretRepository {
    /// Upserts `sealed` and deletes `deleted` in one transaction.
    public func apply(sealed: [(key: String, value: [UInt8])], deleted: [String]) async throws {
        let org = org, user = scope.user?.rawValue
        try await scope.write { tx in
            for (key, value) in sealed {
                try await tx.query(
                    """
                    INSERT INTO secrets (org_id, key, value, user_id) VALUES (\(org), \(key), \(ByteBuffer(bytes: value)), \(user))
                    ON CONFLICT (org_id, key) DO UPDATE SET value = excluded.value, user_id = excluded.user_id, updated_at = now()
                    """)
            }
            if !deleted.isEmpty {
                try await tx.query("DELETE FROM secrets WHERE org_id = \(org) AND key = ANY(\(deleted)::text[])")
            }
        }
    }

    /// The sealed values of `keys` (those that exist), read on the primary so a key stored a moment ago is used.
    public func sealed(keys: [String]) async throws -> [String: [UInt8]] {
        let org = org
        let rows = try await scope.readPrimary { tx in
            try await tx.query("SELECT key, value FROM secrets WHERE org_id = \(org) AND key = ANY(\(keys)::text[])").decode((String, ByteBuffer).self).all()
        }
        return Dictionary(rows.map { ($0.0, Array($0.1.readableBytesView)) }, uniquingKeysWith: { first, _ in first })
    }

    /// The names of the organization's secrets (never their values).
    public func keys() async throws -> [String] {
        try await scope.read("SELECT key FROM secrets WHERE org_id = \(org) ORDER BY key") { try await $0.decode(String.self).all() }
    }
}
