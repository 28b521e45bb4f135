import Logging
import Metrics
import PostgresNIO
import Synchronization

/// Read replicas in front of the primary. Reads go round robin to the replicas that passed their last
/// health check and to the primary when none did; a read that a replica cannot serve (it went away, it
/// hangs, it cancelled the query for replication) is retried on the primary, and the replica is skipped
/// until a health check passes again.
public final class ReadReplicas: Sendable {
    public struct Replica: Sendable {
        public let client: PostgresClient
        /// For logs: the URL without its password.
        public let name: String

        public init(client: PostgresClient, name: String) {
            self.client = client
            self.name = name
        }
    }

    public struct Configuration: Sendable {
        /// Time between health checks of each replica.
        public var checkInterval: Duration = .seconds(1)
        /// How long a health check may take before the replica counts as down.
        public var checkTimeout: Duration = .seconds(1)
        /// How long a read may wait on a replica before it is retried on the primary: bounds the stall
        /// when a replica dies between two health checks (pools wait for a connection forever).
        public var readTimeout: Duration = .seconds(5)

        public init() {}
    }

    public let replicas: [Replica]
    let configuration: Configuration
    let logger: Logger
    private let healthy: Mutex<[Bool]>
    private let turn = Atomic<Int>(0)
    let replicaReads: Counter
    let primaryReads: Counter
    let fallbacks: Counter
    let healthyGauge: Gauge

    public init(replicas: [Replica], configuration: Configuration = .init(), logger: Logger, metrics: any MetricsFactory) {
        self.replicas = replicas
        self.configuration = configuration
        self.logger = logger
        // Unknown until the first check: reads start on the primary.
        healthy = Mutex(Array(repeating: false, count: replicas.count))
        replicaReads = Counter(label: "cinder_database_reads_total", dimensions: [("target", "replica")], factory: metrics)
        primaryReads = Counter(label: "cinder_database_reads_total", dimensions: [("target", "primary")], factory: metrics)
        fallbacks = Counter(label: "cinder_database_replica_fallbacks_total", factory: metrics)
        healthyGauge = Gauge(label: "cinder_database_replicas_healthy", factory: metrics)
    }

    /// The next healthy replica, if any.
    func pick() -> (index: Int, replica: Replica)? {
        let up = healthy.withLock { flags in flags.indices.filter { flags[$0] } }
        guard !up.isEmpty else { return nil }
        let index = up[turn.wrappingAdd(1, ordering: .relaxed).oldValue % up.count]
        return (index, replicas[index])
    }

    func markDown(_ index: Int, because error: any Error) {
        let wasUp = healthy.withLock { flags in
            defer { flags[index] = false }
            return flags[index]
        }
        if wasUp {
            logger.warning(
                "read replica skipped", metadata: ["cinder.replica": "\(replicas[index].name)", "cinder.error": "\(String(reflecting: error))"])
        }
        updateGauge()
    }

    private func updateGauge() {
        healthyGauge.record(healthy.withLock { $0.filter { $0 }.count })
    }

    /// Checks every replica each interval until the task is cancelled.
    public func monitor() async {
        while !Task.isCancelled {
            await withTaskGroup(of: Void.self) { group in
                for index in replicas.indices { group.addTask { await self.check(index) } }
            }
            try? await Task.sleep(for: configuration.checkInterval)
        }
    }

    func check(_ index: Int) async {
        let replica = replicas[index]
        do {
            _ = try await Self.race(configuration.checkTimeout) {
                try await replica.client.query("SELECT 1", logger: self.logger).collect()
            }
            let cameBack = healthy.withLock { flags in
                defer { flags[index] = true }
                return !flags[index]
            }
            if cameBack { logger.info("read replica in use", metadata: ["cinder.replica": "\(replica.name)"]) }
            updateGauge()
        } catch {
            markDown(index, because: error)
        }
    }

    /// Runs `work`, or throws `ReplicaTimeout` after `timeout` (cancelling the work).
    static func race<Value: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next()! else { throw ReplicaTimeout(timeout: timeout) }
            return value
        }
    }

    /// Whether a failed replica read should be retried on the primary: failures of the replica (no
    /// server answer, connection or recovery conflicts, shutdown), not errors in the query itself.
    static func isReplicaFailure(_ error: any Error) -> Bool {
        guard let state = (error as? PSQLError)?.serverInfo?[.sqlState] else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("40") || state.hasPrefix("53")
    }
}

struct ReplicaTimeout: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "the read replica did not answer within \(timeout)" }
}

/// Counts the read statements a piece of work issues (all tasks under `withValue` share it), so that
/// tests can hold GraphQL's batched loading to a bound instead of one statement per row.
public final class ReadStatementCounter: Sendable {
    @TaskLocal public static var current: ReadStatementCounter?

    private let count = Atomic<Int>(0)
    public init() {}
    public var statements: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}

/// Where a tenant store's reads go: a healthy replica when there is one, else the primary.
public struct DatabaseReader: Sendable {
    let primary: PostgresClient
    let replicas: ReadReplicas?

    public func query(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        ReadStatementCounter.current?.increment()
        guard let replicas else { return try await primary.query(query, logger: logger, file: file, line: line) }
        guard let (index, replica) = replicas.pick() else {
            replicas.primaryReads.increment()
            return try await primary.query(query, logger: logger, file: file, line: line)
        }
        do {
            // The timeout covers getting a connection and the query's start; rows then stream as usual.
            let rows = try await ReadReplicas.race(replicas.configuration.readTimeout) {
                try await replica.client.query(query, logger: logger, file: file, line: line)
            }
            replicas.replicaReads.increment()
            return rows
        } catch where ReadReplicas.isReplicaFailure(error) {
            replicas.markDown(index, because: error)
            replicas.fallbacks.increment()
            replicas.primaryReads.increment()
            return try await primary.query(query, logger: logger, file: file, line: line)
        }
    }
}
