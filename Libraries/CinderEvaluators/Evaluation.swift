import CinderModel

/// Who produced an evaluation, in Phoenix's annotator kinds.
public enum EvaluatorKind: String, Sendable, Hashable, CaseIterable {
    case builtIn = "BUILTIN", llm = "LLM", code = "CODE"

    /// The annotator kind its annotations are recorded with (built-ins are code).
    public var annotatorKind: String { self == .llm ? "LLM" : "CODE" }
}

/// What an evaluator concluded about one output: a label, a score and why — or why it could not say.
public struct Verdict: Sendable, Hashable {
    public var label: String?
    public var score: Double?
    public var explanation: String?
    public var metadata: JSONValue

    public init(label: String? = nil, score: Double? = nil, explanation: String? = nil, metadata: JSONValue = .object([:])) {
        self.label = label
        self.score = score
        self.explanation = explanation
        self.metadata = metadata
    }
}

/// Why an evaluator gave no verdict (its inputs were missing or of the wrong kind, the judge's answer
/// was unusable, the sandbox stopped the code). Recorded as the annotation's error: an evaluator that
/// fails never fails the run it scores.
public struct EvaluatorFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// The annotation config an evaluator's results follow (Phoenix's output configs): categorical with
/// labels and their scores, or continuous within bounds.
public struct OutputConfig: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable { case maximize = "MAXIMIZE", minimize = "MINIMIZE", none = "NONE" }
    public enum Shape: Sendable, Hashable {
        case categorical([(label: String, score: Double?)])
        case continuous(lower: Double?, upper: Double?)
        case freeform

        public static func == (a: Shape, b: Shape) -> Bool {
            switch (a, b) {
            case (.categorical(let x), .categorical(let y)): x.map(\.label) == y.map(\.label) && x.map(\.score) == y.map(\.score)
            case (.continuous(let l1, let u1), .continuous(let l2, let u2)): l1 == l2 && u1 == u2
            case (.freeform, .freeform): true
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .categorical(let values): for value in values { hasher.combine(value.label); hasher.combine(value.score) }
            case .continuous(let lower, let upper): hasher.combine(lower); hasher.combine(upper)
            case .freeform: hasher.combine(0)
            }
        }
    }

    public var name: String
    public var description: String?
    public var direction: Direction
    public var shape: Shape

    public init(name: String, description: String? = nil, direction: Direction, shape: Shape) {
        self.name = name
        self.description = description
        self.direction = direction
        self.shape = shape
    }

    /// The stored form, as Phoenix's REST annotation configs spell it.
    public var json: JSONValue {
        var out: [String: JSONValue] = [
            "name": .string(name), "optimization_direction": .string(direction.rawValue),
            "description": description.map { .string($0) } ?? .null,
        ]
        switch shape {
        case .categorical(let values):
            out["type"] = "CATEGORICAL"
            out["values"] = .array(values.map { ["label": .string($0.label), "score": $0.score.map { .double($0) } ?? .null] })
        case .continuous(let lower, let upper):
            out["type"] = "CONTINUOUS"
            out["lower_bound"] = lower.map { .double($0) } ?? .null
            out["upper_bound"] = upper.map { .double($0) } ?? .null
        case .freeform:
            out["type"] = "FREEFORM"
        }
        return .object(out)
    }

    public init(json: JSONValue) throws(EvaluatorFailure) {
        guard let name = json["name"]?.stringValue, !name.isEmpty else { throw EvaluatorFailure("An output config needs a name") }
        self.name = name
        self.description = json["description"]?.stringValue
        self.direction = json["optimization_direction"]?.stringValue.flatMap(Direction.init(rawValue:)) ?? .none
        switch json["type"]?.stringValue {
        case "CATEGORICAL":
            guard case .array(let values)? = json["values"], !values.isEmpty else {
                throw EvaluatorFailure("A categorical output config needs at least one value")
            }
            var seen = Set<String>()
            var choices: [(label: String, score: Double?)] = []
            for value in values {
                guard let label = value["label"]?.stringValue, !label.isEmpty else { throw EvaluatorFailure("Each categorical value needs a label") }
                guard seen.insert(label).inserted else { throw EvaluatorFailure("The label '\(label)' is given twice") }
                choices.append((label, value["score"]?.doubleValue))
            }
            self.shape = .categorical(choices)
        case "CONTINUOUS":
            let lower = json["lower_bound"]?.doubleValue, upper = json["upper_bound"]?.doubleValue
            if let lower, let upper, lower > upper { throw EvaluatorFailure("lower_bound must not exceed upper_bound") }
            self.shape = .continuous(lower: lower, upper: upper)
        case "FREEFORM":
            self.shape = .freeform
        default:
            throw EvaluatorFailure("An output config's type must be CATEGORICAL, CONTINUOUS or FREEFORM")
        }
    }

    /// A config that may be absent (nil or JSON null).
    public static func optional(json: JSONValue?) throws(EvaluatorFailure) -> OutputConfig? {
        guard let json, json != .null else { return nil }
        return try OutputConfig(json: json)
    }

    /// The labels a judge may answer with (categorical configs only).
    public var labels: [String] {
        if case .categorical(let values) = shape { return values.map(\.label) }
        return []
    }

    public func score(of label: String) -> Double? {
        if case .categorical(let values) = shape { return values.first { $0.label == label }?.score ?? nil }
        return nil
    }
}
