import CinderAuth
import CinderModel
import HTTPTypes
import Hummingbird

/// Phoenix's cookie names, so a browser session works the same way against both.
public enum SessionCookies {
    public static let access = "phoenix-access-token"
    public static let refresh = "phoenix-refresh-token"
}

/// Resolves every request's credential to its `Access` once, at the edge; a request without a valid
/// one is answered 401 (`WWW-Authenticate: Bearer`) before any route runs. Routes registered before
/// this middleware (health, metrics, sign-in) need no credential.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = CinderRequestContext

    /// Names the organization a call with the admin secret acts in (its name or global id); any other
    /// credential carries its own organization and ignores this header.
    public static let organizationHeader = HTTPField.Name("x-cinder-organization")!

    let authenticator: Authenticator

    public init(authenticator: Authenticator) {
        self.authenticator = authenticator
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = Self.credential(in: request) else { throw CinderError.unauthenticated }
        var context = context
        context.access = try await authenticator.access(presenting: token, organizationHeader: request.headers[Self.organizationHeader])
        return try await next(request, context)
    }

    /// A bearer token, else the session's access-token cookie.
    public static func credential(in request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                return token.isEmpty ? nil : token
            }
            return nil
        }
        return cookie(SessionCookies.access, in: request)
    }

    public static func cookie(_ name: String, in request: Request) -> String? {
        request.cookies[name]?.value
    }
}

/// Viewers read: any request that may change data is refused for them (403) before its route runs,
/// except those `viewersMay` allows (queries sent as POST, a person's own API keys; GraphQL checks
/// each operation itself). The storage scope refuses a viewer's writes as well, whatever a route does.
public struct ViewerMiddleware: RouterMiddleware {
    public typealias Context = CinderRequestContext

    let viewersMay: @Sendable (HTTPRequest.Method, String) -> Bool

    public init(viewersMay: @escaping @Sendable (HTTPRequest.Method, String) -> Bool) {
        self.viewersMay = viewersMay
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let access = context.access, !access.role.canWrite {
            let reads = request.method == .get || request.method == .head || request.method == .options
            if !reads && !viewersMay(request.method, request.uri.path) { throw CinderError.viewerCannotWrite }
        }
        return try await next(request, context)
    }
}
