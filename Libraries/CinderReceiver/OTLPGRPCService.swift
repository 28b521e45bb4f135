import CinderModel
import CinderOTLP
import CinderOTLPProto
import GRPCCore

import GRPCProtobuf
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import ServiceLifecycle

/// `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
struct TraceExportService: Opentelemetry_Proto_Collector_Trace_V1_TraceService.ServiceProtocol {
    let receiver: SpanReceiver
    let authenticate: CallerAuthentication

    func export(
        request: ServerRequest<Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest>, context: ServerContext
    ) async throws -> ServerResponse<Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse> {
        do {
            // The organization comes from the caller's credential only (OTLP exporters send it as
            // `authorization: Bearer <key>` metadata), never from resource attributes.
            let organization = request.metadata[stringValues: "x-cinder-organization"].first(where: { _ in true })
            let access = try await authenticate(Self.bearer(in: request.metadata), organization)
            guard access.role.canWrite else { throw CinderError.viewerCannotWrite }
            let decoded = OTLPDecoder.decode(request.message, projectOverride: nil, organizationID: access.organization)
            try await receiver.accept(decoded, for: access.organization)
            var response = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse()
            if decoded.rejectedSpans > 0 {
                response.partialSuccess.rejectedSpans = Int64(decoded.rejectedSpans)
                response.partialSuccess.errorMessage = decoded.rejectionMessage
            }
            return ServerResponse(message: response)
        } catch let error as CinderError where error.code == .overloaded || error.code == .rateLimited {
            // OTLP clients retry RESOURCE_EXHAUSTED only when the server says when (RetryInfo).
            throw GoogleRPCStatus(
                code: .resourceExhausted, message: error.message,
                details: [.retryInfo(delay: .seconds(error.retryAfterSeconds ?? 1))])
        } catch let error as CinderError {
            throw RPCError(error)
        }
    }

    static func bearer(in metadata: Metadata) -> String? {
        for value in metadata[stringValues: "authorization"] {
            let parts = value.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}

extension RPCError {
    /// The single place where `CinderError` becomes a gRPC status.
    init(_ error: CinderError) {
        let code: RPCError.Code =
            switch error.code {
            case .badRequest, .unprocessable, .payloadTooLarge, .unsupportedMediaType: .invalidArgument
            case .notFound: .notFound
            case .conflict: .alreadyExists
            case .overloaded, .rateLimited: .resourceExhausted
            case .unauthenticated: .unauthenticated
            case .unavailable: .unavailable
            case .forbidden: .permissionDenied
            case .internal: .internalError
            }
        self.init(code: code, message: error.message)
    }
}

/// The gRPC OTLP receiver as a lifecycle service: serves until graceful shutdown, then lets in-flight
/// exports finish (they are answered only after the queue has taken their spans).
public struct OTLPGRPCServer: Service {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var maxMessageBytes: Int

        public init(host: String, port: Int, maxMessageBytes: Int) {
            self.host = host
            self.port = port
            self.maxMessageBytes = maxMessageBytes
        }
    }

    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let transport: HTTP2ServerTransport.Posix
    let logger: Logger

    public init(configuration: Configuration, receiver: SpanReceiver, authenticate: @escaping CallerAuthentication, logger: Logger) {
        let transport = HTTP2ServerTransport.Posix(
            address: Self.address(host: configuration.host, port: configuration.port),
            transportSecurity: .plaintext,
            config: .defaults {
                $0.rpc.maxRequestPayloadSize = configuration.maxMessageBytes
                // Exporters commonly compress (OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
                $0.compression.enabledAlgorithms = .all
            })
        self.transport = transport
        self.server = GRPCServer(transport: transport, services: [TraceExportService(receiver: receiver, authenticate: authenticate)])
        self.logger = logger
    }

    /// The transport binds numeric addresses only; host names (`localhost`) are resolved here.
    static func address(host: String, port: Int) -> GRPCNIOTransportHTTP2.SocketAddress {
        if host.contains(":") { return .ipv6(host: host, port: port) }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(host: host, port: port)
        }
        if let resolved = try? NIOCore.SocketAddress.makeAddressResolvingHost(host, port: port), let ip = resolved.ipAddress {
            return resolved.protocol == .inet6 ? .ipv6(host: ip, port: port) : .ipv4(host: ip, port: port)
        }
        return .ipv4(host: host, port: port)
    }

    /// The bound port, once listening (useful with port 0 in tests).
    public func listeningPort() async throws -> Int? {
        let address = try await transport.listeningAddress
        return address.ipv4?.port ?? address.ipv6?.port
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
