import CinderCosts
import CinderModel

/// A span queue that prices LLM spans before they are queued: costs are computed once, where spans
/// arrive (the receivers, the API), so both ingestion paths store them and the writer does no more work.
public struct PricedSpanQueue: SpanQueue {
    let queue: any SpanQueue
    let prices: PriceBook

    public init(_ queue: any SpanQueue, prices: PriceBook) {
        self.queue = queue
        self.prices = prices
    }

    public func publish(_ batches: [ProjectSpans]) async throws(CinderError) {
        var priced = batches
        prices.price(&priced)
        try await queue.publish(priced)
    }

    public func checkCapacity() throws(CinderError) { try queue.checkCapacity() }
}

/// `queue` priced when cost tracking is on.
public func pricing(_ queue: any SpanQueue, enabled: Bool) -> any SpanQueue {
    enabled ? PricedSpanQueue(queue, prices: .builtIn) : queue
}
