import HTTPTypes
import Hummingbird
import NIOCore

/// Serves the web UI: the page shell on every screen's path (Phoenix's URL scheme, so shared links and
/// reloads land on the right screen) and the versioned files. Needs no credential: the page holds no
/// data, and the screens ask the API, which does.
public struct WebUIRoutes: Sendable {
    let assets: UIAssets

    public init(assets: UIAssets) {
        self.assets = assets
    }

    /// The screens' top-level paths; each also serves everything beneath it.
    static let screens = ["projects", "datasets", "prompts", "playground", "settings", "evaluators", "login", "profile"]

    /// Browsers must not run anything not served here, nor frame the pages.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    /// The page shell, which opens the screen its URL names (also what `/graphql` answers a browser).
    @Sendable public func page(_ request: Request) -> Response {
        Self.respond(request, asset: assets.page, cacheControl: "no-cache", extra: Self.securityHeaders)
    }

    public func add<Context: RequestContext>(to router: Router<Context>) {
        let page: @Sendable (Request, Context) async throws -> Response = { request, _ in self.page(request) }
        router.get("/", use: page)
        for screen in Self.screens {
            router.get("/\(screen)", use: page)
            router.get("/\(screen)/**", use: page)
        }
        router.get("/assets/{version}/**") { request, context in
            let path = context.parameters.getCatchAll().joined(separator: "/")
            // Only the running build's files exist; an old page asking for an old version gets a 404
            // and reloads (app.js does) rather than mixing files of two builds.
            guard context.parameters.get("version") == assets.version, let asset = assets.file(path) else {
                throw HTTPError(.notFound, message: "No such UI file")
            }
            return Self.respond(request, asset: asset, cacheControl: "public, max-age=31536000, immutable", extra: [:])
        }
    }

    static func respond(_ request: Request, asset: UIAssets.Asset, cacheControl: String, extra: HTTPFields) -> Response {
        var headers = extra
        headers[.cacheControl] = cacheControl
        headers[.eTag] = asset.entityTag
        headers[.vary] = "Accept-Encoding"
        if let tags = request.headers[.ifNoneMatch], tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.entityTag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        if let gzipped = asset.gzipped, acceptsGzip(request) {
            headers[.contentEncoding] = "gzip"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: gzipped))
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }

    static func acceptsGzip(_ request: Request) -> Bool {
        guard let accepted = request.headers[.acceptEncoding] else { return false }
        return accepted.split(separator: ",").contains { coding in
            let parts = coding.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.first?.lowercased() == "gzip" && !parts.dropFirst().contains("q=0")
        }
    }
}
