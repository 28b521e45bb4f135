import CinderModel
import CinderStorage
import Foundation
import Logging
import PostgresNIO

/// A fresh, migrated database per test, on the PostgreSQL server named by `CINDER_TEST_DATABASE_URL`
/// (scripts/test.sh starts one). Tests that need a database fail, rather than skip, without it.
///
/// As in production, the schema belongs to one role (the server's superuser here, which migrates) and
/// Cinder's code connects as another (`serviceRole`), which row-level security holds. Assertions
/// (`scalar`, `text`) read as the owner, so they see every organization's rows.
public struct TestDatabase: Sendable {
    /// The service role's connection, as Cinder's processes use it.
    public let url: DatabaseURL
    /// The owner's (superuser's) connection.
    public let ownerURL: DatabaseURL
    public let name: String

    public static let serviceRole = "cinder_test_service"

    public static let logger: Logger = {
        var logger = Logger(label: "cinder.test")
        logger.logLevel = .warning
        return logger
    }()

    public static func serverURL() throws -> DatabaseURL {
        guard let raw = ProcessInfo.processInfo.environment["CINDER_TEST_DATABASE_URL"] else {
            throw TestDatabaseMissing()
        }
        return try DatabaseURL(parsing: raw)
    }

    struct TestDatabaseMissing: Error, CustomStringConvertible {
        var description: String { "CINDER_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh" }
    }

    /// Creates `cinder_test_<random>` and applies the migrations.
    public static func create(migrate: Bool = true) async throws -> TestDatabase {
        let server = try serverURL()
        let name = "cinder_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await withConnection(server) { connection in
            try await DatabaseRoles.createServiceRole(serviceRole, on: connection, logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var owner = server
        owner.database = name
        var url = owner
        url.username = serviceRole
        if migrate {
            try await withConnection(owner) { try await Migrations.migrate($0, serviceRole: serviceRole, logger: logger) }
        }
        return TestDatabase(url: url, ownerURL: owner, name: name)
    }

    public static func withConnection<T: Sendable>(
        _ url: DatabaseURL, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs `body` with a running client pool on this database.
    public func withClient<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: url.clientConfiguration(), backgroundLogger: Self.logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Runs `body` with a `Database` over a running pool of the service role.
    public func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        try await withClient { try await body(Database(primary: $0)) }
    }

    /// One text value from a SQL query (empty for NULL), for assertions.
    public func text(_ sql: String) async throws -> String {
        try await Self.withConnection(ownerURL) { connection in
            var value = ""
            for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger).decode(String?.self) {
                value = v ?? ""
            }
            return value
        }
    }

    /// One value from a SQL query, for assertions.
    public func scalar(_ sql: String) async throws -> Int64 {
        try await Self.withConnection(ownerURL) { connection in
            var value: Int64 = 0
            for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger).decode(Int64.self) {
                value = v
            }
            return value
        }
    }
}

/// Builders for spans in tests.
public enum Spans {
    public static func hex(_ count: Int) -> String {
        (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    public static func make(
        trace: String = hex(16), span: String = hex(8), parent: String? = nil, name: String = "op", kind: SpanKind = .chain,
        start: UnixNanos = 1_700_000_000_000_000_000, durationNanos: Int64 = 1_000_000, status: SpanStatusCode = .ok,
        attributes: [String: JSONValue] = [:]
    ) -> Span {
        var attributes = attributes
        attributes["openinference"] = ["span": ["kind": .string(kind.rawValue)]]
        return Span(
            traceID: trace, spanID: span, parentID: parent, name: name, kind: kind, startTime: start,
            endTime: start + durationNanos, statusCode: status, statusMessage: "", attributes: attributes, events: [])
    }
}

extension Access {
    /// An admin of the given organization (a signed-in person), for tests that act in several.
    public static func admin(of organization: OrganizationID) -> Access {
        Access(organization: organization, role: .admin, principal: .user(UserID(1), keyID: nil), installationAdmin: false)
    }
}

extension AsyncSequence {
    /// Every element, for assertions on small result sets.
    public func collected() async throws -> [Element] {
        var out: [Element] = []
        for try await element in self { out.append(element) }
        return out
    }
}
