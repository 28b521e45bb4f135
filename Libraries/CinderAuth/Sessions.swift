import CinderModel
import CinderStorage
import Foundation
import Logging

/// A browser session's two tokens, as the cookies carry them.
public struct IssuedSession: Sendable {
    public var accessToken: String
    public var refreshToken: String
    public var accessExpires: Date
    public var refreshExpires: Date
    public var organization: OrganizationID
    public var user: UserID
}

extension Authenticator {
    /// A record no password matches, verified for unknown emails so that sign-in takes as long either
    /// way (at the cost new records get).
    var dummyRecord: String {
        "scrypt$\(settings.passwordParameters.log2N)$8$1$c2lnbi1pbi10aW1pbmc=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    }

    static let signInFailed = CinderError(.unauthenticated, "Invalid email and/or password")

    /// Signs a person in with their password, into `organization` when they belong to it (or
    /// administer the installation), else into their first organization.
    public func signIn(email: String, password: String, organization wanted: OrganizationID? = nil) async throws(CinderError) -> IssuedSession {
        do {
            let installation = database.installation(logger: logger)
            let account = try await installation.account(email: email)
            // An unknown email costs a hash too, so the answer's timing does not tell which emails exist.
            guard try await PasswordHashing.verify(password, against: account?.passwordHash ?? dummyRecord), let account,
                account.passwordHash != nil
            else { throw Self.signInFailed }
            let organization = try await organization(for: account, wanted: wanted)
            return try await openSession(user: account.id, organization: organization)
        } catch {
            throw error as? CinderError ?? DatabaseErrors.unavailable
        }
    }

    /// The organization a person's session acts in.
    func organization(for account: UserRow, wanted: OrganizationID?) async throws -> OrganizationID {
        let memberships = try await database.installation(logger: logger).memberships(of: account.id)
        if let wanted {
            if memberships.contains(where: { $0.organization.id == wanted }) { return wanted }
            if account.installationAdmin, try await database.installation(logger: logger).organization(wanted) != nil { return wanted }
            throw CinderError.notFound("Organization not found")
        }
        if let first = memberships.first { return first.organization.id }
        if account.installationAdmin { return .default }
        // An account that belongs nowhere cannot act anywhere.
        throw Self.signInFailed
    }

    func openSession(user: UserID, organization: OrganizationID, replacing refreshID: Int64? = nil) async throws -> IssuedSession {
        let now = Date()
        let accessExpires = now.addingTimeInterval(settings.accessTokenLifetime.seconds)
        let refreshExpires = now.addingTimeInterval(settings.refreshTokenLifetime.seconds)
        let scope = sessionScope(organization, user: user)
        guard
            let rows = try await scope.members.openSession(
                for: user, accessExpiresMicros: accessExpires.micros, refreshExpiresMicros: refreshExpires.micros, replacing: refreshID)
        else { throw CinderError.unauthenticated }
        let access = try await signer.sign(
            CredentialClaims(kind: .accessToken, id: rows.accessID, organization: organization, user: user, issued: now, expires: accessExpires))
        let refresh = try await signer.sign(
            CredentialClaims(kind: .refreshToken, id: rows.refreshID, organization: organization, user: user, issued: now, expires: refreshExpires))
        return IssuedSession(
            accessToken: access, refreshToken: refresh, accessExpires: accessExpires, refreshExpires: refreshExpires,
            organization: organization, user: user)
    }

    /// Trades a refresh token for a new session; the old refresh token and its access tokens are
    /// revoked, so a refresh token works once.
    public func refresh(_ refreshToken: String) async throws(CinderError) -> IssuedSession {
        let invalid = CinderError(.unauthenticated, "Invalid refresh token")
        guard let claims = await signer.verify(refreshToken), let (kind, id, organization, user) = claims.parsed,
            kind == .refreshToken, let user
        else { throw invalid }
        do {
            guard let record = try await lookupScope(organization, user: user).members.credential(.refreshToken, id: id),
                record.userID == user, record.role != nil || record.installationAdmin
            else { throw invalid }
            if let expires = record.expiresMicros, expires <= Date().micros { throw CinderError(.unauthenticated, "Expired refresh token") }
            forget(user: user)
            // Deleting the refresh row revokes the access tokens minted from it as well.
            guard let session = try? await openSession(user: user, organization: organization, replacing: id) else { throw invalid }
            return session
        } catch {
            throw error as? CinderError ?? DatabaseErrors.unavailable
        }
    }

    /// Ends every browser session of the person the access (or else a live refresh token) names, as
    /// Phoenix's sign-out does. Their API keys stay valid.
    public func signOut(refreshToken: String?, access: Access?) async {
        var user = access?.user
        if user == nil, let refreshToken, let claims = await signer.verify(refreshToken), let (kind, id, organization, owner) = claims.parsed,
            kind == .refreshToken, let owner,
            (try? await lookupScope(organization, user: owner).members.credential(.refreshToken, id: id))??.userID == owner
        {
            user = owner
        }
        guard let user else { return }
        await endSessions(of: user)
    }

    /// Revokes every session of a person, in every organization they can act in (all of them, for an
    /// installation administrator).
    public func endSessions(of user: UserID) async {
        do {
            let installation = database.installation(logger: logger)
            let account = try await installation.account(user)
            let organizations =
                account?.installationAdmin == true
                ? try await installation.organizations().map(\.id)
                : try await installation.memberships(of: user).map(\.organization.id)
            for organization in organizations {
                try await sessionScope(organization, user: user).members.closeSessions(of: user)
            }
        } catch {
            logger.warning("could not revoke every session of a person", metadata: ["cinder.error": "\(error)"])
        }
        forget(user: user)
    }

    /// A new session in another organization of the same person (the choice lives in the token).
    public func switchOrganization(_ access: Access, to organization: OrganizationID) async throws(CinderError) -> IssuedSession {
        // A session only: an API key must not turn itself into a session (and so into more keys).
        guard case .user(let user, keyID: nil) = access.principal else {
            throw CinderError.forbidden("Only a signed-in session can switch organizations")
        }
        do {
            guard let account = try await database.installation(logger: logger).account(user) else { throw CinderError.unauthenticated }
            let target = try await self.organization(for: account, wanted: organization)
            return try await openSession(user: user, organization: target)
        } catch {
            throw error as? CinderError ?? DatabaseErrors.unavailable
        }
    }

    /// Mints a token for a new API key row.
    public func mintAPIKey(id: Int64, organization: OrganizationID, user: UserID?, expires: Date?) async throws -> (token: String, digest: [UInt8]) {
        let token = try await signer.sign(
            CredentialClaims(kind: .apiKey, id: id, organization: organization, user: user, issued: Date(), expires: expires))
        return (token, CredentialDigest.of(token))
    }

    /// A writing scope for a person's own session rows, whatever their role (viewers sign in too).
    func sessionScope(_ organization: OrganizationID, user: UserID) -> TenantScope {
        database.tenant(Access(organization: organization, role: .member, principal: .user(user, keyID: nil), installationAdmin: false), logger: logger)
    }
}

extension Duration {
    var seconds: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension Date {
    var micros: Int64 { Int64(timeIntervalSince1970 * 1_000_000) }
}

extension Authenticator {
    /// Removes a person from an organization (keeping at least one admin): their keys and sessions
    /// there are revoked at once, and their account goes when it belongs nowhere else.
    public func removeMember(_ user: UserID, from members: MemberRepository) async throws -> MemberRepository.MembershipChange {
        let change = try await members.remove(user)
        guard change == .done else { return change }
        forget(user: user)
        try await database.installation(logger: logger).deleteAccountIfOrphaned(user)
        return change
    }
}
