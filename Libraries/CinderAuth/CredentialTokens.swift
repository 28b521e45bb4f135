import CinderModel
import CinderStorage
import Foundation
import JWTKit

/// What a credential says about itself: the row it names (revocation deletes the row), the
/// organization it acts in and the person it acts for. Signed with HS256 and `PHOENIX_SECRET`, so a
/// credential cannot be made up or altered; the row decides whether it is still good.
public struct CredentialClaims: JWTPayload, Sendable, Equatable {
    /// `<Kind>:<row id>`, as Phoenix names its token rows (`ApiKey:3`, `AccessToken:12`, …).
    public var jti: String
    /// The user's id, or `system` for an organization's system key.
    public var sub: String
    /// The organization the credential acts in: Cinder's addition.
    public var org: String
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim?

    public static let systemSubject = "system"

    public init(kind: CredentialKind, id: Int64, organization: OrganizationID, user: UserID?, issued: Date, expires: Date?) {
        self.jti = "\(kind.rawValue):\(id)"
        self.sub = user.map { String($0.rawValue) } ?? Self.systemSubject
        self.org = String(organization.rawValue)
        // Whole seconds, as JWTs usually carry them.
        self.iat = IssuedAtClaim(value: Date(timeIntervalSince1970: issued.timeIntervalSince1970.rounded(.down)))
        self.exp = expires.map { ExpirationClaim(value: Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))) }
    }

    /// Only the signature is checked here: whether the credential still exists, and until when it is
    /// good, is its row's to say (so an expired credential is told apart from an invalid one).
    public func verify(using algorithm: some JWTAlgorithm) throws {}

    /// The claims as Cinder's types; nil when they do not describe a credential of this installation.
    public var parsed: (kind: CredentialKind, id: Int64, organization: OrganizationID, user: UserID?)? {
        let parts = jti.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let kind = CredentialKind(rawValue: String(parts[0])), let id = Int64(parts[1]),
            let org = Int64(org), org > 0
        else { return nil }
        let user: UserID?
        if sub == Self.systemSubject {
            guard kind == .apiKey else { return nil }
            user = nil
        } else {
            guard let id = Int64(sub) else { return nil }
            user = UserID(id)
        }
        return (kind, id, OrganizationID(org), user)
    }
}

/// Signs and verifies credentials with the installation's secret.
public struct CredentialSigner: Sendable {
    let keys: JWTKeyCollection

    public init(secret: String) async {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.keys = keys
    }

    public func sign(_ claims: CredentialClaims) async throws -> String {
        try await keys.sign(claims)
    }

    /// The claims of a token signed with this secret; nil for anything else (malformed, another
    /// secret or algorithm).
    public func verify(_ token: String) async -> CredentialClaims? {
        try? await keys.verify(token, as: CredentialClaims.self)
    }
}
