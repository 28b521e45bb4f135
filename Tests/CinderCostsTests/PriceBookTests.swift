import CinderCosts
import CinderModel
import Testing

/// Golden costs from the built-in table, and the rules around them.
@Suite struct PriceBookTests {
    let book = PriceBook.builtIn

    static func span(model: String?, provider: String? = "openai", tokens: [String: Int64], recordedCost: Double? = nil, kind: SpanKind = .llm) -> Span {
        var llm: [String: JSONValue] = ["token_count": .object([:])]
        if let model { llm["model_name"] = .string(model) }
        if let provider { llm["provider"] = .string(provider) }
        var counts: JSONValue = .object([:])
        for (path, count) in tokens { counts = counts.setting(path.split(separator: ".").map(String.init), to: .int(count)) }
        llm["token_count"] = counts
        if let recordedCost { llm["cost"] = ["total": .double(recordedCost)] }
        return Span(
            traceID: "t", spanID: "s", parentID: nil, name: "llm", kind: kind, startTime: 0, endTime: 1, statusCode: .ok, statusMessage: "",
            attributes: ["llm": .object(llm)], events: [])
    }

    /// Whether a cost is there and equals `micros` millionths of a dollar (prices are per million tokens).
    static func near(_ actual: Double?, _ micros: Double) -> Bool {
        guard let actual else { return false }
        return abs(actual - micros / 1_000_000) < 1e-12
    }

    func priced(_ span: Span) -> Span {
        var span = span
        book.price(&span)
        return span
    }

    @Test func plainInputAndOutput() throws {
        // gpt-4o-mini: $0.15 in, $0.60 out per million.
        let span = priced(Self.span(model: "gpt-4o-mini", tokens: ["prompt": 1_000_000, "completion": 500_000]))
        #expect(span.promptCost == 0.15 && span.completionCost == 0.30)
        #expect(Self.near(span.totalCost, 450_000))
        // claude-3-5-sonnet (dated): $3 in, $15 out.
        let claude = priced(Self.span(model: "claude-3-5-sonnet-20241022", provider: "anthropic", tokens: ["prompt": 2000, "completion": 1000]))
        #expect(Self.near(claude.totalCost, 2000 * 3 + 1000 * 15))
    }

    @Test func cachedAudioAndReasoningTokensArePricedByType() throws {
        // gpt-4o: 10,000 prompt of which 4,000 cached ($1.25) → 6,000 × 2.5 + 4,000 × 1.25; 1,000 out × 10 (reasoning included).
        let span = priced(Self.span(model: "gpt-4o-2024-08-06", tokens: [
            "prompt": 10_000, "completion": 1000, "prompt_details.cache_read": 4000, "completion_details.reasoning": 600]))
        #expect(Self.near(span.promptCost, 6000 * 2.5 + 4000 * 1.25))
        #expect(Self.near(span.completionCost, 1000 * 10))
        // Anthropic: cache writes at 3.75, reads at 0.30, the rest at 3.
        let claude = priced(Self.span(model: "claude-sonnet-4-5", provider: "anthropic", tokens: [
            "prompt": 5000, "completion": 100, "prompt_details.cache_read": 3000, "prompt_details.cache_write": 1000]))
        let plain: Double = 1000 * 3, read: Double = 3000 * 0.3, written: Double = 1000 * 3.75
        #expect(Self.near(claude.promptCost, plain + read + written))
        // Audio: gpt-4o-audio-preview, 100 audio tokens in at $40, 50 out at $80.
        let audio = priced(Self.span(model: "gpt-4o-audio-preview", tokens: [
            "prompt": 300, "completion": 150, "prompt_details.audio": 100, "completion_details.audio": 50]))
        #expect(Self.near(audio.promptCost, 200 * 2.5 + 100 * 40))
        #expect(Self.near(audio.completionCost, 100 * 10 + 50 * 80))
    }

    @Test func namesAreMatchedWholeAfterNormalizing() {
        #expect(book.price(forModel: "gpt-4o")?.name == "gpt-4o")
        #expect(book.price(forModel: "GPT-4o-mini-2024-07-18")?.name == "gpt-4o-mini")
        #expect(book.price(forModel: "gpt-4o-2024-05-13")?.name == "gpt-4o-2024-05-13")
        #expect(book.price(forModel: "openai/gpt-4.1-nano")?.name == "gpt-4.1-nano")
        #expect(book.price(forModel: "models/gemini-2.0-flash")?.name == "gemini-2.0-flash")
        #expect(book.price(forModel: "anthropic.claude-3-5-haiku-20241022-v1:0")?.name == "claude-3-5-haiku")
        #expect(book.price(forModel: "gpt-4o-super-new") == nil)
        #expect(book.price(forModel: "llama3") == nil)
        // Every built-in pattern is a valid expression that matches its own name.
        for model in BuiltInPrices.all { #expect(book.price(forModel: model.name)?.name == model.name, "\(model.name)") }
    }

    @Test func recordedCostsUnknownModelsAndOtherKindsAreLeftAlone() {
        let recorded = priced(Self.span(model: "gpt-4o", tokens: ["prompt": 1000, "completion": 1000], recordedCost: 0.5))
        #expect(recorded.totalCost == 0.5 && recorded.promptCost == nil)
        #expect(priced(Self.span(model: "my-finetune", tokens: ["prompt": 1000])).totalCost == nil)
        #expect(priced(Self.span(model: nil, tokens: ["prompt": 1000])).totalCost == nil)
        #expect(priced(Self.span(model: "gpt-4o", tokens: ["prompt": 1000], kind: .chain)).totalCost == nil)
        #expect(priced(Self.span(model: "gpt-4o", tokens: [:])).totalCost == nil)
        // Counts that contradict each other (more cached than prompt) never make a negative cost.
        let odd = priced(Self.span(model: "gpt-4o", tokens: ["prompt": 10, "prompt_details.cache_read": 50, "completion": 0]))
        #expect((odd.promptCost ?? -1) >= 0)
    }
}
