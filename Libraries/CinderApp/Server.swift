import CinderHTTPSupport
import CinderStorage
import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// A composed server: the service group to run and what it listens on once running.
public struct CinderServer: Sendable {
    public let serviceGroup: ServiceGroup
    public let registry: PrometheusCollectorRegistry
    /// nil for the collector, which has no database of its own.
    public let database: DatabaseURL?
    let httpPort: PortBox
    let grpcPort: @Sendable () async throws -> Int?

    package init(
        serviceGroup: ServiceGroup, registry: PrometheusCollectorRegistry, database: DatabaseURL?, httpPort: PortBox,
        grpcPort: @escaping @Sendable () async throws -> Int? = { nil }
    ) {
        self.serviceGroup = serviceGroup
        self.registry = registry
        self.database = database
        self.httpPort = httpPort
        self.grpcPort = grpcPort
    }

    /// The bound HTTP port (differs from the configured one when that is 0); waits until listening.
    public func boundHTTPPort() async -> Int { await httpPort.value() }

    public func boundGRPCPort() async throws -> Int? { try await grpcPort() }
}

/// Hands the HTTP port over from Hummingbird's `onServerRunning` to whoever waits for it.
package final class PortBox: Sendable {
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    package init() {}

    func set(_ port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    func value() async -> Int {
        await withCheckedContinuation { continuation in
            let port: Int? = state.withLock { state in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }
}

/// Builds each executable's services from its configuration. This library holds what every service
/// shares; each executable's own composition is an extension in a library of its own, so that an
/// executable links only the libraries it uses (cinder-api no librdkafka, the collector and writer no
/// GraphQL or web UI).
public enum CinderBuilder {
    /// The HTTP server, announcing itself with `banner` once it listens.
    package static func application(
        _ router: Router<CinderRequestContext>, host: String, port: Int, boundPort: PortBox, logger: Logger,
        banner: @escaping @Sendable (Int) async -> [String]
    ) -> some Service {
        Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? port
                boundPort.set(port)
                Banner.write(await banner(port))
            },
            logger: logger)
    }

    /// SIGTERM starts a graceful shutdown (servers stop accepting, in-flight requests and batches finish);
    /// what has not finished after `CINDER_SHUTDOWN_TIMEOUT_SECONDS` is cancelled, so the process exits
    /// inside the pod's termination grace period.
    package static func group(_ services: [any Service], configuration: CinderConfiguration, logger: Logger) -> ServiceGroup {
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(configuration.shutdownTimeoutSeconds)
        return ServiceGroup(configuration: groupConfiguration)
    }
}

/// What a service prints once it listens: where to send what.
package enum Banner {
    /// Written straight to the descriptor: stdout may be a buffered pipe or file.
    package static func write(_ lines: [String]) {
        FileHandle.standardOutput.write(Data((([""] + lines + [""]).joined(separator: "\n") + "\n").utf8))
    }
}

extension CinderConfiguration {
    /// The host to show in URLs: a wildcard listen address is reached as localhost.
    package var displayHost: String { host == "0.0.0.0" || host == "::" ? "localhost" : host }
}
