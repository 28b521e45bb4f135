import CinderAuth
import CinderModel
import CinderStorage
import Foundation
import Graphiti

// MARK: - People and keys (Phoenix's User, UserRole, UserApiKey, SystemApiKey)

/// What the people-and-keys fields need besides the tenant scope: the authenticator (to mint keys and
/// forget revoked ones) and the installation's accounts. nil with auth off.
struct AccountServices: Sendable {
    let authenticator: Authenticator
    let database: Database
}

enum AuthMethodValue: String, Codable, Sendable, CaseIterable { case LOCAL, OAUTH2, LDAP }

enum UserRoleInputValue: String, Codable, Sendable, CaseIterable {
    case ADMIN, MEMBER, VIEWER

    var role: OrganizationRole { OrganizationRole(rawValue: rawValue)! }
}

struct UserRoleNode: RelayNode {
    let name: String

    /// Phoenix's role rows: SYSTEM 1, ADMIN 2, MEMBER 3, VIEWER 4.
    static let ids = ["SYSTEM": 1, "ADMIN": 2, "MEMBER": 3, "VIEWER": 4]
    static let all = ["SYSTEM", "ADMIN", "MEMBER", "VIEWER"].map(UserRoleNode.init)

    var id: NodeID { NodeID(NodeType.userRole, Int64(Self.ids[name] ?? 0)) }
}

struct UserNode: RelayNode {
    /// nil for Phoenix's system user (the admin secret, a system key).
    let user: UserRow?
    let roleName: String

    static let systemUserEmail = "system@localhost"

    var id: NodeID { NodeID(NodeType.user, user?.id.rawValue ?? 0) }
    var passwordNeedsReset: Bool { user?.passwordNeedsReset ?? false }
    var email: String? { user?.email ?? Self.systemUserEmail }
    var username: String { user?.username ?? "system" }
    var profilePictureUrl: String? { user?.profilePictureURL }
    var createdAt: DateTime { DateTime(micros: user?.createdMicros ?? 0) }
    var authMethod: AuthMethodValue { .LOCAL }
    var role: UserRoleNode { UserRoleNode(name: roleName) }
    var oauth2GrantCount: Int { 0 }
    var isManagementUser: Bool { user?.installationAdmin ?? true }

    func apiKeys(context: GraphQLContext, arguments: NoArguments) async throws -> [UserAPIKeyNode] {
        guard let user else { return [] }
        return try await context.scope.members.apiKeys(.user(user.id)).map { UserAPIKeyNode(row: $0, owner: self) }
    }

    func apiKeyCount(context: GraphQLContext, arguments: NoArguments) async throws -> Int {
        try await apiKeys(context: context, arguments: arguments).count
    }

    init(user: UserRow?, roleName: String) {
        self.user = user
        self.roleName = roleName
    }

    init(_ member: MemberRow) {
        self.init(user: member.user, roleName: member.role.rawValue)
    }
}

/// Phoenix's `ApiKey` interface: what user and system keys share.
protocol APIKeyFields: Sendable {
    var name: String { get }
    var description: String? { get }
    var createdAt: DateTime { get }
    var expiresAt: DateTime? { get }
}

struct UserAPIKeyNode: RelayNode, APIKeyFields {
    let row: APIKeyRow
    let owner: UserNode

    var id: NodeID { NodeID(NodeType.userAPIKey, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var expiresAt: DateTime? { row.expiresMicros.map(DateTime.init(micros:)) }
    var user: UserNode { owner }
}

struct SystemAPIKeyNode: RelayNode, APIKeyFields {
    let row: APIKeyRow

    var id: NodeID { NodeID(NodeType.systemAPIKey, row.id) }
    var name: String { row.name }
    var description: String? { row.description }
    var createdAt: DateTime { DateTime(micros: row.createdMicros) }
    var expiresAt: DateTime? { row.expiresMicros.map(DateTime.init(micros:)) }
}

// MARK: - Who may

/// Phoenix's GraphQL wording (no trailing period, unlike its REST answers).
enum AccessFailure {
    static let adminOnly = GraphQLFailure("Only admin can perform this action")
    static let viewers = GraphQLFailure("Viewers cannot perform this action")
    static let keysCannotCreateKeys = GraphQLFailure("API keys cannot create API keys")
    static let disabled = GraphQLFailure("Authentication is not enabled on this server")
}

extension GraphQLContext {
    func requireAccounts() throws -> AccountServices {
        guard let accounts else { throw AccessFailure.disabled }
        return accounts
    }

    func requireAdmin() throws {
        if !access.role.canWrite { throw AccessFailure.viewers }
        guard access.role.canAdminister else { throw AccessFailure.adminOnly }
    }

    /// Runs a storage call and reports its failure with the message alone, as GraphQL errors read.
    func attempt<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as CinderError {
            throw GraphQLFailure(error.message)
        }
    }
}

// MARK: - Queries

extension QueryRoot {
    struct UsersArguments: Codable, Sendable {
        var first: Int?
        var last: Int?
        var after: String?
        var before: String?
    }

