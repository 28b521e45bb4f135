import ArgumentParser
import CinderApp
import CinderAPIApp
import Foundation

@main
struct CinderAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder-api", abstract: "Phoenix-compatible REST API over an existing Cinder database.")

    @Option(help: "Interface to listen on (PHOENIX_HOST).") var host: String?
    @Option(help: "HTTP port (PHOENIX_PORT).") var port: Int?
    @Option(help: "PostgreSQL URL (PHOENIX_SQL_DATABASE_URL).") var databaseURL: String?
    @Option(help: "Comma-separated read replica URLs; reads go to healthy replicas (CINDER_DATABASE_READ_URLS).")
    var databaseReadURLs: String?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let databaseURL { configuration.databaseURL = databaseURL }
        if let databaseReadURLs { configuration.databaseReadURLs = CinderConfiguration.urlList(databaseReadURLs) }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder-api")
        try await CinderBuilder.apiServer(configuration, logger: logger).serviceGroup.run()
    }
}
