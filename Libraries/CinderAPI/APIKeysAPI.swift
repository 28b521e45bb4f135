import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import Hummingbird

/// API keys: a person's own (`/v1/user/api_keys`), every person's for admins (`/v1/users/api_keys`),
/// and the organization's system keys (`/v1/system/api_keys`, admins). A key is shown once, when it is
/// created; deleting it revokes it.
struct APIKeysAPI {
    let api: PhoenixAPI

    func add(to router: Router<CinderRequestContext>) {
        router.get("/v1/user/api_keys") { _, context in
            // The system user has no keys of its own.
            guard let user = try context.requireAccess().user else { return jsonResponse(["data": []]) }
            return try await list(.user(user), context)
        }
        router.post("/v1/user/api_keys") { request, context in
            let access = try context.requireAccess()
            guard case .user(let user, keyID: nil) = access.principal else { throw Self.keysCannotCreateKeys }
            return try await create(.user(user), request, context)
        }
        router.delete("/v1/user/api_keys/:api_key_id") { _, context in
            let access = try context.requireAccess()
            if case .systemKey = access.principal {
                throw CinderError.forbidden("System API keys must be managed through the /system/api_keys endpoints.")
            }
            // Admins remove anyone's keys; others only their own (someone else's is not found).
            let owner: MemberRepository.KeyOwner = access.role.canAdminister ? .anyUser : .user(access.user!)
            return try await delete(owner, type: NodeType.userAPIKey, context)
        }
        router.get("/v1/users/api_keys") { request, context in try await listAll(request, context) }
        router.get("/v1/system/api_keys") { _, context in
            _ = try context.requireAdminAccess()
            return try await list(.system, context)
        }
        router.post("/v1/system/api_keys") { request, context in
            let access = try context.requireAdminAccess()
            if case .user(_, keyID: .some) = access.principal { throw Self.keysCannotCreateKeys }
            return try await create(.system, request, context)
        }
        router.delete("/v1/system/api_keys/:api_key_id") { _, context in
            _ = try context.requireAdminAccess()
            return try await delete(.system, type: NodeType.systemAPIKey, context)
        }
    }

    /// Keys are minted in a signed-in session (or, for system keys, with the admin secret), never by
    /// another key: a leaked key cannot multiply itself.
    static let keysCannotCreateKeys = CinderError.forbidden("API keys cannot create API keys")

    static func nodeType(_ owner: MemberRepository.KeyOwner) -> String {
        owner == .system ? NodeType.systemAPIKey : NodeType.userAPIKey
    }

    /// Phoenix leaves out a key's description and expiry when it has none.
    static func json(_ key: APIKeyRow) -> [String: JSONValue] {
        var json: [String: JSONValue] = [
            "id": .string(GlobalID(key.userID == nil ? NodeType.systemAPIKey : NodeType.userAPIKey, key.id).encoded),
            "name": .string(key.name), "created_at": iso(key.createdMicros),
        ]
        if let description = key.description { json["description"] = .string(description) }
        if let expires = key.expiresMicros { json["expires_at"] = iso(expires) }
        return json
    }

    func list(_ owner: MemberRepository.KeyOwner, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        let keys = try await api.scope(context).members.apiKeys(owner)
        return jsonResponse(["data": .array(keys.map { .object(Self.json($0)) })])
    }

    /// Every person's keys with their owner (admins), newest first.
    func listAll(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        _ = try context.requireAdminAccess()
        let query = QueryParameters(request)
        let limit = try query.int("limit", default: 100, max: 1000)
        var cursor: Int64?
        if let raw = query.string("cursor") {
            guard let id = GlobalID(encoded: raw, type: NodeType.userAPIKey) else {
                throw CinderError.invalid(["query", "cursor"], "Invalid cursor: \(raw)", type: "value_error", input: raw)
            }
            cursor = id.rowID
        }
        let rows = try await api.scope(context).members.userKeys(atOrBeforeID: cursor, limit: limit + 1)
        return pageResponse(rows, limit: limit, cursor: { GlobalID(NodeType.userAPIKey, $0.key.id).encoded }) { row in
            var json = Self.json(row.key)
            json["user"] = [
                "id": .string(GlobalID(NodeType.user, row.owner.id.rawValue).encoded), "username": .string(row.owner.username),
                "email": .string(row.owner.email),
            ]
            return .object(json)
        }
    }

    func create(_ owner: MemberRepository.KeyOwner, _ request: Request, _ context: CinderRequestContext) async throws -> Response {
        _ = try api.requireAuthenticator()
        let access = try context.requireAccess()
        let body = try await JSONBody.fields(request, context)
        let data = try body.requiredObject("data")
        let name = try data.string("name").trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else {
            throw CinderError.invalid(["body", "data", "name"], "Value error, Name cannot be empty", type: "value_error", input: name)
        }
        let description = try data.optionalString("description")
        var expires: Int64?
        if let raw = try data.optionalString("expires_at") {
            expires = try QueryParameters.parseDatetime(raw, location: ["body", "data", "expires_at"])
            if let expires, expires <= Int64(Date().timeIntervalSince1970 * 1_000_000) {
                throw CinderError.invalid(
                    ["body", "data", "expires_at"], "Value error, Expiration time must be in the future", type: "value_error", input: raw)
            }
        }
        let authenticator = try api.requireAuthenticator()
        let user: UserID? = if case .user(let id) = owner { id } else { nil }
        let expiryDate = expires.map { Date(timeIntervalSince1970: Double($0) / 1_000_000) }
        let (key, token) = try await api.scope(context).members.createAPIKey(owner, name: name, description: description, expiresMicros: expires) {
            id in try await authenticator.mintAPIKey(id: id, organization: access.organization, user: user, expires: expiryDate)
        }
        var json = Self.json(key)
        json["key"] = .string(token)
        return jsonResponse(["data": .object(json)], status: .created)
    }

    func delete(_ owner: MemberRepository.KeyOwner, type: String, _ context: CinderRequestContext) async throws -> Response {
        let authenticator = try api.requireAuthenticator()
        let raw = try pathParameter(context, "api_key_id")
        guard let id = GlobalID(encoded: raw, type: type) else {
            throw CinderError(.unprocessable, "Invalid \(type) GlobalID format: \(raw)")
        }
        guard try await api.scope(context).members.deleteAPIKey(id.rowID, owner: owner) else {
            throw CinderError.notFound(owner == .system ? "System API key not found" : "API key not found")
        }
        authenticator.forget(.apiKey, id: id.rowID)
        return Response(status: .noContent)
    }
}
