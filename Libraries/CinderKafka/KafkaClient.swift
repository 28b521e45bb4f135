import CRdKafka
import Foundation
import Logging
import Synchronization

public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "kafka error \(code): \(message)" }

    init(_ code: rd_kafka_resp_err_t, context: String) {
        self.code = code.rawValue
        self.message = "\(context): \(String(cString: rd_kafka_err2str(code)))"
    }

    init(message: String) {
        self.code = -1
        self.message = message
    }

    /// The caller's deadline for an acknowledgement passed (librdkafka's own code for a timed-out message).
    static func timedOut(after deadline: Duration) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, context: "no acknowledgement within \(deadline)")
    }

    /// The producer's local queue is full: back-pressure, not a failure.
    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }

    /// This message can never be produced as it is (too large, or the topic refuses this client):
    /// retrying would fail forever.
    public var isPermanentForMessage: Bool {
        [RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
         RD_KAFKA_RESP_ERR_INVALID_RECORD]
            .contains { $0.rawValue == code }
    }
}

/// librdkafka properties; extra entries pass through unchanged (SASL, TLS, tuning on real clusters).
public struct KafkaConfiguration: Sendable {
    public var bootstrapServers: String
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    func makeConf(_ defaults: [String: String]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        // librdkafka's own log lines go through swift-log (structured, like every other line) instead of stderr.
        rd_kafka_conf_set_log_cb(conf) { _, level, facility, message in
            KafkaLog.forward(level: level, facility: facility.map { String(cString: $0) } ?? "", message: message.map { String(cString: $0) } ?? "")
        }
        var all = defaults
        all["bootstrap.servers"] = bootstrapServers
        for (k, v) in properties { all[k] = v }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            guard rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(message: "invalid Kafka property \(key): \(errorText(errstr))")
            }
        }
        return conf
    }
}

/// A thread that serves a client's callbacks (`rd_kafka_poll`), so they never run on an event loop.
final class PollThread: Sendable {
    private let running = Atomic<Bool>(true)
    private let exited = DispatchSemaphore(value: 0)

    init(name: String, poll: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while running.load(ordering: .relaxed) { poll() }
            exited.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Returns once the thread has left its last poll, so the client can be destroyed safely.
    func stop() {
        running.store(false, ordering: .relaxed)
        exited.wait()
    }
}

/// The text librdkafka wrote into an error buffer.
func errorText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// An `rd_kafka_t`: librdkafka documents its client handles as safe to use from any thread.
struct ClientHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Where librdkafka's log lines go; callbacks carry no context, so the logger is process-wide.
public enum KafkaLog {
    private static let shared = Mutex(Logger(label: "cinder.kafka"))

    /// Services call this once with their configured logger.
    public static func bootstrap(_ logger: Logger) { shared.withLock { $0 = logger } }

    static func forward(level: Int32, facility: String, message: String) {
        // syslog levels: 0-3 errors, 4 warning, 5 notice, 6 info, 7 debug.
        let swiftLevel: Logger.Level = switch level {
        case ...3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
        let logger = shared.withLock { $0 }
        logger.log(level: swiftLevel, "\(message)", metadata: ["cinder.kafka.facility": "\(facility)"])
    }
}
