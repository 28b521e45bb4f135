import CinderModel

/// A filter condition as SQL over a span `s` joined with its trace `t`. Values are always bound, never
/// spliced; attribute reads never fail on a row whose value has another type (a comparison with a
/// number reads only JSON numbers, so a string there is simply not a match).
extension SpanFilterCondition {
    /// What an operand reads: a column, an attribute, an annotation, or a literal.
    enum Operand {
        case text(String)
        case number(String)
        case attribute([String])
        case annotation(name: String, field: String)
        case value(JSONValue)
    }

    /// Checks that the condition can be compiled (field names, operators and operand types), so a bad
    /// condition is a 4xx before any statement runs.
    public func validate() throws(CinderError) {
        var q = SQLBuilder()
        try appendSQL(&q)
    }

    func appendSQL(_ q: inout SQLBuilder) throws(CinderError) {
        switch self {
        case .and(let l, let r), .or(let l, let r):
            q.append("(")
            try l.appendSQL(&q)
            if case .and = self { q.append(" AND ") } else { q.append(" OR ") }
            try r.appendSQL(&q)
            q.append(")")
        case .not(let c):
            q.append("NOT coalesce((")
            try c.appendSQL(&q)
            q.append("), false)")
        case .compare(let l, let op, let r):
            try Self.compareSQL(try l.operand(), op, try r.operand(), &q)
        case .field(let path):
            // A bare field is true when present and truthy, as in Python.
            switch try Self.operand(path) {
            case .text(let column): q.append("coalesce(\(column) <> '', false)")
            case .number(let column): q.append("coalesce(\(column) <> 0, false)")
            case .attribute(let path):
                q.append("coalesce((s.attributes #>> \(q.bind(path))::text[]) NOT IN ('', 'false', '0', 'null'), false)")
            case .annotation(let name, _): q.append(Self.annotationExists(name, nil, &q))
            case .value: throw Self.invalid("unexpected value")
            }
        case .literal(let value):
            q.append(Self.truthy(value) ? "true" : "false")
        }
    }

    private func operand() throws(CinderError) -> Operand {
        switch self {
        case .literal(let value): return .value(value)
        case .field(let path): return try Self.operand(path)
        default: throw Self.invalid("a comparison compares fields and values, not conditions")
        }
    }

    static func operand(_ path: [String]) throws(CinderError) -> Operand {
        if let field = SpanFilterField.named(path) {
            return field.type == .number ? .number(field.sql) : .text(field.sql)
        }
        if path.first == "annotations" {
            guard path.count == 3, ["score", "label"].contains(path[2]) else {
                throw invalid("annotations are read as annotations['name'].score or annotations['name'].label")
            }
            return .annotation(name: path[1], field: path[2])
        }
        let attributePath = path.first == "attributes" ? Array(path.dropFirst()) : path
        guard !attributePath.isEmpty else { throw invalid("`attributes` needs a key, as in attributes['llm']['model_name']") }
        return .attribute(attributePath)
    }

    private static let sqlOperators = ["==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="]

