import CinderModel

/// The seam between receivers and storage.
///
/// `publish` returns once the queue has taken responsibility for the spans: by default once they are
/// committed to PostgreSQL (the in-process queue; its `.enqueued` mode returns when they are queued), or
/// acknowledged by the broker in the distributed deployment. A receiver answers success only after it
/// returns. When the queue is full it throws `.overloaded` at once and nothing is kept: callers answer
/// 503 / RESOURCE_EXHAUSTED and exporters retry.
public protocol SpanQueue: Sendable {
    func publish(_ batches: [ProjectSpans]) async throws(CinderError)

    /// Throws `.queueFull` (and counts the refusal) when a publish would be refused for capacity now;
    /// lets receivers answer 503 before they spend time reading and decoding a body.
    func checkCapacity() throws(CinderError)
}

extension CinderError {
    /// Back-pressure from a full queue, in Phoenix's wording so clients and dashboards keyed on it keep working.
    public static let queueFull = CinderError(
        .overloaded, "Server is at capacity and cannot process more requests", retryAfterSeconds: 1)
}
