import CinderModel
import CinderOTLPProto
import Foundation
import NIOCore

public typealias NIOCoreByteBuffer = ByteBuffer

/// The result of turning one export request into storable spans.
public struct DecodedExport: Sendable {
    /// Accepted spans grouped by destination project, in request order.
    public var batches: [ProjectSpans]
    public var rejectedSpans: Int
    /// Why spans were rejected (the first few reasons), for OTLP `partial_success.error_message`.
    public var rejectionMessage: String

    public var acceptedSpanCount: Int { batches.reduce(0) { $0 + $1.spans.count } }
}

/// OTLP protobuf messages to OpenInference spans, Phoenix's way (see `Attributes` for the nesting rules).
package enum SpanConversion {
    static let projectNameAttribute = "openinference.project.name"
    static let spanKindAttribute = "openinference.span.kind"
    static let tokenCountKeys: Set<String> = ["llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total"]
    /// Latest time accepted (2262): nanoseconds must fit the signed 64 bits the rest of the system uses.
    static let maxUnixNanos = UInt64(Int64.max)

    package static func convert(
        _ request: ExportTraceServiceRequest, projectOverride: String?, organizationID: OrganizationID
    ) -> DecodedExport {
        var order: [String] = []
        var byProject: [String: [Span]] = [:]
        var rejected = 0
        var reasons: [String] = []
        let override = projectOverride.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }

        for resourceSpans in request.resourceSpans {
            let project = override ?? projectName(resourceSpans.resource.attributes)
            let projectProblem = SpanLimits.problem(withProjectName: project)
            for scopeSpans in resourceSpans.scopeSpans {
                for protoSpan in scopeSpans.spans {
                    var result = convert(protoSpan)
                    if case .success(let span) = result, let problem = projectProblem ?? SpanLimits.problem(with: span) {
                        result = .failure(Rejection(message: problem))
                    }
                    switch result {
                    case .success(let span):
                        if byProject[project] == nil { order.append(project) }
                        byProject[project, default: []].append(span)
                    case .failure(let reason):
                        rejected += 1
                        if reasons.count < 5 { reasons.append(reason.message) }
                    }
                }
            }
        }
        var message = reasons.joined(separator: "; ")
        if rejected > reasons.count { message += "; and \(rejected - reasons.count) more" }
        return DecodedExport(
            batches: order.map { ProjectSpans(organizationID: organizationID, projectName: $0, spans: byProject[$0]!) },
            rejectedSpans: rejected,
            rejectionMessage: message
        )
    }

    static func projectName(_ attributes: [Opentelemetry_Proto_Common_V1_KeyValue]) -> String {
        for kv in attributes where kv.key == projectNameAttribute {
            if case .stringValue(let name)? = kv.value.value {
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                if !trimmed.isEmpty { return trimmed }
            }
        }
        return ProjectDefaults.name
    }

    struct Rejection: Error {
        let message: String
    }

    static func convert(_ s: Opentelemetry_Proto_Trace_V1_Span) -> Result<Span, Rejection> {
        let spanLabel = s.spanID.count == 8 ? "span \(HexID.encode(s.spanID))" : "span '\(s.name)'"
        guard s.traceID.count == 16, s.traceID.contains(where: { $0 != 0 }) else {
            return .failure(.init(message: "\(spanLabel): trace_id must be 16 bytes and not all zero"))
        }
        guard s.spanID.count == 8, s.spanID.contains(where: { $0 != 0 }) else {
            return .failure(.init(message: "\(spanLabel): span_id must be 8 bytes and not all zero"))
        }
        let parentID: String?
        switch s.parentSpanID.count {
        case 0: parentID = nil
        case 8: parentID = s.parentSpanID.contains(where: { $0 != 0 }) ? HexID.encode(s.parentSpanID) : nil
        default: return .failure(.init(message: "\(spanLabel): parent_span_id must be empty or 8 bytes"))
        }
        guard s.startTimeUnixNano > 0, s.startTimeUnixNano <= maxUnixNanos else {
            return .failure(.init(message: "\(spanLabel): start_time_unix_nano is missing or out of range"))
        }
        guard s.endTimeUnixNano <= maxUnixNanos else {
            return .failure(.init(message: "\(spanLabel): end_time_unix_nano is out of range"))
        }
        // An unset end time would otherwise read as 1970; treat the span as instantaneous.
        let end = s.endTimeUnixNano == 0 ? s.startTimeUnixNano : s.endTimeUnixNano
        guard end >= s.startTimeUnixNano else {
            return .failure(.init(message: "\(spanLabel): end_time_unix_nano is before start_time_unix_nano"))
        }

        var pairs = s.attributes.map { kv -> (key: String, value: JSONValue) in
            var value = decode(kv.value)
            if tokenCountKeys.contains(kv.key), let count = value.integerValue { value = .int(count) }
            return (kv.key, value)
        }
        pairs = Attributes.loadingJSONStrings(pairs)
        var attributes = NestedAttributes(pairs)
        let kind = SpanKind(attribute: attributes.value(at: ["openinference", "span", "kind"])?.stringValue)
        // OpenInference expects input.value to be text; structured input is kept as its JSON text.
        if let value = attributes.value(at: ["input", "value"]) {
            switch value {
            case .string, .null: break
            default:
                var json: [UInt8] = []
                value.writeCanonical(to: &json)
                attributes.set(["input", "value"], .string(String(decoding: json, as: UTF8.self)))
                attributes.set(["input", "mime_type"], "application/json")
            }
        }

        let status: SpanStatusCode =
            switch s.status.code {
            case .ok: .ok
            case .error: .error
            default: .unset
            }

        return .success(
            Span(
                traceID: HexID.encode(s.traceID),
                spanID: HexID.encode(s.spanID),
                parentID: parentID,
                name: s.name,
                kind: kind,
                startTime: Int64(s.startTimeUnixNano),
                endTime: Int64(end),
                statusCode: status,
                statusMessage: s.status.message,
                attributes: attributes,
                events: s.events.map(event)
            ))
    }

    static func event(_ e: Opentelemetry_Proto_Trace_V1_Span.Event) -> SpanEvent {
        var attributes: [String: JSONValue] = [:]
        for kv in e.attributes {
            let value = decode(kv.value)
            if value != .null { attributes[kv.key] = value }
        }
        if e.name == "exception", attributes["exception.message"] == nil {
            attributes["exception.message"] = ""
        }
        let time = min(e.timeUnixNano, maxUnixNanos)
        return SpanEvent(name: e.name, time: Int64(time), attributes: attributes)
    }

    static func decode(_ value: Opentelemetry_Proto_Common_V1_AnyValue) -> JSONValue {
        switch value.value {
        case .stringValue(let s)?: return .string(s)
        case .boolValue(let b)?: return .bool(b)
        case .intValue(let i)?: return .int(i)
        case .doubleValue(let d)?: return .double(d)
        case .arrayValue(let a)?: return .array(a.values.map(decode))
        case .kvlistValue(let list)?:
            var members: [String: JSONValue] = [:]
            for kv in list.values { members[kv.key] = decode(kv.value) }
            return .object(members)
        case .bytesValue(let data)?: return .string(data.base64EncodedString())
        case .stringValueStrindex?, nil: return .null
        }
    }
}

/// Everything the receivers need: body → decoded, validated spans grouped by project.
public enum OTLPDecoder {
    public static func decodeHTTP(
        body: NIOCoreByteBuffer, contentType: String?, contentEncoding: String?, projectOverride: String?,
        organizationID: OrganizationID, limits: OTLPLimits
    ) throws(CinderError) -> (DecodedExport, OTLPEncoding) {
        let encoding = try OTLPEncoding(contentType: contentType)
        let request = try OTLPBody.decode(body, encoding: encoding, contentEncoding: contentEncoding, limits: limits)
        return (SpanConversion.convert(request, projectOverride: projectOverride, organizationID: organizationID), encoding)
    }

    package static func decode(
        _ request: ExportTraceServiceRequest, projectOverride: String?, organizationID: OrganizationID
    ) -> DecodedExport {
        SpanConversion.convert(request, projectOverride: projectOverride, organizationID: organizationID)
    }
}
