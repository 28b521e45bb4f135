import ArgumentParser
import CinderApp
import CinderRunnerApp
import Foundation

@main
struct CinderRunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cinder-runner", abstract: "Runs server-side experiments from the jobs in PostgreSQL.")

    @Option(help: "Interface for the admin port (PHOENIX_HOST).") var host: String?
    @Option(help: "Admin port for /healthz, /readyz, /metrics (CINDER_RUNNER_ADMIN_PORT, default 9465).") var adminPort: Int?
    @Option(help: "PostgreSQL URL (PHOENIX_SQL_DATABASE_URL).") var databaseURL: String?
    @Option(help: "Provider calls in flight at most (CINDER_RUNNER_CONCURRENCY, default 64).") var concurrency: Int?

    func run() async throws {
        var configuration = try CinderConfiguration(environment: ProcessInfo.processInfo.environment)
        if let host { configuration.host = host }
        if let adminPort { configuration.runnerAdminPort = adminPort }
        if let databaseURL { configuration.databaseURL = databaseURL }
        if let concurrency { configuration.runnerConcurrency = concurrency }
        let logger = CinderLogging.bootstrap(configuration, label: "cinder-runner")
        try await CinderBuilder.runner(configuration, logger: logger).serviceGroup.run()
    }
}
