import CinderModel
import Synchronization

/// Each organization's price book: the prices it set (tried first) and the built-in table. Loaded on
/// first use and again once `refresh` has passed, so a price set through the API reaches every receiver
/// and runner within that time (at once in the process that changed it: `forget`).
public final class OrganizationPrices: Sendable {
    public let builtIn: PriceBook
    let load: @Sendable (OrganizationID) async throws -> [ModelPrice]
    let refresh: Duration
    private let books = Mutex<[OrganizationID: (book: PriceBook, loaded: ContinuousClock.Instant)]>([:])

    public init(builtIn: PriceBook = .builtIn, refresh: Duration = .seconds(30), load: @escaping @Sendable (OrganizationID) async throws -> [ModelPrice]) {
        self.builtIn = builtIn
        self.refresh = refresh
        self.load = load
    }

    public func book(for organization: OrganizationID) async -> PriceBook {
        let now = ContinuousClock.now
        let cached = books.withLock { $0[organization] }
        if let cached, now - cached.loaded < refresh { return cached.book }
        let book: PriceBook
        do {
            let own = try await load(organization)
            book = own.isEmpty ? builtIn : PriceBook(own, fallback: builtIn)
        } catch {
            // The database is away: keep pricing with what was known (or the built-in table), and try again
            // at the next refresh rather than on every span.
            book = cached?.book ?? builtIn
        }
        books.withLock { $0[organization] = (book, now) }
        return book
    }

    /// Drops what is known of an organization's prices (they changed here).
    public func forget(_ organization: OrganizationID) {
        _ = books.withLock { $0.removeValue(forKey: organization) }
    }

    /// Prices each batch with its organization's book.
    public func price(_ batches: inout [ProjectSpans]) async {
        for index in batches.indices {
            let book = await book(for: batches[index].organizationID)
            book.price(&batches[index].spans)
        }
    }
}

/// How an organization's token prices are stored: `[{"token_type", "kind", "cost_per_million_tokens"}]`.
extension TokenPrice {
    public static func stored(_ prices: [TokenPrice]) -> JSONValue {
        .array(prices.map { ["token_type": .string($0.tokenType), "kind": .string($0.kind.rawValue), "cost_per_million_tokens": .double($0.perMillion)] })
    }

    public static func parse(stored: JSONValue) -> [TokenPrice] {
        guard case .array(let entries) = stored else { return [] }
        return entries.compactMap { entry in
            guard let type = entry["token_type"]?.stringValue, let kind = entry["kind"]?.stringValue.flatMap(Kind.init(rawValue:)),
                let perMillion = entry["cost_per_million_tokens"]?.doubleValue
            else { return nil }
            return TokenPrice(type, kind, perMillion: perMillion)
        }
    }
}

extension PriceBook {
    public func price(_ spans: inout [Span]) {
        for index in spans.indices { price(&spans[index]) }
    }
}
