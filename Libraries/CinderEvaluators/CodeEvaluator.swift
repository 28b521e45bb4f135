import CinderModel

/// An evaluator written by a user: Python source defining `evaluate(...)`, whose parameters are filled
/// by name from the mapped inputs (`input`, `output`, `reference` — also as `expected` — and `metadata`,
/// and whatever the mapping names). It runs in the sandbox; this type only reads what it returns.
public struct CodeEvaluator: Sendable, Hashable {
    public static let function = "evaluate"
    public static let languages = ["PYTHON"]
    public static let maxSourceLength = 100_000

    public let language: String
    public let source: String
    /// Labels and their scores, when the code answers with labels only.
    public let outputConfig: OutputConfig?

    public init(language: String, source: String, outputConfig: OutputConfig?) throws(EvaluatorFailure) {
        guard Self.languages.contains(language) else {
            throw EvaluatorFailure("Code evaluators are written in \(Self.languages.joined(separator: ", ")) on this server, not \(language)")
        }
        guard !source.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, source.utf8.count <= Self.maxSourceLength else {
            throw EvaluatorFailure("The source code must be non-empty and at most \(Self.maxSourceLength) bytes")
        }
        guard source.contains("def \(Self.function)") else { throw EvaluatorFailure("The source code must define a function named \(Self.function)") }
        self.language = language
        self.source = source
        self.outputConfig = outputConfig
    }

    /// The arguments the function may take: the context's members, `expected` for the reference, and
    /// what the mapping fills.
    public func arguments(mapping: InputMapping, context: JSONValue) -> [String: JSONValue] {
        var names = ["input", "output", "reference", "expected", "metadata"]
        names += mapping.pathMapping.keys.sorted() + mapping.literalMapping.keys.sorted()
        var arguments = mapping.inputs(names, context: context)
        if arguments["expected"] == nil, let reference = arguments["reference"] { arguments["expected"] = reference }
        return arguments
    }

    /// What the function returned, as a verdict: `True`/`False` (label and score 1 or 0), a number (a
    /// score), a string (a label, scored by the output config), or a dict of `label`, `score`,
    /// `explanation` and `metadata`.
    public func verdict(from returned: JSONValue) throws(EvaluatorFailure) -> Verdict {
        switch returned {
        case .bool(let b):
            return Verdict(label: b ? "true" : "false", score: b ? 1 : 0)
        case .int, .double:
            return Verdict(score: returned.doubleValue)
        case .string(let label):
            return Verdict(label: label, score: outputConfig?.score(of: label))
        case .object(let members):
            var verdict = Verdict()
            if let label = members["label"], label != .null {
                guard let text = label.stringValue else { throw EvaluatorFailure("'label' must be a string, not \(label.jsonString)") }
                verdict.label = text
            }
            switch members["score"] {
            case nil, .null?: verdict.score = verdict.label.flatMap { outputConfig?.score(of: $0) }
            case .bool(let b)?: verdict.score = b ? 1 : 0
            case let score?:
                guard let number = score.doubleValue else { throw EvaluatorFailure("'score' must be a number, not \(score.jsonString)") }
                verdict.score = number
            }
            if let explanation = members["explanation"], explanation != .null { verdict.explanation = explanation.stringValue ?? explanation.jsonString }
            if case .object? = members["metadata"] { verdict.metadata = members["metadata"]! }
            guard verdict.label != nil || verdict.score != nil || verdict.explanation != nil else {
                throw EvaluatorFailure("The evaluator returned a dict without label, score or explanation")
            }
            return verdict
        case .null:
            throw EvaluatorFailure("The evaluator returned None: return a bool, a number, a label or a dict with label, score and explanation")
        case .array:
            throw EvaluatorFailure("The evaluator returned a list: return a bool, a number, a label or a dict with label, score and explanation")
        }
    }
}
