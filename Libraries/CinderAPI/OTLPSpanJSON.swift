import CinderModel
import CinderStorage

/// Spans in the OTLP-shaped JSON of `GET /v1/projects/{id}/spans/otlpv1`, as Phoenix renders them:
/// snake_case keys, hex ids, integer nanosecond times, every AnyValue key present.
enum OTLPSpanJSON {
    static func span(_ row: SpanRow) -> JSONValue {
        var attributes: [JSONValue] = []
        if case .object(let nested) = (try? JSONValue(parsing: row.attributesJSON)) ?? .null {
            attributes = Attributes.flatten(nested).map(keyValue)
        }
        var events: JSONValue = .null
        if case .array(let stored) = (try? JSONValue(parsing: row.eventsJSON)) ?? .null, !stored.isEmpty {
            events = .array(stored.map { event in
                var eventAttributes: [JSONValue] = []
                if case .object(let flat)? = event["attributes"] {
                    eventAttributes = Attributes.flatten(flat).map(keyValue)
                }
                let micros = event["timestamp"]?.stringValue.flatMap(Timestamp.parseMicros) ?? 0
                return [
                    "attributes": .array(eventAttributes), "dropped_attributes_count": .null,
                    "name": event["name"] ?? "", "time_unix_nano": .int(nanos(micros)),
                ]
            })
        }
        let statusCode: Int64 = row.statusCode == "OK" ? 1 : row.statusCode == "ERROR" ? 2 : 0
        return [
            "attributes": .array(attributes),
            "dropped_attributes_count": .null, "dropped_events_count": .null, "dropped_links_count": .null,
            "end_time_unix_nano": .int(nanos(row.endMicros)),
            "events": events,
            "flags": .null,
            // The OTel span kind is not stored (Phoenix does not keep it either).
            "kind": "SPAN_KIND_INTERNAL",
            "links": .null,
            "name": .string(row.name),
            "parent_span_id": row.parentID.map { .string($0) } ?? .null,
            "span_id": .string(row.spanID),
            "start_time_unix_nano": .int(nanos(row.startMicros)),
            "status": ["code": .int(statusCode), "message": row.statusMessage.isEmpty ? .null : .string(row.statusMessage)],
            "trace_id": .string(row.traceID),
            "trace_state": .null,
        ]
    }

    /// Phoenix converts through a float (`timestamp() * 1e9`); doing the same keeps values identical.
    static func nanos(_ micros: Int64) -> Int64 {
        Int64((Double(micros) / 1e6 * 1e9).rounded(.towardZero))
    }

    static func keyValue(_ pair: (key: String, value: JSONValue)) -> JSONValue {
        ["key": .string(pair.key), "value": anyValue(pair.value)]
    }

    static func anyValue(_ value: JSONValue) -> JSONValue {
        var out: [String: JSONValue] = [
            "array_value": .null, "bool_value": .null, "bytes_value": .null, "double_value": .null, "int_value": .null,
            "kvlist_value": .null, "string_value": .null,
        ]
        switch value {
        case .bool(let b): out["bool_value"] = .bool(b)
        case .int(let i): out["int_value"] = .int(i)
        case .double(let d): out["double_value"] = .double(d)
        case .string(let s): out["string_value"] = .string(s)
        case .array(let items):
            out["array_value"] = ["values": .array(items.map(anyValue))]
        case .object, .null: break
        }
        return .object(out)
    }
}
