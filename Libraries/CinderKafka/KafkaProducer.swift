import CRdKafka
import CinderResilience
import Foundation
import Logging
import Synchronization

/// Where a produced message landed.
public struct KafkaDelivery: Sendable, Hashable {
    public let partition: Int32
    public let offset: Int64
}

/// A record header, e.g. why a message was dead-lettered.
public struct KafkaHeader: Sendable, Hashable {
    public let name: String
    public let value: [UInt8]

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = Array(value.utf8)
    }
}

/// The messages of one `send` or `sendAll`: each holds a reference; the waiting task is resumed when the
/// last of them is reported (with the first failure, if any), or when its deadline passes, whichever
/// comes first, so a request costs one continuation.
private final class DeliveryBox: Sendable {
    private struct State {
        var remaining: Int
        var failure: (any Error)?
        var last: KafkaDelivery?
        var continuation: CheckedContinuation<KafkaDelivery, any Error>?
        /// Answered already (every message reported, or the deadline passed): later reports change nothing.
        var answered = false
    }
    private let state: Mutex<State>

    init(messages: Int) {
        self.state = Mutex(State(remaining: messages))
    }

    /// Sets the task to resume; resumes it at once if the outcome is already known.
    func attach(_ continuation: CheckedContinuation<KafkaDelivery, any Error>) {
        let outcome: Result<KafkaDelivery, any Error>? = state.withLock { state in
            state.continuation = continuation
            guard state.answered else { return nil }
            state.continuation = nil
            if let failure = state.failure { return .failure(failure) }
            return .success(state.last!)
        }
        if let outcome { continuation.resume(with: outcome) }
    }

    /// Reports `count` messages at once (delivered, or never produced).
    func report(_ result: Result<KafkaDelivery, any Error>, count: Int = 1) {
        let finished: (CheckedContinuation<KafkaDelivery, any Error>?, Result<KafkaDelivery, any Error>)? = state.withLock { state in
            state.remaining -= count
            guard !state.answered else { return nil }
            switch result {
            case .success(let delivery): state.last = delivery
            case .failure(let error): if state.failure == nil { state.failure = error }
            }
            guard state.remaining == 0 else { return nil }
            state.answered = true
            defer { state.continuation = nil }
            if let failure = state.failure { return (state.continuation, .failure(failure)) }
            return (state.continuation, .success(state.last!))
        }
        if let (continuation, outcome) = finished { continuation?.resume(with: outcome) }
    }

    /// Answers with `error` unless every message was reported already. librdkafka still owns the messages
    /// and may deliver them later; the caller treats them as not acknowledged.
    func expire(_ error: KafkaError) {
        let continuation: CheckedContinuation<KafkaDelivery, any Error>?? = state.withLock { state in
            guard !state.answered else { return nil }
            state.answered = true
            state.failure = error
            defer { state.continuation = nil }
            return .some(state.continuation)
        }
        if case .some(let waiting?) = continuation { waiting.resume(throwing: error) }
    }
}

/// A librdkafka producer: idempotent, `acks=all`, compressed. `send` returns only once the broker
/// acknowledged the message (its delivery report), which is what lets a receiver answer 200 safely.
public final class KafkaProducer: @unchecked Sendable {
    // rd_kafka_t is thread-safe; topic handles are cached under the lock.
    private let handle: OpaquePointer
    private let topics = Mutex<[String: OpaquePointer]>([:])
    /// Calls inside librdkafka right now, and whether `close` began: `close` waits for the calls, later
    /// calls fail, and the handle itself is destroyed only in `deinit`, when nothing can use it.
    private let usage = Mutex<(active: Int, closed: Bool)>((0, false))
    private let poller: PollThread
    private let logger: Logger

