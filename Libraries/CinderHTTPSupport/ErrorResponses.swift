import CinderModel
import Hummingbird
import NIOCore

/// The single place where `CinderError` becomes an HTTP response. Bodies follow Phoenix: plain text,
/// except validation errors (422), which are FastAPI's JSON `{"detail": [{loc, msg, type}]}`.
extension CinderError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch code {
        case .badRequest: .badRequest
        case .unprocessable: .unprocessableContent
        case .notFound: .notFound
        case .conflict: .conflict
        case .unsupportedMediaType: .unsupportedMediaType
        case .payloadTooLarge: .contentTooLarge
        case .overloaded, .unavailable: .serviceUnavailable
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .rateLimited: .tooManyRequests
        case .internal: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if code == .unauthenticated { headers[.wwwAuthenticate] = #"Bearer realm="Cinder""# }
        if code == .unprocessable, location != nil {
            headers[.contentType] = "application/json"
            let issues = [ValidationIssue(location: location ?? [], message: message, type: validationType ?? "value_error", input: input)] + related
            let detail: JSONValue = ["detail": .array(issues.map(\.detail))]
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: detail.jsonBytes)))
        }
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message)))
    }
}

extension ValidationIssue {
    /// One entry of FastAPI's validation error list.
    var detail: JSONValue {
        [
            "type": .string(type),
            // FastAPI puts list indexes (and JSON offsets) in `loc` as numbers.
            "loc": .array(location.map { Int64($0).map(JSONValue.int) ?? .string($0) }),
            "msg": .string(message),
            "input": input.map { .string($0) } ?? .null,
        ]
    }
}

/// Turns any error a handler throws into a response: Cinder errors (storage failures arrive already
/// classified as such) map as above, Hummingbird's own keep their status, anything else is logged and
/// answered 500 without internals.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as CinderError {
            if error.code == .internal {
                context.logger.error("request failed", metadata: ["cinder.error": "\(error.message)"])
            }
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            context.logger.error(
                "unhandled error", metadata: ["cinder.error": "\(String(reflecting: error))", "http.path": "\(request.uri.path)"])
            return try CinderError(.internal, "Internal server error").response(from: request, context: context)
        }
    }
}

/// A JSON response from an already-built document (skips Codable on hot read paths).
public func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
}
