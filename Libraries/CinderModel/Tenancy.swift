/// An organization: the tenant every stored row belongs to.
public struct OrganizationID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    /// The organization of an installation without auth, and the owner of the data that existed when
    /// auth was turned on.
    public static let `default` = OrganizationID(1)
    public var description: String { String(rawValue) }
}

/// A person with an account on the installation.
public struct UserID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

/// What a person (or a key) may do in one organization, as Phoenix defines its roles.
public enum OrganizationRole: String, Sendable, Hashable, CaseIterable, Codable {
    case admin = "ADMIN"
    case member = "MEMBER"
    case viewer = "VIEWER"

    /// Viewers read; members and admins also change data.
    public var canWrite: Bool { self != .viewer }
    /// Only admins manage people, system keys and the deletion of projects.
    public var canAdminister: Bool { self == .admin }
}

/// Who is calling, for which organization and with what role. Resolved once at the edge (the HTTP
/// middleware, the gRPC receiver) from the caller's credential, or, with auth off, the local user of
/// the default organization; everything below works from it and never picks an organization itself.
public struct Access: Sendable, Hashable {
    public enum Principal: Sendable, Hashable {
        /// Auth is off: the one local user of a single-organization installation.
        case local
        /// A person, signed in (`keyID` nil) or through one of their API keys.
        case user(UserID, keyID: Int64?)
        /// One of the organization's system API keys.
        case systemKey(Int64)
        /// The installation's `PHOENIX_ADMIN_SECRET`.
        case adminSecret
    }

    public let organization: OrganizationID
    public let role: OrganizationRole
    public let principal: Principal
    /// Phoenix's SYSTEM role: manages organizations and may act in any of them.
    public let installationAdmin: Bool

    public init(organization: OrganizationID, role: OrganizationRole, principal: Principal, installationAdmin: Bool) {
        self.organization = organization
        self.role = role
        self.principal = principal
        self.installationAdmin = installationAdmin
    }

    /// The local user when auth is off: an admin of the default organization.
    public static let local = Access(organization: .default, role: .admin, principal: .local, installationAdmin: true)

    /// The person behind the call, if it is one.
    public var user: UserID? {
        if case .user(let id, _) = principal { return id }
        return nil
    }
}
