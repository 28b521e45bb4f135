import CinderModel
import CinderQueueFormat
import Testing

@Suite struct SpanBatchCodecTests {
    static let batch = ProjectSpans(
        organizationID: OrganizationID(7), projectName: "rag-app",
        spans: [
            Span(
                traceID: "0102030405060708090a0b0c0d0e0f10", spanID: "aabbccdd00112233", parentID: nil, name: "root",
                kind: .chain, startTime: 1_700_000_000_123_456_789, endTime: 1_700_000_001_000_000_000, statusCode: .ok,
                statusMessage: "", attributes: ["input": ["value": "hi"], "n": 3, "d": 0.25, "tags": ["a", "b"], "ok": true],
                events: []),
            Span(
                traceID: "0102030405060708090a0b0c0d0e0f10", spanID: "1122334455667788", parentID: "aabbccdd00112233",
                name: "tool", kind: .tool, startTime: 1_700_000_000_200_000_000, endTime: 1_700_000_000_300_000_000,
                statusCode: .error, statusMessage: "boom", attributes: ["tool": ["name": "weather"]],
                events: [SpanEvent(name: "exception", time: 1_700_000_000_250_000_000, attributes: ["exception.message": "bad"])]),
        ])

    @Test func roundTripsEveryField() throws {
        #expect(try SpanBatchCodec.decode(SpanBatchCodec.encode(Self.batch)) == Self.batch)
    }

    @Test func refusesWhatItDoesNotUnderstand() {
        #expect(throws: SpanBatchCodec.DecodingError.self) { try SpanBatchCodec.decode(Array("not protobuf \u{1}\u{2}".utf8)) }
        #expect(throws: SpanBatchCodec.DecodingError.self) { try SpanBatchCodec.decode([]) }  // version 0
    }

    /// The rolling-upgrade policy: a message of a newer version is not poison (it waits for a newer
    /// writer), one older than this build reads is, and fields a newer collector adds are skipped.
    @Test func versionPolicy() throws {
        var bytes = SpanBatchCodec.encode(Self.batch)
        #expect(bytes[0] == 0x08)  // field 1 (format_version) is the first varint
        bytes[1] = UInt8(SpanBatchCodec.formatVersion + 1)
        do {
            _ = try SpanBatchCodec.decode(bytes)
            Issue.record("a newer version decoded")
        } catch {
            #expect(error.isNewerFormat)
        }
        bytes[1] = UInt8(SpanBatchCodec.oldestReadableVersion - 1)
        do {
            _ = try SpanBatchCodec.decode(bytes)
            Issue.record("a retired version decoded")
        } catch {
            #expect(!error.isNewerFormat)
        }
        // Field 99, length-delimited, as a newer collector of the same version might add.
        let added = SpanBatchCodec.encode(Self.batch) + [0x9a, 0x06, 0x03] + Array("new".utf8)
        #expect(try SpanBatchCodec.decode(added) == Self.batch)
        #expect(try SpanBatchCodec.decodeRows(added).count == 2)
    }
}
