import CinderModel

/// What the names of a filter language read, as SQL over the rows it filters. The span language reads a
/// span `s` joined with its trace `t`; the session language reads a session `ps`. Both share the grammar
/// (`SpanFilterCondition`) and this compiler, so `in`, `is None`, lists and annotations mean the same in both.
struct FilterLanguage: Sendable {
    enum ValueKind: Sendable { case text, number, datetime }
    struct Binding: Sendable {
        var kind: ValueKind
        var sql: String
    }

    /// The value a name (a path) reads, when the language binds it.
    let named: @Sendable ([String]) -> Binding?
    /// The JSON document that attribute paths read.
    let attributes: String
    /// Whether a name nothing binds is an attribute path (spans) or an error (sessions, which read
    /// attributes only through `attributes[…]` and the `proxies`).
    let unboundNamesAreAttributes: Bool
    /// First path elements read as attribute paths even when unbound names are errors (`user.id`).
    let proxies: Set<String>
    /// The accessor of the filtered row's annotations (`annotations['name'].score`).
    let annotationAccessor: String
    /// The filtered row's annotation rows `a`, as SQL after `FROM`.
    let annotationRows: String
    /// Names that answer only containment (`'x' in any_input`): SQL of the test for a needle placeholder.
    let containment: [String: @Sendable (String) -> String]
    /// Whether `'x' in field` ignores case.
    let caseInsensitiveContainment: Bool
    /// Names refused with a message of their own.
    let refusals: [String: String]
    /// Words of the language that are not fields (for the "unknown name" message).
    let what: String

    static let spans = FilterLanguage(
        named: { path in
            SpanFilterField.named(path).map { Binding(kind: $0.type == .number ? .number : .text, sql: $0.sql) }
        },
        attributes: "s.attributes", unboundNamesAreAttributes: true, proxies: [], annotationAccessor: "annotations",
        annotationRows: "span_annotations a WHERE a.org_id = s.org_id AND a.span_rowid = s.id",
        containment: [:], caseInsensitiveContainment: false, refusals: [:], what: "span")
}

/// A filter condition as SQL. Values are always bound, never spliced; attribute reads never fail on a row
/// whose value has another type (a comparison with a number reads only JSON numbers, so a string there is
/// simply not a match).
extension SpanFilterCondition {
    /// Checks that the condition can be compiled (field names, operators and operand types), so a bad
    /// condition is a 4xx before any statement runs.
    public func validate() throws(CinderError) {
        var q = SQLBuilder()
        try appendSQL(&q)
    }

    func appendSQL(_ q: inout SQLBuilder, language: FilterLanguage = .spans) throws(CinderError) {
        try FilterCompiler(language: language).append(self, &q)
    }
}

struct FilterCompiler {
    /// What an operand reads: a bound value, an attribute, an annotation, a containment-only name, or a literal.
    enum Operand {
        case text(String)
        case number(String)
        case datetime(String)
        case attribute([String])
        case annotation(name: String, field: String)
        case containment(String)
        case value(JSONValue)
    }

    let language: FilterLanguage

    private func invalid(_ reason: String) -> CinderError { SpanFilterCondition.invalid(reason) }

    func append(_ condition: SpanFilterCondition, _ q: inout SQLBuilder) throws(CinderError) {
        switch condition {
        case .and(let l, let r), .or(let l, let r):
            q.append("(")
            try append(l, &q)
            if case .and = condition { q.append(" AND ") } else { q.append(" OR ") }
            try append(r, &q)
            q.append(")")
        case .not(let c):
            q.append("NOT coalesce((")
            try append(c, &q)
            q.append("), false)")
        case .compare(let l, let op, let r):
            try compareSQL(try operand(l), op, try operand(r), &q)
        case .field(let path):
            // A bare field is true when present and truthy, as in Python.
            switch try operand(path) {
            case .text(let column): q.append("coalesce(\(column) <> '', false)")
            case .number(let column): q.append("coalesce(\(column) <> 0, false)")
            case .datetime(let column): q.append("(\(column) IS NOT NULL)")
            case .attribute(let path):
                q.append("coalesce((\(language.attributes) #>> \(q.bind(path))::text[]) NOT IN ('', 'false', '0', 'null'), false)")
            case .annotation(let name, _): q.append(annotationExists(name, nil, &q))
            case .containment(let name): throw containmentOnly(name)
            case .value: throw invalid("unexpected value")
            }
        case .literal(let value):
            q.append(SpanFilterCondition.truthy(value) ? "true" : "false")
        }
    }

    private func operand(_ condition: SpanFilterCondition) throws(CinderError) -> Operand {
        switch condition {
        case .literal(let value): return .value(value)
        case .field(let path): return try operand(path)
        default: throw invalid("a comparison compares fields and values, not conditions")
        }
    }