    /// The caller; Phoenix's system user for the admin secret and system keys; null with auth off.
    func viewer(context: GraphQLContext, arguments: NoArguments) async throws -> UserNode? {
        guard let accounts = context.accounts else { return nil }
        guard let user = context.access.user else { return UserNode(user: nil, roleName: "SYSTEM") }
        if let member = try await context.attempt({ try await context.scope.members.member(user) }) { return UserNode(member) }
        let account = try await context.attempt { try await accounts.database.installation(logger: context.logger).account(user) }
        return account.map { UserNode(user: $0, roleName: "SYSTEM") }
    }

    /// The organization's people, ordered by email; cursors are offsets (`connection:<n>`), as Phoenix's.
    func users(context: GraphQLContext, arguments: UsersArguments) async throws -> NodeConnection<UserNode> {
        _ = try context.requireAccounts()
        try context.requireAdmin()
        let members = try await context.attempt { try await context.scope.members.members(atOrBeforeID: nil, limit: 100_000) }
            .sorted { $0.user.email < $1.user.email }
        let start = try Self.offset(arguments.after).map { $0 + 1 } ?? 0
        let limit = PageArguments(first: arguments.first).limit
        let page = Array(members.dropFirst(start).prefix(limit))
        let edges = page.enumerated().map { NodeEdge(node: UserNode($0.element), cursor: Self.offsetCursor(start + $0.offset)) }
        return NodeConnection(
            edges: edges,
            pageInfo: PageInfo(
                hasPreviousPage: start > 0, hasNextPage: start + page.count < members.count, startCursor: edges.first?.cursor,
                endCursor: edges.last?.cursor))
    }

    static func offsetCursor(_ offset: Int) -> String { Data("connection:\(offset)".utf8).base64EncodedString() }

    static func offset(_ cursor: String?) throws -> Int? {
        guard let cursor else { return nil }
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8), text.hasPrefix("connection:"),
            let offset = Int(text.dropFirst("connection:".count)), offset >= 0
        else { throw GraphQLFailure("Invalid cursor: \(cursor)") }
        return offset
    }

    func userRoles(context: GraphQLContext, arguments: NoArguments) async throws -> [UserRoleNode] {
        UserRoleNode.all
    }

    /// Every person's keys (admins).
    func userApiKeys(context: GraphQLContext, arguments: NoArguments) async throws -> [UserAPIKeyNode] {
        _ = try context.requireAccounts()
        try context.requireAdmin()
        let members = try await context.attempt { try await context.scope.members.members(atOrBeforeID: nil, limit: 100_000) }
        let owners = Dictionary(members.map { ($0.user.id, UserNode($0)) }, uniquingKeysWith: { a, _ in a })
        return try await context.attempt { try await context.scope.members.userKeys(atOrBeforeID: nil, limit: 100_000) }.map {
            UserAPIKeyNode(row: $0.key, owner: owners[$0.owner.id] ?? UserNode(user: $0.owner, roleName: "MEMBER"))
        }
    }

    func systemApiKeys(context: GraphQLContext, arguments: NoArguments) async throws -> [SystemAPIKeyNode] {
        _ = try context.requireAccounts()
        try context.requireAdmin()
        return try await context.attempt { try await context.scope.members.apiKeys(.system) }.map(SystemAPIKeyNode.init)
    }
}

