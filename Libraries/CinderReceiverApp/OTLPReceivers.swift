import CinderApp
import CinderCosts
import CinderHTTPSupport
import CinderIngest
import CinderModel
import CinderReceiver
import Hummingbird
import Logging
import Metrics

/// OTLP over HTTP and gRPC in front of a span queue, as `cinder serve` and the collector run them.
package struct OTLPReceivers: Sendable {
    package let receiver: SpanReceiver
    package let grpc: OTLPGRPCServer

    package init(
        _ configuration: CinderConfiguration, queue: any SpanQueue, limiter: IngestionLimiter, accessControl: AccessControl,
        prices: OrganizationPrices?, metrics: any MetricsFactory, logger: Logger
    ) {
        receiver = SpanReceiver(
            queue: pricing(queue, with: prices), limits: configuration.limits, metrics: ReceiverMetrics(factory: metrics),
            limiter: limiter)
        grpc = OTLPGRPCServer(
            configuration: .init(host: configuration.host, port: configuration.grpcPort, maxMessageBytes: configuration.limits.maxBodyBytes),
            receiver: receiver, authenticate: accessControl.callerAuthentication, logger: logger)
    }

    /// `POST /v1/traces`, behind whatever middleware the router already has.
    package func addHTTPRoute(to router: Router<CinderRequestContext>) {
        OTLPHTTPRoute.add(to: router, receiver: receiver)
    }
}

extension AccessControl {
    /// The gRPC receiver's check of a caller's bearer token.
    var callerAuthentication: CallerAuthentication {
        guard let authenticator else { return { _, _ throws(CinderError) in .local } }
        return { token, organization throws(CinderError) in
            guard let token else { throw CinderError.unauthenticated }
            return try await authenticator.access(presenting: token, organizationHeader: organization)
        }
    }
}
