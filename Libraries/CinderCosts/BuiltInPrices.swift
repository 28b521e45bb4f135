/// The prices Cinder knows without being told: list prices per million tokens in USD, compiled by hand
/// from the providers' public price pages (below) as they stood on `compiledOn`. Standard (not batch,
/// not priority) tiers; for tiered models the lowest context tier. They change: an organization that
/// pays other prices records its own (they win over these).
public enum BuiltInPrices {
    public static let compiledOn = "2025-11-30"
    public static let sources = [
        "https://openai.com/api/pricing/", "https://www.anthropic.com/pricing#api", "https://ai.google.dev/gemini-api/docs/pricing",
        "https://api-docs.deepseek.com/quick_start/pricing", "https://docs.x.ai/docs/models",
    ]

    /// A dated or aliased name: `gpt-4o`, `gpt-4o-2024-08-06`; `claude-3-5-haiku-20241022`, `…-latest`.
    static let dated = #"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-preview(-\d{2}-\d{2})?)?"#

    /// input, cached input (cache read), cache write, output; nil where the provider has no such price.
    static func entry(_ name: String, _ provider: String, _ pattern: String, input: Double, cacheRead: Double? = nil, cacheWrite: Double? = nil,
                      output: Double, audioInput: Double? = nil, audioOutput: Double? = nil) -> ModelPrice {
        var prices = [TokenPrice("input", .prompt, perMillion: input), TokenPrice("output", .completion, perMillion: output)]
        if let cacheRead { prices.append(TokenPrice("cache_read", .prompt, perMillion: cacheRead)) }
        if let cacheWrite { prices.append(TokenPrice("cache_write", .prompt, perMillion: cacheWrite)) }
        if let audioInput { prices.append(TokenPrice("audio", .prompt, perMillion: audioInput)) }
        if let audioOutput { prices.append(TokenPrice("audio", .completion, perMillion: audioOutput)) }
        // The patterns are literals of this file: a bad one is a programming error caught by the tests.
        return try! ModelPrice(name: name, provider: provider, namePattern: "^" + pattern + "$", prices: prices)
    }

    public static let all: [ModelPrice] = openAI + anthropic + google + others

