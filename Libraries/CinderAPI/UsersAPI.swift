import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird

/// `/v1/user` (the caller) and `/v1/users` (the organization's people; admins only). Users are
/// accounts of the installation; these routes see and change only their membership of the caller's
/// organization, so an account that belongs to other organizations too is never listed or deleted
/// from here.
struct UsersAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/user") { _, context in try await viewer(context) }
        router.get("/v1/users") { request, context in try await list(request, context) }
        router.post("/v1/users") { request, context in try await create(request, context) }
        router.delete("/v1/users/:user_id") { _, context in try await delete(context) }
    }

    /// The caller. The admin secret and system keys act as Phoenix's system user. Cinder adds
    /// `organization_id`, the organization the credential acts in (what the UI's switcher shows).
    func viewer(_ context: CinderRequestContext) async throws -> Response {
        // Phoenix answers an anonymous viewer when auth is off.
        guard api.authenticator != nil else { return jsonResponse(["data": ["auth_method": "ANONYMOUS"]]) }
        let access = try context.requireAccess()
        let organization = JSONValue.string(GlobalID(NodeType.organization, access.organization.rawValue).encoded)
        return jsonResponse(["data": try await viewerJSON(access, context).adding("organization_id", organization)])
    }

    private func viewerJSON(_ access: Access, _ context: CinderRequestContext) async throws -> JSONValue {
        guard let user = access.user else { return Self.systemUser }
        if let member = try await api.scope(context).members.member(user) {
            return Self.json(member.user, role: Self.role(member.role, member.user))
        }
        guard let account = try await api.database.installation(logger: context.logger).account(user) else {
            throw CinderError.unauthenticated
        }
        return Self.json(account, role: "SYSTEM")
    }

    func list(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        _ = try context.requireAdminAccess()
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100)
        let cursor = try rowIDCursor(query.string("cursor"))
        let rows = try await api.scope(context).members.members(atOrBeforeID: cursor, limit: limit + 1)
        return pageResponse(
            rows, limit: limit, cursor: { GlobalID(NodeType.user, $0.user.id.rawValue).encoded },
            { Self.json($0.user, role: Self.role($0.role, $0.user)) })
    }

    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        let access = try context.requireAdminAccess()
        let body = try await JSONBody.fields(request, context)
        let user = try body.requiredObject("user")
        let email = try user.string("email").trimmingCharacters(in: .whitespaces).lowercased()
        let username = try user.string("username").trimmingCharacters(in: .whitespaces)
        let roleName = try user.literal("role", ["SYSTEM", "ADMIN", "MEMBER", "VIEWER"])
        let method = try user.literal("auth_method", ["LOCAL", "OAUTH2", "LDAP"])
        guard method == "LOCAL" else { throw CinderError.badRequest("Only LOCAL users can be created: Cinder has no OAuth2 or LDAP sign-in") }
        guard let role = OrganizationRole(rawValue: roleName) else { throw CinderError.badRequest("Cannot create users with SYSTEM role") }
        guard UserAccounts.isEmail(email) else { throw CinderError.badRequest("Invalid email address: \(email)") }
        guard !username.isEmpty else { throw CinderError.badRequest("Username must not be empty") }
        // Without a password the account gets a random one: the person signs in after an admin sets it.
        let given = try user.optionalString("password") ?? ""
        let password = given.isEmpty ? UserAccounts.randomPassword() : given
        if let problem = UserAccounts.passwordProblem(password) { throw CinderError.badRequest(problem) }

        let installation = api.database.installation(logger: context.logger)
        let hash = try await PasswordHashing.hash(password, parameters: authenticator.settings.passwordParameters)
        guard
            let account = try await installation.createAccount(
                email: email, username: username, passwordHash: hash, passwordNeedsReset: true, installationAdmin: false)
        else { throw CinderError(.conflict, "Email already exists") }
        try await installation.addMember(account.id, to: access.organization, role: role)
        return jsonResponse(["data": Self.json(account, role: role.rawValue)], status: .created)
    }

    /// Removes the person from the caller's organization (revoking their keys and sessions there); an
    /// account left in no organization is deleted.
    func delete(_ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        _ = try context.requireAdminAccess()
        let raw = try pathParameter(context, "user_id")
        guard let id = GlobalID(encoded: raw, type: NodeType.user) else {
            throw CinderError(.unprocessable, "Invalid User GlobalID format: \(raw)")
        }
        let user = UserID(id.rowID)
        let scope = try api.scope(context)
        guard let member = try await scope.members.member(user) else { throw CinderError.notFound("User not found") }
        if member.user.email == AuthBootstrap.defaultAdminEmail { throw CinderError.forbidden("Cannot delete the default admin or system user") }
        switch try await authenticator.removeMember(user, from: scope.members) {
        case .done: break
        case .notMember: throw CinderError.notFound("User not found")
        case .lastAdmin: throw CinderError(.conflict, "The organization's last admin cannot be deleted")
        }
        return Response(status: .noContent)
    }

    /// The role a person shows in an organization; installation administrators show as Phoenix's SYSTEM.
    static func role(_ role: OrganizationRole, _ user: UserRow) -> String { role.rawValue }

    static func json(_ user: UserRow, role: String) -> JSONValue {
        [
            "id": .string(GlobalID(NodeType.user, user.id.rawValue).encoded),
            "created_at": iso(user.createdMicros), "updated_at": iso(user.updatedMicros),
            "email": .string(user.email), "username": .string(user.username), "role": .string(role),
            "auth_method": "LOCAL", "password_needs_reset": .bool(user.passwordNeedsReset),
        ]
    }

    /// Phoenix's system user: what the admin secret and system keys are.
    static let systemUser: JSONValue = [
        "id": .string(GlobalID(NodeType.user, 0).encoded), "created_at": iso(0), "updated_at": iso(0),
        "email": "system@localhost", "username": "system", "role": "SYSTEM", "auth_method": "LOCAL", "password_needs_reset": false,
    ]
}
