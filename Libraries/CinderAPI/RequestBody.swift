import CinderModel
import Hummingbird

/// JSON request bodies with FastAPI-style validation errors.
enum JSONBody {
    static func parse(_ request: Request, _ context: some RequestContext) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        if bytes.isEmpty { throw CinderError.invalid(["body"], "Field required", type: "missing", input: nil) }
        do {
            return try JSONValue(parsing: bytes)
        } catch {
            throw CinderError.invalid(["body", String(error.offset)], "JSON decode error", type: "json_invalid", input: nil)
        }
    }

    static func object(_ request: Request, _ context: some RequestContext) async throws -> [String: JSONValue] {
        guard case .object(let object) = try await parse(request, context) else {
            throw CinderError.invalid(
                ["body"], "Input should be a valid dictionary or object to extract fields from", type: "model_attributes_type",
                input: nil)
        }
        return object
    }

    static func fields(_ request: Request, _ context: some RequestContext) async throws -> BodyFields {
        BodyFields(try await object(request, context))
    }
}

/// The fields of one JSON object in a request body, read the way pydantic validates them, so that a
/// bad field is answered with the same 422 body (location, message, error type) as Phoenix's.
struct BodyFields {
    let fields: [String: JSONValue]
    let path: [String]

    init(_ fields: [String: JSONValue], path: [String] = ["body"]) {
        self.fields = fields
        self.path = path
    }

    private func error(_ key: String, _ message: String, _ type: String) -> CinderError {
        .invalid(path + [key], message, type: type, input: nil)
    }

    /// The value, or nil when absent or JSON null (pydantic's Optional fields treat both alike).
    func value(_ key: String) -> JSONValue? {
        switch fields[key] {
        case nil, .null?: nil
        case let value?: value
        }
    }

    func required(_ key: String) throws(CinderError) -> JSONValue {
        guard let value = value(key) else { throw error(key, "Field required", "missing") }
        return value
    }

    /// Checks that every key is present (null allowed), reporting all missing ones together.
    func requirePresent(_ keys: [String]) throws(CinderError) {
        let missing = keys.filter { fields[$0] == nil }
        guard let first = missing.first else { return }
        var error = error(first, "Field required", "missing")
        error.related = missing.dropFirst().map { ValidationIssue(location: path + [$0], message: "Field required", type: "missing", input: nil) }
        throw error
    }

    /// A name in Phoenix's identifier form: lower-case letters, digits, `_` and `-`, starting and
    /// ending with a letter or digit.
    func identifier(_ key: String) throws(CinderError) -> String {
        let text = try string(key)
        let inner = text.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }
        let edges = [text.utf8.first, text.utf8.last].allSatisfy { c in c.map { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) } ?? false }
        guard inner, edges else {
            throw .invalid(path + [key], "String should match pattern '^[a-z0-9]([_a-z0-9-]*[a-z0-9])?$'", type: "string_pattern_mismatch", input: text)
        }
        return text
    }

    func string(_ key: String, minLength: Int = 0) throws(CinderError) -> String {
        guard case .string(let s) = try required(key) else { throw error(key, "Input should be a valid string", "string_type") }
        if s.count < minLength {
            throw .invalid(
                path + [key], "String should have at least \(minLength) character\(minLength == 1 ? "" : "s")", type: "string_too_short",
                input: s)
        }
        return s
    }

    func optionalString(_ key: String) throws(CinderError) -> String? {
        guard value(key) != nil else { return nil }
        return try string(key)
    }

    func double(_ key: String) throws(CinderError) -> Double? {
        switch value(key) {
        case nil: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)?: return d
        case .string(let s)?:
            guard let d = Double(s) else { throw error(key, "Input should be a valid number, unable to parse string as a number", "float_parsing") }
            return d
        default: throw error(key, "Input should be a valid number", "float_type")
        }
    }

    func int(_ key: String) throws(CinderError) -> Int {
        switch try required(key) {
        case .int(let i): return Int(i)
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        case .string(let s):
            guard let i = Int(s) else { throw error(key, "Input should be a valid integer, unable to parse string as an integer", "int_parsing") }
            return i
        default: throw error(key, "Input should be a valid integer", "int_type")
        }
    }

    func optionalInt(_ key: String) throws(CinderError) -> Int? {
        guard value(key) != nil else { return nil }
        return try int(key)
    }

    func bool(_ key: String) throws(CinderError) -> Bool? {
        switch value(key) {
        case nil: return nil
        case .bool(let b)?: return b
        default: throw error(key, "Input should be a valid boolean", "bool_type")
        }
    }

    /// One of a fixed set of strings (a `Literal` or an enum in Phoenix's models).
    func literal(_ key: String, _ allowed: [String]) throws(CinderError) -> String {
        let value = try required(key)
        guard case .string(let s) = value, allowed.contains(s) else {
            let quoted = allowed.map { "'\($0)'" }
            let phrase = quoted.count <= 2 ? quoted.joined(separator: " or ") : quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
            throw .invalid(path + [key], "Input should be \(phrase)", type: "literal_error", input: value.stringValue)
        }
        return s
    }

    func optionalLiteral(_ key: String, _ allowed: [String]) throws(CinderError) -> String? {
        guard value(key) != nil else { return nil }
        return try literal(key, allowed)
    }

    /// A free-form JSON object (metadata and the like).
    func dictionary(_ key: String) throws(CinderError) -> [String: JSONValue]? {
        switch value(key) {
        case nil: return nil
        case .object(let o)?: return o
        default: throw error(key, "Input should be a valid dictionary", "dict_type")
        }
    }

    /// A nested model.
    func object(_ key: String) throws(CinderError) -> BodyFields? {
        switch value(key) {
        case nil: return nil
        case .object(let o)?: return BodyFields(o, path: path + [key])
        default: throw error(key, "Input should be a valid dictionary or object to extract fields from", "model_attributes_type")
        }
    }

    func requiredObject(_ key: String) throws(CinderError) -> BodyFields {
        guard let object = try object(key) else { throw error(key, "Field required", "missing") }
        return object
    }

    func list(_ key: String) throws(CinderError) -> [JSONValue] {
        guard case .array(let items) = try required(key) else { throw error(key, "Input should be a valid list", "list_type") }
        return items
    }

    func optionalList(_ key: String) throws(CinderError) -> [JSONValue]? {
        guard value(key) != nil else { return nil }
        return try list(key)
    }

    /// A list of nested models.
    func objects(_ key: String) throws(CinderError) -> [BodyFields] {
        try list(key).enumerated().map { (i, item) throws(CinderError) in
            guard case .object(let o) = item else {
                throw .invalid(
                    path + [key, String(i)], "Input should be a valid dictionary or object to extract fields from",
                    type: "model_attributes_type", input: nil)
            }
            return BodyFields(o, path: path + [key, String(i)])
        }
    }

    func stringList(_ key: String) throws(CinderError) -> [String] {
        try list(key).enumerated().map { (i, item) throws(CinderError) in
            guard case .string(let s) = item else {
                throw .invalid(path + [key, String(i)], "Input should be a valid string", type: "string_type", input: nil)
            }
            return s
        }
    }
}
