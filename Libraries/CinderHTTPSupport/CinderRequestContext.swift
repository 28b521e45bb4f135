import CinderModel
import HTTPTypes
import Hummingbird
import NIOCore

/// Request context for every Cinder HTTP route. `access` is set once, by the authentication
/// middleware, from the caller's credential (or to the local user when auth is off); a route that
/// needs it and finds none refuses the request, so nothing ever falls back to an organization.
public struct CinderRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var access: Access?
    public let remoteAddress: SocketAddress?
    /// Upload limit for buffered bodies; OTLP routes apply their own (configurable) limit.
    public var maxUploadSize: Int { 64 << 20 }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The client's address for per-client limits: the peer, or the first `X-Forwarded-For` address
    /// when the peer is a proxy on this host (as uvicorn, and so Phoenix, trust it).
    public func clientAddress(_ request: Request) -> String {
        let peer = remoteAddress?.ipAddress ?? "unknown"
        if peer == "127.0.0.1" || peer == "::1", let forwarded = request.headers[HTTPField.Name("x-forwarded-for")!] {
            let first = forwarded.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if !first.isEmpty { return first }
        }
        return peer
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
