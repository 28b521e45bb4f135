import CinderModel

/// A span field the filter language names directly (anything else is an attribute path). One table read
/// by the SQL compiler, by dataframe columns and by the vocabulary served for completion, so the three
/// cannot disagree about what a name means.
public struct SpanFilterField: Sendable {
    public enum ValueType: String, Sendable { case string, number }

    /// Every way of writing it; the first is the one suggested.
    let paths: [[String]]
    public let type: ValueType
    public let description: String
    /// The values it can take, when there are few (span kinds, status codes).
    public let values: [String]
    /// Its SQL over a span `s` joined with its trace `t`.
    let sql: String
    let value: @Sendable (SpanRow) -> JSONValue

    public var name: String { paths[0].joined(separator: ".") }

    public static let all: [SpanFilterField] = [
        .init(
            paths: [["name"]], type: .string, description: "The span's name.", values: [], sql: "s.name",
            value: { .string($0.name) }),
        .init(
            paths: [["span_kind"]], type: .string, description: "The OpenInference span kind.",
            values: ["LLM", "CHAIN", "TOOL", "RETRIEVER", "EMBEDDING", "AGENT", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT", "UNKNOWN"],
            sql: "s.span_kind", value: { .string($0.spanKind) }),
        .init(
            paths: [["status_code"]], type: .string, description: "OK, ERROR or UNSET.", values: ["OK", "ERROR", "UNSET"],
            sql: "s.status_code", value: { .string($0.statusCode) }),
        .init(
            paths: [["status_message"]], type: .string, description: "The status description, usually the error.", values: [],
            sql: "s.status_message", value: { .string($0.statusMessage) }),
        .init(
            paths: [["span_id"], ["context", "span_id"]], type: .string, description: "The OpenTelemetry span id (hex).",
            values: [], sql: "s.span_id", value: { .string($0.spanID) }),
        .init(
            paths: [["trace_id"], ["context", "trace_id"]], type: .string, description: "The OpenTelemetry trace id (hex).",
            values: [], sql: "t.trace_id", value: { .string($0.traceID) }),
        .init(
            paths: [["parent_id"]], type: .string,
            description: "The parent span's id; `parent_id is None` selects root spans.", values: [], sql: "s.parent_id",
            value: { $0.parentID.map { .string($0) } ?? .null }),
        .init(
            paths: [["latency_ms"]], type: .number, description: "End minus start, in milliseconds.", values: [],
            sql: "(extract(epoch FROM s.end_time - s.start_time) * 1000)",
            value: { .double(Double($0.endMicros - $0.startMicros) / 1000) }),
        .init(
            paths: [["llm", "token_count", "prompt"]], type: .number, description: "Prompt tokens of an LLM call.", values: [],
            sql: "s.llm_token_count_prompt", value: { $0.promptTokens.map { .int($0) } ?? .null }),
        .init(
            paths: [["llm", "token_count", "completion"]], type: .number, description: "Completion tokens of an LLM call.",
            values: [], sql: "s.llm_token_count_completion", value: { $0.completionTokens.map { .int($0) } ?? .null }),
    ]

    static func named(_ path: [String]) -> SpanFilterField? {
        all.first { $0.paths.contains(path) }
    }
}

/// One name a span filter can use, for completion: Phoenix's `FilterVocabularyTerm`.
public struct SpanFilterTerm: Sendable, Hashable {
    public var name: String
    /// `string`, `number` or `boolean`.
    public var type: String
    public var description: String
    /// `span` (a field of every span), `attribute` (a path seen on this project's spans) or `annotation`.
    public var category: String
    public var values: [String]
}

extension SpanFilterField {
    /// Spans whose attributes are sampled for paths, and the most text read for it.
    public static let vocabularySampleSpans = 200
    static let vocabularySampleBytes = 2 << 20
    static let maxAttributeTerms = 300

    /// The fields, then `annotations[…]` for the project's annotation names, then the attribute paths
    /// seen in `attributeSamples` (spans' attribute documents, newest first): everything a person can
    /// filter this project's spans by, with the type each compares as.
    public static func vocabulary(annotationNames: [String], attributeSamples: [String]) -> [SpanFilterTerm] {
        var terms = all.map {
            SpanFilterTerm(name: $0.name, type: $0.type.rawValue, description: $0.description, category: "span", values: $0.values)
        }
        for name in annotationNames {
            let key = "annotations[\(JSONValue.string(name).pythonLiteral)]"
            terms.append(.init(name: "\(key).score", type: "number", description: "The score of the \(name) annotation.", category: "annotation", values: []))
            terms.append(.init(name: "\(key).label", type: "string", description: "The label of the \(name) annotation.", category: "annotation", values: []))
        }
        var paths: [String: String] = [:]
        var budget = vocabularySampleBytes
        for document in attributeSamples where budget > 0 && paths.count < maxAttributeTerms {
            budget -= document.utf8.count
            guard let attributes = try? JSONValue(parsing: Array(document.utf8)) else { continue }
            collectLeaves(attributes, path: [], into: &paths)
        }
        let known = Set(terms.map(\.name))
        terms += paths.sorted { $0.key < $1.key }.prefix(maxAttributeTerms).compactMap { name, type in
            known.contains(name) ? nil
                : SpanFilterTerm(name: name, type: type, description: "An attribute seen on this project's spans.", category: "attribute", values: [])
        }
        return terms
    }

    /// Leaf paths of nested attributes written as a filter names them (`llm.model_name`, or
    /// `attributes['odd key']` when a key is not a Python name), with their JSON type. Lists are skipped:
    /// the language compares scalars.
    private static func collectLeaves(_ value: JSONValue, path: [String], into paths: inout [String: String]) {
        let type: String
        switch value {
        case .object(let members):
            for (key, member) in members where paths.count < maxAttributeTerms {
                collectLeaves(member, path: path + [key], into: &paths)
            }
            return
        case .array, .null: return
        case .string: type = "string"
        case .int, .double: type = "number"
        case .bool: type = "boolean"
        }
        guard !path.isEmpty else { return }
        let simple = path.allSatisfy { key in
            guard let first = key.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
            return key.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
        }
        let name = simple
            ? path.joined(separator: ".")
            : "attributes" + path.map { "[\(JSONValue.string($0).pythonLiteral)]" }.joined()
        paths[name] = type
    }
}

extension JSONValue {
    /// A string as a single-quoted Python literal (the filter language's quoting).
    var pythonLiteral: String {
        guard case .string(let s) = self else { return jsonString }
        return "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
