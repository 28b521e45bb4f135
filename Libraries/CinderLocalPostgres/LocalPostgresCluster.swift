import Foundation
import Logging
import ServiceLifecycle

/// A private PostgreSQL cluster under the working directory, for `cinder serve` without a database URL.
///
/// Created on first start (`initdb`), started with `pg_ctl`, listening only on a unix socket inside the
/// working directory, reused on later starts (also when a previous process died and left it running),
/// and stopped on shutdown. PostgreSQL refuses to run as root, so when Cinder runs as root the cluster
/// is owned by and run as the `postgres` system user.
public struct LocalPostgresCluster: Sendable {
    public struct Configuration: Sendable {
        public var directory: String
        public var port: Int
        public var database: String
        /// Where `initdb`/`pg_ctl` live; found automatically when nil.
        public var binDirectory: String?
        public var systemUser: String

        public init(
            directory: String, port: Int = 5432, database: String = "cinder", binDirectory: String? = nil,
            systemUser: String = "postgres"
        ) {
            self.directory = directory
            self.port = port
            self.database = database
            self.binDirectory = binDirectory
            self.systemUser = systemUser
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let configuration: Configuration
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public var dataDirectory: String { configuration.directory + "/data" }
    public var socketDirectory: String { configuration.directory + "/run" }
    var logFile: String { configuration.directory + "/postgresql.log" }
    var runsAsRoot: Bool { geteuid() == 0 }

    /// Makes sure the cluster exists, runs and has the database; returns the socket directory.
    /// The role Cinder serves as; the cluster's superuser (`postgres`) owns the schema.
    public static let serviceRole = "cinder"

    public func start() throws {
        let bin = try binDirectory()
        let fm = FileManager.default
        try fm.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if runsAsRoot {
            try allowTraversal(to: configuration.directory)
            try run("/bin/chown", ["-R", "\(configuration.systemUser):\(configuration.systemUser)", configuration.directory], asServerUser: false)
        }
        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("creating private PostgreSQL cluster", metadata: ["cinder.postgres.data": "\(dataDirectory)"])
            try run(
                bin + "/initdb",
                ["-D", dataDirectory, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"])
        }
        let status = try? run(bin + "/pg_ctl", ["-D", dataDirectory, "status"])
        if status == nil {
            logger.info("starting private PostgreSQL", metadata: ["cinder.postgres.socket": "\(socketDirectory)"])
            let options = "-c listen_addresses='' -c unix_socket_directories='\(socketDirectory)' -c port=\(configuration.port)"
            try run(bin + "/pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "120", "-o", options, "start"])
        } else {
            logger.info("reusing running private PostgreSQL", metadata: ["cinder.postgres.socket": "\(socketDirectory)"])
        }
        let exists = try run(
            bin + "/psql",
            ["-h", socketDirectory, "-p", "\(configuration.port)", "-U", "postgres", "-d", "postgres", "-tAc",
             "SELECT 1 FROM pg_database WHERE datname = '\(configuration.database)'"])
        if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            try run(bin + "/createdb", ["-h", socketDirectory, "-p", "\(configuration.port)", "-U", "postgres", configuration.database])
        }
    }

    public func stop() {
        guard let bin = try? binDirectory() else { return }
        do {
            try run(bin + "/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"])
            logger.info("stopped private PostgreSQL")
        } catch {
            logger.error("could not stop private PostgreSQL", metadata: ["cinder.error": "\(error)"])
        }
    }

    func binDirectory() throws -> String {
        if let dir = configuration.binDirectory { return dir }
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/initdb") {
            return "/usr/lib/postgresql/\(version)/bin"
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(dir)/initdb") && fm.isExecutableFile(atPath: "\(dir)/pg_ctl") {
            return String(dir)
        }
        throw Failure(
            description: "PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql (apt-get install postgresql) or set PHOENIX_SQL_DATABASE_URL")
    }

    /// The server user must be able to reach its data directory; home directories are often 0700.
    func allowTraversal(to path: String) throws {
        var url = URL(fileURLWithPath: path).deletingLastPathComponent()
        while url.path != "/" {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            let mode = (attributes[.posixPermissions] as? Int) ?? 0
            if mode & 0o001 == 0 {
                logger.notice(
                    "granting others search (x) permission so the postgres user can reach the cluster",
                    metadata: ["cinder.path": "\(url.path)"])
                try FileManager.default.setAttributes([.posixPermissions: mode | 0o001], ofItemAtPath: url.path)
            }
            url = url.deletingLastPathComponent()
        }
    }

    /// Runs a PostgreSQL tool (as the server user when we are root) and returns its standard output.
    @discardableResult
    func run(_ executable: String, _ arguments: [String], asServerUser: Bool = true) throws -> String {
        let command = runsAsRoot && asServerUser
            ? ["/usr/sbin/runuser", "-u", configuration.systemUser, "--", executable] + arguments
            : [executable] + arguments
        let result = try ChildProcess.run(command, workingDirectory: configuration.directory)
        guard result.status == 0 else {
            let message = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\((executable as NSString).lastPathComponent) failed (exit \(result.status)): \(message)")
        }
        return result.standardOutput
    }
}

/// Keeps the private cluster for the life of the service group; stops it after every other service
/// (it is the first service, so it is shut down last).
public struct LocalPostgresService: Service {
    let cluster: LocalPostgresCluster

    public init(cluster: LocalPostgresCluster) {
        self.cluster = cluster
    }

    public func run() async throws {
        try? await gracefulShutdown()
        cluster.stop()
    }
}
