import CinderAuth
import CinderHTTPSupport
import CinderModel
import CinderStorage
import Foundation
import HTTPTypes
import Hummingbird

/// Phoenix's browser sign-in: `POST /auth/login` sets the access and refresh cookies, `POST
/// /auth/refresh` trades the refresh cookie for new ones (once), `GET /auth/logout` revokes the
/// session and clears them. Cinder adds `POST /auth/switch`, which opens a session in another of the
/// person's organizations.
public struct AuthAPI: Sendable {
    let authenticator: Authenticator
    let database: Database
    let limits: SignInLimits
    /// `PHOENIX_USE_SECURE_COOKIES`: mark the cookies Secure (behind HTTPS).
    let secureCookies: Bool

    public init(authenticator: Authenticator, database: Database, limits: SignInLimits, secureCookies: Bool) {
        self.authenticator = authenticator
        self.database = database
        self.limits = limits
        self.secureCookies = secureCookies
    }

    /// Routes that need no credential; register them before the authentication middleware.
    public func addPublicRoutes(to router: Router<CinderRequestContext>) {
        let api = self
        router.post("/auth/login") { request, context in
            try api.limit(request, context)
            return try await api.login(request, context)
        }
        router.post("/auth/refresh") { request, context in
            try api.limit(request, context)
            return try await api.refresh(request)
        }
        router.get("/auth/logout") { request, context in
            try api.limit(request, context)
            return await api.logout(request)
        }
    }

    /// Routes behind the authentication middleware.
    public func addRoutes(to router: Router<CinderRequestContext>) {
        let api = self
        router.post("/auth/switch") { request, context in try await api.switchOrganization(request, context) }
    }

    /// With auth off there is nobody to sign in: the routes exist and say so.
    public static func addDisabledRoutes(to router: Router<CinderRequestContext>) {
        let disabled: @Sendable (Request, CinderRequestContext) async throws -> Response = { _, _ in
            throw CinderError.forbidden("Authentication is not enabled on this server (PHOENIX_ENABLE_AUTH=true enables it)")
        }
        router.post("/auth/login", use: disabled)
        router.post("/auth/refresh", use: disabled)
        router.get("/auth/logout", use: disabled)
        router.post("/auth/switch", use: disabled)
    }

    /// The per-client limit on the sign-in routes.
    func limit(_ request: Request, _ context: CinderRequestContext) throws {
        if let limiter = limits.perClient, let wait = limiter.take(context.clientAddress(request)) {
            throw CinderError(.rateLimited, "Too Many Requests", retryAfterSeconds: wait)
        }
    }

    func login(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body: [String: JSONValue]
        do {
            body = try await JSONBody.object(request, context)
        } catch {
            throw CinderError.badRequest("The request body must be a JSON object with email and password")
        }
        guard case .string(let rawEmail)? = body["email"], case .string(let password)? = body["password"], !rawEmail.isEmpty, !password.isEmpty
        else { throw CinderError(.unauthenticated, "Email and password required") }
        let email = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
        if let throttle = limits.perEmail, let wait = throttle.retryAfter(email) {
            throw CinderError(.rateLimited, "Too many failed login attempts. Please try again later.", retryAfterSeconds: wait)
        }
        var organization: OrganizationID?
        if case .string(let wanted)? = body["organization_id"] {
            guard let id = GlobalID(encoded: wanted, type: NodeType.organization) else { throw CinderError.notFound("Organization not found") }
            organization = OrganizationID(id.rowID)
        }
        let result: Result<IssuedSession, CinderError>
        do {
            result = .success(try await authenticator.signIn(email: email, password: password, organization: organization))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let session):
            limits.perEmail?.recordSuccess(email)
            return sessionResponse(session)
        case .failure(let error):
            if error.code == .unauthenticated { limits.perEmail?.recordFailure(email) }
            throw error
        }
    }

    /// Trades the refresh cookie for new cookies; the access token presented with it is revoked too.
    func refresh(_ request: Request) async throws -> Response {
        guard let token = AuthenticationMiddleware.cookie(SessionCookies.refresh, in: request) else {
            throw CinderError(.unauthenticated, "Missing refresh token")
        }
        let session = try await authenticator.refresh(token)
        return sessionResponse(session)
    }

    /// Ends every session of the person (in all their organizations), clears the cookies and sends
    /// the browser to the sign-in page. API keys stay valid.
    func logout(_ request: Request) async -> Response {
        var access: Access?
        if let token = AuthenticationMiddleware.credential(in: request) {
            access = try? await authenticator.access(presenting: token)
        }
        await authenticator.signOut(refreshToken: AuthenticationMiddleware.cookie(SessionCookies.refresh, in: request), access: access)
        var response = Response(status: .found, headers: [.location: "/login"])
        for name in [SessionCookies.access, SessionCookies.refresh] {
            response.setCookie(Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secureCookies, httpOnly: true, sameSite: .strict))
        }
        return response
    }

    func switchOrganization(_ request: Request, _ context: CinderRequestContext) async throws -> Response {
        let body = try await JSONBody.fields(request, context)
        let raw = try body.string("organization_id")
        guard let id = GlobalID(encoded: raw, type: NodeType.organization) else { throw CinderError.notFound("Organization not found") }
        let session = try await authenticator.switchOrganization(try context.requireAccess(), to: OrganizationID(id.rowID))
        return sessionResponse(session)
    }

    /// 204 with the session's cookies, lasting as long as their tokens.
    func sessionResponse(_ session: IssuedSession) -> Response {
        var response = Response(status: .noContent)
        response.setCookie(cookie(SessionCookies.access, session.accessToken, until: session.accessExpires))
        response.setCookie(cookie(SessionCookies.refresh, session.refreshToken, until: session.refreshExpires))
        return response
    }

    func cookie(_ name: String, _ value: String, until expires: Date) -> Cookie {
        Cookie(
            name: name, value: value, maxAge: max(0, Int(expires.timeIntervalSinceNow)), path: "/", secure: secureCookies, httpOnly: true,
            sameSite: .strict)
    }
}

/// Sign-in's protections, each optional as in Phoenix (`PHOENIX_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION`,
/// `PHOENIX_DISABLE_RATE_LIMIT`).
public struct SignInLimits: Sendable {
    public var perEmail: SignInThrottle?
    public var perClient: RequestRateLimiter?

    public init(perEmail: SignInThrottle?, perClient: RequestRateLimiter?) {
        self.perEmail = perEmail
        self.perClient = perClient
    }
}
