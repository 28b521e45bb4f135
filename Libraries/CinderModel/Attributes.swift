/// Conversion between OTLP's flat, dotted attribute keys and the nested documents Phoenix stores.
///
/// The rules follow Phoenix so that stored attributes and API output are interchangeable with it:
/// - `a.b.c = v` nests as `{"a": {"b": {"c": v}}}`; segments are trimmed of whitespace.
/// - An all-digit segment followed by more segments is an array index (`documents.0.content` makes
///   `documents` an array of objects, ordered by index, gaps closed). A trailing digit segment is an
///   ordinary key (`tags.0 = "x"` stays `{"tags": {"0": "x"}}`). Leading zeros are dropped.
/// - A key that already holds a value keeps it; longer keys under it stay dotted beside it
///   (`a = {...}`, `a.c = 2` → `{"a": {...}, "a.c": 2}`), so nothing is lost.
public enum Attributes {
    /// Keys whose string values are JSON documents that Phoenix parses at ingestion.
    public static let jsonStringKeySuffixes = [
        "document.metadata", "llm.prompt_template.variables", "metadata", "tool.parameters",
    ]

    /// - Parameter prefixExclusions: dotted names kept whole as one segment (longest first), as Phoenix
    ///   does for OpenInference semantic conventions when it builds dataframes.
    public static func unflatten(
        _ pairs: [(key: String, value: JSONValue)], prefixExclusions: [String] = []
    ) -> [String: JSONValue] {
        let root = Node()
        for (key, value) in pairs {
            if case .null = value { continue }
            var node = root
            var rest = Substring(key)
            while true {
                var dot = rest.firstIndex(of: ".")
                if let prefix = prefixExclusions.first(where: { rest.hasPrefix($0) && (rest.count == $0.count || rest.dropFirst($0.count).first == ".") }) {
                    let end = rest.index(rest.startIndex, offsetBy: prefix.count)
                    dot = end == rest.endIndex ? nil : end
                }
                let rawSegment = dot.map { rest[..<$0] } ?? rest
                let hasSuffix = dot != nil
                let segment = rawSegment.trimmingSpaces()
                if let index = Node.indexKey(segment) {
                    node = hasSuffix ? node.addIndex(index) : node.addBranch(index)
                } else {
                    node = node.addBranch(String(segment))
                }
                guard let dot else { break }
                rest = rest[rest.index(after: dot)...]
            }
            node.setValue(value)
        }
        var out: [String: JSONValue] = [:]
        root.walk(prefix: nil, into: &out)
        return out
    }

    /// Flattens nested attributes into dotted keys the way Phoenix's REST API returns them: objects
    /// recurse, arrays that contain objects recurse with an index segment, other arrays stay arrays.
    public static func flatten(_ attributes: [String: JSONValue]) -> [(key: String, value: JSONValue)] {
        var out: [(key: String, value: JSONValue)] = []
        flattenObject(attributes, prefix: nil, into: &out)
        return out
    }

    private static func flattenObject(
        _ object: [String: JSONValue], prefix: String?, into out: inout [(key: String, value: JSONValue)]
    ) {
        for key in object.keys.sorted() {
            let value = object[key]!
            let path = prefix.map { "\($0).\(key)" } ?? key
            switch value {
            case .object(let nested): flattenObject(nested, prefix: path, into: &out)
            case .array(let items): flattenArray(items, prefix: path, into: &out)
            case .null: continue
            default: out.append((path, value))
            }
        }
    }

    private static func flattenArray(
        _ items: [JSONValue], prefix: String, into out: inout [(key: String, value: JSONValue)]
    ) {
        let hasObject = items.contains { if case .object = $0 { return true } else { return false } }
        guard hasObject else {
            out.append((prefix, .array(items)))
            return
        }
        for (index, item) in items.enumerated() {
            if case .object(let nested) = item { flattenObject(nested, prefix: "\(prefix).\(index)", into: &out) }
        }
    }

