import CinderResilience
import Hummingbird
import NIOCore
import Prometheus

/// `/healthz` (the process is up), `/readyz` (dependencies answer), `/metrics` (Prometheus text).
public enum OperationalRoutes {
    static let readinessTimeout = Duration.seconds(3)

    public static func add<Context: RequestContext>(
        to router: Router<Context>, registry: PrometheusCollectorRegistry,
        readiness: @escaping @Sendable () async -> String?
    ) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        router.get("/readyz") { _, _ in
            // A dependency that hangs (a database client waiting for a connection) makes the service unready,
            // not the probe hang.
            let problem: String?
            do {
                problem = try await withDeadline(readinessTimeout, clock: ContinuousClock()) { await readiness() }
            } catch {
                problem = "readiness check timed out after \(readinessTimeout)"
            }
            if let problem {
                return Response(
                    status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                    body: .init(byteBuffer: ByteBuffer(string: problem)))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready")))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