// MARK: - Mutations

struct CreateAPIKeyInput: Codable, Sendable {
    var name: String
    var description: String?
    var expiresAt: DateTime?
}

/// The same fields under Phoenix's second input name (Graphiti maps one Swift type to one GraphQL type).
struct CreateUserAPIKeyInput: Codable, Sendable {
    var name: String
    var description: String?
    var expiresAt: DateTime?

    var fields: CreateAPIKeyInput { CreateAPIKeyInput(name: name, description: description, expiresAt: expiresAt) }
}

struct DeleteAPIKeyInput: Codable, Sendable { var id: NodeID }

struct CreateUserInput: Codable, Sendable {
    var email: String
    var username: String
    var password: String?
    var role: UserRoleInputValue
    var sendWelcomeEmail: Bool?
    var authMethod: AuthMethodValue?
}

struct PatchUserInput: Codable, Sendable {
    var userId: NodeID
    var newRole: UserRoleInputValue?
    var newUsername: String?
    var newPassword: String?
}

struct PatchViewerInput: Codable, Sendable {
    var newUsername: String?
    var newPassword: String?
    var currentPassword: String?
}

struct DeleteUsersInput: Codable, Sendable { var userIds: [NodeID] }

struct InputArguments<Input: Codable & Sendable>: Codable, Sendable { var input: Input }

struct CreateUserAPIKeyPayload: Sendable {
    let jwt: String
    let apiKey: UserAPIKeyNode
}

struct CreateSystemAPIKeyPayload: Sendable {
    let jwt: String
    let apiKey: SystemAPIKeyNode
}

struct DeleteAPIKeyPayload: Sendable {
    let apiKeyId: NodeID
}

struct UserMutationPayload: Sendable { let user: UserNode }

struct DeleteUsersPayload: Sendable { let userIds: [NodeID] }

extension QueryRoot {
    func createUserApiKey(context: GraphQLContext, arguments: InputArguments<CreateUserAPIKeyInput>) async throws -> CreateUserAPIKeyPayload {
        let accounts = try context.requireAccounts()
        let access = context.access
        switch access.principal {
        case .user(let user, keyID: nil):
            let (key, token) = try await Self.createKey(.user(user), arguments.input.fields, context, accounts)
            let owner = try await viewer(context: context, arguments: NoArguments()) ?? UserNode(user: nil, roleName: access.role.rawValue)
            return CreateUserAPIKeyPayload(jwt: token, apiKey: UserAPIKeyNode(row: key, owner: owner))
        case .adminSecret: throw GraphQLFailure("System API keys cannot manage personal API keys")
        default: throw AccessFailure.keysCannotCreateKeys
        }
    }

    func createSystemApiKey(context: GraphQLContext, arguments: InputArguments<CreateAPIKeyInput>) async throws -> CreateSystemAPIKeyPayload {
        let accounts = try context.requireAccounts()
        try context.requireAdmin()
        if case .user(_, keyID: .some) = context.access.principal { throw AccessFailure.keysCannotCreateKeys }
        let (key, token) = try await Self.createKey(.system, arguments.input, context, accounts)
        return CreateSystemAPIKeyPayload(jwt: token, apiKey: SystemAPIKeyNode(row: key))
    }

