import CinderModel
import CinderStorage
import Foundation
import Logging
import Synchronization

/// The auth settings of an installation (`PHOENIX_*` names where Phoenix has them).
public struct AuthSettings: Sendable {
    /// `PHOENIX_SECRET`: signs every token and key.
    public var secret: String
    /// `PHOENIX_ADMIN_SECRET`: a bearer that acts as an installation administrator.
    public var adminSecret: String?
    /// `PHOENIX_ACCESS_TOKEN_EXPIRY_MINUTES`.
    public var accessTokenLifetime: Duration = .seconds(10 * 60)
    /// `PHOENIX_REFRESH_TOKEN_EXPIRY_MINUTES` (a week, as Phoenix).
    public var refreshTokenLifetime: Duration = .seconds(10_080 * 60)
    /// `PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD`: the first admin's password (it must be changed).
    public var defaultAdminInitialPassword = "admin"
    /// `CINDER_CREDENTIAL_CACHE_SECONDS`: how long a verified credential is trusted before its row is
    /// read again; a revocation takes effect on other processes within this time (at once on the
    /// process that revoked it).
    public var credentialCacheLifetime: Duration = .seconds(5)
    public var passwordParameters = PasswordHashing.Parameters.standard

    public init(secret: String) { self.secret = secret }

    /// Phoenix's rule for `PHOENIX_SECRET`, so a configuration that Phoenix accepts works here and a
    /// weak one is refused the same way.
    public static func validateSecret(_ secret: String, name: String) -> String? {
        guard secret.count >= 32, secret.contains(where: \.isNumber), secret.contains(where: \.isLowercase) else {
            return "\(name) must be at least 32 characters long and contain at least one digit and one lowercase letter"
        }
        return nil
    }
}

/// Resolves a presented credential to the caller's `Access`: the admin secret, an API key, or a
/// session's access token. Verified credentials are cached for `credentialCacheLifetime`.
public final class Authenticator: Sendable {
    public let settings: AuthSettings
    let signer: CredentialSigner
    let database: Database
    public let logger: Logger
    private let cache: Mutex<[[UInt8]: CachedAccess]> = Mutex([:])
    private let keyUse = KeyUseRecorder()

    struct CachedAccess {
        var access: Access
        var jti: String
        var until: ContinuousClock.Instant
        /// The credential's own expiry, checked on every use of the cached verification.
        var expiresMicros: Int64?
    }

    /// Entries kept at most; past it the cache is cleared (a verification costs one indexed read).
    static let cacheCapacity = 50_000

    public init(settings: AuthSettings, database: Database, logger: Logger) async {
        self.settings = settings
        self.signer = await CredentialSigner(secret: settings.secret)
        self.database = database
        self.logger = logger
    }

