import CinderModel
import CinderOTLPProto
import CompressNIO
import Foundation
import NIOCore
import SwiftProtobuf

package typealias ExportTraceServiceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
package typealias ExportTraceServiceResponse = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse

/// The two OTLP/HTTP encodings.
public enum OTLPEncoding: Sendable {
    case protobuf
    case json

    /// Resolves a `Content-Type` header; parameters such as `charset` are ignored.
    public init(contentType: String?) throws(CinderError) {
        let mediaType = (contentType ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        switch mediaType {
        case "application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf": self = .protobuf
        case "application/json": self = .json
        default:
            throw CinderError(
                .unsupportedMediaType,
                "Unsupported content type '\(contentType ?? "")': OTLP/HTTP accepts application/x-protobuf or application/json"
            )
        }
    }

    public var contentType: String {
        switch self {
        case .protobuf: "application/x-protobuf"
        case .json: "application/json"
        }
    }
}

public struct OTLPLimits: Sendable {
    /// Largest request body accepted as sent (compressed or not).
    public var maxBodyBytes: Int
    /// Largest body after decompression: guards against compression bombs.
    public var maxDecompressedBytes: Int

    public init(maxBodyBytes: Int = 20 << 20, maxDecompressedBytes: Int = 128 << 20) {
        self.maxBodyBytes = maxBodyBytes
        self.maxDecompressedBytes = maxDecompressedBytes
    }
}

/// Turns an OTLP/HTTP request body into an `ExportTraceServiceRequest`.
package enum OTLPBody {
    package static func decode(
        _ body: ByteBuffer, encoding: OTLPEncoding, contentEncoding: String?, limits: OTLPLimits
    ) throws(CinderError) -> ExportTraceServiceRequest {
        let plain = try decompress(body, contentEncoding: contentEncoding, limits: limits)
        switch encoding {
        case .protobuf:
            do {
                return try ExportTraceServiceRequest(serializedBytes: Array(plain.readableBytesView))
            } catch {
                throw CinderError.badRequest("Request body is not a valid OTLP ExportTraceServiceRequest protobuf: \(error)")
            }
        case .json:
            return try OTLPJSON.decode(Array(plain.readableBytesView))
        }
    }

    package static func decompress(
        _ body: ByteBuffer, contentEncoding: String?, limits: OTLPLimits
    ) throws(CinderError) -> ByteBuffer {
        guard body.readableBytes <= limits.maxBodyBytes else {
            throw CinderError(.payloadTooLarge, "Request body exceeds the limit of \(limits.maxBodyBytes) bytes")
        }
        let coding = (contentEncoding ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        switch coding {
        case "", "identity":
            return body
        case "gzip", "x-gzip":
            return try inflate(body, algorithm: .gzip(), name: "gzip", limits: limits)
        case "deflate":
            // HTTP's "deflate" is zlib-wrapped (RFC 9110), but some clients send raw deflate.
            do {
                return try inflate(body, algorithm: .zlib(), name: "deflate", limits: limits)
            } catch where error.code == .badRequest {
                return try inflate(body, algorithm: .deflate(), name: "deflate", limits: limits)
            }
        default:
            throw CinderError(
                .unsupportedMediaType, "Unsupported content encoding '\(contentEncoding ?? "")': use gzip, deflate or none"
            )
        }
    }

    private static func inflate(
        _ body: ByteBuffer, algorithm: CompressionAlgorithm, name: String, limits: OTLPLimits
    ) throws(CinderError) -> ByteBuffer {
        var input = body
        do {
            let output = try input.decompress(with: algorithm, maxSize: limits.maxDecompressedBytes)
            // The decompressor bounds its buffer allocations, which round up: check the exact size too.
            guard output.readableBytes <= limits.maxDecompressedBytes else { throw CompressNIOError.bufferOverflow }
            return output
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw CinderError(
                .payloadTooLarge, "Decompressed request body exceeds the limit of \(limits.maxDecompressedBytes) bytes"
            )
        } catch {
            throw CinderError.badRequest("Request body is not valid \(name) data")
        }
    }
}

/// Encodes the OTLP export response in the request's encoding.
public enum OTLPResponse {
    public static func encode(rejectedSpans: Int, errorMessage: String, as encoding: OTLPEncoding) -> ByteBuffer {
        var response = ExportTraceServiceResponse()
        if rejectedSpans > 0 || !errorMessage.isEmpty {
            response.partialSuccess.rejectedSpans = Int64(rejectedSpans)
            response.partialSuccess.errorMessage = errorMessage
        }
        switch encoding {
        case .protobuf:
            let bytes: [UInt8] = (try? response.serializedBytes()) ?? []
            return ByteBuffer(bytes: bytes)
        case .json:
            guard response.hasPartialSuccess else { return ByteBuffer(string: "{}") }
            let message = JSONValue.string(errorMessage).jsonString
            return ByteBuffer(
                string: #"{"partialSuccess":{"rejectedSpans":"\#(rejectedSpans)","errorMessage":\#(message)}}"#
            )
        }
    }
}
