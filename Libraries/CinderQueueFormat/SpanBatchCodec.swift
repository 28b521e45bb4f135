import CinderModel
import CinderStorage
import Foundation
import SwiftProtobuf

/// The one place that knows the span topic's message format, for the producer (collector) and the
/// consumer (writer) alike.
public enum SpanBatchCodec {
    /// The version this build writes. Versions only change for a change an older reader would misread;
    /// added fields keep it (readers skip fields they do not know).
    public static let formatVersion: UInt32 = 2
    /// The oldest version this build still reads: a writer of a new release reads what collectors of the
    /// previous one wrote, so the two can be rolled in either order.
    public static let oldestReadableVersion: UInt32 = 2

    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// The message is well-formed but of a format newer than this build reads: not poison, it waits
        /// for a newer reader.
        public var isNewerFormat = false
    }

    public static func encode(_ batch: ProjectSpans) -> [UInt8] {
        var message = Cinder_Queue_V1_SpanBatch()
        message.formatVersion = formatVersion
        message.organizationID = batch.organizationID.rawValue
        message.projectName = batch.projectName
        message.spans = batch.spans.map { span in
            var wire = Cinder_Queue_V1_Span()
            wire.traceID = span.traceID
            wire.spanID = span.spanID
            wire.parentID = span.parentID ?? ""
            wire.name = span.name
            wire.spanKind = span.kind.rawValue
            wire.startTimeUnixNano = span.startTime
            wire.endTimeUnixNano = span.endTime
            wire.statusCode = span.statusCode.rawValue
            wire.statusMessage = span.statusMessage
            wire.attributesJson = Data(span.attributesJSON)
            wire.sessionID = span.sessionID ?? ""
            wire.promptTokenCount = span.promptTokenCount ?? 0
            wire.completionTokenCount = span.completionTokenCount ?? 0
            if let cost = span.promptCost { wire.promptCost = cost }
            if let cost = span.completionCost { wire.completionCost = cost }
            if let cost = span.totalCost { wire.totalCost = cost }
            wire.events = span.events.map { event in
                var wireEvent = Cinder_Queue_V1_Event()
                wireEvent.name = event.name
                wireEvent.timeUnixNano = event.time
                wireEvent.attributesJson = Data(JSONValue.object(event.attributes).jsonBytes)
                return wireEvent
            }
            return wire
        }
        // Serializing a message built here cannot fail (no required fields, no unknown types).
        return (try? message.serializedBytes()) ?? []
    }

    /// Decodes a message into the rows the writer stores, without parsing the attribute documents
    /// (PostgreSQL validates them on insert); throws for anything that is not a batch this build
    /// understands (a poison message for the dead-letter topic).
    public static func decodeRows(_ bytes: [UInt8]) throws(DecodingError) -> EncodedSpans {
        let message = try envelope(bytes)
        var rows: [EncodedSpan] = []
        rows.reserveCapacity(message.spans.count)
        for wire in message.spans {
            let (kind, status) = try validate(wire)
            rows.append(
                EncodedSpan(
                    traceID: wire.traceID, spanID: wire.spanID, parentID: wire.parentID.isEmpty ? nil : wire.parentID,
                    name: wire.name, kind: kind, startTime: wire.startTimeUnixNano, endTime: wire.endTimeUnixNano,
                    statusCode: status, statusMessage: wire.statusMessage, attributesJSON: [UInt8](wire.attributesJson),
                    eventsJSON: SpanRows.eventsJSON(
                        serialized: wire.events.map { (name: $0.name, time: $0.timeUnixNano, attributesJSON: [UInt8]($0.attributesJson)) }),
                    promptTokenCount: wire.promptTokenCount, completionTokenCount: wire.completionTokenCount,
                    costs: (
                        wire.hasPromptCost ? wire.promptCost : nil, wire.hasCompletionCost ? wire.completionCost : nil,
                        wire.hasTotalCost ? wire.totalCost : nil),
                    sessionID: wire.sessionID.isEmpty ? nil : wire.sessionID))
        }
        return EncodedSpans(organizationID: OrganizationID(message.organizationID), projectName: message.projectName, spans: rows)
    }

    /// Decodes a message into domain spans (attributes parsed), for tools and tests.
    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> ProjectSpans {
        let message = try envelope(bytes)
        var spans: [Span] = []
        spans.reserveCapacity(message.spans.count)
        for wire in message.spans {
            let (kind, status) = try validate(wire)
            spans.append(
                Span(
                    traceID: wire.traceID, spanID: wire.spanID, parentID: wire.parentID.isEmpty ? nil : wire.parentID,
                    name: wire.name, kind: kind, startTime: wire.startTimeUnixNano, endTime: wire.endTimeUnixNano,
                    statusCode: status, statusMessage: wire.statusMessage,
                    attributes: try object(wire.attributesJson, what: "span \(wire.spanID) attributes"),
                    events: try wire.events.map { event throws(DecodingError) in
                        SpanEvent(
                            name: event.name, time: event.timeUnixNano,
                            attributes: try object(event.attributesJson, what: "span \(wire.spanID) event attributes"))
                    }))
        }
        return ProjectSpans(
            organizationID: OrganizationID(message.organizationID), projectName: message.projectName, spans: spans)
    }

    private static func envelope(_ bytes: [UInt8]) throws(DecodingError) -> Cinder_Queue_V1_SpanBatch {
        let message: Cinder_Queue_V1_SpanBatch
        do {
            message = try Cinder_Queue_V1_SpanBatch(serializedBytes: bytes)
        } catch {
            throw DecodingError(description: "not a SpanBatch protobuf: \(error)")
        }
        if message.formatVersion > formatVersion {
            throw DecodingError(
                description: "SpanBatch format version \(message.formatVersion) is newer than this build reads (\(oldestReadableVersion)–\(formatVersion))",
                isNewerFormat: true)
        }
        guard message.formatVersion >= oldestReadableVersion else {
            throw DecodingError(description: "SpanBatch format version \(message.formatVersion) is no longer read (this build reads \(oldestReadableVersion)–\(formatVersion))")
        }
        return message
    }

    private static func validate(_ wire: Cinder_Queue_V1_Span) throws(DecodingError) -> (SpanKind, SpanStatusCode) {
        guard let kind = SpanKind(rawValue: wire.spanKind), let status = SpanStatusCode(rawValue: wire.statusCode),
            !wire.traceID.isEmpty, !wire.spanID.isEmpty
        else {
            throw DecodingError(description: "span \(wire.spanID) has invalid ids, kind or status")
        }
        return (kind, status)
    }

    private static func object(_ data: Data, what: String) throws(DecodingError) -> [String: JSONValue] {
        guard case .object(let members) = try? JSONValue(parsing: [UInt8](data)) else {
            throw DecodingError(description: "\(what) are not a JSON object")
        }
        return members
    }
}
