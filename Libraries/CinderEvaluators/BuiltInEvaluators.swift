import CinderModel
import Foundation

/// An evaluator that ships with Cinder and runs in the process that needs it: a pure function of its
/// parameters, so it costs microseconds and needs no sandbox.
public struct BuiltInEvaluator: Sendable {
    public struct Parameter: Sendable {
        public enum Kind: String, Sendable { case string, boolean, any }
        public let name: String
        public let kind: Kind
        public let description: String
        public let required: Bool
        /// Where the parameter comes from when the mapping does not say.
        public let defaultPath: String?
    }

    /// The evaluator's stable name (`exact_match`), which is also its default annotation name.
    public let key: String
    public let description: String
    public let parameters: [Parameter]
    public let outputConfig: OutputConfig
    let implementation: Implementation

    enum Implementation: Sendable {
        case inProcess(@Sendable (Arguments) throws(EvaluatorFailure) -> Verdict)
        /// Python run in the code evaluators' sandbox, for what must not run unbounded in the server.
        case sandboxed(source: String)
    }

    init(
        key: String, description: String, parameters: [Parameter], outputConfig: OutputConfig,
        judge: @escaping @Sendable (Arguments) throws(EvaluatorFailure) -> Verdict
    ) {
        self.init(key: key, description: description, parameters: parameters, outputConfig: outputConfig, implementation: .inProcess(judge))
    }

    init(key: String, description: String, parameters: [Parameter], outputConfig: OutputConfig, implementation: Implementation) {
        self.key = key
        self.description = description
        self.parameters = parameters
        self.outputConfig = outputConfig
        self.implementation = implementation
    }

    /// The Python `evaluate` function of a built-in that runs in the sandbox (nil for those that run in place).
    public var sandboxedSource: String? {
        if case .sandboxed(let source) = implementation { return source }
        return nil
    }

    /// Built-ins are not rows: their ids are negative and fixed by their place in `all`.
    public var id: Int64 { -Int64((Self.all.firstIndex { $0.key == key } ?? 0) + 1) }

    public static func named(_ key: String) -> BuiltInEvaluator? { all.first { $0.key == key } }

    public static func with(id: Int64) -> BuiltInEvaluator? {
        let index = Int(-id - 1)
        return id < 0 && all.indices.contains(index) ? all[index] : nil
    }