    private static func compareSQL(_ l: Operand, _ op: String, _ r: Operand, _ q: inout SQLBuilder) throws(CinderError) {
        // A literal on the left compares as Python would with the sides swapped (`1000 < latency_ms`),
        // except for `in`, where the left is the needle.
        if case .value = l, op != "in", op != "not in" {
            if case .value = r { throw invalid("a comparison needs a field on one side") }
            let mirrored = ["<": ">", "<=": ">=", ">": "<", ">=": "<="][op] ?? op
            return try compareSQL(r, mirrored, l, &q)
        }
        switch op {
        case "is", "is not":
            guard case .value(.null) = r else { throw invalid("`\(op)` compares with None only") }
            let negate = op == "is not"
            q.append("(\(try nullTest(l, &q)) \(negate ? "IS NOT NULL" : "IS NULL"))")
        case "in", "not in":
            let negate = op == "not in"
            q.append(negate ? "NOT coalesce(" : "coalesce(")
            switch (l, r) {
            case (.value(.string(let needle)), let haystack) where !isValue(haystack):
                // `'error' in input.value`: a substring of a text field or attribute.
                q.append("strpos(\(try textSQL(haystack, &q)), \(q.bind(needle))) > 0")
            case (let field, .value(.array(let items))) where !isValue(field):
                try membership(field, items, &q)
            default:
                throw invalid("`in` takes a string in a field (`'x' in input.value`) or a field in a list (`span_kind in ['LLM', 'TOOL']`)")
            }
            q.append(", false)")
        case let sqlOp:
            guard let sqlOp = sqlOperators[sqlOp] else { throw invalid("unknown operator `\(op)`") }
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

    private static func fieldAgainstValue(_ field: Operand, _ op: String, _ value: JSONValue, _ q: inout SQLBuilder) throws(CinderError) {
        if case .annotation(let name, let part) = field {
            let column = part == "score" ? "a.score" : "a.label"
            let condition: String
            switch value {
            case .int, .double:
                guard part == "score" else { throw invalid("an annotation's label is text: compare it with a string") }
                condition = "\(column) \(op) \(q.bind(number(value)!))"
            case .string(let s):
                guard part == "label" else { throw invalid("an annotation's score is a number: compare it with a number") }
                condition = "\(column) \(op) \(q.bind(s))"
            default: throw invalid("compare an annotation's score with a number or its label with a string")
            }
            q.append(annotationExists(name, condition, &q))
            return
        }
        switch value {
        case .int, .double:
            q.append("coalesce(\(try numberSQL(field, &q)) \(op) \(q.bind(number(value)!)), false)")
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

    private static func membership(_ field: Operand, _ items: [JSONValue], _ q: inout SQLBuilder) throws(CinderError) {
        if items.isEmpty {
            q.append("false")
            return
        }
        if items.allSatisfy({ number($0) != nil }) {
            q.append("\(try numberSQL(field, &q)) = ANY(\(q.bind(items.map { number($0)! }))::float8[])")
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
    private static func textSQL(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .text(let column): return column
        case .number(let column): return "(\(column))::text"
        case .attribute(let path): return "(s.attributes #>> \(q.bind(path))::text[])"
        case .annotation: throw invalid("annotations are compared with values: annotations['name'].score < 0.5")
        case .value(let value):
            guard case .string(let s) = value else { throw invalid("expected a string") }
            return q.bind(s)
        }
    }

    /// The operand as a number; an attribute that holds anything but a JSON number reads as NULL.
    private static func numberSQL(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .number(let column): return column
        case .text(let column):
            // Text columns are named as the fields that read them (`s.name`, `t.trace_id`).
            throw invalid("`\(column.split(separator: ".").last ?? "")` is text: compare it with a string")
        case .attribute(let path):
            let p = q.bind(path)
            return "(CASE WHEN json_typeof(s.attributes #> \(p)::text[]) = 'number' THEN (s.attributes #>> \(p)::text[])::float8 END)"
        case .annotation: throw invalid("annotations are compared with values: annotations['name'].score < 0.5")
        case .value(let value):
            guard let n = number(value) else { throw invalid("expected a number") }
            return q.bind(n)
        }
    }

    private static func nullTest(_ operand: Operand, _ q: inout SQLBuilder) throws(CinderError) -> String {
        switch operand {
        case .text(let column), .number(let column): return column
        case .attribute(let path): return "(s.attributes #> \(q.bind(path))::text[])"
        case .annotation(let name, let part):
            let column = part == "score" ? "a.score" : "a.label"
            return "(SELECT \(column) FROM span_annotations a WHERE a.org_id = s.org_id AND a.span_rowid = s.id AND a.name = \(q.bind(name)) LIMIT 1)"
        case .value: throw invalid("`is None` tests a field")
        }
    }

    private static func annotationExists(_ name: String, _ condition: String?, _ q: inout SQLBuilder) -> String {
        let extra = condition.map { " AND \($0)" } ?? ""
        return "EXISTS (SELECT 1 FROM span_annotations a WHERE a.org_id = s.org_id AND a.span_rowid = s.id AND a.name = \(q.bind(name))\(extra))"
    }
}
