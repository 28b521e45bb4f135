import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird

/// `/v1/organizations`: Cinder's own API for the tenants of an installation. Installation
/// administrators create, rename and delete organizations and name their first admin; an
/// organization's admins manage its members and their roles. Another organization's id is answered
/// 404, as for any other row.
struct OrganizationsAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/organizations") { _, context in try await list(context) }
        router.post("/v1/organizations") { request, context in try await create(request, context) }
        router.get("/v1/organizations/:organization") { _, context in
            let (organization, _) = try await visible(context)
            return jsonResponse(["data": Self.json(organization)])
        }
        router.patch("/v1/organizations/:organization") { request, context in try await rename(request, context) }
        router.delete("/v1/organizations/:organization") { _, context in try await delete(context) }
        router.get("/v1/organizations/:organization/members") { request, context in try await members(request, context) }
        router.post("/v1/organizations/:organization/members") { request, context in try await addMember(request, context) }
        router.patch("/v1/organizations/:organization/members/:user_id") { request, context in try await changeRole(request, context) }
        router.delete("/v1/organizations/:organization/members/:user_id") { _, context in try await removeMember(context) }
        router.get("/v1/organizations/:organization/quotas") { _, context in try await quotas(context) }
        router.put("/v1/organizations/:organization/quotas") { request, context in try await setQuotas(request, context) }
    }

    static func json(_ organization: OrganizationRow, role: OrganizationRole? = nil) -> JSONValue {
        var json: [String: JSONValue] = [
            "id": .string(GlobalID(NodeType.organization, organization.id.rawValue).encoded), "name": .string(organization.name),
            "created_at": iso(organization.createdMicros), "updated_at": iso(organization.updatedMicros),
        ]
        if let role { json["role"] = .string(role.rawValue) }
        return .object(json)
    }

    /// Installation administrators see every organization; others the ones they belong to.
    func list(_ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        let access = try context.requireAccess()
        let installation = api.database.installation(logger: context.logger)
        if access.installationAdmin {
            return jsonResponse(["data": .array(try await installation.organizations().map { Self.json($0) })])
        }
        if let user = access.user {
            let memberships = try await installation.memberships(of: user)
            return jsonResponse(["data": .array(memberships.map { Self.json($0.organization, role: $0.role) })])
        }
        // A system key belongs to exactly one organization.
        guard let organization = try await installation.organization(access.organization) else { return jsonResponse(["data": []]) }
        return jsonResponse(["data": [Self.json(organization)]])
    }

    func create(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        try Self.requireInstallationAdmin(context)
        let body = try await JSONBody.fields(request, context)
        let name = try body.string("name", minLength: 1).trimmingCharacters(in: .whitespaces)
        let installation = api.database.installation(logger: context.logger)
        // The first admin is checked before anything is created.
        var admin: (email: String, username: String?, password: String?)?
        if let fields = try body.object("admin") {
            let email = try fields.string("email").trimmingCharacters(in: .whitespaces)
            guard UserAccounts.isEmail(email) else { throw CinderError.badRequest("Invalid email address: \(email)") }
            let password = try fields.optionalString("password")
            if let password, let problem = UserAccounts.passwordProblem(password) { throw CinderError.badRequest(problem) }
            admin = (email, try fields.optionalString("username"), password)
        }
        guard let organization = try await installation.createOrganization(named: name) else {
            throw CinderError(.conflict, "An organization named '\(name)' already exists")
        }
        if let admin {
            let account: UserRow
            if let existing = try await installation.account(email: admin.email) {
                account = existing
            } else {
                guard let password = admin.password else {
                    throw CinderError.badRequest("A new admin account needs a password (no account has the email \(admin.email))")
                }
                let hash = try await PasswordHashing.hash(password, parameters: authenticator.settings.passwordParameters)
                guard
                    let created = try await installation.createAccount(
                        email: admin.email, username: admin.username ?? admin.email, passwordHash: hash, passwordNeedsReset: true,
                        installationAdmin: false)
                else { throw CinderError(.conflict, "User with email \(admin.email) already exists") }
                account = created
            }
            try await installation.addMember(account.id, to: organization.id, role: .admin)
        }
        return jsonResponse(["data": Self.json(organization)], status: .created)
    }

    func rename(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        try Self.requireInstallationAdmin(context)
        let (organization, _) = try await visible(context)
        let name = try await JSONBody.fields(request, context).string("name", minLength: 1).trimmingCharacters(in: .whitespaces)
        switch try await api.database.installation(logger: context.logger).renameOrganization(organization.id, to: name) {
        case .updated(let row): return jsonResponse(["data": Self.json(row)])
        case .notFound: throw CinderError.notFound("Organization not found")
        case .nameTaken: throw CinderError(.conflict, "An organization named '\(name)' already exists")
        }
    }

    /// Deletes the organization with everything in it; its keys and sessions stop working.
    func delete(_ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        try Self.requireInstallationAdmin(context)
        let (organization, _) = try await visible(context)
        guard organization.id != .default else {
            throw CinderError.forbidden("The default organization cannot be deleted")
        }
        guard try await api.database.installation(logger: context.logger).deleteOrganization(organization.id) else {
            throw CinderError.notFound("Organization not found")
        }
        authenticator.forget(organization: organization.id)
        return Response(status: .noContent)
    }

    func members(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        let members = try await administered(context)
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100)
        let cursor = try rowIDCursor(query.string("cursor"))
        let rows = try await members.members(atOrBeforeID: cursor, limit: limit + 1)
        return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.user, $0.user.id.rawValue).encoded }) {
            UsersAPI.json($0.user, role: $0.role.rawValue)
        }
    }

    /// Adds an existing account, by email, with a role: installation administrators only, since an
    /// organization's admin must neither look accounts up by email nor enrol people without them
    /// (they create new people with POST /v1/users).
    func addMember(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        try Self.requireInstallationAdmin(context, "Only installation administrators can add existing accounts; create people with POST /v1/users")
        let members = try await administered(context)
        let body = try await JSONBody.fields(request, context)
        let email = try body.string("email").trimmingCharacters(in: .whitespaces)
        let role = try Self.role(body)
        guard let account = try await api.database.installation(logger: context.logger).account(email: email) else {
            throw CinderError.notFound("No account has the email \(email)")
        }
        guard try await members.add(account.id, role: role) else {
            throw CinderError(.conflict, "\(email) is a member already; change the role with PATCH")
        }
        authenticator.forget(user: account.id)
        return jsonResponse(["data": UsersAPI.json(account, role: role.rawValue)], status: .created)
    }

    func changeRole(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        let members = try await administered(context)
        let user = try Self.userID(context)
        let role = try Self.role(try await JSONBody.fields(request, context))
        guard let member = try await members.member(user) else { throw CinderError.notFound("User not found") }
        if member.user.email == AuthBootstrap.defaultAdminEmail { throw CinderError.forbidden("Cannot modify role for the default admin user") }
        if user == context.access?.user { throw CinderError.forbidden("Cannot modify own role") }
        switch try await members.changeRole(user, to: role) {
        case .done: break
        case .notMember: throw CinderError.notFound("User not found")
        case .lastAdmin: throw CinderError(.conflict, "The organization's last admin cannot be demoted")
        }
        authenticator.forget(user: user)
        return jsonResponse(["data": UsersAPI.json(member.user, role: role.rawValue)])
    }

    func removeMember(_ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        let members = try await administered(context)
        let user = try Self.userID(context)
        guard let member = try await members.member(user) else { throw CinderError.notFound("User not found") }
        if member.user.email == AuthBootstrap.defaultAdminEmail { throw CinderError.forbidden("Cannot delete the default admin or system user") }
        switch try await authenticator.removeMember(user, from: members) {
        case .done: return Response(status: .noContent)
        case .notMember: throw CinderError.notFound("User not found")
        case .lastAdmin: throw CinderError(.conflict, "The organization's last admin cannot be removed")
        }
    }

    // MARK: Ingestion quotas

    static func json(_ quota: IngestionQuota) -> JSONValue {
        [
            "spans_per_second": quota.spansPerSecond.map { .int(Int64($0)) } ?? .null,
            "burst_spans": quota.burstSpans.map { .int(Int64($0)) } ?? .null,
            "max_request_bytes": quota.maxRequestBytes.map { .int(Int64($0)) } ?? .null,
        ]
    }

    /// The organization's own ingestion limits (null: the installation's default); its admins and
    /// installation administrators read them.
    func quotas(_ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        let members = try await administered(context)
        return jsonResponse(["data": Self.json(try await members.ingestionQuota())])
    }

    /// Sets the organization's ingestion limits (installation administrators); receivers apply them
    /// within 30 seconds.
    func setQuotas(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        try Self.requireInstallationAdmin(context)
        let (organization, _) = try await visible(context)
        let body = try await JSONBody.fields(request, context)
        func limit(_ key: String) throws -> Int? {
            guard let value = try body.optionalInt(key) else { return nil }
            guard value > 0 else { throw CinderError.invalid(["body", key], "Input should be greater than 0", type: "greater_than", input: String(value)) }
            return value
        }
        let quota = IngestionQuota(
            spansPerSecond: try limit("spans_per_second"), burstSpans: try limit("burst_spans"), maxRequestBytes: try limit("max_request_bytes"))
        let members = api.database.installation(logger: context.logger).members(of: organization.id)
        try await members.setIngestionQuota(quota)
        return jsonResponse(["data": Self.json(quota)])
    }

    // MARK: Who may see and manage which organization

    static func requireInstallationAdmin(
        _ context: CinderRequestContext, _ message: String = "Only installation administrators can manage organizations"
    ) throws {
        guard try context.requireAccess().installationAdmin else { throw CinderError.forbidden(message) }
    }

    /// The organization in the path, when the caller may see it: installation administrators any,
    /// others only the one they act in (another organization's id is not found).
    func visible(_ context: CinderRequestContext) async throws -> (OrganizationRow, Access) {
        let access = try context.requireAccess()
        let raw = try pathParameter(context, "organization")
        guard let id = GlobalID(encoded: raw, type: NodeType.organization) else { throw CinderError.notFound("Organization not found") }
        let organization = OrganizationID(id.rowID)
        guard access.installationAdmin || organization == access.organization,
            let row = try await api.database.installation(logger: context.logger).organization(organization)
        else { throw CinderError.notFound("Organization not found") }
        return (row, access)
    }

    /// The members of the organization in the path, for its admins (or installation administrators).
    func administered(_ context: CinderRequestContext) async throws -> MemberRepository {
        let (organization, access) = try await visible(context)
        if organization.id == access.organization {
            guard access.role.canAdminister else { throw CinderError.adminOnly }
            return try api.scope(context).members
        }
        return api.database.installation(logger: context.logger).members(of: organization.id)
    }

    static func userID(_ context: CinderRequestContext) throws -> UserID {
        let raw = try pathParameter(context, "user_id")
        guard let id = GlobalID(encoded: raw, type: NodeType.user) else { throw CinderError.notFound("User not found") }
        return UserID(id.rowID)
    }

    static func role(_ body: BodyFields) throws -> OrganizationRole {
        OrganizationRole(rawValue: try body.literal("role", OrganizationRole.allCases.map(\.rawValue)))!
    }
}
