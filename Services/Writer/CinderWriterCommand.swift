import ArgumentParser
import CinderApp
import CinderWriterApp
import Foundation

@main
struct CinderWriterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder-writer", abstract: "Consumes the span topic and writes spans to PostgreSQL.")

    @Option(help: "Interface for the admin port (PHOENIX_HOST).") var host: String?
    @Option(help: "Admin port for /healthz, /readyz, /metrics (CINDER_WRITER_ADMIN_PORT, default 9464).") var adminPort: Int?
    @Option(help: "Kafka bootstrap servers (CINDER_KAFKA_BROKERS).") var kafkaBrokers: String?
    @Option(help: "PostgreSQL URL (PHOENIX_SQL_DATABASE_URL).") var databaseURL: String?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let host { configuration.host = host }
        if let adminPort { configuration.writerAdminPort = adminPort }
        if let kafkaBrokers { configuration.kafka.brokers = kafkaBrokers }
        if let databaseURL { configuration.databaseURL = databaseURL }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder-writer")
        try await CinderBuilder.writer(configuration, logger: logger).serviceGroup.run()
    }
}
