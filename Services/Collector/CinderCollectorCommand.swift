import ArgumentParser
import CinderApp
import CinderCollectorApp
import Foundation

@main
struct CinderCollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder-collector", abstract: "Stateless OTLP receiver (HTTP and gRPC) that hands spans to Kafka.")

    @Option(help: "Interface to listen on (PHOENIX_HOST).") var host: String?
    @Option(help: "OTLP/HTTP port (CINDER_COLLECTOR_HTTP_PORT, default 4318).") var httpPort: Int?
    @Option(help: "OTLP/gRPC port (PHOENIX_GRPC_PORT, default 4317).") var grpcPort: Int?
    @Option(help: "Kafka bootstrap servers (CINDER_KAFKA_BROKERS).") var kafkaBrokers: String?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let host { configuration.host = host }
        if let httpPort { configuration.collectorHTTPPort = httpPort }
        if let grpcPort { configuration.grpcPort = grpcPort }
        if let kafkaBrokers { configuration.kafka.brokers = kafkaBrokers }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder-collector")
        try await CinderBuilder.collector(configuration, logger: logger).serviceGroup.run()
    }
}
