import CinderHTTPSupport
import CinderIngest
import CinderModel
import CinderStorage
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Phoenix's REST API (`/v1`) over Cinder's storage.
public struct PhoenixAPI: Sendable {
    /// The Phoenix release whose REST API this implements. The official client reads it from
    /// `/arize_phoenix_version` to decide which features the server has.
    public static let phoenixVersion = "20.26.1"
    static let versionHeader = HTTPField.Name("x-phoenix-server-version")!

    let database: Database
    /// Where spans created through the REST API go; nil on a server without ingestion.
    let spanQueue: (any SpanQueue)?

    public init(database: Database, spanQueue: (any SpanQueue)?) {
        self.database = database
        self.spanQueue = spanQueue
    }

    func store(_ context: CinderRequestContext) -> TenantStore {
        database.scoped(to: context.organizationID, logger: context.logger)
    }

    public func addRoutes(to router: Router<CinderRequestContext>) {
        router.get("/arize_phoenix_version") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: Self.phoenixVersion)))
        }
        ProjectsAPI(api: self).add(to: router)
        SpansAPI(api: self).add(to: router)
        SpanDataFrameAPI(api: self).add(to: router)
        TracesAPI(api: self).add(to: router)
        SessionsAPI(api: self).add(to: router)
        AnnotationsAPI(api: self).add(to: router)
        AnnotationConfigsAPI(api: self).add(to: router)
        DatasetsAPI(api: self).add(to: router)
        ExperimentsAPI(api: self).add(to: router)
        PromptsAPI(api: self).add(to: router)
    }
}

/// Adds `x-phoenix-server-version` to every response, as Phoenix does.
public struct PhoenixVersionHeaderMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[PhoenixAPI.versionHeader] = PhoenixAPI.phoenixVersion
        return response
    }
}
