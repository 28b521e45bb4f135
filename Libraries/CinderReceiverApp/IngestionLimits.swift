import CinderApp
import CinderModel
import CinderReceiver
import CinderStorage
import Foundation
import Logging
import Metrics
import ServiceLifecycle

extension CinderBuilder {
    /// The per-organization limits of a receiving process: quotas read from the database when it has
    /// one, the installation's defaults otherwise.
    package static func ingestionLimiter(
        _ configuration: CinderConfiguration, database: Database?, logger: Logger, metrics: any MetricsFactory
    ) -> IngestionLimiter {
        let defaults = IngestionLimiter.Defaults(
            spansPerSecond: configuration.ingestSpansPerSecond, burstSpans: configuration.ingestBurstSpans,
            maxRequestBytes: configuration.limits.maxBodyBytes)
        var source: IngestionLimiter.QuotaSource?
        if let database {
            source = { organization in
                let quota = try await database.installation(logger: logger).members(of: organization).ingestionQuota()
                return (quota.spansPerSecond, quota.burstSpans, quota.maxRequestBytes)
            }
        }
        let limiter = IngestionLimiter(defaults: defaults, quotas: source, logger: logger, metrics: metrics)
        limiter.shareWith(receivers: configuration.ingestReceivers)
        return limiter
    }
}

/// Reports this receiver to the database every few seconds and shares each organization's limit
/// with the receivers that reported recently; removes itself on shutdown.
package struct ReceiverRegistration: Service {
    let limiter: IngestionLimiter
    let database: Database
    let name: String
    let logger: Logger
    let interval: Duration = .seconds(5)
    let id = UUID()

    package init(limiter: IngestionLimiter, database: Database, name: String, logger: Logger) {
        self.limiter = limiter
        self.database = database
        self.name = name
        self.logger = logger
    }

    package func run() async throws {
        let installation = database.installation(logger: logger)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    limiter.shareWith(receivers: try await installation.reportReceiver(id, name: name, window: interval * 3))
                } catch {
                    logger.warning("could not report this receiver; keeping the last receiver count", metadata: ["cinder.error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
        try? await installation.removeReceiver(id)
    }
}
