import CinderModel
import Hummingbird

/// Request context for every Cinder HTTP route. `access` is set once, by the authentication
/// middleware, from the caller's credential (or to the local user when auth is off); a route that
/// needs it and finds none refuses the request, so nothing ever falls back to an organization.
public struct CinderRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var access: Access?
    /// Upload limit for buffered bodies; OTLP routes apply their own (configurable) limit.
    public var maxUploadSize: Int { 64 << 20 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// The caller's access; fails closed when the request was not authenticated.
    public func requireAccess() throws(CinderError) -> Access {
        guard let access else { throw CinderError.unauthenticated }
        return access
    }

    /// The caller's access, when its role may change data.
    public func requireWriteAccess() throws(CinderError) -> Access {
        let access = try requireAccess()
        guard access.role.canWrite else { throw CinderError.viewerCannotWrite }
        return access
    }

    /// The caller's access, when it administers its organization.
    public func requireAdminAccess() throws(CinderError) -> Access {
        let access = try requireAccess()
        guard access.role.canAdminister else { throw CinderError.adminOnly }
        return access
    }
}

/// With auth off, every request acts as the local user: an admin of the default organization.
public struct LocalAccessMiddleware: RouterMiddleware {
    public typealias Context = CinderRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.access = .local
        return try await next(request, context)
    }
}
