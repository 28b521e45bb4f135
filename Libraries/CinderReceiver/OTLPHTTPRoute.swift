import CinderHTTPSupport
import CinderIngest
import CinderModel
import CinderOTLP
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// Counters shared by the HTTP and gRPC receivers.
public struct ReceiverMetrics: Sendable {
    let accepted: Counter
    let rejected: Counter

    public init(factory: any MetricsFactory) {
        accepted = Counter(label: "cinder_receiver_spans_accepted_total", factory: factory)
        rejected = Counter(label: "cinder_receiver_spans_rejected_total", factory: factory)
    }
}

/// Resolves the bearer token a gRPC caller presented (nil: none), and the organization an admin-secret
/// call names (`x-cinder-organization`), to its access; with auth off every caller is the local user.
public typealias CallerAuthentication = @Sendable (_ token: String?, _ organizationHeader: String?) async throws(CinderError) -> Access

/// The ingestion step both receivers share: decoded spans → queue, answered once the queue has them.
public struct SpanReceiver: Sendable {
    let queue: any SpanQueue
    let limits: OTLPLimits
    let metrics: ReceiverMetrics
    let limiter: IngestionLimiter

    public init(queue: any SpanQueue, limits: OTLPLimits, metrics: ReceiverMetrics, limiter: IngestionLimiter) {
        self.queue = queue
        self.limits = limits
        self.metrics = metrics
        self.limiter = limiter
    }

    /// Queues an organization's decoded spans, once its rate allows them all (nothing of a refused
    /// request is kept).
    func accept(_ decoded: DecodedExport, for organization: OrganizationID) async throws(CinderError) {
        if decoded.rejectedSpans > 0 { metrics.rejected.increment(by: decoded.rejectedSpans) }
        let count = decoded.acceptedSpanCount
        guard count > 0 else { return }
        try await limiter.admit(organization, spans: count)
        try await queue.publish(decoded.batches)
        metrics.accepted.increment(by: count)
    }
}

/// `POST /v1/traces`: OTLP/HTTP with protobuf or JSON bodies, optionally gzip- or deflate-compressed.
public enum OTLPHTTPRoute {
    /// Phoenix lets this header route spans to a project regardless of their resource attributes.
    static let projectHeader = HTTPField.Name("x-project-name")!

    public static func add(to router: Router<CinderRequestContext>, receiver: SpanReceiver) {
        router.post("/v1/traces") { request, context in
            try await handle(request, context: context, receiver: receiver)
        }
    }

    static func handle(_ request: Request, context: CinderRequestContext, receiver: SpanReceiver) async throws -> Response {
        // The organization comes from the caller's credential only, never from the spans or headers.
        let organization = try context.requireWriteAccess().organization
        let encoding = try OTLPEncoding(contentType: request.headers[.contentType])
        try receiver.queue.checkCapacity()
        // The organization's own limit, where it is below the installation's.
        let maxBytes = await receiver.limiter.limits(for: organization).maxRequestBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw CinderError(.payloadTooLarge, "Request body exceeds the limit of \(maxBytes) bytes")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw CinderError(.payloadTooLarge, "Request body exceeds the limit of \(maxBytes) bytes")
        }
        let (decoded, _) = try OTLPDecoder.decodeHTTP(
            body: body, contentType: request.headers[.contentType], contentEncoding: request.headers[.contentEncoding],
            projectOverride: request.headers[projectHeader], organizationID: organization,
            limits: receiver.limits)
        try await receiver.accept(decoded, for: organization)
        return Response(
            status: .ok, headers: [.contentType: encoding.contentType],
            body: .init(
                byteBuffer: OTLPResponse.encode(
                    rejectedSpans: decoded.rejectedSpans, errorMessage: decoded.rejectionMessage, as: encoding)))
    }
}
