import CinderModel
import CinderOTLPProto
import Foundation

/// OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) into the protobuf
/// messages, so both encodings share one conversion path. Differences from the canonical protobuf JSON
/// mapping handled here: trace and span ids are hex, not base64; field names may be lowerCamelCase or
/// the original snake_case; enums may be numbers or names; 64-bit integers may be strings or numbers.
enum OTLPJSON {
    typealias Request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest

    static func decode(_ bytes: [UInt8]) throws(CinderError) -> Request {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: bytes)
        } catch {
            throw CinderError.badRequest("Request body is not valid JSON: \(error)")
        }
        do {
            return try request(document)
        } catch let error as ShapeError {
            throw CinderError.badRequest("Request body is not a valid OTLP/JSON ExportTraceServiceRequest: \(error.message)")
        } catch {
            throw CinderError.badRequest("Request body is not a valid OTLP/JSON ExportTraceServiceRequest")
        }
    }

    struct ShapeError: Error {
        let message: String
    }

    /// Field lookup accepting both lowerCamelCase and snake_case names.
    private static func field(_ object: [String: JSONValue], _ camel: String) -> JSONValue? {
        if let v = object[camel], v != .null { return v }
        let snake = camel.reduce(into: "") { out, c in
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        if let v = object[snake], v != .null { return v }
        return nil
    }

    private static func object(_ value: JSONValue?, _ what: String) throws -> [String: JSONValue] {
        switch value {
        case nil: return [:]
        case .object(let o)?: return o
        default: throw ShapeError(message: "\(what) must be an object")
        }
    }

    private static func array(_ value: JSONValue?, _ what: String) throws -> [JSONValue] {
        switch value {
        case nil: return []
        case .array(let a)?: return a
        default: throw ShapeError(message: "\(what) must be an array")
        }
    }

    private static func string(_ value: JSONValue?, _ what: String) throws -> String {
        switch value {
        case nil: return ""
        case .string(let s)?: return s
        default: throw ShapeError(message: "\(what) must be a string")
        }
    }

    private static func uint64(_ value: JSONValue?, _ what: String) throws -> UInt64 {
        switch value {
        case nil: return 0
        case .int(let i)? where i >= 0: return UInt64(i)
        case .double(let d)? where d >= 0 && d < 1.8e19 && d == d.rounded(): return UInt64(d)
        case .string(let s)?:
            if let v = UInt64(s) { return v }
            throw ShapeError(message: "\(what) must be an unsigned integer")
        default: throw ShapeError(message: "\(what) must be an unsigned integer")
        }
    }

    private static func int64(_ value: JSONValue?, _ what: String) throws -> Int64 {
        switch value {
        case nil: return 0
        case .int(let i)?: return i
        case .double(let d)? where abs(d) < 9.2e18 && d == d.rounded(): return Int64(d)
        case .string(let s)?:
            if let v = Int64(s) { return v }
            throw ShapeError(message: "\(what) must be an integer")
        default: throw ShapeError(message: "\(what) must be an integer")
        }
    }

    /// Ids are hex in OTLP/JSON. Anything else is passed through as raw bytes so that the span is
    /// rejected individually (with a message) rather than failing the whole request.
    private static func id(_ value: JSONValue?, _ what: String) throws -> Data {
        let text = try string(value, what)
        if text.isEmpty { return Data() }
        if text.utf8.count % 2 == 0, let bytes = HexID.decode(text, byteCount: text.utf8.count / 2) {
            return Data(bytes)
        }
        return Data(text.utf8)
    }

    private static func enumValue(_ value: JSONValue?, names: [String: Int], _ what: String) throws -> Int {
        switch value {
        case nil: return 0
        case .int(let i)?: return Int(truncatingIfNeeded: i)
        case .string(let s)?:
            if let v = names[s] { return v }
            if let v = Int(s) { return v }
            throw ShapeError(message: "\(what) has unknown value '\(s)'")
        default: throw ShapeError(message: "\(what) must be an enum name or number")
        }
    }

    static func request(_ document: JSONValue) throws -> Request {
        guard case .object(let root) = document else { throw ShapeError(message: "top level must be an object") }
        var request = Request()
        request.resourceSpans = try array(field(root, "resourceSpans"), "resourceSpans").map(resourceSpans)
        return request
    }

    private static func resourceSpans(_ value: JSONValue) throws -> Opentelemetry_Proto_Trace_V1_ResourceSpans {
        let o = try object(value, "resourceSpans[]")
        var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        if let resource = field(o, "resource") {
            let r = try object(resource, "resource")
            rs.resource.attributes = try keyValues(field(r, "attributes"), "resource.attributes")
            rs.resource.droppedAttributesCount = UInt32(truncatingIfNeeded: try uint64(field(r, "droppedAttributesCount"), "droppedAttributesCount"))
        }
        rs.schemaURL = try string(field(o, "schemaUrl"), "schemaUrl")
        rs.scopeSpans = try array(field(o, "scopeSpans"), "scopeSpans").map(scopeSpans)
        return rs
    }

    private static func scopeSpans(_ value: JSONValue) throws -> Opentelemetry_Proto_Trace_V1_ScopeSpans {
        let o = try object(value, "scopeSpans[]")
        var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        if let scope = field(o, "scope") {
            let s = try object(scope, "scope")
            ss.scope.name = try string(field(s, "name"), "scope.name")
            ss.scope.version = try string(field(s, "version"), "scope.version")
            ss.scope.attributes = try keyValues(field(s, "attributes"), "scope.attributes")
        }
        ss.schemaURL = try string(field(o, "schemaUrl"), "schemaUrl")
        ss.spans = try array(field(o, "spans"), "spans").map(span)
        return ss
    }

    private static let spanKinds = [
        "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
        "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
    ]
    private static let statusCodes = ["STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2]

    private static func span(_ value: JSONValue) throws -> Opentelemetry_Proto_Trace_V1_Span {
        let o = try object(value, "span")
        var s = Opentelemetry_Proto_Trace_V1_Span()
        s.traceID = try id(field(o, "traceId"), "traceId")
        s.spanID = try id(field(o, "spanId"), "spanId")
        s.parentSpanID = try id(field(o, "parentSpanId"), "parentSpanId")
        s.traceState = try string(field(o, "traceState"), "traceState")
        s.flags = UInt32(truncatingIfNeeded: try uint64(field(o, "flags"), "flags"))
        s.name = try string(field(o, "name"), "name")
        s.kind = .init(rawValue: try enumValue(field(o, "kind"), names: spanKinds, "kind")) ?? .unspecified
        s.startTimeUnixNano = try uint64(field(o, "startTimeUnixNano"), "startTimeUnixNano")
        s.endTimeUnixNano = try uint64(field(o, "endTimeUnixNano"), "endTimeUnixNano")
        s.attributes = try keyValues(field(o, "attributes"), "attributes")
        s.droppedAttributesCount = UInt32(truncatingIfNeeded: try uint64(field(o, "droppedAttributesCount"), "droppedAttributesCount"))
        s.events = try array(field(o, "events"), "events").map { e in
            let eo = try object(e, "event")
            var event = Opentelemetry_Proto_Trace_V1_Span.Event()
            event.timeUnixNano = try uint64(field(eo, "timeUnixNano"), "event.timeUnixNano")
            event.name = try string(field(eo, "name"), "event.name")
            event.attributes = try keyValues(field(eo, "attributes"), "event.attributes")
            return event
        }
        s.links = try array(field(o, "links"), "links").map { l in
            let lo = try object(l, "link")
            var link = Opentelemetry_Proto_Trace_V1_Span.Link()
            link.traceID = try id(field(lo, "traceId"), "link.traceId")
            link.spanID = try id(field(lo, "spanId"), "link.spanId")
            link.attributes = try keyValues(field(lo, "attributes"), "link.attributes")
            return link
        }
        if let status = field(o, "status") {
            let so = try object(status, "status")
            s.status.message = try string(field(so, "message"), "status.message")
            s.status.code = .init(rawValue: try enumValue(field(so, "code"), names: statusCodes, "status.code")) ?? .unset
        }
        return s
    }

    private static func keyValues(_ value: JSONValue?, _ what: String) throws -> [Opentelemetry_Proto_Common_V1_KeyValue] {
        try array(value, what).map { item in
            let o = try object(item, what)
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = try string(field(o, "key"), "\(what).key")
            if let v = field(o, "value") { kv.value = try anyValue(v, "\(what).value") }
            return kv
        }
    }

    private static func anyValue(_ value: JSONValue, _ what: String) throws -> Opentelemetry_Proto_Common_V1_AnyValue {
        let o = try object(value, what)
        var any = Opentelemetry_Proto_Common_V1_AnyValue()
        if let v = field(o, "stringValue") {
            any.stringValue = try string(v, what)
        } else if let v = field(o, "boolValue") {
            guard case .bool(let b) = v else { throw ShapeError(message: "\(what).boolValue must be a boolean") }
            any.boolValue = b
        } else if let v = field(o, "intValue") {
            any.intValue = try int64(v, "\(what).intValue")
        } else if let v = field(o, "doubleValue") {
            switch v {
            case .double(let d): any.doubleValue = d
            case .int(let i): any.doubleValue = Double(i)
            case .string(let s):
                guard let d = Double(s) ?? ["NaN": .nan, "Infinity": .infinity, "-Infinity": -.infinity][s] else {
                    throw ShapeError(message: "\(what).doubleValue must be a number")
                }
                any.doubleValue = d
            default: throw ShapeError(message: "\(what).doubleValue must be a number")
            }
        } else if let v = field(o, "arrayValue") {
            var array = Opentelemetry_Proto_Common_V1_ArrayValue()
            array.values = try Self.array(field(try object(v, what), "values"), what).map { try anyValue($0, what) }
            any.arrayValue = array
        } else if let v = field(o, "kvlistValue") {
            var list = Opentelemetry_Proto_Common_V1_KeyValueList()
            list.values = try keyValues(field(try object(v, what), "values"), what)
            any.kvlistValue = list
        } else if let v = field(o, "bytesValue") {
            guard let data = Data(base64Encoded: try string(v, what)) else {
                throw ShapeError(message: "\(what).bytesValue must be base64")
            }
            any.bytesValue = data
        }
        return any
    }
}
