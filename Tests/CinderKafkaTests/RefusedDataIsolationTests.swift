import CinderIngest
import CinderModel
import Synchronization
import Testing

/// The rule both ingestion paths share when the database refuses a batch's data.
@Suite struct RefusedDataIsolationTests {
    /// A store that refuses any write containing a part marked bad, and fails transiently on request.
    final class Store: Sendable {
        let writes = Mutex<[[Int]]>([])
        let transientOnSingle: Int?

        init(transientOnSingle: Int? = nil) { self.transientOnSingle = transientOnSingle }

        @Sendable func write(_ parts: [Int]) async throws -> Int {
            writes.withLock { $0.append(parts) }
            if parts.count == 1, parts[0] == transientOnSingle { throw CinderError(.unavailable, "database down") }
            if parts.contains(where: { $0 < 0 }) { throw CinderError(.unprocessable, "bad value \(parts.first { $0 < 0 }!)") }
            return parts.count * 10
        }
    }

    @Test func aGoodBatchIsOneWrite() async throws {
        let store = Store()
        let outcome = try await RefusedDataIsolation.write([1, 2, 3], store.write)
        #expect(outcome.inserted == 30 && outcome.refused.isEmpty)
        #expect(store.writes.withLock { $0 } == [[1, 2, 3]])
    }

    @Test func onlyTheRefusedPartsFail() async throws {
        let store = Store()
        let outcome = try await RefusedDataIsolation.write([1, -2, 3, -4], store.write)
        #expect(outcome.inserted == 20)
        #expect(outcome.refused.keys.sorted() == [1, 3])
        #expect(outcome.refused[1]?.message == "bad value -2")
        #expect(store.writes.withLock { $0 } == [[1, -2, 3, -4], [1], [-2], [3], [-4]])
    }

    @Test func aSinglePartIsRefusedWithoutASecondWrite() async throws {
        let store = Store()
        let outcome = try await RefusedDataIsolation.write([-1], store.write)
        #expect(outcome.inserted == 0 && outcome.refused.keys.sorted() == [0])
        #expect(store.writes.withLock { $0 }.count == 1)
    }

    @Test func transientFailuresAreNotTakenForRefusals() async throws {
        await #expect(throws: CinderError.self) { try await RefusedDataIsolation.write([1, 2], { _ in throw CinderError(.unavailable, "down") }) }
        let store = Store(transientOnSingle: 3)
        await #expect(throws: CinderError.self) { try await RefusedDataIsolation.write([1, -2, 3], store.write) }
    }
}
