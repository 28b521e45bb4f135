import ArgumentParser
import CinderApp
import CinderServeApp
import Foundation
import Logging

@main
struct CinderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder", abstract: "Phoenix-compatible AI observability, all in one process.",
        subcommands: [Serve.self, Migrate.self])
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations as the schema's owner, grant the service role its row access, and exit.",
        discussion: """
            The owner's URL comes from CINDER_MIGRATION_DATABASE_URL (or PHOENIX_SQL_DATABASE_URL); when \
            PHOENIX_SQL_DATABASE_URL names another role, that role is the services' and is granted row access. \
            Services started with CINDER_MIGRATE_ON_START=false wait for this step.
            """)

    @Option(help: "The schema owner's PostgreSQL URL (CINDER_MIGRATION_DATABASE_URL).") var migrationDatabaseURL: String?
    @Option(help: "The services' PostgreSQL URL, whose role is granted row access (PHOENIX_SQL_DATABASE_URL).") var databaseURL: String?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let migrationDatabaseURL { configuration.migrationDatabaseURL = migrationDatabaseURL }
        if let databaseURL { configuration.databaseURL = databaseURL }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder-migrate")
        _ = try await CinderBuilder.migrate(configuration, logger: logger)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run OTLP ingestion (HTTP and gRPC), the REST API and storage on one machine.")

    @Option(help: "Interface to listen on (PHOENIX_HOST).") var host: String?
    @Option(help: "HTTP port for the API and OTLP/HTTP (PHOENIX_PORT).") var port: Int?
    @Option(help: "OTLP/gRPC port (PHOENIX_GRPC_PORT).") var grpcPort: Int?
    @Option(help: "Working directory; holds the private database (PHOENIX_WORKING_DIR).") var workingDir: String?
    @Option(help: "PostgreSQL URL; without it a private cluster is used (PHOENIX_SQL_DATABASE_URL).") var databaseURL: String?
    @Option(help: "Comma-separated read replica URLs; reads go to healthy replicas (CINDER_DATABASE_READ_URLS).")
    var databaseReadURLs: String?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let grpcPort { configuration.grpcPort = grpcPort }
        if let workingDir { configuration.workingDirectory = workingDir }
        if let databaseURL { configuration.databaseURL = databaseURL }
        if let databaseReadURLs { configuration.databaseReadURLs = CinderConfiguration.urlList(databaseReadURLs) }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder")
        try await CinderBuilder.allInOne(configuration, logger: logger).serviceGroup.run()
    }
}
