import CinderResilience
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
        do {
            return try await withDeadline(timeout, clock: ContinuousClock(), work)
        } catch is DeadlineExceeded {
            throw ReplicaTimeout(timeout: timeout)
        }
    }

    /// Whether a failed replica read should be retried on the primary: failures of the replica (no
    /// server answer, connection or recovery conflicts, shutdown), not errors in the query itself.
    static func isReplicaFailure(_ error: any Error) -> Bool {
        let underlying = DatabaseErrors.unwrapped(error)
        if underlying is ReplicaTimeout { return true }
        guard let psql = underlying as? PSQLError else { return false }
        guard let state = psql.serverInfo?[.sqlState] else { return true }
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

/// Where reads go: a healthy replica when there is one, else the primary. Each read is one
/// transaction with the scope's settings applied first.
struct DatabaseReader: Sendable {
    let primary: PostgresClient
    let replicas: ReadReplicas?

    func read<T: Sendable>(
        settings: TransactionSettings, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard let replicas, let (index, replica) = replicas.pick() else {
            replicas?.primaryReads.increment()
            return try await Self.transaction(on: primary, settings: settings, logger: logger, started: nil, body)
        }
        do {
            // The deadline covers getting a connection and starting the transaction; a long read that
            // has started runs to its end.
            let started = StartFlag()
            let value = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await Self.transaction(on: replica.client, settings: settings, logger: logger, started: started, body)
                }
                group.addTask {
                    try await Task.sleep(for: replicas.configuration.readTimeout)
                    if !started.value.load(ordering: .acquiring) { throw ReplicaTimeout(timeout: replicas.configuration.readTimeout) }
                    return nil
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let value = next { return value }
                }
                throw ReplicaTimeout(timeout: replicas.configuration.readTimeout)
            }
            replicas.replicaReads.increment()
            return value
        } catch where ReadReplicas.isReplicaFailure(error) {
            replicas.markDown(index, because: error)
            replicas.fallbacks.increment()
            replicas.primaryReads.increment()
            return try await Self.transaction(on: primary, settings: settings, logger: logger, started: nil, body)
        }
    }

    private static func transaction<T: Sendable>(
        on client: PostgresClient, settings: TransactionSettings, logger: Logger, started: StartFlag?,
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await client.withTransaction(logger: logger) { connection in
            try await TransactionSettings.apply(settings, on: connection, logger: logger)
            started?.value.store(true, ordering: .releasing)
            return try await body(connection)
        }
    }
}

/// Set once a replica transaction has started, so that its deadline no longer applies.
final class StartFlag: Sendable {
    let value = Atomic<Bool>(false)
}