    /// The parameters as a JSON schema (Phoenix's `inputSchema`).
    public var inputSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for parameter in parameters {
            var property: [String: JSONValue] = ["description": .string(parameter.description)]
            if parameter.kind != .any { property["type"] = .string(parameter.kind.rawValue) }
            properties[parameter.name] = .object(property)
        }
        return ["type": "object", "properties": .object(properties), "required": .array(parameters.filter(\.required).map { .string($0.name) })]
    }

    /// The mapping a dataset evaluator starts from: each parameter's default path.
    public var defaultMapping: InputMapping {
        InputMapping(pathMapping: Dictionary(uniqueKeysWithValues: parameters.compactMap { p in p.defaultPath.map { (p.name, $0) } }))
    }

    /// The parameters `mapping` fills (over the defaults) from `context`; a required one missing is an error.
    public func arguments(mapping: InputMapping, context: JSONValue) throws(EvaluatorFailure) -> [String: JSONValue] {
        var merged = defaultMapping
        merged.pathMapping.merge(mapping.pathMapping) { _, given in given }
        for key in mapping.literalMapping.keys { merged.pathMapping.removeValue(forKey: key) }
        merged.literalMapping = mapping.literalMapping
        let values = merged.inputs(parameters.map(\.name), context: context)
        for parameter in parameters where parameter.required && (values[parameter.name] ?? .null) == .null {
            throw EvaluatorFailure("Missing input '\(parameter.name)': map it to a path in the context (input, output, reference, metadata) or to a literal")
        }
        return values
    }

    /// The verdict on `context` of a built-in that runs in place.
    public func evaluate(mapping: InputMapping, context: JSONValue) throws(EvaluatorFailure) -> Verdict {
        let values = try arguments(mapping: mapping, context: context)
        guard case .inProcess(let judge) = implementation else { throw EvaluatorFailure("\(key) runs in the code evaluators' sandbox") }
        return try judge(Arguments(values: values))
    }

    /// What a sandboxed built-in's function returned, as a verdict.
    public func verdict(fromSandboxed returned: JSONValue) throws(EvaluatorFailure) -> Verdict {
        try CodeEvaluator(language: "PYTHON", source: sandboxedSource ?? "", outputConfig: outputConfig).verdict(from: returned)
    }

    /// A built-in's filled parameters, read with the coercions every built-in applies.
    public struct Arguments: Sendable {
        let values: [String: JSONValue]

        /// Text as a person would compare it: strings as they are, numbers and booleans as written, the
        /// rest as compact JSON.
        func text(_ name: String) -> String {
            switch values[name] ?? .null {
            case .string(let s): s
            case .null: ""
            case .bool(let b): b ? "true" : "false"
            case .int(let i): String(i)
            case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case let other: other.jsonString
            }
        }

        func flag(_ name: String, default fallback: Bool) throws(EvaluatorFailure) -> Bool {
            switch values[name] {
            case nil, .null?: return fallback
            case .bool(let b)?: return b
            case .string(let s)? where ["true", "false"].contains(s.lowercased()): return s.lowercased() == "true"
            default: throw EvaluatorFailure("'\(name)' must be true or false")
            }
        }

        /// A value that may be JSON text: parsed when it is, kept as it is otherwise.
        func json(_ name: String) -> JSONValue {
            let value = values[name] ?? .null
            if case .string(let s) = value, let parsed = try? JSONValue(parsing: s) { return parsed }
            return value
        }

        func raw(_ name: String) -> JSONValue? { values[name] }
    }

    static let booleanLabels = OutputConfig.Shape.categorical([("true", 1), ("false", 0)])

    public static let all: [BuiltInEvaluator] = [exactMatch, contains, regex, jsonDistance, levenshteinDistance]

    static let exactMatch = BuiltInEvaluator(
        key: "exact_match", description: "Whether the output equals the expected text exactly",
        parameters: [
            .init(name: "expected", kind: .string, description: "The text the output should be", required: true, defaultPath: "$.reference"),
            .init(name: "actual", kind: .string, description: "The text to check", required: true, defaultPath: "$.output"),
            .init(name: "case_sensitive", kind: .boolean, description: "Whether case matters (default true)", required: false, defaultPath: nil),
            .init(name: "strip_whitespace", kind: .boolean, description: "Whether leading and trailing whitespace is ignored (default true)", required: false, defaultPath: nil),
        ],
        outputConfig: OutputConfig(name: "exact_match", direction: .maximize, shape: booleanLabels)
    ) { (arguments) throws(EvaluatorFailure) in
        var expected = arguments.text("expected"), actual = arguments.text("actual")
        if try arguments.flag("strip_whitespace", default: true) {
            expected = expected.trimmingCharacters(in: .whitespacesAndNewlines)
            actual = actual.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if try !arguments.flag("case_sensitive", default: true) {
            expected = expected.lowercased()
            actual = actual.lowercased()
        }
        let matched = expected == actual
        return Verdict(
            label: matched ? "true" : "false", score: matched ? 1 : 0,
            explanation: matched ? "The output equals the expected text" : "The output differs from the expected text")
    }

    static let contains = BuiltInEvaluator(
        key: "contains", description: "Whether the text contains any (or all) of the given words",
        parameters: [
            .init(name: "words", kind: .any, description: "The words to look for: a list, or text separated by commas", required: true, defaultPath: nil),
            .init(name: "text", kind: .string, description: "The text to search", required: true, defaultPath: "$.output"),
            .init(name: "case_sensitive", kind: .boolean, description: "Whether case matters (default false)", required: false, defaultPath: nil),
            .init(name: "require_all", kind: .boolean, description: "Whether every word must be there (default false: any)", required: false, defaultPath: nil),
        ],
        outputConfig: OutputConfig(name: "contains", direction: .maximize, shape: booleanLabels)
    ) { (arguments) throws(EvaluatorFailure) in
        var words: [String]
        if case .array(let items)? = arguments.raw("words") {
            words = items.map { $0.stringValue ?? $0.jsonString }
        } else {
            words = arguments.text("words").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        words = words.filter { !$0.isEmpty }
        guard !words.isEmpty else { throw EvaluatorFailure("'words' names no word to look for") }
        let sensitive = try arguments.flag("case_sensitive", default: false)
        let text = sensitive ? arguments.text("text") : arguments.text("text").lowercased()
        let found = words.filter { text.contains(sensitive ? $0 : $0.lowercased()) }
        let all = try arguments.flag("require_all", default: false)
        let matched = all ? found.count == words.count : !found.isEmpty
        let missing = words.filter { !found.contains($0) }
        return Verdict(
            label: matched ? "true" : "false", score: matched ? 1 : 0,
            explanation: found.isEmpty ? "None of \(words) found in the text" : "Found \(found)" + (missing.isEmpty ? "" : "; not found \(missing)"),
            metadata: ["found": .array(found.map { .string($0) }), "missing": .array(missing.map { .string($0) })])
    }

    /// A pattern is user input and regular expressions backtrack (`(a+)+$` takes exponential time), so
    /// this one runs in the code evaluators' sandbox, under its CPU limit, with Python's `re`.
    static let regex = BuiltInEvaluator(
        key: "regex", description: "Whether the text matches a regular expression (Python's re syntax)",
        parameters: [
            .init(name: "pattern", kind: .string, description: "The regular expression", required: true, defaultPath: nil),
            .init(name: "text", kind: .string, description: "The text to match", required: true, defaultPath: "$.output"),
            .init(name: "full_match", kind: .boolean, description: "Whether the whole text must match (default false: a match anywhere)", required: false, defaultPath: nil),
        ],
        outputConfig: OutputConfig(name: "regex", direction: .maximize, shape: booleanLabels),
        implementation: .sandboxed(source: #"""
            import re

            def _text(value):
                if value is None:
                    return ""
                if value is True or value is False:
                    return "true" if value else "false"
                return value if isinstance(value, str) else str(value)

            def evaluate(pattern, text, full_match=False):
                pattern, text = _text(pattern), _text(text)
                if isinstance(full_match, str) and full_match.lower() in ("true", "false"):
                    full_match = full_match.lower() == "true"
                if full_match is None:
                    full_match = False
                if not isinstance(full_match, bool):
                    raise ValueError("'full_match' must be true or false")
                if len(pattern) > 1000:
                    raise ValueError("The pattern is longer than 1000 characters")
                if len(text) > 100000:
                    raise ValueError("The text is longer than 100000 characters")
                try:
                    compiled = re.compile(pattern)
                except re.error as error:
                    raise ValueError("Invalid regular expression '%s': %s" % (pattern, error))
                match = compiled.fullmatch(text) if full_match else compiled.search(text)
                verdict = {"label": "true" if match else "false", "score": 1.0 if match else 0.0,
                           "explanation": ("The text matches /%s/" if match else "The text does not match /%s/") % pattern}
                if match:
                    verdict["metadata"] = {"match": match.group(0)}
                return verdict
            """#))

    static let jsonDistance = BuiltInEvaluator(
        key: "json_distance",
        description: "How many values differ between two JSON documents (0: equal); JSON text is parsed first",
        parameters: [
            .init(name: "expected", kind: .any, description: "The expected JSON (a value, or JSON text)", required: true, defaultPath: "$.reference"),
            .init(name: "actual", kind: .any, description: "The JSON to check (a value, or JSON text)", required: true, defaultPath: "$.output"),
        ],
        outputConfig: OutputConfig(name: "json_distance", direction: .minimize, shape: .continuous(lower: 0, upper: nil))
    ) { (arguments) throws(EvaluatorFailure) in
        var differences: [String] = []
        JSONDiff.compare(arguments.json("expected"), arguments.json("actual"), at: "$", into: &differences)
        let shown = differences.prefix(20)
        return Verdict(
            label: differences.isEmpty ? "equal" : "different", score: Double(differences.count),
            explanation: differences.isEmpty ? "The documents are equal" : "Differences at " + shown.joined(separator: ", ") + (differences.count > shown.count ? ", …" : ""),
            metadata: ["paths": .array(shown.map { .string($0) })])
    }

    /// Texts compared by edit distance are bounded: the work is the product of their lengths.
    static let maxLevenshteinLength = 10_000

    static let levenshteinDistance = BuiltInEvaluator(
        key: "levenshtein_distance", description: "The edit distance (insertions, deletions, substitutions) between the output and the expected text",
        parameters: [
            .init(name: "expected", kind: .string, description: "The expected text", required: true, defaultPath: "$.reference"),
            .init(name: "actual", kind: .string, description: "The text to check", required: true, defaultPath: "$.output"),
            .init(name: "case_sensitive", kind: .boolean, description: "Whether case matters (default true)", required: false, defaultPath: nil),
        ],
        outputConfig: OutputConfig(name: "levenshtein_distance", direction: .minimize, shape: .continuous(lower: 0, upper: nil))
    ) { (arguments) throws(EvaluatorFailure) in
        var expected = arguments.text("expected"), actual = arguments.text("actual")
        if try !arguments.flag("case_sensitive", default: true) {
            expected = expected.lowercased()
            actual = actual.lowercased()
        }
        let a = Array(expected), b = Array(actual)
        guard a.count <= maxLevenshteinLength, b.count <= maxLevenshteinLength else {
            throw EvaluatorFailure("Texts longer than \(maxLevenshteinLength) characters are not compared")
        }
        let distance = Levenshtein.distance(a, b)
        let longest = max(a.count, b.count)
        let similarity = longest == 0 ? 1 : 1 - Double(distance) / Double(longest)
        return Verdict(
            score: Double(distance), explanation: "\(distance) edit\(distance == 1 ? "" : "s") apart",
            metadata: ["similarity": .double((similarity * 10_000).rounded() / 10_000)])
    }
}

enum Levenshtein {
    /// Two rows of the classic table: memory linear in the shorter text.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        let (long, short) = a.count >= b.count ? (a, b) : (b, a)
        guard !short.isEmpty else { return long.count }
        var previous = Array(0...short.count)
        var current = [Int](repeating: 0, count: short.count + 1)
        for (i, x) in long.enumerated() {
            current[0] = i + 1
            for (j, y) in short.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[short.count]
    }
}

enum JSONDiff {
    /// The paths where two documents differ: a member or item on one side only counts once, numbers
    /// compare by value (`1` equals `1.0`).
    static func compare(_ a: JSONValue, _ b: JSONValue, at path: String, into out: inout [String]) {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            for key in Set(x.keys).union(y.keys).sorted() {
                let child = path + "." + key
                if let left = x[key], let right = y[key] { compare(left, right, at: child, into: &out) } else { out.append(child) }
            }
        case (.array(let x), .array(let y)):
            for index in 0..<max(x.count, y.count) {
                let child = path + "[\(index)]"
                if index < x.count, index < y.count { compare(x[index], y[index], at: child, into: &out) } else { out.append(child) }
            }
        default:
            if let left = a.doubleValue, let right = b.doubleValue {
                if left != right { out.append(path) }
            } else if a != b {
                out.append(path)
            }
        }
    }
}