    /// The access a bearer token (or the access-token cookie) grants. `organizationHeader` names the
    /// organization an admin-secret call acts in (by name or global id); credentials carry their own.
    public func access(presenting token: String, organizationHeader: String? = nil) async throws(CinderError) -> Access {
        if let adminSecret = settings.adminSecret, constantTimeEqual(Array(token.utf8), Array(adminSecret.utf8)) {
            return try await adminSecretAccess(organizationHeader)
        }
        let digest = CredentialDigest.of(token)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[digest] }), cached.until > now {
            if let expires = cached.expiresMicros, expires <= Int64(Date().timeIntervalSince1970 * 1_000_000) {
                throw CinderError.expiredCredential
            }
            keyUse.record(cached.access)
            return cached.access
        }
        guard let claims = await signer.verify(token), let (kind, id, organization, user) = claims.parsed, kind != .refreshToken
        else { throw CinderError.unauthenticated }
        let record: CredentialRecord?
        do {
            record = try await lookupScope(organization, user: user).members.credential(kind, id: id)
        } catch {
            throw error as? CinderError ?? DatabaseErrors.unavailable
        }
        guard let record, record.userID == user else { throw CinderError.unauthenticated }
        if kind == .apiKey {
            guard let stored = record.tokenHash, constantTimeEqual(stored, digest) else { throw CinderError.unauthenticated }
        }
        if let expires = record.expiresMicros, expires <= Int64(Date().timeIntervalSince1970 * 1_000_000) {
            throw CinderError.expiredCredential
        }
        // A person who left the organization keeps no access there, unless they administer the installation.
        guard let role = record.role ?? (record.installationAdmin ? .admin : nil) else { throw CinderError.unauthenticated }
        let principal: Access.Principal =
            switch (kind, user) {
            case (.apiKey, nil): .systemKey(id)
            case (.apiKey, let user?): .user(user, keyID: id)
            case (_, let user?): .user(user, keyID: nil)
            case (_, nil): throw CinderError.unauthenticated
            }
        let access = Access(organization: organization, role: role, principal: principal, installationAdmin: record.installationAdmin)
        cache.withLock { cache in
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[digest] = CachedAccess(
                access: access, jti: claims.jti, until: now + settings.credentialCacheLifetime, expiresMicros: record.expiresMicros)
        }
        keyUse.record(access)
        return access
    }

    /// Forgets cached verifications of a revoked row, so this process stops accepting it at once.
    public func forget(_ kind: CredentialKind, id: Int64) {
        let jti = "\(kind.rawValue):\(id)"
        cache.withLock { cache in cache = cache.filter { $0.value.jti != jti } }
    }

    /// Forgets every cached verification for a person (sign-out everywhere, role change, removal).
    public func forget(user: UserID) {
        cache.withLock { cache in cache = cache.filter { $0.value.access.user != user } }
    }

    /// Forgets everything cached for an organization (deleted).
    public func forget(organization: OrganizationID) {
        cache.withLock { cache in cache = cache.filter { $0.value.access.organization != organization } }
    }

    /// A read-only scope in the credential's own organization, for looking its row up.
    func lookupScope(_ organization: OrganizationID, user: UserID?) -> TenantScope {
        database.tenant(
            Access(organization: organization, role: .viewer, principal: user.map { .user($0, keyID: nil) } ?? .local, installationAdmin: false),
            logger: logger)
    }

    private func adminSecretAccess(_ organizationHeader: String?) async throws(CinderError) -> Access {
        var organization = OrganizationID.default
        if let header = organizationHeader?.trimmingCharacters(in: .whitespaces), !header.isEmpty {
            do {
                let installation = database.installation(logger: logger)
                let row: OrganizationRow?
                if let id = GlobalID(encoded: header, type: NodeType.organization) {
                    row = try await installation.organization(OrganizationID(id.rowID))
                } else {
                    row = try await installation.organization(named: header)
                }
                guard let row else { throw CinderError.notFound("Organization not found: \(header)") }
                organization = row.id
            } catch {
                throw error as? CinderError ?? DatabaseErrors.unavailable
            }
        }
        return Access(organization: organization, role: .admin, principal: .adminSecret, installationAdmin: true)
    }

    /// Writes the keys' last-use times every `interval` until cancelled.
    public func recordKeyUse(every interval: Duration = .seconds(30)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flushKeyUse()
        }
        await flushKeyUse()
    }

    func flushKeyUse() async {
        for (organization, ids) in keyUse.take() {
            let scope = database.tenant(
                Access(organization: organization, role: .admin, principal: .local, installationAdmin: false), logger: logger)
            do {
                try await scope.members.touchAPIKeys(ids)
            } catch {
                logger.warning("could not record API key use", metadata: ["cinder.error": "\(error)"])
            }
        }
    }
}

/// API keys used since the last flush, by organization; each is written at most once per flush.
final class KeyUseRecorder: Sendable {
    private let used = Mutex<[OrganizationID: Set<Int64>]>([:])

    func record(_ access: Access) {
        let key: Int64? =
            switch access.principal {
            case .systemKey(let id), .user(_, keyID: let id?): id
            default: nil
            }
        guard let key else { return }
        _ = used.withLock { $0[access.organization, default: []].insert(key) }
    }

    func take() -> [(OrganizationID, [Int64])] {
        used.withLock { used in
            defer { used.removeAll() }
            return used.map { ($0.key, Array($0.value)) }
        }
    }
}