    public static let defaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": "5",
        "message.timeout.ms": "30000",
    ]

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        let conf = try configuration.makeConf(Self.defaults)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message = message?.pointee, let opaque = message._private else { return }
            let box = Unmanaged<DeliveryBox>.fromOpaque(opaque).takeRetainedValue()
            if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                box.report(.success(KafkaDelivery(partition: message.partition, offset: message.offset)))
            } else {
                box.report(.failure(KafkaError(message.err, context: "delivery failed")))
            }
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(message: "cannot create Kafka producer: \(errorText(errstr))")
        }
        self.handle = handle
        self.logger = logger
        let shared = ClientHandle(pointer: handle)
        self.poller = PollThread(name: "cinder-kafka-producer") { _ = rd_kafka_poll(shared.pointer, 100) }
    }

    private func topic(_ name: String) throws(KafkaError) -> OpaquePointer {
        let topic = topics.withLock { topics -> OpaquePointer? in
            if let existing = topics[name] { return existing }
            let created = rd_kafka_topic_new(handle, name, nil)
            topics[name] = created
            return created
        }
        guard let topic else { throw KafkaError(rd_kafka_last_error(), context: "invalid topic '\(name)'") }
        return topic
    }

    /// Runs `body` unless the producer is closing; `close` waits for it to return.
    private func using<T>(_ body: () throws(KafkaError) -> T) throws(KafkaError) -> T {
        try usage.withLock { (usage) throws(KafkaError) in
            guard !usage.closed else { throw KafkaError(message: "Kafka producer is closed") }
            usage.active += 1
        }
        defer { usage.withLock { $0.active -= 1 } }
        return try body()
    }

    /// Sends one message and waits for the broker's acknowledgement.
    public func send(topic name: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader] = []) async throws -> KafkaDelivery {
        let box = DeliveryBox(messages: 1)
        do {
            try using { () throws(KafkaError) in try produce(topic: self.topic(name), key: key, value: value, headers: headers, box: box) }
        } catch {
            box.report(.failure(error))
        }
        return try await withCheckedThrowingContinuation { box.attach($0) }
    }

    /// Sends messages to one topic and waits until the broker acknowledged every one of them; throws the
    /// first failure (the others may still have been delivered). With `deadline`, gives up waiting after it
    /// with `KafkaError.timedOut` however busy librdkafka is (its own `message.timeout.ms` is checked only
    /// about once a second, and later still under load); messages not yet acknowledged may still be
    /// delivered afterwards, so callers must treat a timeout like any unacknowledged send: retry, idempotently.
    public func sendAll(topic name: String, messages: [(key: [UInt8], value: [UInt8])], deadline: Duration? = nil) async throws {
        guard !messages.isEmpty else { return }
        let box = DeliveryBox(messages: messages.count)
        var produced = 0
        do {
            try using { () throws(KafkaError) in
                let topic = try self.topic(name)
                for message in messages {
                    try produce(topic: topic, key: message.key, value: message.value, headers: [], box: box)
                    produced += 1
                }
            }
        } catch {
            // The message that failed and those after it were never handed over: report them now.
            box.report(.failure(error), count: messages.count - produced)
        }
        guard let deadline else {
            _ = try await withCheckedThrowingContinuation { box.attach($0) }
            return
        }
        do {
            // The wait ends on the last report or on cancellation (the deadline's), whichever comes first.
            _ = try await withDeadline(deadline, clock: ContinuousClock()) {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { box.attach($0) }
                } onCancel: {
                    box.expire(.timedOut(after: deadline))
                }
            }
        } catch is DeadlineExceeded {
            throw KafkaError.timedOut(after: deadline)
        }
    }

    /// Hands one message to librdkafka, which reports its delivery to `box`; throws (and reports
    /// nothing) if librdkafka refuses it at once.
    private func produce(topic: OpaquePointer, key: [UInt8], value: [UInt8], headers: [KafkaHeader], box: DeliveryBox) throws(KafkaError) {
        let opaque = Unmanaged.passRetained(box).toOpaque()
        // Owned by librdkafka once the produce call succeeds, by us otherwise.
        var recordHeaders: OpaquePointer?
        if !headers.isEmpty {
            recordHeaders = rd_kafka_headers_new(headers.count)
            for header in headers {
                _ = header.value.withUnsafeBytes { rd_kafka_header_add(recordHeaders, header.name, -1, $0.baseAddress, $0.count) }
            }
        }
        let error = value.withUnsafeBytes { valueBytes in
            key.withUnsafeBytes { keyBytes in
                var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: recordHeaders == nil ? 5 : 6)
                fields[0].vtype = RD_KAFKA_VTYPE_RKT
                fields[0].u.rkt = topic
                fields[1].vtype = RD_KAFKA_VTYPE_VALUE
                fields[1].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress), size: valueBytes.count)
                fields[2].vtype = RD_KAFKA_VTYPE_KEY
                fields[2].u.mem = .init(ptr: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress), size: keyBytes.count)
                fields[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                fields[3].u.ptr = opaque
                // librdkafka keeps its own copy: these buffers live only for this call.
                fields[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                fields[4].u.i = RD_KAFKA_MSG_F_COPY
                if let recordHeaders {
                    fields[5].vtype = RD_KAFKA_VTYPE_HEADERS
                    fields[5].u.headers = recordHeaders
                }
                return rd_kafka_produceva(handle, fields, fields.count)
            }
        }
        if let error {
            defer { rd_kafka_error_destroy(error) }
            if let recordHeaders { rd_kafka_headers_destroy(recordHeaders) }
            Unmanaged<DeliveryBox>.fromOpaque(opaque).release()
            throw KafkaError(rd_kafka_error_code(error), context: "produce failed")
        }
    }

    /// Whether a broker answers a metadata request within `timeout` (blocks the calling thread).
    public func isReachable(timeout: Duration) -> Bool {
        (try? using { () throws(KafkaError) in try KafkaMetadata.topics(handle, timeout: timeout) }) != nil
    }

    /// Makes sure `name` exists, creating it with `partitions` when it does not; returns its partition count.
    /// Blocks the calling thread for up to about `timeout`.
    public func ensureTopic(_ name: String, partitions: Int, replicationFactor: Int, timeout: Duration) throws(KafkaError) -> Int {
        try using { () throws(KafkaError) in
            try KafkaMetadata.ensureTopic(handle, name: name, partitions: partitions, replicationFactor: replicationFactor, timeout: timeout)
        }
    }

    /// Refuses new sends, waits for outstanding deliveries (up to `timeout`), then fails what is left so
    /// every waiting `send` is answered. The client is released when the producer is deallocated.
    public func close(timeout: Duration = .seconds(10)) {
        let alreadyClosed = usage.withLock { usage in
            defer { usage.closed = true }
            return usage.closed
        }
        guard !alreadyClosed else { return }
        // Calls already inside librdkafka finish first (a produce call returns at once).
        while usage.withLock({ $0.active }) > 0 { usleep(1_000) }
        let err = rd_kafka_flush(handle, timeout.milliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.error("Kafka producer closed with undelivered messages", metadata: ["cinder.kafka.error": "\(KafkaError(err, context: "flush"))"])
            _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            _ = rd_kafka_flush(handle, 1000)
        }
        poller.stop()
    }

    deinit {
        close(timeout: .seconds(1))
        for topic in topics.withLock({ $0.values }) { rd_kafka_topic_destroy(topic) }
        rd_kafka_destroy(handle)
    }
}