    func operand(_ path: [String]) throws(CinderError) -> Operand {
        if let binding = language.named(path) {
            switch binding.kind {
            case .text: return .text(binding.sql)
            case .number: return .number(binding.sql)
            case .datetime: return .datetime(binding.sql)
            }
        }
        guard let first = path.first else { throw invalid("expected a name") }
        if let refusal = language.refusals[first] { throw invalid(refusal) }
        if path.count == 1, language.containment[first] != nil { return .containment(first) }
        if first == language.annotationAccessor {
            guard path.count == 3, ["score", "label"].contains(path[2]) else {
                throw invalid("annotations are read as \(first)['name'].score or \(first)['name'].label")
            }
            return .annotation(name: path[1], field: path[2])
        }
        if first == "attributes" {
            guard path.count > 1 else { throw invalid("`attributes` needs a key, as in attributes['llm']['model_name']") }
            return .attribute(Array(path.dropFirst()))
        }
        guard language.unboundNamesAreAttributes || language.proxies.contains(first) else {
            throw invalid("unknown name `\(path.joined(separator: "."))` in a \(language.what) filter")
        }
        return .attribute(path)
    }

    private func containmentOnly(_ name: String) -> CinderError {
        invalid("`\(name)` answers containment only: write `'text' in \(name)`")
    }

    private static let sqlOperators = ["==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="]

    private func compareSQL(_ l: Operand, _ op: String, _ r: Operand, _ q: inout SQLBuilder) throws(CinderError) {
        // A literal on the left compares as Python would with the sides swapped (`1000 < latency_ms`),
        // except for `in`, where the left is the needle.
        if case .value = l, op != "in", op != "not in" {
            if case .value = r { throw invalid("a comparison needs a field on one side") }
            let mirrored = ["<": ">", "<=": ">=", ">": "<", ">=": "<="][op] ?? op
            return try compareSQL(r, mirrored, l, &q)
        }
        if case .containment(let name) = l { throw containmentOnly(name) }
        if case .containment(let name) = r, op != "in", op != "not in" { throw containmentOnly(name) }
        switch op {
        case "is", "is not":
            guard case .value(.null) = r else { throw invalid("`\(op)` compares with None only") }
            let negate = op == "is not"
            q.append("(\(try nullTest(l, &q)) \(negate ? "IS NOT NULL" : "IS NULL"))")
        case "in", "not in":
            let negate = op == "not in"
            q.append(negate ? "NOT coalesce(" : "coalesce(")
            switch (l, r) {
            case (.value(.string(let needle)), .containment(let name)):
                q.append(language.containment[name]!(q.bind(needle)))
            case (.value(.string(let needle)), let haystack) where !Self.isValue(haystack):
                // `'error' in input.value`: a substring of a text field or attribute.
                let text = try textSQL(haystack, &q)
                if language.caseInsensitiveContainment {
                    q.append("strpos(lower(\(text)), lower(\(q.bind(needle)))) > 0")
                } else {
                    q.append("strpos(\(text), \(q.bind(needle))) > 0")
                }
            case (let field, .value(.array(let items))) where !Self.isValue(field):
                try membership(field, items, &q)
            default:
                throw invalid("`in` takes a string in a field (`'x' in input.value`) or a field in a list (`span_kind in ['LLM', 'TOOL']`)")
            }
            q.append(", false)")
        case let sqlOp:
            guard let sqlOp = Self.sqlOperators[sqlOp] else { throw invalid("unknown operator `\(op)`") }
            guard case .value(let value) = r else {
                // Field against field: compare as text.
                q.append("(\(try textSQL(l, &q)) \(sqlOp) \(try textSQL(r, &q)))")
                return
            }
            try fieldAgainstValue(l, sqlOp, value, &q)
        }
    }

    private static func isValue(_ operand: Operand) -> Bool {
        if case .value = operand { return true }
        return false
    }