    /// Attribute columns of a spans dataframe, as Phoenix builds them: OpenInference names stay whole
    /// (`llm.token_count.total`, `llm.input_messages` as a list of `{"message.role": …}`), JSON-document
    /// attributes (`metadata`) stay documents, other keys nest under their first segment.
    public static func dataFrameColumns(_ attributes: [String: JSONValue]) -> [String: JSONValue] {
        var pairs: [(key: String, value: JSONValue)] = []
        flattenKeepingDocuments(attributes, prefix: nil, into: &pairs)
        return unflatten(pairs, prefixExclusions: OpenInference.semanticConventions)
    }

    private static func flattenKeepingDocuments(
        _ object: [String: JSONValue], prefix: String?, into out: inout [(key: String, value: JSONValue)]
    ) {
        for key in object.keys.sorted() {
            let value = object[key]!
            let path = prefix.map { "\($0).\(key)" } ?? key
            switch value {
            case .object(let nested) where jsonStringKeySuffixes.contains(where: { path.hasSuffix($0) }):
                out.append((path, .object(nested)))
            case .object(let nested):
                flattenKeepingDocuments(nested, prefix: path, into: &out)
            case .array(let items) where items.contains(where: { if case .object = $0 { true } else { false } }):
                for (index, item) in items.enumerated() {
                    if case .object(let nested) = item { flattenKeepingDocuments(nested, prefix: "\(path).\(index)", into: &out) }
                }
            case .null: continue
            default: out.append((path, value))
            }
        }
    }

    /// Parses the JSON-string attributes Phoenix stores as documents (e.g. `metadata`). A string that
    /// is not valid JSON, or is JSON `null`, is kept as it came.
    public static func loadingJSONStrings(_ pairs: [(key: String, value: JSONValue)]) -> [(key: String, value: JSONValue)] {
        pairs.map { pair in
            guard case .string(let text) = pair.value,
                jsonStringKeySuffixes.contains(where: { pair.key.hasSuffix($0) }),
                let parsed = try? JSONValue(parsing: text)
            else { return pair }
            if case .null = parsed { return pair }
            return (pair.key, parsed)
        }
    }
}

/// Prefix tree of key segments; digit segments are indices when more segments follow them.
private final class Node {
    var value: JSONValue?
    var children: [String: Node] = [:]
    var indices: Set<String> = []
    var branches: [String] = []
    private var branchSet: Set<String> = []

    /// Digit-only segments, normalized without leading zeros; nil for anything else.
    static func indexKey(_ segment: Substring) -> String? {
        guard !segment.isEmpty, segment.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let trimmed = segment.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    func child(_ key: String) -> Node {
        if let existing = children[key] { return existing }
        let node = Node()
        children[key] = node
        return node
    }

    func setValue(_ newValue: JSONValue) {
        value = newValue
        for index in indices where !branchSet.contains(index) {
            branches.append(index)
            branchSet.insert(index)
        }
        indices.removeAll()
    }

    func addIndex(_ index: String) -> Node {
        if value != nil {
            if branchSet.insert(index).inserted { branches.append(index) }
        } else if !branchSet.contains(index) {
            indices.insert(index)
        }
        return child(index)
    }

    func addBranch(_ branch: String) -> Node {
        indices.remove(branch)
        if branchSet.insert(branch).inserted { branches.append(branch) }
        return child(branch)
    }

    func walk(prefix: String?, into out: inout [String: JSONValue]) {
        if let value {
            out[prefix ?? ""] = value
        } else if let prefix, !indices.isEmpty {
            out[prefix] = .array(sortedIndices().map { index in
                var element: [String: JSONValue] = [:]
                children[index]!.walk(prefix: nil, into: &element)
                return .object(element)
            })
        } else if !indices.isEmpty {
            for index in sortedIndices() { children[index]!.walk(prefix: index, into: &out) }
        } else if let prefix {
            var nested: [String: JSONValue] = [:]
            walk(prefix: nil, into: &nested)
            out[prefix] = .object(nested)
            return
        }
        for branch in branches {
            children[branch]!.walk(prefix: prefix.map { "\($0).\(branch)" } ?? branch, into: &out)
        }
    }

    private func sortedIndices() -> [String] {
        indices.sorted { $0.count != $1.count ? $0.count < $1.count : $0 < $1 }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }
}
