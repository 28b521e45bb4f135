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
        // Nesting depth comes from the number of dots in a key: beyond a sane depth a key stays flat,
        // so that no input can make the recursive builders run out of stack.
        var pairs = pairs
        var flatKeys: [(key: String, value: JSONValue)] = []
        if pairs.contains(where: { $0.key.utf8.count > maxNestedKeyLength || segmentCount($0.key) > maxSegments }) {
            flatKeys = pairs.filter { $0.key.utf8.count > maxNestedKeyLength || segmentCount($0.key) > maxSegments }
            pairs.removeAll { $0.key.utf8.count > maxNestedKeyLength || segmentCount($0.key) > maxSegments }
        }
        var nested = unflattenShallow(pairs, prefixExclusions: prefixExclusions)
        for (key, value) in flatKeys where value != .null { nested[key] = value }
        return nested
    }

    static let maxSegments = 64
    static let maxNestedKeyLength = 4096

    static func segmentCount(_ key: String) -> Int { key.utf8.reduce(1) { $1 == UInt8(ascii: ".") ? $0 + 1 : $0 } }

    private static func unflattenShallow(
        _ pairs: [(key: String, value: JSONValue)], prefixExclusions: [String]
    ) -> [String: JSONValue] {
        if prefixExclusions.isEmpty, let nested = SortedUnflatten.build(pairs) { return nested }
        let root = Node()
        for (key, value) in pairs {
            if case .null = value { continue }
            var node = root
            var rest = Substring(key)
            while true {
                var dot = rest.utf8.firstIndex(of: UInt8(ascii: "."))
                if !prefixExclusions.isEmpty, let prefix = prefixExclusions.first(where: {
                    rest.hasPrefix($0) && (rest.utf8.count == $0.utf8.count || rest.utf8.dropFirst($0.utf8.count).first == UInt8(ascii: "."))
                }) {
                    let end = rest.utf8.index(rest.startIndex, offsetBy: prefix.utf8.count)
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
                rest = rest[rest.utf8.index(after: dot)...]
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
    /// Child nodes; `isBranch` false marks an array index (Phoenix's `indices`), true an object key.
    var children: [String: (node: Node, isBranch: Bool)] = [:]

    /// Digit-only segments, normalized without leading zeros; nil for anything else.
    static func indexKey(_ segment: Substring) -> String? {
        guard !segment.isEmpty, segment.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let trimmed = segment.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    func setValue(_ newValue: JSONValue) {
        value = newValue
        for (key, child) in children where !child.isBranch { children[key] = (child.node, true) }
    }

    func addIndex(_ index: String) -> Node {
        if let existing = children[index] {
            if value != nil && !existing.isBranch { children[index] = (existing.node, true) }
            return existing.node
        }
        let node = Node()
        children[index] = (node, value != nil)
        return node
    }

    func addBranch(_ branch: String) -> Node {
        if let existing = children[branch] {
            if !existing.isBranch { children[branch] = (existing.node, true) }
            return existing.node
        }
        let node = Node()
        children[branch] = (node, true)
        return node
    }

    func walk(prefix: String?, into out: inout [String: JSONValue]) {
        let indices = children.filter { !$0.value.isBranch }.keys
        if let value {
            out[prefix ?? ""] = value
        } else if let prefix, !indices.isEmpty {
            out[prefix] = .array(Self.sorted(indices).map { index in
                var element: [String: JSONValue] = [:]
                children[index]!.node.walk(prefix: nil, into: &element)
                return .object(element)
            })
        } else if !indices.isEmpty {
            for index in Self.sorted(indices) { children[index]!.node.walk(prefix: index, into: &out) }
        } else if let prefix {
            var nested: [String: JSONValue] = [:]
            walk(prefix: nil, into: &nested)
            out[prefix] = .object(nested)
            return
        }
        for (key, child) in children where child.isBranch {
            child.node.walk(prefix: prefix.map { "\($0).\(key)" } ?? key, into: &out)
        }
    }

    private static func sorted(_ indices: some Collection<String>) -> [String] {
        indices.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count < $1.utf8.count : $0 < $1 }
    }
}

extension Substring {
    /// Python's `str.strip()` for the ASCII whitespace keys actually contain (checked bytewise: hot path).
    func trimmingSpaces() -> Substring {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        guard let first = utf8.first, let last = utf8.last, isSpace(first) || isSpace(last) else { return self }
        var s = self
        while let b = s.utf8.first, isSpace(b) { s = s.dropFirst() }
        while let b = s.utf8.last, isSpace(b) { s = s.dropLast() }
        return s
    }
}

/// The common case of `unflatten` without the trie: keys sorted by segments, nested by ranges. It
/// declines (returns nil, and the trie decides) whenever Phoenix's conflict rules could matter: a key
/// that is a prefix of another, repeated keys, index and non-index children under one parent, indices
/// at the top level, or segments that need trimming.
enum SortedUnflatten {
    struct Entry: Sendable {
        var segments: [Substring]
        var value: JSONValue
    }

    static func build(_ pairs: [(key: String, value: JSONValue)]) -> [String: JSONValue]? {
        entries(pairs).flatMap { object($0[...], depth: 0) }
    }

    /// The pairs as sorted entries, or nil where the trie must decide.
    static func entries(_ pairs: [(key: String, value: JSONValue)]) -> [Entry]? {
        var entries: [Entry] = []
        entries.reserveCapacity(pairs.count)
        for (key, value) in pairs {
            if case .null = value { continue }
            if key.utf8.count > Attributes.maxNestedKeyLength { return nil }
            var segments: [Substring] = []
            var rest = Substring(key)
            while true {
                let dot = rest.utf8.firstIndex(of: UInt8(ascii: "."))
                let segment = dot.map { rest[..<$0] } ?? rest
                guard let first = segment.utf8.first, let last = segment.utf8.last,
                    !isSpace(first), !isSpace(last), !(isDigit(first) && first == UInt8(ascii: "0") && segment.utf8.count > 1)
                else { return nil }
                segments.append(segment)
                if segments.count > Attributes.maxSegments { return nil }
                guard let dot else { break }
                rest = rest[rest.utf8.index(after: dot)...]
            }
            entries.append(Entry(segments: segments, value: value))
        }
        // An index at the top level becomes a dotted key in Phoenix's walk: leave that to the trie.
        if entries.contains(where: { $0.segments.count > 1 && isIndex($0.segments[0]) }) { return nil }
        entries.sort { lessThan($0.segments, $1.segments) }
        return entries
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    static func isIndex(_ s: Substring) -> Bool { s.utf8.allSatisfy(isDigit) }

    /// Byte-wise equality: keys are compared as Phoenix (Python) compares them, without Unicode
    /// canonical equivalence, which is also much cheaper.
    static func same(_ x: Substring, _ y: Substring) -> Bool { x.utf8.elementsEqual(y.utf8) }

    /// Segment-wise order; digit segments compare as numbers and come before other segments.
    static func lessThan(_ a: [Substring], _ b: [Substring]) -> Bool {
        for (x, y) in zip(a, b) where !same(x, y) {
            let xi = isIndex(x), yi = isIndex(y)
            if xi && yi, x.utf8.count != y.utf8.count { return x.utf8.count < y.utf8.count }
            if xi != yi { return xi }
            return x.utf8.lexicographicallyPrecedes(y.utf8)
        }
        return a.count < b.count
    }

    /// Sorted entries sharing `segments[..<depth]`, grouped by their segment at `depth`, in order.
    static func groups(_ entries: ArraySlice<Entry>, depth: Int) -> [(key: Substring, members: ArraySlice<Entry>)] {
        var groups: [(key: Substring, members: ArraySlice<Entry>)] = []
        var i = entries.startIndex
        while i < entries.endIndex {
            let key = entries[i].segments[depth]
            var j = i + 1
            while j < entries.endIndex, same(entries[j].segments[depth], key) { j += 1 }
            groups.append((key, entries[i..<j]))
            i = j
        }
        return groups
    }

    /// Whether the entries under one key nest as an array (their segment at `depth` is an index followed
    /// by more) or as an object; nil for a conflict the trie's rules settle: one of them ends above
    /// `depth` (a key that holds a value and also has longer keys under it), or the kinds mix.
    static func nestsAsArray(_ members: ArraySlice<Entry>, depth: Int) -> Bool? {
        guard members.allSatisfy({ $0.segments.count > depth }) else { return nil }
        let kinds = Set(members.map { isIndex($0.segments[depth]) && $0.segments.count > depth + 1 })
        return kinds.count == 1 ? kinds.first! : nil
    }

    /// Whether a group is a single entry that ends at `depth`: a plain value.
    static func isLeaf(_ members: ArraySlice<Entry>, depth: Int) -> Bool {
        members.count == 1 && members.first!.segments.count == depth + 1
    }

    /// Entries sharing `segments[..<depth]`, sorted; builds the object at that depth.
    static func object(_ entries: ArraySlice<Entry>, depth: Int) -> [String: JSONValue]? {
        var out: [String: JSONValue] = [:]
        out.reserveCapacity(entries.count)
        for (key, members) in groups(entries, depth: depth) {
            if isLeaf(members, depth: depth) {
                out[String(key)] = members.first!.value
            } else {
                guard let nested = value(members, depth: depth + 1) else { return nil }
                out[String(key)] = nested
            }
        }
        return out
    }

    /// Entries whose segment at `depth` is an index followed by more segments: an array of objects.
    static func array(_ entries: ArraySlice<Entry>, depth: Int) -> [JSONValue]? {
        var out: [JSONValue] = []
        for (_, members) in groups(entries, depth: depth) {
            guard let element = object(members, depth: depth + 1) else { return nil }
            out.append(.object(element))
        }
        return out
    }

    /// What entries sharing `segments[..<depth]` (and all longer) nest into: an array or an object.
    static func value(_ entries: ArraySlice<Entry>, depth: Int) -> JSONValue? {
        guard let isArray = nestsAsArray(entries, depth: depth) else { return nil }
        return isArray ? array(entries, depth: depth).map(JSONValue.array) : object(entries, depth: depth).map(JSONValue.object)
    }
}

/// Attributes nested Phoenix's way straight from the flat pairs: looked up by path, adjusted, and
/// written as canonical JSON (keys in byte order at every level) without building a dictionary per
/// object. Ingestion never needs the attributes as values, and building and freeing those dictionaries
/// was most of what it spent on them. The shapes the sorted builder declines go through `unflatten`'s
/// trie instead, with the same result.
public struct NestedAttributes: Sendable {
    private enum Storage: Sendable {
        /// Sorted entries the writer accepts, with their JSON.
        case sorted([SortedUnflatten.Entry], json: [UInt8])
        case tree([String: JSONValue])
    }

    private var storage: Storage

    public init(_ pairs: [(key: String, value: JSONValue)]) {
        if let entries = SortedUnflatten.entries(pairs), let json = SortedUnflatten.json(entries) {
            storage = .sorted(entries, json: json)
        } else {
            storage = .tree(Attributes.unflatten(pairs))
        }
    }

    /// Attributes already nested.
    public init(nested: [String: JSONValue]) {
        storage = .tree(nested)
    }

    /// The value at a path of object keys, if the attributes hold one there.
    public func value(at path: [String]) -> JSONValue? {
        switch storage {
        case .tree(let tree):
            return JSONValue.object(tree)[path: path]
        case .sorted(let entries, _):
            var under: Range<Int>?
            for (index, entry) in entries.enumerated() {
                guard zip(entry.segments, path).allSatisfy({ $0.utf8.elementsEqual($1.utf8) }) else { continue }
                if entry.segments.count <= path.count {
                    return entry.segments.count == path.count ? entry.value : entry.value[path: path.dropFirst(entry.segments.count)]
                }
                // Entries below the path are contiguous (sorted) and make an object or array together.
                under = (under?.lowerBound ?? index)..<(index + 1)
            }
            guard let under else { return nil }
            return SortedUnflatten.value(entries[under], depth: path.count)
        }
    }

    /// Sets the value at a path of object keys.
    public mutating func set(_ path: [String], _ value: JSONValue) {
        if case .sorted(let entries, _) = storage {
            let segments = path.map { Substring($0) }
            let related = entries.indices.filter { index in
                zip(entries[index].segments, segments).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
            }
            var changed: [SortedUnflatten.Entry]?
            if related.isEmpty {
                changed = entries + [SortedUnflatten.Entry(segments: segments, value: value)]
                changed?.sort { SortedUnflatten.lessThan($0.segments, $1.segments) }
            } else if related.count == 1, entries[related[0]].segments.count == segments.count {
                changed = entries
                changed?[related[0]].value = value
            }
            if let changed, let json = SortedUnflatten.json(changed) {
                storage = .sorted(changed, json: json)
                return
            }
            // The path runs through or under other entries: the nested dictionary decides.
            storage = .tree(SortedUnflatten.object(entries[...], depth: 0) ?? [:])
        }
        guard case .tree(var tree) = storage, let first = path.first else { return }
        tree[first] = Self.setting(tree[first], path.dropFirst(), value)
        storage = .tree(tree)
    }

    private static func setting(_ current: JSONValue?, _ rest: ArraySlice<String>, _ value: JSONValue) -> JSONValue {
        guard let key = rest.first else { return value }
        var members: [String: JSONValue] = [:]
        if case .object(let existing)? = current { members = existing }
        members[key] = setting(members[key], rest.dropFirst(), value)
        return .object(members)
    }

    /// Compact JSON, keys in byte order at every level (so equal attributes give equal bytes).
    public var json: [UInt8] {
        switch storage {
        case .sorted(_, let json):
            return json
        case .tree(let tree):
            var out: [UInt8] = []
            out.reserveCapacity(1024)
            JSONValue.object(tree).writeCanonical(to: &out)
            return out
        }
    }
}

extension SortedUnflatten {
    /// The object `object(_:depth:)` builds, as canonical JSON; nil where `object` declines.
    static func json(_ entries: [Entry]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        return writeObject(entries[...], depth: 0, to: &out) ? out : nil
    }

    /// The object `object(_:depth:)` builds, written as canonical JSON; false where `object` returns nil.
    static func writeObject(_ entries: ArraySlice<Entry>, depth: Int, to out: inout [UInt8]) -> Bool {
        var groups = groups(entries, depth: depth)
        // Segment order puts indices first, by number; JSON objects here are in byte order.
        if zip(groups, groups.dropFirst()).contains(where: { !$0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            groups.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        }
        out.append(UInt8(ascii: "{"))
        for (n, (key, members)) in groups.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            if isLeaf(members, depth: depth) {
                members.first!.value.writeCanonical(to: &out)
                continue
            }
            guard let isArray = nestsAsArray(members, depth: depth + 1),
                isArray ? writeArray(members, depth: depth + 1, to: &out) : writeObject(members, depth: depth + 1, to: &out)
            else { return false }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    static func writeArray(_ entries: ArraySlice<Entry>, depth: Int, to out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "["))
        for (n, (_, members)) in groups(entries, depth: depth).enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            guard writeObject(members, depth: depth + 1, to: &out) else { return false }
        }
        out.append(UInt8(ascii: "]"))
        return true
    }
}
