import CinderStorage
import Testing

@Suite struct DatabaseURLTests {
    @Test func parsesPhoenixStyleURLs() throws {
        let url = try DatabaseURL(parsing: "postgresql+asyncpg://app:p%2541ss@db.example:6543/phoenix?sslmode=require")
        #expect(url.username == "app")
        #expect(url.password == "p%41ss")  // decoded exactly once
        #expect(url.host == "db.example")
        #expect(url.port == 6543)
        #expect(url.database == "phoenix")
        #expect(url.tls == .require)
        #expect(url.redactedDescription == "postgresql://app:***@db.example:6543/phoenix")
    }

    @Test func socketDirectoryAndVerification() throws {
        let socket = try DatabaseURL(parsing: "postgresql://postgres@/cinder?host=/tmp/run")
        #expect(socket.socketDirectory == "/tmp/run")
        #expect(socket.database == "cinder")
        #expect(try DatabaseURL(parsing: "postgres://u@h/d?sslmode=verify-full").tls == .verify)
        #expect(try DatabaseURL(parsing: "postgres://u@h/d").tls == .disable)
    }

    @Test func rejectsOtherDatabases() {
        #expect(throws: CinderStorageError.self) { try DatabaseURL(parsing: "sqlite:///tmp/phoenix.db") }
        #expect(throws: CinderStorageError.self) { try DatabaseURL(parsing: "not a url") }
    }
}
