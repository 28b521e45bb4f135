/// Nanoseconds since the Unix epoch, as OTLP carries them.
public typealias UnixNanos = Int64

/// OpenInference span kinds (`openinference.span.kind`), as Phoenix stores and filters them.
public enum SpanKind: String, Sendable, CaseIterable, Codable {
    case llm = "LLM"
    case chain = "CHAIN"
    case tool = "TOOL"
    case retriever = "RETRIEVER"
    case embedding = "EMBEDDING"
    case agent = "AGENT"
    case reranker = "RERANKER"
    case guardrail = "GUARDRAIL"
    case evaluator = "EVALUATOR"
    case prompt = "PROMPT"
    case decision = "DECISION"
    case unknown = "UNKNOWN"

    /// Instrumentations are not consistent about case; anything unrecognised is UNKNOWN.
    public init(attribute: String?) {
        guard let attribute, let kind = SpanKind(rawValue: attribute.uppercased()) else {
            self = .unknown
            return
        }
        self = kind
    }
}

public enum SpanStatusCode: String, Sendable, CaseIterable, Codable {
    case unset = "UNSET"
    case ok = "OK"
    case error = "ERROR"
}

public struct SpanEvent: Sendable, Hashable {
    public var name: String
    public var time: UnixNanos
    /// Nested the same way as span attributes.
    public var attributes: [String: JSONValue]

    public init(name: String, time: UnixNanos, attributes: [String: JSONValue]) {
        self.name = name
        self.time = time
        self.attributes = attributes
    }
}

/// A decoded, validated span ready to be stored. Ids are lowercase hex, as Phoenix stores and serves them.
public struct Span: Sendable, Hashable {
    public var traceID: String
    public var spanID: String
    public var parentID: String?
    public var name: String
    public var kind: SpanKind
    public var startTime: UnixNanos
    public var endTime: UnixNanos
    public var statusCode: SpanStatusCode
    public var statusMessage: String
    /// The nested OpenInference attributes as canonical JSON (see `NestedAttributes.json`): the form they
    /// are queued and stored in, so ingestion never builds them as values.
    public private(set) var attributesJSON: [UInt8]
    /// `session.id`: the attribute that groups traces into a project session.
    public private(set) var sessionID: String?
    public private(set) var promptTokenCount: Int64?
    public private(set) var completionTokenCount: Int64?
    /// OpenInference's `llm.cost.prompt|completion|total` (USD), where the instrumentation recorded them.
    public private(set) var promptCost: Double?
    public private(set) var completionCost: Double?
    public private(set) var totalCost: Double?
    /// What a price is looked up by and applied to (LLM spans only; see `setComputedCosts`).
    public private(set) var usage: LLMUsage?
    public var events: [SpanEvent]

    public init(
        traceID: String, spanID: String, parentID: String?, name: String, kind: SpanKind,
        startTime: UnixNanos, endTime: UnixNanos, statusCode: SpanStatusCode, statusMessage: String,
        attributes: NestedAttributes, events: [SpanEvent]
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentID = parentID
        self.name = name
        self.kind = kind
        self.startTime = startTime
        self.endTime = endTime
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.events = events
        self.attributesJSON = []
        setAttributes(attributes)
    }

    public init(
        traceID: String, spanID: String, parentID: String?, name: String, kind: SpanKind,
        startTime: UnixNanos, endTime: UnixNanos, statusCode: SpanStatusCode, statusMessage: String,
        attributes: [String: JSONValue], events: [SpanEvent]
    ) {
        self.init(
            traceID: traceID, spanID: spanID, parentID: parentID, name: name, kind: kind, startTime: startTime,
            endTime: endTime, statusCode: statusCode, statusMessage: statusMessage, attributes: NestedAttributes(nested: attributes),
            events: events)
    }

    /// The attributes as values (tools and tests; parsed from `attributesJSON`).
    public var attributes: [String: JSONValue] {
        get {
            guard case .object(let members) = try? JSONValue(parsing: attributesJSON) else { return [:] }
            return members
        }
        set { setAttributes(NestedAttributes(nested: newValue)) }
    }

    /// The attributes' JSON, and the attributes that become columns of their own.
    private mutating func setAttributes(_ attributes: NestedAttributes) {
        attributesJSON = attributes.json
        sessionID =
            switch attributes.value(at: ["session", "id"]) {
            case .string(let s) where !s.isEmpty: s
            case .int(let i): String(i)
            default: nil
            }
        promptTokenCount = attributes.value(at: ["llm", "token_count", "prompt"])?.integerValue
        completionTokenCount = attributes.value(at: ["llm", "token_count", "completion"])?.integerValue
        func cost(_ part: String) -> Double? {
            switch attributes.value(at: ["llm", "cost", part]) {
            case .double(let d)? where d.isFinite: d
            case .int(let i)?: Double(i)
            default: nil
            }
        }
        promptCost = cost("prompt")
        completionCost = cost("completion")
        // An instrumentation that records only the parts has a total all the same (sums of totals agree).
        totalCost = cost("total") ?? ((promptCost == nil && completionCost == nil) ? nil : (promptCost ?? 0) + (completionCost ?? 0))
        usage = kind == .llm ? LLMUsage(attributes, prompt: promptTokenCount, completion: completionTokenCount) : nil
    }

