import CinderCosts
import CinderModel

/// A span queue that prices LLM spans before they are queued: costs are computed once, where spans
/// arrive (the receivers, the API), with the organization's prices, so both ingestion paths store them
/// and the writer does no more work.
public struct PricedSpanQueue: SpanQueue {
    let queue: any SpanQueue
    let prices: OrganizationPrices

    public init(_ queue: any SpanQueue, prices: OrganizationPrices) {
        self.queue = queue
        self.prices = prices
    }

    public func publish(_ batches: [ProjectSpans]) async throws(CinderError) {
        var priced = batches
        await prices.price(&priced)
        try await queue.publish(priced)
    }

    public func checkCapacity() throws(CinderError) { try queue.checkCapacity() }
}

/// `queue`, priced when cost tracking is on (`prices` given).
public func pricing(_ queue: any SpanQueue, with prices: OrganizationPrices?) -> any SpanQueue {
    prices.map { PricedSpanQueue(queue, prices: $0) } ?? queue
}