    static func createKey(
        _ owner: MemberRepository.KeyOwner, _ input: CreateAPIKeyInput, _ context: GraphQLContext, _ accounts: AccountServices
    ) async throws -> (APIKeyRow, String) {
        let name = input.name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw GraphQLFailure("Name cannot be empty") }
        if let expires = input.expiresAt, expires.micros <= Int64(Date().timeIntervalSince1970 * 1_000_000) {
            throw GraphQLFailure("Expiration time must be in the future")
        }
        let organization = context.access.organization
        let user: UserID? = if case .user(let id) = owner { id } else { nil }
        let expiry = input.expiresAt.map { Date(timeIntervalSince1970: Double($0.micros) / 1_000_000) }
        let authenticator = accounts.authenticator
        return try await context.attempt {
            try await context.scope.members.createAPIKey(owner, name: name, description: input.description, expiresMicros: input.expiresAt?.micros) {
                id in try await authenticator.mintAPIKey(id: id, organization: organization, user: user, expires: expiry)
            }
        }
    }

    func deleteUserApiKey(context: GraphQLContext, arguments: InputArguments<DeleteAPIKeyInput>) async throws -> DeleteAPIKeyPayload {
        let accounts = try context.requireAccounts()
        guard let user = context.access.user else { throw GraphQLFailure("API key not found") }
        let id = try arguments.input.id.rowID(of: NodeType.userAPIKey)
        guard try await context.attempt({ try await context.scope.members.deleteAPIKey(id, owner: .user(user)) }) else {
            throw GraphQLFailure("API key not found")
        }
        accounts.authenticator.forget(.apiKey, id: id)
        return DeleteAPIKeyPayload(apiKeyId: arguments.input.id)
    }

    func deleteSystemApiKey(context: GraphQLContext, arguments: InputArguments<DeleteAPIKeyInput>) async throws -> DeleteAPIKeyPayload {
        let accounts = try context.requireAccounts()
        try context.requireAdmin()
        let id = try arguments.input.id.rowID(of: NodeType.systemAPIKey)
        guard try await context.attempt({ try await context.scope.members.deleteAPIKey(id, owner: .system) }) else {
            throw GraphQLFailure("API key not found")
        }
        accounts.authenticator.forget(.apiKey, id: id)
        return DeleteAPIKeyPayload(apiKeyId: arguments.input.id)
    }

    func createUser(context: GraphQLContext, arguments: InputArguments<CreateUserInput>) async throws -> UserMutationPayload {
        let accounts = try context.requireAccounts()
        try context.requireAdmin()
        let input = arguments.input
        guard (input.authMethod ?? .LOCAL) == .LOCAL else { throw GraphQLFailure("Only LOCAL users can be created") }
        let email = input.email.trimmingCharacters(in: .whitespaces).lowercased()
        let username = input.username.trimmingCharacters(in: .whitespaces)
        guard UserAccounts.isEmail(email) else { throw GraphQLFailure("Invalid email address: \(email)") }
        guard !username.isEmpty else { throw GraphQLFailure("Username must not be empty") }
        let password = (input.password ?? "").isEmpty ? UserAccounts.randomPassword() : input.password!
        if let problem = UserAccounts.passwordProblem(password) { throw GraphQLFailure(problem) }
        let installation = accounts.database.installation(logger: context.logger)
        let hash = try await PasswordHashing.hash(password, parameters: accounts.authenticator.settings.passwordParameters)
        guard
            let account = try await context.attempt({
                try await installation.createAccount(
                    email: email, username: username, passwordHash: hash, passwordNeedsReset: true, installationAdmin: false)
            })
        else { throw GraphQLFailure("Email already exists") }
        try await context.attempt { try await installation.addMember(account.id, to: context.access.organization, role: input.role.role) }
        return UserMutationPayload(user: UserNode(user: account, roleName: input.role.rawValue))
    }

    func patchUser(context: GraphQLContext, arguments: InputArguments<PatchUserInput>) async throws -> UserMutationPayload {
        let accounts = try context.requireAccounts()
        try context.requireAdmin()
        let input = arguments.input
        let user = UserID(try input.userId.rowID(of: NodeType.user))
        guard let member = try await context.attempt({ try await context.scope.members.member(user) }) else {
            throw GraphQLFailure("User not found")
        }
        if input.newUsername != nil || input.newPassword != nil, !context.access.installationAdmin {
            // An account is the person's across the installation: an organization's admin may change it
            // only while it belongs to that organization alone.
            let memberships = try await context.attempt({
                try await accounts.database.installation(logger: context.logger).memberships(of: user)
            })
            if memberships.contains(where: { $0.organization.id != context.access.organization }) {
                throw GraphQLFailure("This person belongs to other organizations too: only they or an installation administrator can change their username or password")
            }
        }
        if let newRole = input.newRole {
            if member.user.email == AuthBootstrap.defaultAdminEmail { throw GraphQLFailure("Cannot modify role for the default admin user") }
            if user == context.access.user { throw GraphQLFailure("Cannot modify own role") }
            switch try await context.attempt({ try await context.scope.members.changeRole(user, to: newRole.role) }) {
            case .done: break
            case .notMember: throw GraphQLFailure("User not found")
            case .lastAdmin: throw GraphQLFailure("The organization's last admin cannot be demoted")
            }
        }
        let installation = accounts.database.installation(logger: context.logger)
        var account = member.user
        if input.newUsername != nil || input.newPassword != nil {
            var hash: String?
            if let password = input.newPassword {
                if let problem = UserAccounts.passwordProblem(password) { throw GraphQLFailure(problem) }
                hash = try await PasswordHashing.hash(password, parameters: accounts.authenticator.settings.passwordParameters)
            }
            let username = input.newUsername?.trimmingCharacters(in: .whitespaces)
            if username?.isEmpty == true { throw GraphQLFailure("Username must not be empty") }
            account =
                try await context.attempt({
                    try await installation.updateAccount(
                        user, username: username, passwordHash: hash, passwordNeedsReset: hash == nil ? nil : true)
                }) ?? account
            // A password set by someone else ends the person's sessions.
            if hash != nil { await accounts.authenticator.endSessions(of: user) }
        }
        accounts.authenticator.forget(user: user)
        return UserMutationPayload(user: UserNode(user: account, roleName: input.newRole?.rawValue ?? member.role.rawValue))
    }

    /// The caller's own username and password; a new password (with the current one) ends every
    /// session of theirs.
    func patchViewer(context: GraphQLContext, arguments: InputArguments<PatchViewerInput>) async throws -> UserMutationPayload {
        let accounts = try context.requireAccounts()
        let input = arguments.input
        guard let user = context.access.user else { throw GraphQLFailure("The system user cannot be changed") }
        let installation = accounts.database.installation(logger: context.logger)
        guard let account = try await context.attempt({ try await installation.account(user) }) else { throw GraphQLFailure("User not found") }
        var hash: String?
        if let password = input.newPassword {
            guard let current = input.currentPassword else { throw GraphQLFailure("current_password is required when modifying password") }
            guard let record = account.passwordHash, try await PasswordHashing.verify(current, against: record) else {
                throw GraphQLFailure("Valid current password is required to modify password")
            }
            if let problem = UserAccounts.passwordProblem(password) { throw GraphQLFailure(problem) }
            hash = try await PasswordHashing.hash(password, parameters: accounts.authenticator.settings.passwordParameters)
        }
        let username = input.newUsername?.trimmingCharacters(in: .whitespaces)
        if username?.isEmpty == true { throw GraphQLFailure("Username must not be empty") }
        let updated =
            try await context.attempt({
                try await installation.updateAccount(user, username: username, passwordHash: hash, passwordNeedsReset: hash == nil ? nil : false)
            }) ?? account
        if hash != nil { await accounts.authenticator.endSessions(of: user) }
        return UserMutationPayload(user: UserNode(user: updated, roleName: context.access.role.rawValue))
    }

    /// Removes people from the organization (their keys and sessions there are revoked); accounts left
    /// in no organization are deleted.
    func deleteUsers(context: GraphQLContext, arguments: InputArguments<DeleteUsersInput>) async throws -> DeleteUsersPayload {
        let accounts = try context.requireAccounts()
        try context.requireAdmin()
        var users: [UserID] = []
        for id in arguments.input.userIds {
            guard let row = GlobalID(encoded: id.value, type: NodeType.user) else { throw GraphQLFailure("Invalid user ID: '\(id.value)'") }
            users.append(UserID(row.rowID))
        }
        var members: [MemberRow] = []
        for user in users {
            guard let member = try await context.attempt({ try await context.scope.members.member(user) }) else {
                throw GraphQLFailure("Some user IDs could not be found")
            }
            if member.user.email == AuthBootstrap.defaultAdminEmail { throw GraphQLFailure("Cannot delete the default admin user") }
            members.append(member)
        }
        for member in members {
            switch try await context.attempt({ try await accounts.authenticator.removeMember(member.user.id, from: context.scope.members) }) {
            case .done, .notMember: break
            case .lastAdmin: throw GraphQLFailure("The organization's last admin cannot be deleted")
            }
        }
        return DeleteUsersPayload(userIds: arguments.input.userIds)
    }
}