    private func fieldAgainstValue(_ field: Operand, _ op: String, _ value: JSONValue, _ q: inout SQLBuilder) throws(CinderError) {
        if case .annotation(let name, let part) = field {
            let column = part == "score" ? "a.score" : "a.label"
            let condition: String
            switch value {
            case .int, .double:
                guard part == "score" else { throw invalid("an annotation's label is text: compare it with a string") }
                condition = "\(column) \(op) \(q.bind(SpanFilterCondition.number(value)!))"
            case .string(let s):
                guard part == "label" else { throw invalid("an annotation's score is a number: compare it with a number") }
                condition = "\(column) \(op) \(q.bind(s))"
            default: throw invalid("compare an annotation's score with a number or its label with a string")
            }
            q.append(annotationExists(name, condition, &q))
            return
        }
        if case .datetime(let column) = field {
            guard case .string(let text) = value, let micros = Self.datetimeLiteral(text) else {
                throw invalid("compare a time with an ISO 8601 string with an offset, as in '2026-07-01T00:00:00Z'")
            }
            q.append("coalesce(\(column) \(op) \(timestamp(q.bind(micros))), false)")
            return
        }
        switch value {
        case .int, .double:
            q.append("coalesce(\(try numberSQL(field, &q)) \(op) \(q.bind(SpanFilterCondition.number(value)!)), false)")
        case .string(let s):
            q.append("coalesce(\(try textSQL(field, &q)) \(op) \(q.bind(s)), false)")
        case .bool(let b):
            guard op == "=" || op == "<>" else { throw invalid("True and False compare with == and != only") }
            q.append("coalesce(\(try textSQL(field, &q)) \(op) \(q.bind(b ? "true" : "false")), false)")
        case .null:
            throw invalid("compare with None using `is None` or `is not None`")
        case .array, .object:
            throw invalid("lists are for `in`")
        }
    }

    /// An ISO 8601 date-time that names its offset (a time without one is ambiguous: refused, as Phoenix does).
    static func datetimeLiteral(_ text: String) -> Int64? {
        let hasOffset = text.hasSuffix("Z") || text.hasSuffix("z")
            || text.dropFirst(10).contains("+") || text.dropFirst(10).contains("-")
        return hasOffset ? Timestamp.parseMicros(text) : nil
    }

    private func membership(_ field: Operand, _ items: [JSONValue], _ q: inout SQLBuilder) throws(CinderError) {
        if items.isEmpty {
            q.append("false")
            return
        }
        if items.allSatisfy({ SpanFilterCondition.number($0) != nil }) {
            q.append("\(try numberSQL(field, &q)) = ANY(\(q.bind(items.map { SpanFilterCondition.number($0)! }))::float8[])")
            return
        }
        var strings: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw invalid("a list holds strings or numbers, not both") }
            strings.append(s)
        }
        q.append("\(try textSQL(field, &q)) = ANY(\(q.bind(strings))::text[])")
    }

    /// The operand as text (an attribute as its JSON scalar's text).
    private func textSQL(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .text(let column): return column
        case .number(let column): return "(\(column))::text"
        case .datetime: throw invalid("times compare with ISO 8601 strings: start_time > '2026-07-01T00:00:00Z'")
        case .attribute(let path): return "(\(language.attributes) #>> \(q.bind(path))::text[])"
        case .annotation: throw invalid("annotations are compared with values: annotations['name'].score < 0.5")
        case .containment(let name): throw containmentOnly(name)
        case .value(let value):
            guard case .string(let s) = value else { throw invalid("expected a string") }
            return q.bind(s)
        }
    }

    /// The operand as a number; an attribute that holds anything but a JSON number reads as NULL.
    private func numberSQL(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .number(let column): return column
        case .text(let column):
            // Columns are named as the fields that read them (`s.name`, `t.trace_id`).
            throw invalid("`\(column.split(separator: ".").last ?? "")` is text: compare it with a string")
        case .datetime:
            throw invalid("times compare with ISO 8601 strings: start_time > '2026-07-01T00:00:00Z'")
        case .attribute(let path):
            let p = q.bind(path)
            return "(CASE WHEN json_typeof(\(language.attributes) #> \(p)::text[]) = 'number' THEN (\(language.attributes) #>> \(p)::text[])::float8 END)"
        case .annotation: throw invalid("annotations are compared with values: annotations['name'].score < 0.5")
        case .containment(let name): throw containmentOnly(name)
        case .value(let value):
            guard let n = SpanFilterCondition.number(value) else { throw invalid("expected a number") }
            return q.bind(n)
        }
    }

    private func nullTest(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .text(let column), .number(let column), .datetime(let column): return column
        case .attribute(let path): return "(\(language.attributes) #> \(q.bind(path))::text[])"
        case .annotation(let name, let part):
            let column = part == "score" ? "a.score" : "a.label"
            return "(SELECT \(column) FROM \(language.annotationRows) AND a.name = \(q.bind(name)) LIMIT 1)"
        case .containment(let name): throw containmentOnly(name)
        case .value: throw invalid("`is None` tests a field")
        }
    }

    private func annotationExists(_ name: String, _ condition: String?, _ q: inout SQLBuilder) -> String {
        let extra = condition.map { " AND \($0)" } ?? ""
        return "EXISTS (SELECT 1 FROM \(language.annotationRows) AND a.name = \(q.bind(name))\(extra))"
    }
}
