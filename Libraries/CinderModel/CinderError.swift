/// The one error type that crosses library boundaries. Each edge (HTTP, gRPC) maps `Code` to its own
/// status in a single place; messages are written for the API caller and never include SQL or payloads.
public struct CinderError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// The request could not be parsed (HTTP 400, gRPC INVALID_ARGUMENT).
        case badRequest
        /// Well-formed but semantically invalid input (HTTP 422, gRPC INVALID_ARGUMENT).
        case unprocessable
        case notFound
        case conflict
        case unsupportedMediaType
        case payloadTooLarge
        /// Back-pressure: the caller should retry later (HTTP 503 + Retry-After, gRPC RESOURCE_EXHAUSTED).
        case overloaded
        /// A dependency (database, broker) is unavailable (HTTP 503, gRPC UNAVAILABLE).
        case unavailable
        /// No credential, or one that is invalid, expired or revoked (HTTP 401 with
        /// `WWW-Authenticate: Bearer`, gRPC UNAUTHENTICATED).
        case unauthenticated
        /// The caller is known but its role does not allow the operation (HTTP 403, gRPC PERMISSION_DENIED).
        case forbidden
        /// Too many requests from this caller (HTTP 429 + Retry-After, gRPC RESOURCE_EXHAUSTED with RetryInfo).
        case rateLimited
        case `internal`
    }

    public var code: Code
    public var message: String
    /// Suggested client back-off for `.overloaded` and `.unavailable`.
    public var retryAfterSeconds: Int?
    /// For `.unprocessable`: the FastAPI-style location of the offending field, e.g. `["query", "limit"]`.
    /// With a location the error is answered as a validation error body; without, as plain text.
    public var location: [String]?
    /// For validation errors: pydantic's error type (`int_parsing`, `missing`, ...) and the offending input.
    public var validationType: String?
    public var input: String?
    /// Further validation errors reported with this one (pydantic reports every bad field at once).
    public var related: [ValidationIssue] = []

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil, location: [String]? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.location = location
    }

    public var description: String { "\(code): \(message)" }

    public static func notFound(_ message: String) -> CinderError { .init(.notFound, message) }
    public static func forbidden(_ message: String) -> CinderError { .init(.forbidden, message) }
    public static let unauthenticated = CinderError(.unauthenticated, "Invalid token")
    public static let expiredCredential = CinderError(.unauthenticated, "Expired token")
    // Phoenix's wording, which its clients and UI show as they are.
    public static let viewerCannotWrite = CinderError(.forbidden, "Viewers cannot perform this action.")
    public static let adminOnly = CinderError(.forbidden, "Only admin or system users can perform this action.")
    public static func badRequest(_ message: String) -> CinderError { .init(.badRequest, message) }
    public static func unprocessable(_ message: String) -> CinderError { .init(.unprocessable, message) }

    /// A FastAPI-style request validation error for one field.
    public static func invalid(_ location: [String], _ message: String, type: String, input: String?) -> CinderError {
        var error = CinderError(.unprocessable, message, location: location)
        error.validationType = type
        error.input = input
        return error
    }
}

/// One more bad field of a validation error.
public struct ValidationIssue: Sendable {
    public var location: [String]
    public var message: String
    public var type: String
    public var input: String?

    public init(location: [String], message: String, type: String, input: String?) {
        self.location = location
        self.message = message
        self.type = type
        self.input = input
    }
}