    static let openAI: [ModelPrice] = [
        entry("gpt-5", "openai", "gpt-5" + dated, input: 1.25, cacheRead: 0.125, output: 10),
        entry("gpt-5-mini", "openai", "gpt-5-mini" + dated, input: 0.25, cacheRead: 0.025, output: 2),
        entry("gpt-5-nano", "openai", "gpt-5-nano" + dated, input: 0.05, cacheRead: 0.005, output: 0.4),
        entry("gpt-4.1", "openai", #"gpt-4\.1"# + dated, input: 2, cacheRead: 0.5, output: 8),
        entry("gpt-4.1-mini", "openai", #"gpt-4\.1-mini"# + dated, input: 0.4, cacheRead: 0.1, output: 1.6),
        entry("gpt-4.1-nano", "openai", #"gpt-4\.1-nano"# + dated, input: 0.1, cacheRead: 0.025, output: 0.4),
        entry("gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13", input: 5, output: 15),
        entry("gpt-4o", "openai", "(chatgpt-)?gpt-4o" + dated, input: 2.5, cacheRead: 1.25, output: 10),
        entry("gpt-4o-mini", "openai", "gpt-4o-mini" + dated, input: 0.15, cacheRead: 0.075, output: 0.6),
        entry("gpt-4o-audio-preview", "openai", "gpt-4o-audio-preview" + dated, input: 2.5, output: 10, audioInput: 40, audioOutput: 80),
        entry("gpt-4o-mini-audio-preview", "openai", "gpt-4o-mini-audio-preview" + dated, input: 0.15, output: 0.6, audioInput: 10, audioOutput: 20),
        entry("o1", "openai", "o1" + dated, input: 15, cacheRead: 7.5, output: 60),
        entry("o1-mini", "openai", "o1-mini" + dated, input: 1.1, cacheRead: 0.55, output: 4.4),
        entry("o3", "openai", "o3" + dated, input: 2, cacheRead: 0.5, output: 8),
        entry("o3-mini", "openai", "o3-mini" + dated, input: 1.1, cacheRead: 0.55, output: 4.4),
        entry("o4-mini", "openai", "o4-mini" + dated, input: 1.1, cacheRead: 0.275, output: 4.4),
        entry("gpt-4-turbo", "openai", #"gpt-4-turbo(-\d{4}-\d{2}-\d{2}|-preview)?|gpt-4-(1106|0125)-preview"#, input: 10, output: 30),
        entry("gpt-4", "openai", #"gpt-4(-0613|-0314)?"#, input: 30, output: 60),
        entry("gpt-3.5-turbo", "openai", #"gpt-3\.5-turbo(-0125|-1106)?"#, input: 0.5, output: 1.5),
    ]

    static let anthropic: [ModelPrice] = [
        entry("claude-opus-4-5", "anthropic", "claude-opus-4-5" + dated, input: 5, cacheRead: 0.5, cacheWrite: 6.25, output: 25),
        entry("claude-opus-4-1", "anthropic", "claude-opus-4-1" + dated, input: 15, cacheRead: 1.5, cacheWrite: 18.75, output: 75),
        entry("claude-opus-4", "anthropic", "claude-opus-4(-0)?" + dated, input: 15, cacheRead: 1.5, cacheWrite: 18.75, output: 75),
        entry("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5" + dated, input: 3, cacheRead: 0.3, cacheWrite: 3.75, output: 15),
        entry("claude-sonnet-4", "anthropic", "claude-sonnet-4(-0)?" + dated, input: 3, cacheRead: 0.3, cacheWrite: 3.75, output: 15),
        entry("claude-haiku-4-5", "anthropic", "claude-haiku-4-5" + dated, input: 1, cacheRead: 0.1, cacheWrite: 1.25, output: 5),
        entry("claude-3-7-sonnet", "anthropic", "claude-3-7-sonnet" + dated, input: 3, cacheRead: 0.3, cacheWrite: 3.75, output: 15),
        entry("claude-3-5-sonnet", "anthropic", "claude-3-5-sonnet" + dated, input: 3, cacheRead: 0.3, cacheWrite: 3.75, output: 15),
        entry("claude-3-5-haiku", "anthropic", "claude-3-5-haiku" + dated, input: 0.8, cacheRead: 0.08, cacheWrite: 1, output: 4),
        entry("claude-3-opus", "anthropic", "claude-3-opus" + dated, input: 15, cacheRead: 1.5, cacheWrite: 18.75, output: 75),
        entry("claude-3-haiku", "anthropic", "claude-3-haiku" + dated, input: 0.25, cacheRead: 0.03, cacheWrite: 0.3, output: 1.25),
    ]

    static let google: [ModelPrice] = [
        entry("gemini-2.5-pro", "google", #"gemini-2\.5-pro"# + dated, input: 1.25, cacheRead: 0.125, output: 10),
        entry("gemini-2.5-flash", "google", #"gemini-2\.5-flash"# + dated, input: 0.3, cacheRead: 0.03, output: 2.5, audioInput: 1),
        entry("gemini-2.5-flash-lite", "google", #"gemini-2\.5-flash-lite"# + dated, input: 0.1, cacheRead: 0.01, output: 0.4, audioInput: 0.3),
        entry("gemini-2.0-flash", "google", #"gemini-2\.0-flash(-001)?"#, input: 0.1, cacheRead: 0.025, output: 0.4, audioInput: 0.7),
        entry("gemini-2.0-flash-lite", "google", #"gemini-2\.0-flash-lite(-001)?"#, input: 0.075, output: 0.3),
        entry("gemini-1.5-pro", "google", #"gemini-1\.5-pro(-00\d|-latest)?"#, input: 1.25, output: 5),
        entry("gemini-1.5-flash", "google", #"gemini-1\.5-flash(-00\d|-latest)?"#, input: 0.075, output: 0.3),
    ]

    static let others: [ModelPrice] = [
        entry("deepseek-chat", "deepseek", "deepseek-chat", input: 0.28, cacheRead: 0.028, output: 0.42),
        entry("deepseek-reasoner", "deepseek", "deepseek-reasoner", input: 0.28, cacheRead: 0.028, output: 0.42),
        entry("grok-4", "xai", #"grok-4(-\d{4})?"#, input: 3, cacheRead: 0.75, output: 15),
        entry("grok-3", "xai", "grok-3(-latest)?", input: 3, cacheRead: 0.75, output: 15),
        entry("grok-3-mini", "xai", "grok-3-mini(-latest)?", input: 0.3, cacheRead: 0.075, output: 0.5),
    ]
}

extension PriceBook {
    /// The built-in table, shared by every queue and runner of the process.
    public static let builtIn = PriceBook(BuiltInPrices.all)
}
