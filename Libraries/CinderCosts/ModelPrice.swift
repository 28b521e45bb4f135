import CinderModel
import Synchronization

/// One token type's price: what a million tokens of it cost, in USD.
public struct TokenPrice: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case prompt = "PROMPT", completion = "COMPLETION" }

    /// Phoenix's names: `input`, `cache_read`, `cache_write`, `audio` (prompt) and `output`, `audio` (completion).
    public let tokenType: String
    public let kind: Kind
    public let perMillion: Double

    public init(_ tokenType: String, _ kind: Kind, perMillion: Double) {
        self.tokenType = tokenType
        self.kind = kind
        self.perMillion = perMillion
    }
}

/// A model's prices, and the names it answers to (a regular expression over the normalized model name).
public struct ModelPrice: Sendable {
    public let name: String
    public let provider: String
    public let namePattern: String
    public let prices: [TokenPrice]

    /// Throws when `namePattern` is not a regular expression.
    public init(name: String, provider: String, namePattern: String, prices: [TokenPrice]) throws {
        _ = try Regex(namePattern)
        self.name = name
        self.provider = provider
        self.namePattern = namePattern
        self.prices = prices
    }

    /// The pattern compiled (checked in `init`), case-insensitive.
    func regex() -> Regex<AnyRegexOutput> {
        try! Regex(namePattern).ignoresCase()
    }

    /// The price of a prompt- or completion-side token type; a type without its own price costs what
    /// plain input (or output) tokens cost.
    public func perToken(_ tokenType: String, _ kind: TokenPrice.Kind) -> Double {
        let base = kind == .prompt ? "input" : "output"
        let price = prices.first { $0.kind == kind && $0.tokenType == tokenType } ?? prices.first { $0.kind == kind && $0.tokenType == base }
        return (price?.perMillion ?? 0) / 1_000_000
    }


    /// What `usage` costs at these prices: prompt and completion, in USD.
    public func cost(of usage: LLMUsage) -> (prompt: Double, completion: Double) {
        let cached = min(usage.cacheRead, usage.prompt)
        let written = min(usage.cacheWrite, usage.prompt - cached)
        let audioIn = min(usage.promptAudio, usage.prompt - cached - written)
        let plainIn = usage.prompt - cached - written - audioIn
        let audioOut = min(usage.completionAudio, usage.completion)
        let prompt =
            Double(plainIn) * perToken("input", .prompt) + Double(cached) * perToken("cache_read", .prompt)
            + Double(written) * perToken("cache_write", .prompt) + Double(audioIn) * perToken("audio", .prompt)
        let completion = Double(usage.completion - audioOut) * perToken("output", .completion) + Double(audioOut) * perToken("audio", .completion)
        return (prompt, completion)
    }
}

/// Looks up a model's prices by name; the first entry whose pattern matches wins, then the `fallback`
/// book's. Lookups are cached by name, so a span costs one dictionary read once its model has been seen.
public final class PriceBook: Sendable {
    public let models: [ModelPrice]
    /// Asked when none of `models` matches: an organization's book falls back on the built-in one, whose
    /// patterns stay compiled (and whose answers stay cached) once for the whole process.
    let fallback: PriceBook?
    /// The compiled patterns (regular expressions are not `Sendable`, so they live behind the lock) and
    /// the answers so far by model name.
    private struct State {
        var patterns: [Regex<AnyRegexOutput>]
        var answers: [String: Int?] = [:]
    }
    private let state: Mutex<State>
    /// Bounded: model names come from spans, which anyone sending them chooses.
    static let cacheCapacity = 4096

    public init(_ models: [ModelPrice], fallback: PriceBook? = nil) {
        self.models = models
        self.fallback = fallback
        self.state = Mutex(State(patterns: models.map { $0.regex() }))
    }

    public func price(forModel name: String) -> ModelPrice? {
        let index = state.withLock { state -> Int? in
            if let hit = state.answers[name] { return hit }
            let normalized = Self.normalize(name)
            let index = state.patterns.firstIndex { (try? $0.wholeMatch(in: normalized)) != nil }
            if state.answers.count >= Self.cacheCapacity { state.answers.removeAll(keepingCapacity: true) }
            state.answers[name] = .some(index)
            return index
        }
        return index.map { models[$0] } ?? fallback?.price(forModel: name)
    }

    /// The model name as price patterns see it: lowercased, without a router's or SDK's prefix
    /// (`openai/gpt-4o`, `models/gemini-2.0-flash`) or a Bedrock vendor prefix and version
    /// (`anthropic.claude-3-5-haiku-20241022-v1:0`).
    static func normalize(_ name: String) -> String {
        var name = Substring(name.lowercased().trimmingCharacters(in: .whitespaces))
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        for vendor in ["us.anthropic.", "eu.anthropic.", "anthropic.", "meta.", "amazon.", "mistral."] where name.hasPrefix(vendor) {
            name = name.dropFirst(vendor.count)
            if let version = name.range(of: #"-v\d+(:\d+)?$"#, options: .regularExpression) { name = name[..<version.lowerBound] }
            break
        }
        return String(name)
    }

    /// Fills the costs of the LLM spans that recorded none but name a priced model.
    public func price(_ batches: inout [ProjectSpans]) {
        for b in batches.indices { price(&batches[b].spans) }
    }

    public func price(_ span: inout Span) {
        guard let usage = span.usage, span.totalCost == nil, let model = usage.modelName, usage.prompt > 0 || usage.completion > 0,
            let price = price(forModel: model)
        else { return }
        let cost = price.cost(of: usage)
        span.setComputedCosts(prompt: cost.prompt, completion: cost.completion)
    }
}
