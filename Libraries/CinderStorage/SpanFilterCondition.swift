import CinderModel

/// Phoenix's span filter language (Python expressions), the part Cinder serves: comparisons
/// (`== != < <= > >=`, `in`, `not in`, `is None`, `is not None`) of span fields, attribute paths and
/// annotations with literals, combined with `and`, `or`, `not` and parentheses. Span fields are those of
/// `SpanFilterField.all`; `annotations['name'].score|label`; anything else is an
/// attribute path (`llm.model_name`, `metadata['tier']`, `attributes['a']['b']`). Evaluated in SQL
/// (`SpanFilter.condition`), for pages of spans, dataframes and time series alike.
public indirect enum SpanFilterCondition: Sendable {
    case literal(JSONValue)
    case field([String])
    case compare(SpanFilterCondition, String, SpanFilterCondition)
    case and(SpanFilterCondition, SpanFilterCondition)
    case or(SpanFilterCondition, SpanFilterCondition)
    case not(SpanFilterCondition)

    static let maxTokens = 1_000
    static let maxDepth = 32

    public static func parse(_ text: String) throws(CinderError) -> SpanFilterCondition {
        let tokens = try tokenize(text)
        guard tokens.count <= maxTokens else { throw invalid("condition longer than \(maxTokens) tokens") }
        var parser = Parser(tokens: tokens)
        let condition = try parser.orExpression()
        guard parser.index == parser.tokens.count else { throw invalid("unexpected `\(parser.tokens[parser.index])`") }
        return condition
    }

    public static func invalid(_ reason: String) -> CinderError {
        CinderError.unprocessable("Invalid query: \(reason)")
    }

    /// Whether only root spans can match: `parent_id is None` holds for every match (a conjunct of the
    /// whole condition, or of each alternative). `false` means not established.
    public var selectsRootSpansOnly: Bool {
        switch self {
        case .compare(.field(["parent_id"]), "is", .literal(.null)), .compare(.literal(.null), "is", .field(["parent_id"])): true
        case .and(let l, let r): l.selectsRootSpansOnly || r.selectsRootSpansOnly
        case .or(let l, let r): l.selectsRootSpansOnly && r.selectsRootSpansOnly
        default: false
        }
    }

    // MARK: Values

    /// Python's truth of a value.
    static func truthy(_ value: JSONValue) -> Bool {
        switch value {
        case .null: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): !o.isEmpty
        }
    }

    /// The value a field path names on a span, as a dataframe column shows it (conditions run in SQL).
    public static func resolve(_ path: [String], span: SpanRow, attributes: JSONValue) -> JSONValue {
        if let field = SpanFilterField.named(path) { return field.value(span) }
        let attributePath = path.first == "attributes" ? Array(path.dropFirst()) : path
        return attributes[path: attributePath] ?? .null
    }

    public static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    // MARK: Parsing

    enum Token: Equatable, CustomStringConvertible {
        case name(String), string(String), number(JSONValue), op(String), symbol(Character), member(String)
        var description: String {
            switch self {
            case .name(let s), .op(let s): s
            case .member(let s): ".\(s)"
            case .string(let s): "'\(s)'"
            case .number(let n): n.jsonString
            case .symbol(let c): String(c)
            }
        }
    }

    static func tokenize(_ text: String) throws(CinderError) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            if c == "'" || c == "\"" {
                var j = i + 1
                var value = ""
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count { j += 1 }
                    value.append(chars[j])
                    j += 1
                }
                guard j < chars.count else { throw invalid("unterminated string") }
                tokens.append(.string(value))
                i = j + 1
            } else if c.isNumber || (c == "-" && i + 1 < chars.count && chars[i + 1].isNumber && (tokens.last.map { if case .op = $0 { true } else { $0 == .symbol("(") } } ?? true)) {
                var j = i + 1
                while j < chars.count, chars[j].isNumber || "._eE".contains(chars[j]) { j += 1 }
                // Python's digit separators: `latency_ms >= 10_000`.
                let literal = String(chars[i..<j]).replacingOccurrences(of: "_", with: "")
                if let integer = Int64(literal) {
                    tokens.append(.number(.int(integer)))
                } else if let value = Double(literal), value.isFinite {
                    tokens.append(.number(.double(value)))
                } else {
                    throw invalid("bad number `\(literal)`")
                }
                i = j
            } else if c.isLetter || c == "_" {
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "." { j += 1 }
                tokens.append(.name(String(chars[i..<j])))
                i = j
            } else if "=!<>".contains(c) {
                if i + 1 < chars.count, chars[i + 1] == "=" {
                    tokens.append(.op(String(chars[i...i + 1])))
                    i += 2
                } else if c == "<" || c == ">" {
                    tokens.append(.op(String(c)))
                    i += 1
                } else {
                    throw invalid("unexpected `\(c)`")
                }
            } else if c == ".", tokens.last == .symbol("]"), i + 1 < chars.count, chars[i + 1].isLetter || chars[i + 1] == "_" {
                // `annotations['quality'].score`: a member after an index continues the path.
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                tokens.append(.member(String(chars[i + 1..<j])))
                i = j
            } else if "()[],".contains(c) {
                tokens.append(.symbol(c))
                i += 1
            } else {
                throw invalid("unexpected `\(c)`")
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        var index = 0
        var depth = 0

        mutating func next() -> Token? {
            guard index < tokens.count else { return nil }
            defer { index += 1 }
            return tokens[index]
        }

        func peek(_ offset: Int = 0) -> Token? { index + offset < tokens.count ? tokens[index + offset] : nil }

        mutating func orExpression() throws(CinderError) -> SpanFilterCondition {
            var left = try andExpression()
            while peek() == .name("or") {
                index += 1
                left = .or(left, try andExpression())
            }
            return left
        }

        mutating func andExpression() throws(CinderError) -> SpanFilterCondition {
            var left = try notExpression()
            while peek() == .name("and") {
                index += 1
                left = .and(left, try notExpression())
            }
            return left
        }

        mutating func notExpression() throws(CinderError) -> SpanFilterCondition {
            depth += 1
            defer { depth -= 1 }
            guard depth <= SpanFilterCondition.maxDepth else { throw invalid("condition nested too deeply") }
            if peek() == .name("not") {
                index += 1
                return .not(try notExpression())
            }
            return try comparison()
        }

        mutating func comparison() throws(CinderError) -> SpanFilterCondition {
            let left = try operand()
            let op: String
            switch peek() {
            case .op(let o)?: op = o; index += 1
            case .name("in")?: op = "in"; index += 1
            case .name("not")? where peek(1) == .name("in"): op = "not in"; index += 2
            case .name("is")? where peek(1) == .name("not"): op = "is not"; index += 2
            case .name("is")?: op = "is"; index += 1
            default: return left
            }
            return .compare(left, op, try operand())
        }

        mutating func operand() throws(CinderError) -> SpanFilterCondition {
            guard let token = next() else { throw invalid("unexpected end of condition") }
            switch token {
            case .string(let s): return .literal(.string(s))
            case .number(let n): return .literal(n)
            case .name("None"): return .literal(.null)
            case .name("True"): return .literal(.bool(true))
            case .name("False"): return .literal(.bool(false))
            case .name(let name):
                if peek() == .symbol("(") {
                    throw invalid("`\(name)(…)`: function calls and comprehensions are not supported; compare fields with values")
                }
                var path = name.split(separator: ".").map(String.init)
                while true {
                    if peek() == .symbol("[") {
                        index += 1
                        guard case .string(let key)? = next(), next() == .symbol("]") else { throw invalid("expected ['key']") }
                        path.append(key)
                    } else if case .member(let member)? = peek() {
                        index += 1
                        path.append(member)
                    } else {
                        break
                    }
                }
                return .field(path)
            case .symbol("("):
                depth += 1
                defer { depth -= 1 }
                guard depth <= SpanFilterCondition.maxDepth else { throw invalid("condition nested too deeply") }
                let inner = try orExpression()
                guard next() == .symbol(")") else { throw invalid("missing `)`") }
                return inner
            case .symbol("["):
                var items: [JSONValue] = []
                while peek() != .symbol("]") {
                    guard case .literal(let value) = try operand() else { throw invalid("lists may hold literals only") }
                    items.append(value)
                    if peek() == .symbol("]") { break }
                    guard peek() == .symbol(",") else { break }
                    index += 1
                }
                guard next() == .symbol("]") else { throw invalid("missing `]`") }
                return .literal(.array(items))
            default: throw invalid("unexpected `\(token)`")
            }
        }
    }
}
