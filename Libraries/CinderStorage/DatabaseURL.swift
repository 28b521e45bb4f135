import Foundation
import NIOSSL
import PostgresNIO

/// Parses `PHOENIX_SQL_DATABASE_URL`-style connection strings into a postgres-nio configuration.
///
/// Accepted: `postgresql://user:pass@host:port/db?sslmode=require`, the SQLAlchemy spellings Phoenix
/// users already have (`postgresql+asyncpg://`, `postgresql+psycopg://`), `postgres://`, and a unix socket
/// directory given as `?host=/path` (libpq style).
public struct DatabaseURL: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// Directory holding the server's unix socket; when set, host is ignored.
    public var socketDirectory: String?
    public var tls: TLSMode

    /// libpq's `sslmode` meanings: `require` encrypts without checking the certificate, `verify-ca` and
    /// `verify-full` check it, `prefer` uses TLS when the server offers it.
    public enum TLSMode: Sendable, Hashable { case disable, prefer, require, verify }

    public init(
        host: String = "127.0.0.1", port: Int = 5432, username: String = "postgres", password: String? = nil,
        database: String = "postgres", socketDirectory: String? = nil, tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.socketDirectory = socketDirectory
        self.tls = tls
    }

    public init(parsing text: String) throws(CinderStorageError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw CinderStorageError.invalidConfiguration("database URL '\(Self.redacted(text))' is not a URL")
        }
        let base = scheme.split(separator: "+").first.map(String.init) ?? scheme
        guard base == "postgresql" || base == "postgres" else {
            throw CinderStorageError.invalidConfiguration(
                "database URL scheme '\(scheme)' is not supported: Cinder stores data in PostgreSQL (postgresql://...)")
        }
        self.init()
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port { self.port = port }
        // The percent-encoded forms, decoded once (`user`/`password`/`path` would decode them already).
        if let user = components.percentEncodedUser, !user.isEmpty { username = user.removingPercentEncoding ?? user }
        password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        let path = components.percentEncodedPath.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty { database = path.removingPercentEncoding ?? path }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host" where item.value?.hasPrefix("/") == true: socketDirectory = item.value
            case "host": if let v = item.value { host = v }
            case "port": if let v = item.value.flatMap(Int.init) { port = v }
            case "user": if let v = item.value { username = v }
            case "password": password = item.value
            case "dbname": if let v = item.value { database = v }
            case "sslmode", "ssl":
                switch item.value ?? "" {
                case "require", "true": tls = .require
                case "verify-ca", "verify-full": tls = .verify
                case "prefer", "allow": tls = .prefer
                default: tls = .disable
                }
            default: break
            }
        }
    }

    /// The URL with the password hidden, for logs and banners.
    public var redactedDescription: String {
        if let socketDirectory { return "postgresql://\(username)@/\(database)?host=\(socketDirectory)" }
        return "postgresql://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text), c.password != nil else { return text }
        c.password = "***"
        return c.string ?? "<unparseable>"
    }

    /// Settings every connection of Cinder's starts with. PostgreSQL's default `random_page_cost` (4)
    /// prices random reads as on spinning disks; with it the planner reads a project's newest spans by
    /// walking the whole table's primary key backwards, skipping every other project's newer rows
    /// (677 ms instead of 0.4 ms for a first page when another project had ingested 40,000 spans since).
    /// 1.1 is the usual value for SSDs and cloud storage, and the plan it gives uses the project's index.
    static let sessionSettings = [("random_page_cost", "1.1")]

    public func clientConfiguration() -> PostgresClient.Configuration {
        var configuration = baseClientConfiguration()
        configuration.options.additionalStartupParameters = Self.sessionSettings
        return configuration
    }

    private func baseClientConfiguration() -> PostgresClient.Configuration {
        if let socketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                database: database)
        }
        let clientTLS: PostgresClient.Configuration.TLS =
            switch (tls, tlsConfiguration) {
            case (.prefer, let c?): .prefer(c)
            case (_, let c?): .require(c)
            case (_, nil): .disable
            }
        return PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
    }

    /// The TLS settings for the mode: none when disabled, certificate checks only for `verify`.
    var tlsConfiguration: TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if tls != .verify { configuration.certificateVerification = .none }
        return configuration
    }
}

public struct CinderStorageError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable { case invalidConfiguration, schemaTooNew, migrationFailed }
    public var code: Code
    public var message: String
    public var description: String { message }

    static func invalidConfiguration(_ message: String) -> Self { .init(code: .invalidConfiguration, message: message) }
}

extension DatabaseURL {
    /// For one-off connections (migrations) made before the pool runs.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        return PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: try tlsConfiguration.map { tls == .prefer ? .prefer(try NIOSSLContext(configuration: $0)) : .require(try NIOSSLContext(configuration: $0)) }
                ?? .disable)
    }
}
