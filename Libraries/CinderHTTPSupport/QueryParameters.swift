import CinderModel
import Foundation
import Hummingbird

/// Typed access to query parameters with FastAPI/pydantic-compatible 422 errors, so clients that
/// parse Phoenix's validation bodies see the same thing. Repeated keys give lists; for single values
/// the last occurrence wins, as in FastAPI.
public struct QueryParameters: Sendable {
    /// Decoded as HTML forms encode them (and Starlette decodes them): `+` is a space.
    public let parameters: [(name: String, value: String)]

    public init(_ request: Request) {
        parameters = Self.decode(request.uri.query ?? "")
    }

    public static func decode(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    public func getAll(_ name: String) -> [String] {
        parameters.filter { $0.name == name }.map(\.value)
    }

    public func string(_ name: String) -> String? {
        getAll(name).last.flatMap { $0.isEmpty ? nil : $0 }
    }

    public func strings(_ name: String) -> [String] {
        getAll(name)
    }

    public func int(_ name: String, default defaultValue: Int, min: Int = 1, max: Int? = 1_000_000) throws(CinderError) -> Int {
        guard let raw = getAll(name).last else { return defaultValue }
        let value: Int
        if let v = Int(raw.trimmingCharacters(in: .whitespaces)) {
            value = v
        } else if let d = Double(raw), d == d.rounded(), abs(d) < 1e15 {
            value = Int(d)
        } else {
            throw .invalid(
                ["query", name], "Input should be a valid integer, unable to parse string as an integer", type: "int_parsing",
                input: raw)
        }
        if value < min {
            throw .invalid(["query", name], "Input should be greater than \(min - 1)", type: "greater_than", input: raw)
        }
        if let max, value > max {
            throw .invalid(
                ["query", name], "Input should be less than or equal to \(max)", type: "less_than_equal", input: raw)
        }
        return value
    }

    public func double(_ name: String, min: Double? = nil, max: Double = 1e15) throws(CinderError) -> Double? {
        guard let raw = getAll(name).last, !raw.isEmpty else { return nil }
        guard let value = Double(raw), value.isFinite, value <= max else {
            throw .invalid(
                ["query", name], "Input should be a valid number, unable to parse string as a number", type: "float_parsing",
                input: raw)
        }
        if let min, value < min {
            throw .invalid(
                ["query", name], "Input should be greater than or equal to \(min)", type: "greater_than_equal", input: raw)
        }
        return value
    }

    public func bool(_ name: String) throws(CinderError) -> Bool? {
        guard let raw = getAll(name).last, !raw.isEmpty else { return nil }
        switch raw.lowercased() {
        case "true", "1", "yes", "on", "t", "y": return true
        case "false", "0", "no", "off", "f", "n": return false
        default:
            throw .invalid(
                ["query", name], "Input should be a valid boolean, unable to interpret input", type: "bool_parsing", input: raw)
        }
    }

    public func bool(_ name: String, default defaultValue: Bool) throws(CinderError) -> Bool {
        try bool(name) ?? defaultValue
    }

    /// ISO-8601 (naive = UTC), a bare date, or Unix seconds. Returns microseconds since the epoch.
    public func datetime(_ name: String, required: Bool = false) throws(CinderError) -> Int64? {
        guard let raw = getAll(name).last, !raw.isEmpty else {
            if required { throw .invalid(["query", name], "Field required", type: "missing", input: nil) }
            return nil
        }
        return try Self.parseDatetime(raw, location: ["query", name])
    }

    public static func parseDatetime(_ raw: String, location: [String]) throws(CinderError) -> Int64 {
        if let micros = Timestamp.parseMicros(raw) { return micros }
        if let number = Double(raw), number.isFinite {
            // pydantic reads large epoch numbers as milliseconds.
            let micros = abs(number) > 2e10 ? number * 1000 : number * 1_000_000
            if abs(micros) < 2.5e17 { return Int64(micros) }  // within years 1 to 9999
        }
        throw .invalid(location, "Input should be a valid datetime or date, invalid character in date", type: "datetime_from_date_parsing", input: raw)
    }

    public func literal<T: RawRepresentable>(_ name: String, default defaultValue: T, allowed: [T]) throws(CinderError) -> T
    where T.RawValue == String {
        guard let raw = getAll(name).last else { return defaultValue }
        guard let value = T(rawValue: raw), allowed.contains(where: { $0.rawValue == raw }) else {
            let expected = allowed.map { "'\($0.rawValue)'" }
            let phrase = expected.count <= 2 ? expected.joined(separator: " or ")
                : expected.dropLast().joined(separator: ", ") + " or " + expected.last!
            throw .invalid(["query", name], "Input should be \(phrase)", type: "literal_error", input: raw)
        }
        return value
    }
}

/// Path parameters arrive percent-encoded when the client encoded them (names with spaces, etc.).
public func pathParameter(_ context: some RequestContext, _ name: String) throws -> String {
    let raw = try context.parameters.require(name)
    return raw.removingPercentEncoding ?? raw
}

/// Values for enum-like list filters, upper-cased and checked the way Phoenix checks them.
public func validatedEnumValues(_ values: [String], allowed: Set<String>, parameter: String) throws(CinderError) -> [String] {
    let upper = values.map { $0.uppercased() }
    let invalid = upper.filter { !allowed.contains($0) }
    guard invalid.isEmpty else {
        throw CinderError.unprocessable("Invalid \(parameter) values: [\(invalid.map { "'\($0)'" }.joined(separator: ", "))]")
    }
    return upper
}
