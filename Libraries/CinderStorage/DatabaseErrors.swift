import CinderModel
import Logging
import PostgresNIO

/// The one place where database failures become Cinder errors. Every statement of a scope passes its
/// failure through `classify`; the edges (HTTP, gRPC, the queue writers) only see the four outcomes:
///
/// - **transient** (`.unavailable`): the database could not do the work now — no server answer,
///   connection failures (08), serialization failures and deadlocks (40), exhausted resources (53),
///   operator intervention (57), system errors (58). Worth retrying.
/// - **rejected data** (`.unprocessable`): the statement's data is invalid (22, 54, and the not-null and
///   check constraints of 23); it fails again on retry.
/// - **conflict** (`.conflict`): a uniqueness rule or a reference between rows refused the write (23505,
///   23503); only another writer's change can cause it here.
/// - **not found** (`.notFound`): a database routine reported no data (P0002).
///
/// Anything else (a statement the server cannot run: 42, …) is Cinder's bug: `.internal`, logged with
/// the server's message, which never reaches the caller.
public enum DatabaseErrors {
    public static let unavailable = CinderError(.unavailable, "The database is unavailable; retry later", retryAfterSeconds: 1)

    public static func classify(_ error: any Error, logger: Logger) -> CinderError {
        let underlying = unwrapped(error)
        if let error = underlying as? CinderError { return error }
        guard let psql = underlying as? PSQLError else {
            if !(underlying is CancellationError) {
                logger.warning("database unavailable", metadata: ["cinder.error": "\(String(reflecting: underlying))"])
            }
            return unavailable
        }
        guard let state = psql.serverInfo?[.sqlState] else {
            logger.warning("database unavailable", metadata: ["cinder.error": "\(String(reflecting: psql))"])
            return unavailable
        }
        let message = psql.serverInfo?[.message] ?? "rejected by the database"
        switch state {
        case "23505", "23503":
            return CinderError(.conflict, "The change conflicts with another change; retry")
        case "23502", "23514":
            return CinderError(.unprocessable, "Invalid input: \(message)")
        case "P0002":
            return CinderError(.notFound, "Not found")
        default:
            if state.hasPrefix("22") || state.hasPrefix("54") {
                return CinderError(.unprocessable, "Invalid input: \(message)")
            }
            if ["08", "40", "53", "57", "58"].contains(where: state.hasPrefix) {
                logger.warning("database unavailable", metadata: ["cinder.error": "\(message)", "cinder.sqlstate": "\(state)"])
                return unavailable
            }
            logger.error("database statement failed", metadata: ["cinder.error": "\(message)", "cinder.sqlstate": "\(state)"])
            return CinderError(.internal, "Internal server error")
        }
    }

    /// For the ingestion writers, which must either retry a batch or set it aside: every refusal by the
    /// server that is neither transient nor a conflict is the batch's data (or a statement it cannot
    /// run, which retrying would not fix either), described with the server's message for the
    /// dead-letter record. nil when the error is worth retrying.
    public static func rejectedSpanData(_ error: any Error, logger: Logger) -> CinderError? {
        let classified = classify(error, logger: logger)
        guard classified.code == .unprocessable || classified.code == .internal,
            let psql = unwrapped(error) as? PSQLError, let state = psql.serverInfo?[.sqlState]
        else { return classified.code == .unprocessable ? classified : nil }
        let detail = psql.serverInfo?[.message] ?? "invalid data"
        return CinderError.unprocessable("The database rejected the span data: \(detail) (SQLSTATE \(state))")
    }

    /// The error behind a transaction wrapper.
    static func unwrapped(_ error: any Error) -> any Error {
        (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError ?? $0.beginError } ?? error
    }
}
