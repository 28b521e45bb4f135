import Foundation
import CinderModel

/// A Relay global id, the GraphQL `ID` scalar: the same base64 `Type:rowid` ids REST serves.
struct NodeID: Codable, Sendable, Hashable, JSONLeaf {
    var value: String

    init(_ type: String, _ rowID: Int64) { value = GlobalID(type, rowID).encoded }
    init(raw: String) { value = raw }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // `ID` accepts integer literals too (the spec says so); they can never be one of ours, but
        // the error should come from the lookup, not the decoding.
        if let text = try? container.decode(String.self) {
            value = text
        } else {
            value = String(try container.decode(Int.self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    func writeJSON(to out: inout [UInt8]) { JSONValue.writeString(value, to: &out) }

    /// The row id, when this is an id of the given type.
    func rowID(of type: String) throws(GraphQLFailure) -> Int64 {
        guard let id = GlobalID(encoded: value, type: type) else {
            throw GraphQLFailure("Invalid \(type) id: \(value)")
        }
        return id.rowID
    }
}

/// `DateTime`: ISO 8601 with an offset, as Phoenix serves it (`2024-05-01T12:00:00.123456+00:00`).
struct DateTime: Codable, Sendable, Hashable, JSONLeaf {
    var micros: Int64

    init(micros: Int64) { self.micros = micros }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let micros = Timestamp.parseMicros(text) else { throw GraphQLFailure("Invalid DateTime: \(text)") }
        self.micros = micros
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Timestamp.iso8601(micros: micros))
    }

    func writeJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        Timestamp.writeISO8601(micros: micros, to: &out)
        out.append(UInt8(ascii: "\""))
    }
}

/// The `JSON` scalar: any JSON value, served as is.
struct JSONScalar: Codable, Sendable, JSONLeaf {
    var value: JSONValue

    init(_ value: JSONValue) { self.value = value }

    func writeJSON(to out: inout [UInt8]) { value.write(to: &out) }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [String: JSONValue] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(JSONScalar.self, forKey: key).value }
            value = .object(members)
        } else if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !array.isAtEnd { elements.append(try array.decode(JSONScalar.self).value) }
            value = .array(elements)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                value = .null
            } else if let bool = try? single.decode(Bool.self) {
                value = .bool(bool)
            } else if let int = try? single.decode(Int64.self) {
                value = .int(int)
            } else if let double = try? single.decode(Double.self) {
                value = .double(double)
            } else {
                value = .string(try single.decode(String.self))
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .object(let members):
            var container = encoder.container(keyedBy: Key.self)
            for key in members.keys.sorted() { try container.encode(JSONScalar(members[key]!), forKey: Key(stringValue: key)) }
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(JSONScalar(element)) }
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let b):
            var container = encoder.singleValueContainer()
            try container.encode(b)
        case .int(let i):
            var container = encoder.singleValueContainer()
            try container.encode(i)
        case .double(let d):
            var container = encoder.singleValueContainer()
            try container.encode(d)
        case .string(let s):
            var container = encoder.singleValueContainer()
            try container.encode(s)
        }
    }
}

/// An error a resolver reports to the client as a GraphQL error (the message is the client's to read).
struct GraphQLFailure: Error, CustomStringConvertible, LocalizedError {
    var description: String
    init(_ message: String) { description = message }
    /// GraphQLSwift's subscription path reports a resolver's error by its localized description.
    var errorDescription: String? { description }
}

/// `TimeRange`: start inclusive, end exclusive, on start times.
struct TimeRange: Codable, Sendable {
    var start: DateTime?
    var end: DateTime?
}

extension Optional where Wrapped == TimeRange {
    var startMicros: Int64? { self?.start?.micros }
    var endMicros: Int64? { self?.end?.micros }
}

/// `Identifier`: a prompt or tag name (lowercase letters, digits, `-` and `_`), a string on the wire.
struct Identifier: Codable, Sendable, Hashable, JSONLeaf {
    var value: String

    init(_ value: String) { self.value = value }

    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    func writeJSON(to out: inout [UInt8]) { JSONValue.writeString(value, to: &out) }
}