    /// Costs computed from a price table, for an LLM span whose instrumentation recorded none (recorded
    /// costs are what the provider billed, and win).
    public mutating func setComputedCosts(prompt: Double, completion: Double) {
        guard kind == .llm, promptCost == nil, completionCost == nil, totalCost == nil, prompt.isFinite, completion.isFinite else { return }
        promptCost = prompt
        completionCost = completion
        totalCost = prompt + completion
    }
}

/// An LLM span's model and token counts by type, as OpenInference records them
/// (`llm.model_name`, `llm.provider` or `llm.system`, `llm.token_count.*` and their `*_details`).
public struct LLMUsage: Sendable, Hashable {
    public var modelName: String?
    public var provider: String?
    public var prompt: Int64
    public var completion: Int64
    /// Parts of `prompt`: read from and written to the provider's cache, and audio.
    public var cacheRead: Int64
    public var cacheWrite: Int64
    public var promptAudio: Int64
    /// Parts of `completion`: audio, and reasoning (billed as output).
    public var completionAudio: Int64
    public var reasoning: Int64

    public init(
        modelName: String?, provider: String?, prompt: Int64, completion: Int64, cacheRead: Int64 = 0, cacheWrite: Int64 = 0,
        promptAudio: Int64 = 0, completionAudio: Int64 = 0, reasoning: Int64 = 0
    ) {
        self.modelName = modelName
        self.provider = provider
        self.prompt = prompt
        self.completion = completion
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.promptAudio = promptAudio
        self.completionAudio = completionAudio
        self.reasoning = reasoning
    }

    init(_ attributes: NestedAttributes, prompt: Int64?, completion: Int64?) {
        func count(_ path: String...) -> Int64 { max(attributes.value(at: ["llm", "token_count"] + path)?.integerValue ?? 0, 0) }
        func text(_ path: [String]) -> String? {
            guard case .string(let value)? = attributes.value(at: path), !value.isEmpty else { return nil }
            return value
        }
        self.init(
            modelName: text(["llm", "model_name"]), provider: text(["llm", "provider"]) ?? text(["llm", "system"]),
            prompt: max(prompt ?? 0, 0), completion: max(completion ?? 0, 0),
            cacheRead: count("prompt_details", "cache_read"), cacheWrite: count("prompt_details", "cache_write"),
            promptAudio: count("prompt_details", "audio"), completionAudio: count("completion_details", "audio"),
            reasoning: count("completion_details", "reasoning"))
    }
}

/// Spans bound for one project of one organization: the unit that travels through the ingestion queue.
public struct ProjectSpans: Sendable, Hashable {
    public var organizationID: OrganizationID
    public var projectName: String
    public var spans: [Span]

    public init(organizationID: OrganizationID, projectName: String, spans: [Span]) {
        self.organizationID = organizationID
        self.projectName = projectName
        self.spans = spans
    }
}

/// Tenant identity. Until tenancy lands every row belongs to the default organization.
public enum ProjectDefaults {
    public static let name = "default"
}

/// Sizes beyond which values cannot be indexed (PostgreSQL btree entries are limited to ~2.7 kB) or
/// make no sense; spans exceeding them are refused with a message instead of failing later.
public enum SpanLimits {
    public static let maxProjectNameBytes = 512
    public static let maxIDBytes = 128
    public static let maxSessionIDBytes = 1024

    /// Why a span cannot be stored, or nil.
    public static func problem(with span: Span) -> String? {
        if span.traceID.utf8.count > maxIDBytes || span.spanID.utf8.count > maxIDBytes
            || (span.parentID?.utf8.count ?? 0) > maxIDBytes
        {
            return "span \(span.spanID.prefix(32)): ids longer than \(maxIDBytes) bytes"
        }
        if let session = span.sessionID, session.utf8.count > maxSessionIDBytes {
            return "span \(span.spanID): session.id longer than \(maxSessionIDBytes) bytes"
        }
        return nil
    }

    public static func problem(withProjectName name: String) -> String? {
        name.utf8.count > maxProjectNameBytes ? "project name longer than \(maxProjectNameBytes) bytes" : nil
    }
}

public enum HexID {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex of any case; nil when the text is not hex of exactly `byteCount` bytes.
    public static func decode(_ text: some StringProtocol, byteCount: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == byteCount * 2 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(byteCount)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Normalizes an id given in hex (any case) to the stored lowercase form.
    public static func normalize(_ text: some StringProtocol, byteCount: Int) -> String? {
        decode(text, byteCount: byteCount).map(encode)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
