import CinderModel
import CinderOTLPProto
import CompressNIO
import Foundation
import NIOCore
import Testing

@testable import CinderOTLP

typealias ProtoSpan = Opentelemetry_Proto_Trace_V1_Span

func kv(_ key: String, _ value: Any) -> Opentelemetry_Proto_Common_V1_KeyValue {
    var kv = Opentelemetry_Proto_Common_V1_KeyValue()
    kv.key = key
    switch value {
    case let v as String: kv.value.stringValue = v
    case let v as Bool: kv.value.boolValue = v
    case let v as Int: kv.value.intValue = Int64(v)
    case let v as Double: kv.value.doubleValue = v
    case let v as [String]:
        var array = Opentelemetry_Proto_Common_V1_ArrayValue()
        array.values = v.map { var a = Opentelemetry_Proto_Common_V1_AnyValue(); a.stringValue = $0; return a }
        kv.value.arrayValue = array
    default: fatalError("unsupported test value")
    }
    return kv
}

let traceID = Data((1...16).map { UInt8($0) })
let spanID = Data([0xAA, 0xBB, 0xCC, 0xDD, 0x00, 0x11, 0x22, 0x33])
let parentID = Data([1, 2, 3, 4, 5, 6, 7, 8])

func sampleRequest(project: String? = "proj-a", spans: [ProtoSpan]? = nil) -> ExportTraceServiceRequest {
    var span = ProtoSpan()
    span.traceID = traceID
    span.spanID = spanID
    span.parentSpanID = parentID
    span.name = "ChatCompletion"
    span.startTimeUnixNano = 1_700_000_000_123_456_789
    span.endTimeUnixNano = 1_700_000_001_000_000_000
    span.status.code = .error
    span.status.message = "boom"
    span.attributes = [
        kv("openinference.span.kind", "LLM"), kv("llm.model_name", "gpt-4o"), kv("llm.token_count.prompt", "12"),
        kv("llm.token_count.completion", 5), kv("metadata", #"{"tier":"gold"}"#), kv("session.id", "s-1"),
        kv("tag.tags", ["a", "b"]), kv("flag", true), kv("score", 0.25),
        kv("llm.input_messages.0.message.role", "user"), kv("llm.input_messages.0.message.content", "hi"),
    ]
    var event = ProtoSpan.Event()
    event.name = "exception"
    event.timeUnixNano = 1_700_000_000_900_000_000
    event.attributes = [kv("exception.type", "ValueError"), kv("exception.message", "bad")]
    span.events = [event]
    var request = ExportTraceServiceRequest()
    var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
    if let project { resourceSpans.resource.attributes = [kv("openinference.project.name", project)] }
    var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
    scopeSpans.spans = spans ?? [span]
    resourceSpans.scopeSpans = [scopeSpans]
    request.resourceSpans = [resourceSpans]
    return request
}

func decodeHTTP(
    _ body: ByteBuffer, contentType: String? = "application/x-protobuf", encoding: String? = nil, header: String? = nil,
    limits: OTLPLimits = OTLPLimits()
) throws(CinderError) -> DecodedExport {
    try OTLPDecoder.decodeHTTP(
        body: body, contentType: contentType, contentEncoding: encoding, projectOverride: header, organizationID: .default,
        limits: limits
    ).0
}

func protobufBody(_ request: ExportTraceServiceRequest) throws -> ByteBuffer {
    ByteBuffer(bytes: try request.serializedBytes() as [UInt8])
}

@Suite struct OTLPProtobufTests {
    @Test func decodesEveryField() throws {
        let decoded = try decodeHTTP(try protobufBody(sampleRequest()))
        #expect(decoded.rejectedSpans == 0)
        #expect(decoded.batches.count == 1)
        #expect(decoded.batches[0].projectName == "proj-a")
        let span = try #require(decoded.batches[0].spans.first)
        #expect(span.traceID == "0102030405060708090a0b0c0d0e0f10")
        #expect(span.spanID == "aabbccdd00112233")
        #expect(span.parentID == "0102030405060708")
        #expect(span.name == "ChatCompletion")
        #expect(span.kind == .llm)
        #expect(span.startTime == 1_700_000_000_123_456_789)
        #expect(span.endTime == 1_700_000_001_000_000_000)
        #expect(span.statusCode == .error)
        #expect(span.statusMessage == "boom")
        #expect(span.attributes[path: ["llm", "model_name"]] == "gpt-4o")
        #expect(span.attributes[path: ["llm", "token_count", "prompt"]] == 12)  // coerced from "12"
        #expect(span.attributes[path: ["llm", "token_count", "completion"]] == 5)
        #expect(span.attributes["metadata"] == ["tier": "gold"])
        #expect(span.attributes[path: ["tag", "tags"]] == ["a", "b"])
        #expect(span.attributes["flag"] == true)
        #expect(span.attributes["score"] == 0.25)
        #expect(span.attributes[path: ["llm", "input_messages"]] == [["message": ["role": "user", "content": "hi"]]])
        #expect(span.sessionID == "s-1")
        #expect(span.promptTokenCount == 12)
        #expect(span.events == [
            SpanEvent(
                name: "exception", time: 1_700_000_000_900_000_000,
                attributes: ["exception.type": "ValueError", "exception.message": "bad"])
        ])
    }

    @Test func projectDefaultsAndHeaderOverride() throws {
        let body = try protobufBody(sampleRequest(project: nil))
        #expect(try decodeHTTP(body).batches[0].projectName == "default")
        #expect(try decodeHTTP(body, header: "from-header").batches[0].projectName == "from-header")
        #expect(try decodeHTTP(try protobufBody(sampleRequest()), header: "  ").batches[0].projectName == "proj-a")
    }

    @Test func unknownKindAndStructuredInput() throws {
        var span = sampleRequest().resourceSpans[0].scopeSpans[0].spans[0]
        span.attributes = [kv("openinference.span.kind", "mystery")]
        var input = Opentelemetry_Proto_Common_V1_KeyValue()
        input.key = "input.value"
        input.value.kvlistValue.values = [kv("q", "hello")]
        span.attributes.append(input)
        let decoded = try decodeHTTP(try protobufBody(sampleRequest(spans: [span])))
        let stored = decoded.batches[0].spans[0]
        #expect(stored.kind == .unknown)
        #expect(stored.attributes["input"] == ["value": #"{"q":"hello"}"#, "mime_type": "application/json"])

        // The same structure sent as dotted keys, and as an indexed list, is rewritten the same way.
        span.attributes = [kv("input.value.q", "hello"), kv("input.value.n", "1")]
        let dotted = try decodeHTTP(try protobufBody(sampleRequest(spans: [span]))).batches[0].spans[0]
        #expect(dotted.attributes["input"] == ["value": #"{"n":"1","q":"hello"}"#, "mime_type": "application/json"])
        span.attributes = [kv("input.value.0.text", "a"), kv("input.value.1.text", "b")]
        let indexed = try decodeHTTP(try protobufBody(sampleRequest(spans: [span]))).batches[0].spans[0]
        #expect(indexed.attributes["input"] == ["value": #"[{"text":"a"},{"text":"b"}]"#, "mime_type": "application/json"])
    }

    @Test func invalidSpansAreRejectedIndividually() throws {
        let good = sampleRequest().resourceSpans[0].scopeSpans[0].spans[0]
        var zeroTrace = good
        zeroTrace.traceID = Data(count: 16)
        zeroTrace.spanID = Data([9, 9, 9, 9, 9, 9, 9, 9])
        var shortSpanID = good
        shortSpanID.spanID = Data([1, 2])
        var noStart = good
        noStart.spanID = Data([7, 7, 7, 7, 7, 7, 7, 7])
        noStart.startTimeUnixNano = 0
        let decoded = try decodeHTTP(try protobufBody(sampleRequest(spans: [zeroTrace, good, shortSpanID, noStart])))
        #expect(decoded.acceptedSpanCount == 1)
        #expect(decoded.rejectedSpans == 3)
        #expect(decoded.rejectionMessage.contains("0909090909090909: trace_id must be 16 bytes"))
        #expect(decoded.rejectionMessage.contains("span_id must be 8 bytes"))
        #expect(decoded.rejectionMessage.contains("start_time_unix_nano is missing"))
    }

    @Test func truncatedProtobufIsBadRequest() throws {
        var body = try protobufBody(sampleRequest())
        body.moveWriterIndex(to: body.writerIndex - 7)
        let error = #expect(throws: CinderError.self) { try decodeHTTP(body) }
        #expect(error?.code == .badRequest)
    }

    @Test func gzipAndDeflateBodies() throws {
        let plain = try protobufBody(sampleRequest())
        for (algorithm, name) in [(CompressionAlgorithm.gzip(), "gzip"), (.zlib(), "deflate"), (.deflate(), "deflate")] {
            var copy = plain
            let compressed = try copy.compress(with: algorithm)
            #expect(try decodeHTTP(compressed, encoding: name).acceptedSpanCount == 1, "\(name)")
        }
    }

    @Test func badGzipIsBadRequest() {
        let error = #expect(throws: CinderError.self) { try decodeHTTP(ByteBuffer(string: "definitely not gzip"), encoding: "gzip") }
        #expect(error?.code == .badRequest)
    }

    @Test func limitsAreEnforced() throws {
        let plain = try protobufBody(sampleRequest())
        let small = OTLPLimits(maxBodyBytes: 10, maxDecompressedBytes: 1 << 20)
        #expect(throws: CinderError.self) { try decodeHTTP(plain, limits: small) }
        // A compression bomb: 8 MiB of zeros compresses to a few KiB.
        var zeros = ByteBuffer(repeating: 0, count: 8 << 20)
        let bomb = try zeros.compress(with: .gzip())
        let error = #expect(throws: CinderError.self) {
            try decodeHTTP(bomb, encoding: "gzip", limits: OTLPLimits(maxBodyBytes: 1 << 20, maxDecompressedBytes: 1 << 20))
        }
        #expect(error?.code == .payloadTooLarge)
    }

    @Test func contentTypesAndEncodings() throws {
        let body = try protobufBody(sampleRequest())
        #expect(try decodeHTTP(body, contentType: "application/x-protobuf; charset=utf-8").acceptedSpanCount == 1)
        #expect((#expect(throws: CinderError.self) { try decodeHTTP(body, contentType: "text/plain") })?.code == .unsupportedMediaType)
        #expect((#expect(throws: CinderError.self) { try decodeHTTP(body, contentType: nil) })?.code == .unsupportedMediaType)
        #expect((#expect(throws: CinderError.self) { try decodeHTTP(body, encoding: "br") })?.code == .unsupportedMediaType)
    }

    @Test func partialSuccessResponseEncodings() throws {
        let protobuf = OTLPResponse.encode(rejectedSpans: 2, errorMessage: "bad ids", as: .protobuf)
        let response = try ExportTraceServiceResponse(serializedBytes: Array(protobuf.readableBytesView))
        #expect(response.partialSuccess.rejectedSpans == 2)
        #expect(response.partialSuccess.errorMessage == "bad ids")
        #expect(OTLPResponse.encode(rejectedSpans: 0, errorMessage: "", as: .protobuf).readableBytes == 0)
        #expect(String(buffer: OTLPResponse.encode(rejectedSpans: 0, errorMessage: "", as: .json)) == "{}")
        let json = try JSONValue(parsing: String(buffer: OTLPResponse.encode(rejectedSpans: 1, errorMessage: "x", as: .json)))
        #expect(json == ["partialSuccess": ["rejectedSpans": "1", "errorMessage": "x"]])
    }
}

