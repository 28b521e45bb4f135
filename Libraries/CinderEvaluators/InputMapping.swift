import CinderModel

/// How an evaluator's parameters are filled from what it judges (Phoenix's input mapping): each
/// parameter from a JSONPath into the context (`$.reference.answer`), or from a literal; a literal wins,
/// and a parameter mapped by neither is the context's member of the same name, if any.
///
/// The context of an experiment run is `{"input", "output", "reference", "metadata"}`: the example's
/// input, the run's output (the answer's text for runs of a prompt), the example's expected output and
/// metadata. A span's context (online rules) has the same names.
public struct InputMapping: Sendable, Hashable {
    public var pathMapping: [String: String]
    public var literalMapping: [String: JSONValue]

    public init(pathMapping: [String: String] = [:], literalMapping: [String: JSONValue] = [:]) {
        self.pathMapping = pathMapping
        self.literalMapping = literalMapping
    }

    /// From `{"path_mapping": {...}, "literal_mapping": {...}}` (stored) or the GraphQL input's camel-case names.
    public init(json: JSONValue?) throws(EvaluatorFailure) {
        var paths: [String: String] = [:]
        var literals: [String: JSONValue] = [:]
        if let json, json != .null {
            guard case .object = json else { throw EvaluatorFailure("An input mapping must be an object with pathMapping and literalMapping") }
            if case .object(let given)? = json["path_mapping"] ?? json["pathMapping"] {
                for (key, value) in given {
                    guard let path = value.stringValue else { throw EvaluatorFailure("The path mapped to '\(key)' must be a string") }
                    do {
                        _ = try JSONPath(path)
                    } catch {
                        throw EvaluatorFailure("Invalid JSONPath '\(path)' for '\(key)': \(error.description)")
                    }
                    paths[key] = path
                }
            } else if let other = json["path_mapping"] ?? json["pathMapping"], other != .null {
                throw EvaluatorFailure("pathMapping must be an object")
            }
            if case .object(let given)? = json["literal_mapping"] ?? json["literalMapping"] {
                literals = given
            } else if let other = json["literal_mapping"] ?? json["literalMapping"], other != .null {
                throw EvaluatorFailure("literalMapping must be an object")
            }
        }
        self.pathMapping = paths
        self.literalMapping = literals
    }

    public var json: JSONValue {
        ["path_mapping": .object(pathMapping.mapValues { .string($0) }), "literal_mapping": .object(literalMapping)]
    }

    /// The parameters' values from `context`: a path with one match gives the match, with several the
    /// list of them; a parameter nothing fills is absent.
    public func inputs(_ parameters: [String], context: JSONValue) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (key, path) in pathMapping {
            guard let compiled = try? JSONPath(path) else { continue }
            let found = compiled.find(in: context)
            if found.count == 1 { out[key] = found[0] } else if found.count > 1 { out[key] = .array(found) }
        }
        for (key, value) in literalMapping { out[key] = value }
        for key in parameters where out[key] == nil {
            if let value = context[key] { out[key] = value }
        }
        return out
    }
}

/// The JSONPath subset mappings use: `$`, `.name`, `['name']`, `[n]` (negative from the end), `[*]`
/// and `.*`. A path without the leading `$` starts at the root too (`reference.answer`).
public struct JSONPath: Sendable, Hashable {
    enum Step: Hashable { case member(String), index(Int), wildcard }

    struct Invalid: Error { let description: String }

    let steps: [Step]

    init(_ text: String) throws(Invalid) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { throw Invalid(description: "the path is empty") }
        if rest.first == "$" { rest = rest.dropFirst() } else if rest.first != "." && rest.first != "[" { rest = "." + rest }
        var steps: [Step] = []
        while let first = rest.first {
            if first == "." {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { throw Invalid(description: "a name is missing after '.'") }
                steps.append(name == "*" ? .wildcard : .member(String(name)))
                rest = rest.dropFirst(name.count)
            } else if first == "[" {
                guard let close = rest.firstIndex(of: "]") else { throw Invalid(description: "'[' is not closed") }
                let inside = rest[rest.index(after: rest.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: close)...]
                if inside == "*" {
                    steps.append(.wildcard)
                } else if let index = Int(inside) {
                    steps.append(.index(index))
                } else if inside.count >= 2, let quote = inside.first, quote == "'" || quote == "\"", inside.last == quote {
                    steps.append(.member(String(inside.dropFirst().dropLast())))
                } else {
                    throw Invalid(description: "'[\(inside)]' is neither an index, a quoted name nor *")
                }
            } else {
                throw Invalid(description: "unexpected '\(first)'")
            }
        }
        self.steps = steps
    }

    func find(in root: JSONValue) -> [JSONValue] {
        var current = [root]
        for step in steps {
            var next: [JSONValue] = []
            for value in current {
                switch (step, value) {
                case (.member(let name), .object(let members)):
                    if let member = members[name] { next.append(member) }
                case (.index(let index), .array(let items)):
                    let position = index < 0 ? items.count + index : index
                    if items.indices.contains(position) { next.append(items[position]) }
                case (.wildcard, .array(let items)):
                    next += items
                case (.wildcard, .object(let members)):
                    next += members.keys.sorted().compactMap { members[$0] }
                default:
                    break
                }
            }
            current = next
        }
        return current
    }
}