@Suite struct OTLPJSONTests {
    static let document = """
        {"resourceSpans":[{"resource":{"attributes":[{"key":"openinference.project.name","value":{"stringValue":"json-proj"}}]},
          "scopeSpans":[{"scope":{"name":"t"},"spans":[
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"EEE19B7EC3C1B173",
             "name":"I'm a server span","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
             "kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_OK"},
             "attributes":[{"key":"openinference.span.kind","value":{"stringValue":"TOOL"}},
                           {"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}},
                           {"key":"b","value":{"boolValue":true}},
                           {"key":"arr","value":{"arrayValue":{"values":[{"intValue":1},{"intValue":"2"}]}}},
                           {"key":"kv","value":{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}}],
             "events":[{"timeUnixNano":"1544712660500000000","name":"ev","attributes":[{"key":"k","value":{"stringValue":"v"}}]}]},
            {"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b175","name":"snake",
             "start_time_unix_nano":1544712660000000000,"end_time_unix_nano":1544712660000000001,"status":{"code":2,"message":"m"}}
          ]}]}]}
        """

    @Test func decodesHexIdsCamelAndSnakeCaseEnumsAndStrings() throws {
        let decoded = try decodeHTTP(ByteBuffer(string: Self.document), contentType: "application/json")
        #expect(decoded.rejectedSpans == 0)
        #expect(decoded.batches[0].projectName == "json-proj")
        let spans = decoded.batches[0].spans
        #expect(spans.count == 2)
        #expect(spans[0].traceID == "5b8efff798038103d269b633813fc60c")
        #expect(spans[0].spanID == "eee19b7ec3c1b174")
        #expect(spans[0].parentID == "eee19b7ec3c1b173")
        #expect(spans[0].kind == .tool)
        #expect(spans[0].statusCode == .ok)
        #expect(spans[0].startTime == 1_544_712_660_000_000_000)
        #expect(spans[0].attributes["n"] == 42)
        #expect(spans[0].attributes["d"] == 1.5)
        #expect(spans[0].attributes["b"] == true)
        #expect(spans[0].attributes["arr"] == [1, 2])
        #expect(spans[0].attributes["kv"] == ["x": "y"])
        #expect(spans[0].events == [SpanEvent(name: "ev", time: 1_544_712_660_500_000_000, attributes: ["k": "v"])])
        #expect(spans[1].name == "snake")
        #expect(spans[1].statusCode == .error)
        #expect(spans[1].statusMessage == "m")
        #expect(spans[1].parentID == nil)
    }

    @Test(arguments: [
        "{not json", "[]", #"{"resourceSpans":{}}"#, #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
        #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_BOGUS"}]}]}]}"#,
    ])
    func malformedJSONIsBadRequest(_ text: String) {
        let error = #expect(throws: CinderError.self) { try decodeHTTP(ByteBuffer(string: text), contentType: "application/json") }
        #expect(error?.code == .badRequest)
    }

    @Test func nonHexIdsRejectTheSpanNotTheRequest() throws {
        let text = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex","spanId":"eee19b7ec3c1b175","startTimeUnixNano":"1"}]}]}]}"#
        let decoded = try decodeHTTP(ByteBuffer(string: text), contentType: "application/json")
        #expect(decoded.rejectedSpans == 1)
        #expect(decoded.acceptedSpanCount == 0)
    }
}
